"""LUT-based mixed-precision GEMM (T-MAC / LUT Tensor Core / bitnet.cpp style).

Bit-plane scheme (T-MAC, LUT Tensor Core). Weight codes are split into 0/1
bit-planes with coefficients (two's complement: the sign plane has -2^(b-1);
binary {-1,+1} is one plane with coefficient 2 and offset -1). A plane bit
b in {0,1} is read as s = 2b - 1 in {-1,+1}, so for a group of g activations

    sum_j x_j b_j = (sum_j x_j s_j + sum_j x_j) / 2.

For every group of g activations the table holds sum_j x_j s_j for all 2^g
sign patterns; with symmetrisation only the 2^(g-1) patterns whose top bit is
+1 are stored and the rest are read negated (s -> -s flips the sum's sign).
The precompute is one matmul giving the stored half; the other half is its
negation (`full_table`). The g plane bits of a weight group form the table
index; the lookups are gathered and summed (`torch.nn.functional.embedding_bag`,
a fused gather + sum), the row sum sum_k x_k is the offset correction,
and planes are combined with their shifts:

    x @ w = sum_i coef_i * (T_i + rowsum(x)) / 2 + offset * rowsum(x).

Everything is an integer below 2^24 (float32) or 2^53 (float64) in the integer
path, so the result is exact. Ternary weights also run bitnet.cpp style:
TL1 (g = 2 weights, base-3 index into a 9-entry table) and TL2 (g = 3 weights,
a sign bit plus a 4-bit index into a 14-entry mirrored half table).

Optional INT8 table quantisation (`table_quant="int8"`, LUT Tensor Core's
INT8 tables) is the only lossy step: each row's table is scaled by
max|T| / 127 and rounded; `lut_gemm` returns the error bound
sum_i |coef_i| / 2 * G * scale / 2 per row (G table lookups per plane, each
off by at most half a step).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from lowbit.kernels_ref.errors import InvalidSpecError, UnsupportedFormatError
from lowbit.kernels_ref.formats import Format, FormatKind, code_range
from lowbit.kernels_ref.registry import RefKernel

__all__ = [
    "LutResult",
    "Scheme",
    "build_tables",
    "full_table",
    "kernels",
    "lut_gemm",
    "lut_matmul",
    "table_index",
    "weight_planes",
]


class Scheme(enum.Enum):
    BITPLANE = "bitplane"  # T-MAC / LUT Tensor Core: binary planes, 2^g (or 2^(g-1)) tables
    TL1 = "tl1"            # bitnet.cpp TL1: ternary, 2 weights -> base-3 index, 9-entry table
    TL2 = "tl2"            # bitnet.cpp TL2: ternary, 3 weights -> sign + 14-entry half table


@dataclass(frozen=True)
class LutResult:
    """`output` [M, N] (int64 when exact on integer codes, else float64) and
    `error_bound` [M] (float64, |output - exact| <= bound per row; 0 when exact)."""

    output: torch.Tensor
    error_bound: torch.Tensor


def weight_planes(w: torch.Tensor, fmt: Format) -> tuple[torch.Tensor, tuple[int, ...], int]:
    """0/1 planes [B, K, N] (uint8), coefficients and offset with
    w == sum_i coef_i * planes[i] + offset (binary: one plane, 2b - 1)."""
    w = torch.as_tensor(w)
    coefs, offset = _check_weights(w, fmt)
    if fmt.kind is FormatKind.BINARY:
        return (w > 0).to(torch.uint8).unsqueeze(0), coefs, offset
    u = w.to(torch.int32)
    shifts = torch.arange(len(coefs), dtype=torch.int32, device=w.device).view(-1, 1, 1)
    return ((u.unsqueeze(0) >> shifts) & 1).to(torch.uint8), coefs, offset


def _check_weights(w: torch.Tensor, fmt: Format) -> tuple[tuple[int, ...], int]:
    """Validate integer weight codes; their plane coefficients and offset."""
    if w.is_floating_point():
        raise InvalidSpecError(f"LUT kernels take integer weight codes, got {w.dtype}")
    if not fmt.is_integer:
        raise UnsupportedFormatError(f"LUT kernels take integer weight formats, not {fmt}")
    lo, hi = code_range(fmt)
    if w.numel():
        wmin, wmax = torch.aminmax(w)
        if int(wmin) < lo or int(wmax) > hi:
            raise InvalidSpecError(f"weight codes outside {fmt}'s range [{lo}, {hi}]")
    if fmt.kind is FormatKind.BINARY:
        if bool((w == 0).any()):
            raise InvalidSpecError("binary weight codes must be -1 or +1, found 0")
        return (2,), -1
    bits = 2 if fmt.kind is FormatKind.TERNARY else fmt.bits
    signed = fmt.kind is not FormatKind.UINT
    return tuple(-(1 << i) if (signed and i == bits - 1) else (1 << i) for i in range(bits)), 0


def _pad_k(t: torch.Tensor, dim: int, g: int) -> torch.Tensor:
    k = t.shape[dim]
    pad = (-k) % g
    if not pad:
        return t
    shape = list(t.shape)
    shape[dim] = pad
    return torch.cat([t, torch.zeros(shape, dtype=t.dtype, device=t.device)], dim=dim)


def _patterns(scheme: Scheme, g: int, symmetric: bool, device: torch.device) -> torch.Tensor:
    """Rows = stored table entries, columns = the g weights' values in that entry."""
    if scheme is Scheme.BITPLANE:
        full = 1 << g
        first = full // 2 if symmetric else 0
        e = torch.arange(first, full, device=device)
        bits = (e[:, None] >> torch.arange(g, device=device)[None, :]) & 1
        return (2 * bits - 1).to(torch.float64)
    full = 3 ** g
    first = (full - 1) // 2 if symmetric else 0
    e = torch.arange(first, full, device=device)
    pw = torch.tensor([3 ** (g - 1 - j) for j in range(g)], device=device)
    digits = (e[:, None] // pw[None, :]) % 3
    return (digits - 1).to(torch.float64)


def build_tables(x: torch.Tensor, scheme: Scheme | str = Scheme.BITPLANE, g: int = 4,
                 symmetric: bool = True, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Precompute the tables: [M, G, E] with G = ceil(K/g) groups and E entries
    (2^(g-1) symmetric / 2^g bit-plane, (3^g+1)/2 / 3^g base-3). One matmul."""
    scheme = Scheme(scheme)
    xg = _pad_k(x.to(dtype), 1, g)
    m, kp = xg.shape
    pat = _patterns(scheme, g, symmetric, x.device).to(dtype)
    return torch.matmul(xg.reshape(m, kp // g, g), pat.T)


def full_table(tables: torch.Tensor, scheme: Scheme | str, symmetric: bool) -> torch.Tensor:
    """Expand stored tables [M, G, E] to every index: the mirrored half is the
    negation of the stored half (bit-plane: index i <-> 2^g-1-i, base-3:
    i <-> 3^g-1-i, which flip every weight's sign)."""
    scheme = Scheme(scheme)
    if not symmetric:
        return tables
    if scheme is Scheme.BITPLANE:
        return torch.cat([-tables.flip(-1), tables], dim=-1)
    return torch.cat([-tables[..., 1:].flip(-1), tables], dim=-1)


def _grouped_t(w: torch.Tensor, g: int, bits: int) -> torch.Tensor:
    """Weight codes [K, N] (already range-checked for `bits`-bit codes) -> [g, N, G]:
    element j of group G of column n, K zero-padded.

    Codes of <= 7 bits (signed or not) and ternary/binary are kept as int8, 8-bit
    ones as their low byte (uint8 holds every two's-complement bit-plane), wider
    ones as int32."""
    if bits <= 7 or (bits == 8 and int(w.min()) >= -128 and int(w.max()) <= 127):
        small = w.to(torch.int8)
    elif bits == 8:
        small = (w & 0xFF).to(torch.uint8)
    else:
        small = w.to(torch.int32)
    st = _pad_k(small.T.contiguous(), 1, g)  # [N, Kp]
    n, kp = st.shape
    return st.reshape(n, kp // g, g).permute(2, 0, 1).contiguous()


def _index_from_groups(wg: torch.Tensor, scheme: Scheme, plane: int | None, binary: bool = False
                       ) -> torch.Tensor:
    """Full-table index [N, G] (int32) from grouped codes [g, N, G]; `plane` picks the
    bit-plane for BITPLANE (binary codes use their sign bit), base-3 otherwise."""
    g = wg.shape[0]
    idx = torch.zeros(wg.shape[1:], dtype=torch.int32, device=wg.device)
    for j in range(g):
        if scheme is Scheme.BITPLANE:
            if binary:
                bit = wg[j] > 0
            else:
                bit = (wg[j] >> (plane or 0)) & 1
            idx += bit.to(torch.int32) << j
        else:
            idx += (wg[j].to(torch.int32) + 1) * (3 ** (g - 1 - j))
    return idx


def table_index(w_digits: torch.Tensor, scheme: Scheme | str, g: int) -> torch.Tensor:
    """Full-table index per (column, group): [N, G] int64 from weight digits [K, N]
    (0/1 plane bits for BITPLANE: sum_j b_j 2^j; ternary codes for TL1/TL2:
    sum_j (w_j + 1) 3^(g-1-j)). K is zero-padded to a multiple of g (a padded
    weight meets a zero activation, so its entry does not matter)."""
    scheme = Scheme(scheme)
    wd = torch.as_tensor(w_digits)
    wg = _grouped_t(wd, g, 16 if wd.numel() and int(wd.abs().max()) > 127 else 7)
    return _index_from_groups(wg, scheme, 0).to(torch.int64)


def _lookup_sum(tables: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """out[m, n] = sum_G tables[m, G, idx[n, G]]: a fused gather + sum."""
    m, groups, e = tables.shape
    # one contiguous table row per (group, entry): embedding_bag's fast path needs it
    flat = tables.permute(1, 2, 0).reshape(groups * e, m).contiguous()
    bags = idx.to(torch.int32) + (torch.arange(groups, dtype=torch.int32, device=idx.device) * e).view(1, groups)
    return F.embedding_bag(bags, flat, mode="sum").T  # [M, N]


def _split_hi_lo(tables: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """float64 tables [M, G, E] -> (hi, lo) float32 with hi + lo ~= tables.

    hi is the table rounded to a per-row power-of-two step e with
    max|T| * G / e <= 2^23, so hi's entries are integers times e and every sum of
    G of them is exact in float32; lo = T - hi (|lo| <= e/2) carries the rest
    with float32 rounding, about 2^-24 of an already 2^-23/G smaller quantity."""
    m, groups, _ = tables.shape
    amax = tables.abs().amax(dim=(1, 2)).clamp(min=2.0 ** -100)
    step = torch.pow(2.0, torch.ceil(torch.log2(amax * groups)) - 23).view(m, 1, 1)
    hi = torch.round(tables / step) * step
    return hi.to(torch.float32), (tables - hi).to(torch.float32)


def lut_gemm(x: torch.Tensor, w: torch.Tensor, w_fmt: Format | str, *, g: int = 4,
             scheme: Scheme | str = Scheme.BITPLANE, symmetric: bool = True,
             table_quant: str | None = None) -> LutResult:
    """x [M, K] @ w [K, N] by table lookups; see the module docstring.

    Integer `x` (activation codes) gives an int64 output, exact unless
    `table_quant="int8"`; float `x` gives float64 (tables built in float64 and
    looked up as an exactly-summed float32 high part plus a float32 low part)."""
    w_fmt = Format.parse(w_fmt) if isinstance(w_fmt, str) else w_fmt
    scheme = Scheme(scheme)
    x = torch.as_tensor(x)
    w = torch.as_tensor(w)
    if x.ndim != 2 or w.ndim != 2 or x.shape[1] != w.shape[0]:
        raise InvalidSpecError(f"LUT GEMM needs x [M,K] and w [K,N], got {tuple(x.shape)} and {tuple(w.shape)}")
    if table_quant not in (None, "int8"):
        raise InvalidSpecError(f"table_quant must be None or 'int8', got {table_quant!r}")
    if scheme is not Scheme.BITPLANE:
        if w_fmt.kind is not FormatKind.TERNARY:
            raise UnsupportedFormatError(f"{scheme.value} is a ternary scheme, not for {w_fmt}")
        g = 2 if scheme is Scheme.TL1 else 3
        symmetric = scheme is Scheme.TL2
    if not 1 <= g <= 8:
        raise InvalidSpecError(f"group size g must be 1..8, got {g}")
    coefs, offset = _check_weights(w, w_fmt)
    if scheme is not Scheme.BITPLANE:
        coefs, offset = (1,), 0
    integer = not x.is_floating_point()
    m, k = x.shape
    # exact float path: every partial sum is an integer of magnitude <= K * max|x| * 2
    xmax = int(x.abs().max()) if (integer and x.numel()) else 0
    tf32 = x.is_cuda and torch.backends.cuda.matmul.allow_tf32  # TF32 would round the precompute
    dtype = torch.float32 if (integer and 4 * k * xmax < 2 ** 24 and not tf32) else torch.float64
    tables = build_tables(x, scheme, g, symmetric, dtype)  # the precomputed (half) tables
    groups = tables.shape[1]
    bound = torch.zeros(m, dtype=torch.float64, device=x.device)
    tscale = None
    if table_quant == "int8":
        tscale = (tables.abs().amax(dim=(1, 2)) / 127).clamp(min=torch.finfo(torch.float32).tiny)
        tables = torch.round(tables / tscale.view(m, 1, 1)).clamp(-127, 127)
        weight = sum(abs(c) for c in coefs) / (2 if scheme is Scheme.BITPLANE else 1)
        bound = weight * groups * tscale.double() / 2
    tables = full_table(tables, scheme, symmetric)
    rowsum = x.to(torch.float64).sum(dim=1, keepdim=True)
    total = torch.zeros(m, w.shape[1], dtype=torch.float64, device=x.device)
    wbits = 2 if w_fmt.kind in (FormatKind.TERNARY, FormatKind.BINARY) else w_fmt.bits
    wg = _grouped_t(w, g, wbits)  # [g, N, G], grouped once
    binary = w_fmt.kind is FormatKind.BINARY
    split = None if integer else _split_hi_lo(tables)
    for i, c in enumerate(coefs):
        idx = _index_from_groups(wg, scheme, i, binary)
        if split is None:
            t = _lookup_sum(tables, idx).to(torch.float64)
        else:  # float activations: two fast float32 gathers, the high part summed exactly
            t = _lookup_sum(split[0], idx).to(torch.float64) + _lookup_sum(split[1], idx).to(torch.float64)
        if tscale is not None:
            t = t * tscale.view(m, 1).double()
        if scheme is Scheme.BITPLANE:
            total = total + c * (t + rowsum)  # twice the plane's contribution
        else:
            total = total + 2 * c * t
    total = total / 2 + offset * rowsum
    if integer and table_quant is None:
        return LutResult(torch.round(total).to(torch.int64), bound)
    return LutResult(total, bound)


def lut_matmul(x: torch.Tensor, w: torch.Tensor, w_fmt: Format | str, **kw: object) -> torch.Tensor:
    """`lut_gemm(...).output`."""
    return lut_gemm(x, w, w_fmt, **kw).output  # type: ignore[arg-type]


def _fn(scheme: Scheme, g: int, symmetric: bool) -> Callable[[torch.Tensor, torch.Tensor, Format, Format], torch.Tensor]:
    def run(x: torch.Tensor, w_codes: torch.Tensor, w_fmt: Format, a_fmt: Format) -> torch.Tensor:
        if a_fmt.is_integer:
            if x.is_floating_point():
                raise InvalidSpecError(f"{a_fmt} activations must be integer codes")
        elif a_fmt.kind is FormatKind.FP:
            x = x.to(torch.float64)
        else:
            raise UnsupportedFormatError(f"LUT kernels take integer or float activations, not {a_fmt}")
        return lut_gemm(x, w_codes, w_fmt, g=g, scheme=scheme, symmetric=symmetric).output
    run.__name__ = f"lut_{scheme.value}_g{g}{'_sym' if symmetric else ''}"
    return run


def kernels() -> tuple[RefKernel, ...]:
    """T-MAC / LUT Tensor Core bit-plane kernels (g=4 symmetric, g=2 full table)
    and bitnet.cpp TL1/TL2 ternary kernels, on integer and float activations."""
    wts = ("int1", "int2", "int3", "int4", "uint2", "uint4", "binary", "ternary")
    ints = ("int8", "uint8", "int4")
    floats = ("fp16", "bf16")
    return (
        RefKernel("lut-tmac-g4", "lut", wts, ints, _fn(Scheme.BITPLANE, 4, True)),
        RefKernel("lut-g2-full", "lut", ("int2", "int4", "ternary"), ("int8",), _fn(Scheme.BITPLANE, 2, False)),
        RefKernel("lut-bitnet-tl1", "lut", ("ternary",), ("int8",), _fn(Scheme.TL1, 2, False)),
        RefKernel("lut-bitnet-tl2", "lut", ("ternary",), ("int8",), _fn(Scheme.TL2, 3, True)),
        RefKernel("lut-tmac-g4-float", "lut", ("int2", "int4", "ternary", "binary"), floats,
                  _fn(Scheme.BITPLANE, 4, True), exact=False, rel_tol=1e-9),
        RefKernel("lut-bitnet-tl2-float", "lut", ("ternary",), floats, _fn(Scheme.TL2, 3, True),
                  exact=False, rel_tol=1e-9),
    )
