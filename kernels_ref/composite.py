"""Reference kernels of the composite binary formats (dbllm, pbllm, salient) on popcount GEMMs.

x @ W for a `quant_binary.CompositeWeight` W = lo_scale lo + hi_scale hi + offset: the two
code planes run as grouped AND-popcount GEMMs (`grouped.grouped_wxay_gemm`: one exact integer
product per group of g along K, every group in one pass), and those integers are scaled by
their group's values and summed in float64:

- dbllm: lo = b2, hi = b1 are {0,1} planes (uint1): two one-bit GEMMs, plus the activation
  row sum times beta;
- pbllm: lo (sign codes, 0 at salient positions) as ternary planes, hi (int8 salient codes,
  0 elsewhere) as eight planes (a dense run of the sparse part);
- salient: the non-salient input channels' rows as one binary {-1,+1} GEMM and the salient
  channels' rows as an int4 GEMM (the channel mask splits K, so no work is wasted).

With integer activations and dyadic scales (as `draw_composite` makes them for verify) every
product and partial sum is exact in float64, so the result equals a float64 matmul of the
dequantised weights bit for bit; verify checks exactly that (rel_tol 0).
"""

from __future__ import annotations

import torch
from lowbit.kernels_ref.errors import InvalidSpecError, UnsupportedFormatError
from lowbit.kernels_ref.formats import Format, FormatKind
from lowbit.kernels_ref.grouped import grouped_wxay_gemm
from lowbit.kernels_ref.quant_binary import CompositeWeight, dequantize_composite
from lowbit.kernels_ref.registry import RefKernel

__all__ = ["VERIFY_FORMATS", "composite_gemm", "draw_composite", "kernels"]

#: composite formats `lowbit verify` runs (g = 64 divides every verify K)
VERIFY_FORMATS: tuple[str, ...] = ("dbllmg64", "dbllm", "pbllm10g64", "salient25g64")
_SCALE_STEPS = 256  # verify scales are multiples of 1/256


def composite_gemm(x: torch.Tensor, cw: CompositeWeight, a_fmt: Format | str) -> torch.Tensor:
    """x [M, K] integer activation codes @ the composite weight: float64 [M, N]."""
    a_fmt = Format.parse(a_fmt) if isinstance(a_fmt, str) else a_fmt
    x = torch.as_tensor(x)
    if x.is_floating_point() or x.ndim != 2 or x.shape[1] != cw.lo.shape[0]:
        raise InvalidSpecError(f"composite_gemm takes integer activations [M, {cw.lo.shape[0]}], "
                               f"got {x.dtype} {tuple(x.shape)}")
    kind, m = cw.fmt.kind, x.shape[0]
    g, groups = cw.group_size, cw.lo_scale.shape[0]
    if kind is FormatKind.DUAL_BINARY:
        p_lo = grouped_wxay_gemm(x, cw.lo, a_fmt, "uint1", g)
        p_hi = grouped_wxay_gemm(x, cw.hi, a_fmt, "uint1", g)
    elif kind is FormatKind.PARTIAL_BINARY:
        p_lo = grouped_wxay_gemm(x, cw.lo, a_fmt, "ternary", g)
        p_hi = grouped_wxay_gemm(x, cw.hi, a_fmt, "int8", g)
    elif kind is FormatKind.SALIENT_CHANNEL:
        p_lo, p_hi = _salient_products(x, cw, a_fmt)
    else:
        raise UnsupportedFormatError(f"composite_gemm takes dbllm, pbllm or salient weights, not {cw.fmt}")
    # [G, M, N] integer group products times their [G, N] scales, summed over the groups
    out = p_lo.double().mul_(cw.lo_scale.double()[:, None, :]).sum(0) \
        + p_hi.double().mul_(cw.hi_scale.double()[:, None, :]).sum(0)
    if cw.offset is not None:
        xsum = x.to(torch.int64).view(m, groups, g).sum(dim=2).double()  # [M, G]
        out = out + xsum @ cw.offset.double()
    return out


