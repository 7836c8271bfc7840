"""Dense reference kernels: the plain matmul every other kernel family is held to.

Two kernels, registered through `kernels()` (see `kernels_ref.registry`):

- `dense-int`: integer weight codes (INT/UINT/BINARY/TERNARY) times integer
  activation codes, exact, int64 result. It runs as floating-point matmuls that
  are exact by construction: K is cut into chunks of `kc` such that every
  partial sum is an integer of magnitude <= kc * max|a| * max|w| <= 2^24, so
  every fp32 addition inside the BLAS/cuBLAS matmul is exact whatever its order;
  chunk results are summed in int64. When an fp32 chunk would be shorter than 64
  (16-bit codes) the same is done in float64 (bound 2^53).
- `dense-float`: any weight format whose code values are real numbers (FP ExMy
  bit patterns, NF4 and single BitMoD codebook indices, and integer codes) times
  float activations (fp16/bf16 values, held in any float dtype): the code values
  are decoded exactly to fp32 and multiplied in fp32. The error against a float64
  product is that of fp32 accumulation: |err| <= gamma_K * (|x| @ |w|) with
  gamma_K ~ K * 2^-24 in the worst case, ~sqrt(K) * 2^-24 in practice; the
  registered bound is `FLOAT_REL_TOL` of (|x| @ |w|) elementwise.

Both accept `out=`: a preallocated [M, N] tensor that is written in full and
returned (the verification harness passes a poisoned one).
"""

from __future__ import annotations

import torch
from lowbit.kernels_ref.errors import UnsupportedFormatError
from lowbit.kernels_ref.formats import (
    BITMOD_MIXES,
    Format,
    FormatKind,
    codebook_values,
)
from lowbit.kernels_ref.quant import fp_decode
from lowbit.kernels_ref.registry import RefKernel

__all__ = [
    "FLOAT_ACT_FORMATS",
    "FLOAT_REL_TOL",
    "FLOAT_WEIGHT_FORMATS",
    "INT_ACT_FORMATS",
    "INT_WEIGHT_FORMATS",
    "code_values",
    "dense_float",
    "dense_int",
    "exact_int_matmul",
    "kernels",
    "max_abs_code",
]

# fp32 accumulation bound used for dense-float (relative to |x| @ |w|); measured
# worst case over the verify shapes is ~1e-7 (see tests/kernels_ref/test_verify.py).
FLOAT_REL_TOL = 1e-5

INT_WEIGHT_FORMATS: tuple[str, ...] = (
    "int2", "int3", "int4", "int5", "int6", "int8", "int16",
    "uint2", "uint4", "uint8", "binary", "ternary",
)
INT_ACT_FORMATS: tuple[str, ...] = ("int8", "uint8", "int4")
FLOAT_WEIGHT_FORMATS: tuple[str, ...] = (
    "int4", "int8", "ternary", "fp4", "fp6", "fp8e4m3", "fp8e5m2", "fp16", "bf16", "nf4",
    "fp3_er_pos", "fp4_ea_neg", "flint4",
)
FLOAT_ACT_FORMATS: tuple[str, ...] = ("fp16", "bf16")

_FP32_EXACT = float(1 << 24)
_FP64_EXACT = float(1 << 53)
_MIN_FP32_CHUNK = 64


def _fmt(f: Format | str) -> Format:
    return Format.parse(f) if isinstance(f, str) else f


def max_abs_code(fmt: Format | str) -> int:
    """Largest |code| of an integer-code format (INT/UINT/BINARY/TERNARY)."""
    fmt = _fmt(fmt)
    if not fmt.is_integer:
        raise UnsupportedFormatError(f"{fmt} has no integer codes")
    return max(abs(fmt.qmin), abs(fmt.qmax))


