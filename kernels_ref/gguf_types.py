"""Which lowbit formats have a GGUF (llama.cpp / ggml) counterpart, and how exactly.

A counterpart means: the same storage (code width, block = group along K, scale
format) and the same dequantisation, value for value. tests/kernels_ref/test_gguf_reference.py
packs lowbit's codes and scales into GGUF's block layout and dequantises them with
the `gguf` package's reference code (`gguf.quants`): bit-for-bit equal to
`quant.dequantize`. The quantisers (how codes and scales are chosen) differ, stated
per type below and measured in benchmarks/RESULTS.md (`benchmarks/bench_gguf.py`):

| lowbit | GGUF | block | dequant | quantiser difference (ggml vs lowbit) |
|---|---|---|---|---|
| int8g32 | Q8_0 | 32 | fp16 d x int8 q | ggml: d = fp16-nearest(amax/127), q = round-half-away(x / d_fp32); lowbit: s = fp16 rounded UP, q = round-half-even(x / s) |
| int4g32 | Q4_0 | 32 | fp16 d x (nibble - 8) | ggml: d = max_signed / -8 (the extreme maps to code -8), lowbit: s = amax / 7 (codes -7..7 from the quantiser, -8 representable) |
| ternaryg256 | TQ2_0 | 256 | fp16 d x (q - 1), q in {0,1,2} | ggml: d = amax; lowbit: d = mean |x| (BitNet b1.58 absmean) |
| fp4g32_spow2 | MXFP4 | 32 | E8M0 2^e x E2M1 | ggml: e = floor(log2 amax) - 2 (OCP MX); lowbit: e = ceil(log2(amax / 6)) |
| fp16 / bf16 | F16 / BF16 | - | cast | none |

Formats without a counterpart (per-channel INT, other group sizes, NF4, BitMoD, UINT
with zero points: GGUF's Q4_1 / K-quants store a min and 6-bit sub-block scales that
lowbit's UINT g32 does not) return None: `lowbit export --to gguf-types` refuses them
rather than substituting a near type. Torch-free.
"""

from __future__ import annotations

from lowbit.kernels_ref.formats import Format

__all__ = ["GGUF_COUNTERPARTS", "gguf_type"]

#: lowbit format string (canonical `str(Format)`) -> GGUF / ggml type name.
GGUF_COUNTERPARTS: dict[str, str] = {
    "int8g32": "Q8_0",
    "int4g32": "Q4_0",
    "ternaryg256": "TQ2_0",
    "fp4g32_spow2": "MXFP4",
    "fp16": "F16",
    "bf16": "BF16",
}


def gguf_type(fmt: Format | str) -> str | None:
    """The GGUF type with the same storage and dequantisation as `fmt`, or None."""
    f = Format.parse(fmt) if isinstance(fmt, str) else fmt
    return GGUF_COUNTERPARTS.get(str(f))