def _salient_products(x: torch.Tensor, cw: CompositeWeight, a_fmt: Format) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-group products of the binary (non-salient channels) and int4 (salient channels) parts:
    the channel mask splits each group's K; with the same salient count in every group (as the
    quantiser makes them) both parts run grouped, else group by group."""
    if cw.mask is None:
        raise InvalidSpecError("a salient-channel weight needs its channel mask")
    g, groups = cw.group_size, cw.lo_scale.shape[0]
    ch = cw.mask.to(torch.bool)
    per = ch.view(groups, g).sum(dim=1)
    if bool((per == per[0]).all()):
        kc = int(per[0])
        return (_part(x[:, ~ch], cw.lo[~ch], a_fmt, "binary", g - kc, groups),
                _part(x[:, ch], cw.hi[ch], a_fmt, "int4", kc, groups))
    lo, hi = [], []
    for gi in range(groups):
        sl, c = slice(gi * g, (gi + 1) * g), ch[gi * g:(gi + 1) * g]
        xs, wl, wh = x[:, sl], cw.lo[sl], cw.hi[sl]
        lo.append(_part(xs[:, ~c], wl[~c], a_fmt, "binary", int((~c).sum()), 1))
        hi.append(_part(xs[:, c], wh[c], a_fmt, "int4", int(c.sum()), 1))
    return torch.cat(lo), torch.cat(hi)


def _part(x: torch.Tensor, w: torch.Tensor, a_fmt: Format, w_fmt: str, size: int, groups: int) -> torch.Tensor:
    """[groups, M, N] products of `groups` runs of `size` channels (zeros where size is 0)."""
    if size == 0:
        return torch.zeros(groups, x.shape[0], w.shape[1], dtype=torch.int64, device=x.device)
    return grouped_wxay_gemm(x, w, a_fmt, w_fmt, size)


def _steps(gen: torch.Generator, shape: tuple[int, ...], lo: int, hi: int) -> torch.Tensor:
    return torch.randint(lo, hi + 1, shape, generator=gen).double() / _SCALE_STEPS


def _random_subsets(gen: torch.Generator, groups: int, g: int, n: int, kc: int) -> torch.Tensor:
    """bool [groups, g, n]: for every (group, column) a uniformly random set of kc of the g
    positions, by Floyd's sampling (kc draws a column, no sort)."""
    mask = torch.zeros(groups, g, n, dtype=torch.bool)
    for j in range(g - kc, g):
        t = torch.randint(0, j + 1, (groups, 1, n), generator=gen)
        mask.scatter_(1, torch.where(mask.gather(1, t), j, t), True)
    return mask


def draw_composite(fmt: Format, k: int, n: int, gen: torch.Generator, extreme: bool = False
                   ) -> tuple[CompositeWeight, torch.Tensor]:
    """A random valid composite weight [K, N] with dyadic scales (multiples of 1/256 below 1)
    and its dequantised values; `extreme`: every code at its largest magnitude."""
    if not fmt.is_composite:
        raise UnsupportedFormatError(f"{fmt} is not a composite format")
    g = fmt.group_size if fmt.group_size is not None else k
    if k % g:
        raise UnsupportedFormatError(f"group size {g} of {fmt} does not divide K={k}")
    groups = k // g
    top, i8 = _SCALE_STEPS - 1, torch.int8  # int8 codes: 8x less memory to draw and pack than int64
    lo_s = _steps(gen, (groups, n), top if extreme else 1, top)
    hi_s = _steps(gen, (groups, n), top if extreme else 1, top)
    offset = mask = None
    if fmt.kind is FormatKind.DUAL_BINARY:
        lo = torch.ones(k, n, dtype=i8) if extreme else torch.randint(0, 2, (k, n), generator=gen, dtype=i8)
        hi = torch.ones(k, n, dtype=i8) if extreme else torch.randint(0, 2, (k, n), generator=gen, dtype=i8)
        offset = _steps(gen, (groups, n), top if extreme else -top, top)
    else:
        kc = fmt.salient_count
        if fmt.kind is FormatKind.PARTIAL_BINARY:
            mask = _random_subsets(gen, groups, g, n, kc).reshape(k, n)
            sel, qmin, qmax = mask, -128, 127
        else:
            mask = _random_subsets(gen, groups, g, 1, kc).reshape(k)
            sel, qmin, qmax = mask[:, None].expand(k, n), -8, 7
        kept = groups * kc * n  # kc kept per group and column: codes are drawn only there
        if extreme:
            sign, codes = -torch.ones(k, n, dtype=i8), torch.full((kept,), qmin, dtype=i8)
        else:
            sign = torch.randint(0, 2, (k, n), generator=gen, dtype=i8).mul_(2).sub_(1)
            codes = torch.randint(qmin, qmax + 1, (kept,), generator=gen, dtype=i8)
        lo = sign.masked_fill_(sel, 0)
        hi = torch.zeros(k, n, dtype=i8).masked_scatter_(sel, codes)
    cw = CompositeWeight(fmt, lo, hi, lo_s, hi_s, offset, mask)
    return cw, dequantize_composite(cw)


def _run(x: torch.Tensor, w: CompositeWeight, w_fmt: Format, a_fmt: Format) -> torch.Tensor:
    if not isinstance(w, CompositeWeight) or w.fmt != w_fmt:
        raise InvalidSpecError(f"the composite kernel takes a CompositeWeight of {w_fmt}")
    return composite_gemm(x, w, a_fmt)


def kernels() -> tuple[RefKernel, ...]:
    """Popcount GEMMs of dbllm / pbllm / salient weights, checked bit for bit in float64."""
    return (RefKernel("composite-popc", "binary", VERIFY_FORMATS, ("int8", "int4"), _run,  # type: ignore[arg-type]
                      exact=False, rel_tol=0.0, draw=draw_composite),)
