"""Quantisation and packing of torch tensors in a `Format` (the torch side of formats).

`quantize` / `dequantize` (a `QTensor`: codes, scales, zero points, BitMoD
variants), `pack` / `unpack` (bytes, `fmt.bits` bits per code), the FP codec
`fp_encode` / `fp_decode` / `fp_values`, and `round_scale`. The format descriptor
itself (`Format`, parsing, codebooks, value tables as numpy) is
`lowbit.kernels_ref.formats`, which imports no torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from lowbit.kernels_ref.errors import InvalidSpecError, UnsupportedFormatError
from lowbit.kernels_ref.formats import (
    BITMOD_MIXES,
    BITMOD_TABLES,
    Format,
    FormatKind,
    Granularity,
    ScaleFormat,
    code_range,
    codebook_values,
    fp_max,
    fp_value_table,
)

__all__ = [
    "QTensor",
    "dequantize",
    "fp_decode",
    "fp_encode",
    "fp_values",
    "pack",
    "quantize",
    "round_scale",
    "unpack",
]


# ==================================================================== FP codec
def fp_values(fmt: Format) -> torch.Tensor:
    """float64 value of every code 0 .. 2^bits-1 of an FP format (NaN/inf where reserved);
    the tensor form of `formats.fp_value_table`."""
    return torch.from_numpy(fp_value_table(fmt))


def fp_encode(x: torch.Tensor, fmt: Format) -> torch.Tensor:
    """Encode real values to the bit patterns of an FP format (int64 codes).

    Rounds to nearest, ties to even (even mantissa LSB); magnitudes beyond the
    largest finite value saturate to it (no inf is produced from finite input).
    NaN or inf input raises UnsupportedFormatError.
    """
    if fmt.kind is not FormatKind.FP:
        raise UnsupportedFormatError(f"{fmt} is not a floating-point format")
    x = torch.as_tensor(x)
    if not bool(torch.isfinite(x).all()):
        raise UnsupportedFormatError(f"cannot encode NaN or inf values in {fmt}")
    e, m = fmt.exp_bits, fmt.man_bits
    if (e, m) in ((5, 10), (8, 7)):
        dt = torch.float16 if (e, m) == (5, 10) else torch.bfloat16
        fmax = torch.finfo(dt).max
        xc = x.double().clamp(-fmax, fmax)  # saturate, as for the table formats
        return xc.to(dt).view(torch.int16).to(torch.int64) & 0xFFFF
    vals = fp_values(fmt)
    half = 1 << (fmt.bits - 1)
    pos = vals[:half]  # non-negative codes 0 .. half-1, increasing in code
    keep = torch.isfinite(pos)
    pos_codes = torch.arange(half, dtype=torch.int64)[keep]
    pos = pos[keep]
    a = x.double().abs().reshape(-1)
    hi = torch.searchsorted(pos, a).clamp(max=len(pos) - 1)
    lo = (hi - 1).clamp(min=0)
    dlo, dhi = (a - pos[lo]).abs(), (pos[hi] - a).abs()
    pick_hi = (dhi < dlo) | ((dhi == dlo) & (pos_codes[hi] % 2 == 0))
    mag = torch.where(pick_hi, pos_codes[hi], pos_codes[lo])
    sign = torch.signbit(x.reshape(-1)).to(torch.int64) << (fmt.bits - 1)
    return (sign | mag).reshape(x.shape)


def fp_decode(codes: torch.Tensor, fmt: Format) -> torch.Tensor:
    """Values (float64) of FP bit-pattern codes."""
    codes = torch.as_tensor(codes, dtype=torch.int64)
    return fp_values(fmt)[codes]


# ================================================================ quantisation
@dataclass(frozen=True)
class QTensor:
    """A quantised tensor.

    `codes` has the input's shape (int64). Along the reduction axis `axis`, the
    tensor is cut into G groups (G = K/g per-group, 1 per-channel); `scales` has
    shape [G, *rest] where rest is the input's shape without `axis` (all ones for
    per-tensor). `zero` (UINT only, asymmetric) has the shape of `scales`.
    `variants` (BitMoD mixtures) holds per group the index into
    BITMOD_MIXES[fmt.variant] of the chosen datatype.
    """

    codes: torch.Tensor
    scales: torch.Tensor | None
    zero: torch.Tensor | None
    fmt: Format
    axis: int = 0
    variants: torch.Tensor | None = None


def round_scale(scale: torch.Tensor, sfmt: ScaleFormat) -> torch.Tensor:
    """Round positive scales UP to the nearest value of `sfmt` (float64 result).

    Rounding up keeps |x| / scale within the code range, so the round-trip bound
    of half a step holds with the stored scale. pow2 gives 2^ceil(log2 s).
    """
    s = scale.double()
    if sfmt is ScaleFormat.POW2:
        out = torch.pow(2.0, torch.ceil(torch.log2(s)))
        if bool(((out < 2.0 ** -127) | (out > 2.0 ** 127)).any()):
            raise UnsupportedFormatError("a scale is outside the 8-bit power-of-two exponent range 2^-127..2^127")
        return out
    if sfmt is ScaleFormat.FP16:
        dt, it = torch.float16, torch.int16
    elif sfmt is ScaleFormat.FP32:
        dt, it = torch.float32, torch.int32
    else:
        raise UnsupportedFormatError(f"unknown scale format {sfmt!r}")
    h = s.to(dt)
    low = h.double() < s
    up = (h.view(it) + 1).view(dt)  # next representable value above a positive h
    h = torch.where(low, up, h)
    if not bool(torch.isfinite(h).all()):
        raise UnsupportedFormatError(f"a scale of {float(s.max()):.4g} overflows {sfmt.value}")
    return h.double()


def _grouped(x: torch.Tensor, fmt: Format, axis: int) -> tuple[torch.Tensor, tuple[int, ...]]:
    """Move `axis` first and cut it into groups: [G, g, *rest]."""
    if x.ndim == 0:
        raise InvalidSpecError("cannot quantise a 0-dimensional tensor")
    if not -x.ndim <= axis < x.ndim:
        raise InvalidSpecError(f"axis {axis} out of range for a {x.ndim}-d tensor")
    t = x.movedim(axis, 0)
    k = t.shape[0]
    rest = tuple(t.shape[1:])
    if fmt.granularity is Granularity.GROUP:
        g = fmt.group_size
        assert g is not None
        if k % g:
            raise UnsupportedFormatError(
                f"group size {g} of {fmt} does not divide K={k} (the reduction dimension)")
        return t.reshape(k // g, g, *rest), rest
    return t.reshape(1, k, *rest), rest


def _absmax(t: torch.Tensor, fmt: Format) -> torch.Tensor:
    """Per-group |max| of a grouped tensor [G, g, *rest] -> [G, *rest]."""
    a = t.abs().amax(dim=1)
    if fmt.granularity is Granularity.TENSOR:
        a = a.amax().reshape([1] * a.ndim)
    return a


def _codebook_nearest(x: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """Index of the nearest table entry; a tie goes to the lower value (as the
    BitMoD repository's `x <= mid` comparisons do)."""
    mids = (table[1:] + table[:-1]) / 2
    return torch.searchsorted(mids, x.contiguous(), right=False)


def quantize(tensor: torch.Tensor, fmt: Format | str, axis: int = 0) -> QTensor:
    """Quantise `tensor` to `fmt`; `axis` is the reduction dimension (K).

    For a weight [K, N]: per-channel = one scale per column n, per-group = one
    scale per g consecutive elements along K, per-tensor = one scale.
    Scales are rounded up to the format's scale format (`round_scale`).

    - INT b (b >= 2): symmetric, scale = absmax / (2^(b-1)-1), codes
      round-half-even(x/scale); |x - dequant| <= scale/2. INT1 has codes {-1, 0}
      (two's complement), scale = absmax: only negative values are represented.
    - UINT b: asymmetric over [min(x,0), max(x,0)], scale = range/(2^b-1), zero
      point round(-min/scale); |x - dequant| <= scale/2.
    - BINARY: codes sign(x) (0 -> +1), scale = mean |x| (XNOR-Net).
    - TERNARY: scale = mean |x| (BitNet b1.58 absmean), codes round(x/scale)
      clipped to [-1, 1]; |x - dequant| <= max(scale/2, |x| - scale). i2_s follows
      bitnet.cpp exactly instead (float32: codes round(x * (1/mean)), scale max|code / inv|).
    - FP ExMy: scale = absmax / largest finite value, codes = bit patterns of
      x/scale rounded to nearest even: |x - dequant| <= scale * half an ULP at
      |x/scale| (relative 2^-(m+1), absolute 2^(-bias-m) in the subnormal range).
      fp16/bf16 are unscaled casts.
    - NF4 / BitMoD: scale = absmax / max|table|, nearest table entry (ties to the
      lower value); mixtures pick per group the variant of least squared error.
      Differences from the BitMoD repository's `quant_datatype`: it computes in
      fp16 and clamps the scale to [1e-5, 1e4]; here values are float64 and the
      scale is rounded up to the scale format (so a value within rounding
      distance of a midpoint may pick the other neighbour than the repository).
    """
    fmt = Format.parse(fmt) if isinstance(fmt, str) else fmt
    x = torch.as_tensor(tensor)
    if not x.is_floating_point():
        x = x.double()
    if not bool(torch.isfinite(x).all()):
        raise InvalidSpecError("cannot quantise a tensor holding NaN or inf")
    x = x.double()
    if fmt.is_composite:
        raise UnsupportedFormatError(f"{fmt} stores two codes per group: quantise it with "
                                     "lowbit.kernels_ref.quant_binary.quantize_composite")
    if fmt.kind is FormatKind.FP and fmt.scale is None:
        return QTensor(fp_encode(x, fmt), None, None, fmt, axis)
    t, rest = _grouped(x, fmt, axis)
    assert fmt.scale is not None
    kind = fmt.kind
    zero = None
    variants = None
    tiny = torch.finfo(torch.float32).tiny

    if kind is FormatKind.INT:
        qmax = max(fmt.qmax, 1)
        s = round_scale((_absmax(t, fmt) / qmax).clamp(min=tiny), fmt.scale)
        codes = torch.round(t / s.unsqueeze(1)).clamp(fmt.qmin, fmt.qmax)
    elif kind is FormatKind.UINT:
        lo = t.clamp(max=0).amin(dim=1)
        hi = t.clamp(min=0).amax(dim=1)
        if fmt.granularity is Granularity.TENSOR:
            lo, hi = lo.amin().reshape([1] * lo.ndim), hi.amax().reshape([1] * hi.ndim)
        s = round_scale(((hi - lo) / fmt.qmax).clamp(min=tiny), fmt.scale)
        zero = torch.round(-lo / s).clamp(0, fmt.qmax)
        codes = (torch.round(t / s.unsqueeze(1)) + zero.unsqueeze(1)).clamp(0, fmt.qmax)
    elif fmt.variant == "i2_s":  # BitNet's weight_quant + quantize_i2_s, float32 (kernels_ref.i2s)
        t32 = t.float()
        inv = 1 / t32.abs().mean().clamp(min=1e-5)
        codes = (t32 * inv).round().clamp(-1, 1)
        s = (codes / inv).abs().amax().double().reshape([1] * (t.ndim - 1))
    elif kind in (FormatKind.BINARY, FormatKind.TERNARY):
        mean_abs = t.abs().mean(dim=1)
        if fmt.granularity is Granularity.TENSOR:
            mean_abs = t.abs().mean().reshape([1] * mean_abs.ndim)
        s = round_scale(mean_abs.clamp(min=tiny), fmt.scale)
        if kind is FormatKind.BINARY:
            codes = torch.where(t >= 0, 1.0, -1.0)
        else:
            codes = torch.round(t / s.unsqueeze(1)).clamp(-1, 1)
    elif kind is FormatKind.FP:
        s = round_scale((_absmax(t, fmt) / fp_max(fmt)).clamp(min=tiny), fmt.scale)
        codes = fp_encode(t / s.unsqueeze(1), fmt)
    elif kind is FormatKind.NF or (kind is FormatKind.BITMOD and fmt.variant not in BITMOD_MIXES):
        table = torch.tensor(codebook_values(fmt), dtype=torch.float64)
        s = round_scale((_absmax(t, fmt) / table.abs().max()).clamp(min=tiny), fmt.scale)
        codes = _codebook_nearest(t / s.unsqueeze(1), table)
    elif kind is FormatKind.BITMOD:
        names = BITMOD_MIXES[fmt.variant]  # type: ignore[index]
        best_err = best_codes = best_s = variants = None
        for vi, name in enumerate(names):
            table = torch.tensor(BITMOD_TABLES[name], dtype=torch.float64)
            sv = round_scale((_absmax(t, fmt) / table.abs().max()).clamp(min=tiny), fmt.scale)
            cv = _codebook_nearest(t / sv.unsqueeze(1), table)
            err = (table[cv] * sv.unsqueeze(1) - t).pow(2).mean(dim=1)
            if fmt.granularity is Granularity.TENSOR:
                err = err.mean().reshape([1] * err.ndim)
            if best_err is None:
                best_err, best_codes, best_s = err, cv, sv
                variants = torch.zeros(err.shape, dtype=torch.int64)
            else:
                upd = err < best_err
                best_err = torch.where(upd, err, best_err)
                best_s = torch.where(upd, sv, best_s)
                best_codes = torch.where(upd.unsqueeze(1), cv, best_codes)
                variants = torch.where(upd, vi, variants)
        codes, s = best_codes, best_s
    else:
        raise UnsupportedFormatError(f"quantize does not know format kind {kind}")
    codes = codes.to(torch.int64).reshape(-1, *rest).movedim(0, axis)
    return QTensor(codes, s, zero, fmt, axis, variants)


def dequantize(qt: QTensor) -> torch.Tensor:
    """Real values (float64) of a QTensor."""
    fmt = qt.fmt
    if fmt.kind is FormatKind.FP and fmt.scale is None:
        return fp_decode(qt.codes, fmt)
    if qt.scales is None:
        raise InvalidSpecError(f"QTensor of {fmt} has no scales")
    c = qt.codes.movedim(qt.axis, 0)
    k, rest = c.shape[0], tuple(c.shape[1:])
    groups = qt.scales.shape[0]
    c = c.reshape(groups, k // groups, *rest)
    kind = fmt.kind
    if fmt.is_integer:
        v = c.double()
        if qt.zero is not None:
            v = v - qt.zero.unsqueeze(1)
    elif kind is FormatKind.FP:
        v = fp_decode(c, fmt)
    elif kind is FormatKind.BITMOD and fmt.variant in BITMOD_MIXES:
        if qt.variants is None:
            raise InvalidSpecError(f"QTensor of {fmt} lacks its per-group variants")
        tables = torch.tensor([BITMOD_TABLES[n] for n in BITMOD_MIXES[fmt.variant]], dtype=torch.float64)
        var = qt.variants.unsqueeze(1).expand_as(c)
        v = tables[var, c]
    elif kind in (FormatKind.NF, FormatKind.BITMOD):
        v = torch.tensor(codebook_values(fmt), dtype=torch.float64)[c]
    else:
        raise UnsupportedFormatError(f"dequantize does not know format kind {kind}")
    v = v * qt.scales.double().unsqueeze(1)
    return v.reshape(k, *rest).movedim(0, qt.axis)


# ===================================================================== packing
def pack(codes: torch.Tensor, fmt: Format | str) -> bytes:
    """Pack codes into bytes, `fmt.bits` bits each, little-endian bit order.

    Code i (in row-major order) occupies stream bits [i*b, (i+1)*b), least
    significant bit first; stream bit j is bit (j % 8) of byte j // 8. A code is
    stored as its low b bits: two's complement for INT and TERNARY
    (-1 -> 0b11), the bit pattern for FP, the index for NF/BitMoD, and for
    BINARY bit 1 for +1 and bit 0 for -1. The last byte is zero-padded.
    """
    fmt = Format.parse(fmt) if isinstance(fmt, str) else fmt
    c = torch.as_tensor(codes).reshape(-1).to(torch.int64)
    lo, hi = code_range(fmt)
    if c.numel() and (int(c.min()) < lo or int(c.max()) > hi):
        raise InvalidSpecError(f"codes outside {fmt}'s range [{lo}, {hi}]: min {int(c.min())}, max {int(c.max())}")
    if fmt.kind is FormatKind.BINARY:
        if bool((c == 0).any()):
            raise InvalidSpecError("binary codes must be -1 or +1, found 0")
        c = (c > 0).to(torch.int64)
    b = fmt.bits
    u = (c.cpu().numpy() & ((1 << b) - 1)).astype(np.uint8 if b <= 8 else np.uint16)
    bits = np.empty((u.size, b), dtype=np.uint8)
    for j in range(b):  # one pass per bit position, never an [n, b] int64 temporary
        bits[:, j] = (u >> j) & 1
    return np.packbits(bits.reshape(-1), bitorder="little").tobytes()


def unpack(data: bytes, fmt: Format | str, shape: tuple[int, ...] | torch.Size) -> torch.Tensor:
    """Inverse of `pack`: int64 codes of `shape`."""
    fmt = Format.parse(fmt) if isinstance(fmt, str) else fmt
    shape = tuple(int(d) for d in shape)
    n = math.prod(shape)
    b = fmt.bits
    need = -(-n * b // 8)
    if len(data) != need:
        raise InvalidSpecError(f"{len(data)} bytes cannot hold {n} codes of {fmt} ({need} bytes expected)")
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8), count=n * b, bitorder="little")
    bits = bits.reshape(n, b)
    acc = np.zeros(n, dtype=np.uint8 if b <= 8 else np.uint16)
    for j in range(b):
        acc |= bits[:, j].astype(acc.dtype) << acc.dtype.type(j)
    if fmt.kind is FormatKind.BINARY:
        return torch.from_numpy(acc.astype(np.int64) * 2 - 1).reshape(shape)
    if fmt.kind in (FormatKind.INT, FormatKind.TERNARY):
        # sign-extend in the narrow type: move the sign bit to the top, shift back arithmetically
        width = acc.dtype.itemsize * 8
        signed = (acc << acc.dtype.type(width - b)).view(np.int8 if width == 8 else np.int16)
        return torch.from_numpy((signed >> (width - b)).astype(np.int64)).reshape(shape)
    return torch.from_numpy(acc.astype(np.int64)).reshape(shape)
