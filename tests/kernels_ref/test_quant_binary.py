"""DB-LLM, PB-LLM and salient-channel quantisers (kernels_ref.quant_binary) and their kernel."""

from __future__ import annotations

import pytest
import torch
from lowbit.kernels_ref.binary import dual_binarize
from lowbit.kernels_ref.composite import composite_gemm, draw_composite, kernels
from lowbit.kernels_ref.errors import InvalidSpecError, UnsupportedFormatError
from lowbit.kernels_ref.formats import Format
from lowbit.kernels_ref.quant import dequantize, quantize
from lowbit.kernels_ref.quant_binary import (
    dequantize_composite,
    quantize_composite,
    quantize_dbllm,
    quantize_pbllm,
    quantize_salient,
)
from lowbit.kernels_ref.verify import verify_kernels

torch.set_num_threads(1)


def _gauss(k: int = 512, n: int = 64, seed: int = 0) -> torch.Tensor:
    return torch.randn(k, n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _mse(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).pow(2).mean())


# ------------------------------------------------------------------ formats
@pytest.mark.parametrize("name,bpw,kc", [
    ("dbllmg64", 2 + 48 / 64, None), ("dbllm", 2.0, None),
    ("pbllm10g128", (128 + 115 + 8 * 13 + 32) / 128, 13),   # round(12.8) = 13 salient
    ("pbllm20g64", (64 + 51 + 8 * 13 + 32) / 64, 13),       # round(12.8) = 13
    ("salient20g128", (4 * 26 + 102 + 32) / 128, 26),       # round(25.6) = 26 channels
])
def test_bits_per_weight_exact(name, bpw, kc):
    f = Format.parse(name)
    assert str(f) == name and f.bits_per_weight == bpw
    if kc is not None:
        assert f.salient_count == kc
    k, n = 256, 3
    extra = k if f.kind.value == "salient" else 0  # the salient-channel mask: K bits per matrix
    extra += 48 * n if name == "dbllm" else 0  # per channel: alpha1, alpha2, beta per column
    assert f.storage_bits(k, n) == bpw * k * n + extra


# ------------------------------------------------------------------ DB-LLM
def test_dbllm_fitted_beats_the_fixed_alpha_rewrite():
    w = _gauss()
    for gran in ("g64", "g128", ""):
        fitted = _mse(dequantize_composite(quantize_dbllm(w, "dbllm" + gran)), w)
        fixed = _mse(dequantize(quantize(w, "uint2" + gran)), w)  # = the fixed-alpha rewrite's values
        int2 = _mse(dequantize(quantize(w, "int2" + gran)), w)
        assert fitted <= 0.6 * fixed < int2, (gran, fitted, fixed, int2)
    # the fit at g128 reaches the 4-level Lloyd-Max MSE of a unit gaussian (0.1175) within 3%
    assert _mse(dequantize_composite(quantize_dbllm(w, "dbllmg128")), w) == pytest.approx(0.1175, rel=0.03)


def test_dbllm_zero_iterations_is_the_fixed_alpha_rewrite():
    w = _gauss(256, 8)
    qt = quantize(w, "uint2")
    cw = quantize_dbllm(w, "dbllm", iters=0)  # the uint2 start, rounded to fp16
    db = dual_binarize(qt.codes, "uint2", qt.scales.reshape(-1))
    fixed = db.alpha1 * db.b1 + db.alpha2 * db.b2 + db.beta - qt.scales * qt.zero  # s (c - z)
    assert torch.allclose(fixed, dequantize(qt))
    assert torch.allclose(dequantize_composite(cw), fixed, atol=2e-3 * float(qt.scales.max()))
    assert set(cw.lo.unique().tolist()) <= {0, 1} and set(cw.hi.unique().tolist()) <= {0, 1}


def test_dbllm_scales_are_stored_values():
    cw = quantize_dbllm(_gauss(128, 4), "dbllmg64")
    for v in (cw.lo_scale, cw.hi_scale, cw.offset):
        assert torch.equal(v, v.to(torch.float16).double())
    with pytest.raises(UnsupportedFormatError, match="pow2"):
        quantize_dbllm(_gauss(128, 4), "dbllmg64_spow2")


