"""lowbit formats against the ecosystem's reference code: gguf.quants (llama.cpp's Python
reference) and torch's int4 weight-only CPU kernel (`torch._weight_int4pack_mm_for_cpu`).

Storage and dequantisation are equal bit for bit in both directions; the quantisers'
differences (kernels_ref.gguf_types) are stated and tested exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from lowbit.kernels_ref.formats import Format
from lowbit.kernels_ref.gguf_blocks import from_gguf, to_gguf
from lowbit.kernels_ref.gguf_types import GGUF_COUNTERPARTS, gguf_type
from lowbit.kernels_ref.quant import dequantize, quantize
from lowbit.kernels_ref.wholemodel import kernel_for

gguf = pytest.importorskip("gguf")  # third-party, extra 'real'
GQ = gguf.quants
T = gguf.GGMLQuantizationType
torch.set_num_threads(1)
K, N = 512, 24


def _weights(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((N, K)).astype(np.float32)
    w[:, :64] *= 8.0  # blocks of different magnitudes
    w[3, 100] = 0.0
    return w


@pytest.mark.parametrize("fmt", sorted(GGUF_COUNTERPARTS))
@pytest.mark.parametrize("seed", [0, 1])
def test_our_blocks_dequantise_identically_in_gguf(fmt: str, seed: int) -> None:
    w = _weights(seed)
    qt = quantize(torch.from_numpy(w).t(), fmt, axis=0)
    ours = dequantize(qt).t().numpy()
    rows, gt = to_gguf(qt)
    assert gt == gguf_type(fmt) and rows.shape == (N, GQ.quant_shape_to_byte_shape((K,), getattr(T, gt))[0])
    theirs = GQ.dequantize(rows, getattr(T, gt))
    assert theirs.dtype == np.float32
    assert np.array_equal(ours.astype(np.float32).astype(np.float64), ours)  # exact in fp32
    assert np.array_equal(theirs, ours.astype(np.float32))
    back = from_gguf(rows, gt, K, N)
    assert torch.equal(back.codes, qt.codes) and (qt.scales is None or torch.equal(back.scales, qt.scales))


@pytest.mark.parametrize("fmt", sorted(GGUF_COUNTERPARTS))
def test_gguf_quantised_bytes_dequantise_identically_in_lowbit(fmt: str) -> None:
    w = _weights(2)
    gt = GGUF_COUNTERPARTS[fmt]
    data = GQ.quantize(w, getattr(T, gt))
    theirs = GQ.dequantize(data, getattr(T, gt))
    qt = from_gguf(data, gt, K, N)
    assert str(qt.fmt) == fmt
    assert np.array_equal(dequantize(qt).t().numpy().astype(np.float32), theirs)


def _scales(fmt: str, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    gt = GGUF_COUNTERPARTS[fmt]
    ours = quantize(torch.from_numpy(w).t(), fmt, axis=0).scales.t().numpy()
    theirs = from_gguf(GQ.quantize(w, getattr(T, gt)), gt, K, N).scales.t().numpy()
    return ours, theirs


def _next_f16(x: np.ndarray) -> np.ndarray:
    return np.nextafter(x.astype(np.float16), np.float16(np.inf)).astype(np.float64)


def test_q8_0_quantiser_difference_is_the_scale_rounding_direction() -> None:
    w = _weights(3)
    ours, theirs = _scales("int8g32", w)
    amax = np.abs(w.reshape(N, -1, 32)).max(axis=2)
    # ggml: fp16-nearest of fp32 amax/127; lowbit: the smallest fp16 >= amax/127
    assert np.array_equal(theirs, (amax / np.float32(127)).astype(np.float16).astype(np.float64))
    assert np.all((ours == theirs) | (ours == _next_f16(theirs)))
    assert np.all(ours >= amax / 127.0)
    # on weights already on an int8 x fp16 grid (every block reaching code 127) both agree bit for bit
    rng = np.random.default_rng(4)
    d = (2.0 ** rng.integers(-8, 0, (N, K // 32, 1))).astype(np.float32)
    codes = rng.integers(-127, 128, (N, K // 32, 32))
    codes[..., 0] = 127
    grid = (codes * d).reshape(N, K).astype(np.float32)
    ours_v = dequantize(quantize(torch.from_numpy(grid).t(), "int8g32", axis=0)).t().numpy()
    theirs_v = GQ.dequantize(GQ.quantize(grid, T.Q8_0), T.Q8_0)
    assert np.array_equal(ours_v.astype(np.float32), theirs_v) and np.array_equal(theirs_v, grid)


def test_q4_0_tq2_0_mxfp4_quantiser_differences() -> None:
    w = _weights(5)
    blk = w.reshape(N, -1, 32)
    amax = np.abs(blk).max(axis=2)
    signed = np.take_along_axis(blk, np.abs(blk).argmax(axis=2)[..., None], axis=2)[..., 0]
    ours, theirs = _scales("int4g32", w)
    # ggml Q4_0: d = max_signed / -8 (fp16-nearest; the dequantiser multiplies codes by d, sign included)
    assert np.array_equal(theirs, (signed / np.float32(-8)).astype(np.float16).astype(np.float64))
    assert np.all(ours >= amax / 7.0) and np.all(ours < amax / 7.0 * (1 + 2 ** -10))
    ours, theirs = _scales("ternaryg256", w)
    b256 = np.abs(w.reshape(N, -1, 256))
    assert np.array_equal(theirs, b256.max(axis=2).astype(np.float16).astype(np.float64))  # ggml: absmax
    assert np.all(ours >= b256.mean(axis=2)) and np.all(ours < b256.mean(axis=2) * (1 + 2 ** -10))  # absmean
    ours, theirs = _scales("fp4g32_spow2", w)
    # ggml MXFP4: e = floor(log2 amax) - 2 (OCP); lowbit: ceil(log2(amax / 6)); they differ by one
    # exactly where frac(log2 amax) > log2(6) - 2 (there ggml saturates the block maximum to 6 * 2^e)
    lg = np.log2(amax.astype(np.float64))
    assert np.array_equal(np.log2(theirs), np.floor(lg) - 2)
    assert np.array_equal(np.log2(ours) - np.log2(theirs), (lg - np.floor(lg) > np.log2(6) - 2).astype(float))


@pytest.mark.parametrize("group", [32, 64, 128])
@pytest.mark.parametrize("scale", ["", "_spow2"])
def test_torch_int4_cpu_kernel_matches_our_int4_kernels(group: int, scale: str) -> None:
    """torch._weight_int4pack_mm_for_cpu on our int4 codes (stored as code + 8, zero 0: torch
    dequantises (q - 8) * scale + zero) vs our kernel's exact integer product times the scales.
    Power-of-two scales: every partial sum is exact in fp32, so equality is bit for bit; fp16
    scales: torch accumulates in fp32, measured <= 4e-7 relative, held to 2e-6."""
    g = torch.Generator().manual_seed(group)
    m, k, n = 8, 512, 64
    w = torch.randn(n, k, generator=g)
    x = torch.randint(-127, 128, (m, k), generator=g)
    fmt = Format.parse(f"int4g{group}{scale}")
    qt = quantize(w.t(), fmt, axis=0)
    packed = torch._convert_weight_to_int4pack_for_cpu((qt.codes.t() + 8).to(torch.int32).contiguous(), 2)
    sz = torch.stack([qt.scales.float(), torch.zeros(qt.scales.shape)], dim=2).contiguous()
    y_torch = torch._weight_int4pack_mm_for_cpu(x.float(), packed, group, sz).double()
    kern = kernel_for(fmt)
    y = torch.zeros(m, n, dtype=torch.float64)
    for gi in range(k // group):
        sl = slice(gi * group, (gi + 1) * group)
        y += kern.fn(x[:, sl].contiguous(), qt.codes[sl].contiguous(), fmt, Format.parse("int8")).double() \
            * qt.scales[gi].double()
    assert torch.equal(y, x.double() @ dequantize(qt))  # our kernel: exact
    if scale:
        assert torch.equal(y_torch, y)
    else:
        assert float((y_torch - y).abs().max() / y.abs().max()) <= 2e-6
