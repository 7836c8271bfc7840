"""Reference kernels of the composite binary formats (dbllm, pbllm, salient) on popcount GEMMs.

x @ W for a `quant_binary.CompositeWeight` W = lo_scale lo + hi_scale hi + offset: per group of
g along K, the two code planes run as AND-popcount GEMMs (`binary.wxay_gemm`) and their
integer results are scaled and summed in float64:

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
from lowbit.kernels_ref.binary import wxay_gemm
from lowbit.kernels_ref.errors import InvalidSpecError, UnsupportedFormatError
from lowbit.kernels_ref.formats import Format, FormatKind
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
    kind = cw.fmt.kind
    g = cw.group_size
    m, n = x.shape[0], cw.lo.shape[1]
    out = torch.zeros(m, n, dtype=torch.float64, device=x.device)
    for gi in range(cw.lo_scale.shape[0]):
        sl = slice(gi * g, (gi + 1) * g)
        xs, lo, hi = x[:, sl], cw.lo[sl], cw.hi[sl]
        if kind is FormatKind.DUAL_BINARY:
            p_lo = wxay_gemm(xs, lo, a_fmt, "uint1")
            p_hi = wxay_gemm(xs, hi, a_fmt, "uint1")
        elif kind is FormatKind.PARTIAL_BINARY:
            p_lo = wxay_gemm(xs, lo, a_fmt, "ternary")
            p_hi = wxay_gemm(xs, hi, a_fmt, "int8")
        elif kind is FormatKind.SALIENT_CHANNEL:
            if cw.mask is None:
                raise InvalidSpecError("a salient-channel weight needs its channel mask")
            ch = cw.mask[sl]
            p_lo = wxay_gemm(xs[:, ~ch], lo[~ch], a_fmt, "binary")
            p_hi = wxay_gemm(xs[:, ch], hi[ch], a_fmt, "int4")
        else:
            raise UnsupportedFormatError(f"composite_gemm takes dbllm, pbllm or salient weights, not {cw.fmt}")
        out += p_lo.double() * cw.lo_scale[gi].double() + p_hi.double() * cw.hi_scale[gi].double()
        if cw.offset is not None:
            out += xs.to(torch.int64).sum(dim=1, keepdim=True).double() * cw.offset[gi].double()
    return out


def _steps(gen: torch.Generator, shape: tuple[int, ...], lo: int, hi: int) -> torch.Tensor:
    return torch.randint(lo, hi + 1, shape, generator=gen).double() / _SCALE_STEPS


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
    top = _SCALE_STEPS - 1
    lo_s = _steps(gen, (groups, n), top if extreme else 1, top)
    hi_s = _steps(gen, (groups, n), top if extreme else 1, top)
    offset = mask = None
    if fmt.kind is FormatKind.DUAL_BINARY:
        lo = torch.ones(k, n, dtype=torch.int64) if extreme else torch.randint(0, 2, (k, n), generator=gen)
        hi = torch.ones(k, n, dtype=torch.int64) if extreme else torch.randint(0, 2, (k, n), generator=gen)
        offset = _steps(gen, (groups, n), top if extreme else -top, top)
    else:
        kc = fmt.salient_count
        if fmt.kind is FormatKind.PARTIAL_BINARY:
            score = torch.rand(groups, g, n, generator=gen)
            mask = torch.zeros_like(score, dtype=torch.bool).scatter_(1, score.argsort(dim=1)[:, :kc], True)
            mask = mask.reshape(k, n)
            sel, qmin, qmax = mask, -128, 127
        else:
            score = torch.rand(groups, g, generator=gen)
            mask = torch.zeros_like(score, dtype=torch.bool).scatter_(1, score.argsort(dim=1)[:, :kc], True)
            mask = mask.reshape(k)
            sel, qmin, qmax = mask[:, None].expand(k, n), -8, 7
        if extreme:
            sign, codes = -torch.ones(k, n, dtype=torch.int64), torch.full((k, n), qmin, dtype=torch.int64)
        else:
            sign = torch.randint(0, 2, (k, n), generator=gen) * 2 - 1
            codes = torch.randint(qmin, qmax + 1, (k, n), generator=gen)
        lo = torch.where(sel, 0, sign)
        hi = torch.where(sel, codes, 0)
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