# ------------------------------------------------------------------ PB-LLM
def test_pbllm_keeps_exactly_the_top_k_by_magnitude():
    w = _gauss(256, 16, seed=1)
    f = Format.parse("pbllm10g128")
    cw = quantize_pbllm(w, f)
    groups = w.reshape(2, 128, 16).abs()
    mask = cw.mask.reshape(2, 128, 16)
    assert torch.equal(mask.sum(dim=1), torch.full((2, 16), 13))
    kth = groups.sort(dim=1, descending=True).values[:, 12]  # the 13th largest per group/column
    assert torch.equal(mask, groups >= kth.unsqueeze(1))
    assert bool((cw.hi[~cw.mask] == 0).all()) and bool((cw.lo[cw.mask] == 0).all())
    assert set(cw.lo[~cw.mask].unique().tolist()) == {-1, 1}
    v = dequantize_composite(cw)
    # salient weights within half an int8 step; and better than plain binarisation overall
    step = cw.hi_scale.repeat_interleave(128, dim=0)
    assert bool(((v - w).abs()[cw.mask] <= step[cw.mask] / 2 + 1e-12).all())
    assert _mse(v, w) < 0.55 * _mse(dequantize(quantize(w, "binaryg128")), w)


def test_pbllm_ties_go_to_the_lower_index():
    w = torch.ones(64, 1, dtype=torch.float64)
    cw = quantize_pbllm(w, "pbllm10g64")  # round(6.4) = 6 salient
    assert cw.mask[:, 0].nonzero().flatten().tolist() == [0, 1, 2, 3, 4, 5]


# ------------------------------------------------------------- salient channel
def test_salient_channels_follow_the_score():
    w = _gauss(128, 8, seed=2)
    w[5] *= 10.0  # an outlier input channel
    act = torch.ones(128, dtype=torch.float64)
    act[77] = 1e6  # an outlier activation channel
    cw = quantize_salient(w, "salient10g64", act_sq=act)  # round(6.4) = 6 per group
    assert cw.mask.shape == (128,) and int(cw.mask.sum()) == 12
    assert bool(cw.mask[5]) and bool(cw.mask[77])
    assert bool((cw.hi[~cw.mask] == 0).all()) and bool((cw.lo[cw.mask] == 0).all())
    assert int(cw.hi.abs().max()) <= 8
    plain = _mse(dequantize(quantize(w, "binaryg64")), w)
    assert _mse(dequantize_composite(cw), w) < plain
    with pytest.raises(InvalidSpecError, match="act_sq"):
        quantize_salient(w, "salient10g64", act_sq=torch.ones(3))


def test_composite_dispatch_and_errors():
    w = _gauss(128, 2)
    assert quantize_composite(w, "pbllm10g64").fmt == Format.parse("pbllm10g64")
    with pytest.raises(UnsupportedFormatError, match="quant_binary"):
        quantize(w, "dbllmg64")
    with pytest.raises(UnsupportedFormatError, match="does not divide"):
        quantize_composite(_gauss(100, 2), "dbllmg64")
    with pytest.raises(UnsupportedFormatError, match="not a composite"):
        quantize_composite(w, "int4")


# ------------------------------------------------------------------ kernel
@pytest.mark.parametrize("name", ["dbllmg64", "pbllm10g64", "salient25g64"])
def test_kernel_on_quantised_weights(name):
    w = _gauss(192, 24, seed=3)
    cw = quantize_composite(w, name)
    x = torch.randint(-128, 128, (5, 192), generator=torch.Generator().manual_seed(4))
    out = composite_gemm(x, cw, "int8")
    ref = x.double() @ dequantize_composite(cw)
    assert torch.allclose(out, ref, rtol=1e-12, atol=1e-9)


def test_verify_checks_the_composite_kernel_bit_for_bit():
    rep = verify_kernels(["dbllmg64", "pbllm10g64"], seed=9, kernels=kernels())
    assert rep.passed and all(r.max_abs_err == 0.0 and r.tol == 0.0 for r in rep.rows)
    assert {r.shape for r in rep.rows} >= {(2, 2048, 8)}  # the extreme K run too

    def off(x, w, wf, af):  # a kernel that drops the offset beta must fail
        return composite_gemm(x, type(w)(w.fmt, w.lo, w.hi, w.lo_scale, w.hi_scale, None, w.mask), af)
    bad = [type(kernels()[0])("no-beta", "binary", ("dbllmg64",), ("int8",), off, exact=False,
                              draw=draw_composite)]
    assert not verify_kernels(seed=9, kernels=bad).passed