def code_values(codes: torch.Tensor, fmt: Format | str, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Unscaled real value of each code of `fmt` as `dtype` (float64 default), on the
    codes' device. Every code value of the formats here is exact in float32
    (8-bit exponent or less, <= 10 mantissa bits), so float32 loses nothing.

    INT/UINT/BINARY/TERNARY: the code itself (a UINT zero point is applied by the
    caller, with the scales). FP: the bit pattern's value. NF4 / single BitMoD
    datatypes: the codebook entry. BitMoD mixtures need their per-group variants
    and are rejected here (use `quant.dequantize`).
    """
    fmt = _fmt(fmt)
    if fmt.is_integer:
        return codes.to(dtype)
    if fmt.kind is FormatKind.FP:
        if fmt.scale is None and (fmt.exp_bits, fmt.man_bits) in ((5, 10), (8, 7)):
            # fp16 / bf16 bit patterns: reinterpret (exact, no table)
            dt = torch.float16 if fmt.exp_bits == 5 else torch.bfloat16
            return codes.to(torch.int16).view(dt).to(dtype)
        table = fp_decode(torch.arange(1 << fmt.bits), fmt).to(dtype=dtype, device=codes.device)
        return table[codes.to(torch.int64)]
    if fmt.kind is FormatKind.NF or (fmt.kind is FormatKind.BITMOD and fmt.variant not in BITMOD_MIXES):
        table = torch.tensor(codebook_values(fmt), dtype=dtype, device=codes.device)
        return table[codes.to(torch.int64)]
    if fmt.kind is FormatKind.BITMOD:
        raise UnsupportedFormatError(f"{fmt} is a BitMoD mixture: its code values depend on per-group variants")
    raise UnsupportedFormatError(f"dense kernels do not know format kind {fmt.kind}")


def _write(res: torch.Tensor, out: torch.Tensor | None) -> torch.Tensor:
    if out is None:
        return res
    if tuple(out.shape) != tuple(res.shape):
        raise UnsupportedFormatError(f"out has shape {tuple(out.shape)}, the product is {tuple(res.shape)}")
    out.copy_(res)
    return out


def exact_int_matmul(x: torch.Tensor, w: torch.Tensor, x_max: int, w_max: int,
                     out: torch.Tensor | None = None) -> torch.Tensor:
    """Exact int64 x @ w for integer-valued x [M, K], w [K, N] with |x| <= x_max, |w| <= w_max.

    Runs as fp32 (or float64) matmuls over K-chunks whose partial sums stay
    within the format's exact-integer range (see module docstring).
    """
    if x.ndim != 2 or w.ndim != 2 or x.shape[1] != w.shape[0]:
        raise UnsupportedFormatError(f"cannot multiply {tuple(x.shape)} by {tuple(w.shape)}")
    m, k = x.shape
    n = w.shape[1]
    prod = max(1, x_max * w_max)
    kc = int(_FP32_EXACT // prod)
    dt = torch.float32
    if kc < _MIN_FP32_CHUNK:
        kc, dt = int(_FP64_EXACT // prod), torch.float64
    if k == 0:
        return _write(torch.zeros(m, n, dtype=torch.int64, device=x.device), out)
    if kc >= k:
        res = torch.matmul(x.to(dt), w.to(dt)).to(torch.int64)
        return _write(res, out)
    chunks = -(-k // kc)
    pad = chunks * kc - k
    xf = torch.nn.functional.pad(x.to(dt), (0, pad))
    wf = torch.nn.functional.pad(w.to(dt), (0, 0, 0, pad))
    part = torch.bmm(xf.reshape(m, chunks, kc).transpose(0, 1), wf.reshape(chunks, kc, n))
    res = part.to(torch.int64).sum(dim=0)
    return _write(res, out)


def dense_int(x: torch.Tensor, w_codes: torch.Tensor, w_fmt: Format, a_fmt: Format,
              out: torch.Tensor | None = None) -> torch.Tensor:
    """Exact int64 x_codes @ w_codes for integer-code weight and activation formats."""
    w_fmt, a_fmt = _fmt(w_fmt), _fmt(a_fmt)
    if not (w_fmt.is_integer and a_fmt.is_integer):
        raise UnsupportedFormatError(f"dense-int needs integer codes, got weights {w_fmt}, activations {a_fmt}")
    return exact_int_matmul(x, w_codes, max_abs_code(a_fmt), max_abs_code(w_fmt), out=out)


def dense_float(x: torch.Tensor, w_codes: torch.Tensor, w_fmt: Format, a_fmt: Format,
                out: torch.Tensor | None = None) -> torch.Tensor:
    """fp32 x @ values(w_codes) for float activations; float32 result."""
    w_fmt = _fmt(w_fmt)
    if x.ndim != 2 or w_codes.ndim != 2 or x.shape[1] != w_codes.shape[0]:
        raise UnsupportedFormatError(f"cannot multiply {tuple(x.shape)} by {tuple(w_codes.shape)}")
    wv = code_values(w_codes, w_fmt, torch.float32)
    res = torch.matmul(x.to(torch.float32), wv)
    return _write(res, out)


def kernels() -> tuple[RefKernel, ...]:
    return (
        RefKernel(name="dense-int", family="dense", weight_formats=INT_WEIGHT_FORMATS,
                  act_formats=INT_ACT_FORMATS, fn=dense_int, exact=True, rel_tol=0.0),
        RefKernel(name="dense-float", family="dense", weight_formats=FLOAT_WEIGHT_FORMATS,
                  act_formats=FLOAT_ACT_FORMATS, fn=dense_float, exact=False, rel_tol=FLOAT_REL_TOL),
    )
