"""Cycle-stepped LUT Tensor Core cluster (issue 5): outputs equal kernels_ref.lut, cycles
equal the fast model, fused and unfused, integer and fp16 activations."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from lowbit.hwsim.cores.lut_tensor_core import Model, Spec
from lowbit.hwsim.cyclesim.lut import plane_split, simulate
from lowbit.kernels_ref.errors import InvalidSpecError, UnsupportedFormatError
from lowbit.kernels_ref.formats import Format
from lowbit.kernels_ref.lut import lut_gemm

F = Format.parse
SPECS = [Spec(), Spec(tile_m=4, tile_n=8, tile_k=2, units=3, precompute_adders=5),
         Spec(tile_k=3, units=2, fused_precompute=False, launch_cycles=7, precompute_adders=8,
              precompute_bytes_per_cycle=4.0),
         Spec(tile_k=1, tile_n=16, units=1, precompute_adders=3)]
PAIRS = [("int4", "int8"), ("int2", "int2"), ("ternary", "int8"), ("binary", "int8"),
         ("uint2", "uint8"), ("int3", "int5"), ("int1", "int8"), ("int8", "int4")]


def _codes(rng, fmt, shape):
    if fmt.kind.value == "binary":
        return np.where(rng.integers(0, 2, shape) > 0, 1, -1)
    return rng.integers(fmt.qmin, fmt.qmax + 1, shape)


@pytest.mark.parametrize("si", range(len(SPECS)))
def test_outputs_equal_reference_and_cycles_equal_fast_model(si):
    spec = SPECS[si]
    rng = np.random.default_rng(si)
    for wf_s, af_s in PAIRS:
        wf, af = F(wf_s), F(af_s)
        for m, k, n in ((5, 37, 7), (16, 64, 3), (3, 130, 70)):
            x, w = _codes(rng, af, (m, k)), _codes(rng, wf, (k, n))
            r = simulate(x, w, wf, af, spec)
            ref = lut_gemm(torch.tensor(x), torch.tensor(w), wf).output.numpy()
            np.testing.assert_array_equal(r.output, ref)
            np.testing.assert_array_equal(r.output, x @ w)
            assert r.cycles == Model(spec).compute(m, k, n, wf, af).cycles, (wf_s, af_s, m, k, n)
            pre, look = Model(spec).split_cycles(m, k, n, wf, af)
            assert (r.precompute_cycles, r.lookup_cycles) == (pre, look)


def test_fp16_activations_within_float_tolerance():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((6, 50)).astype(np.float16).astype(np.float64)
    w = rng.integers(-2, 2, (50, 9))
    r = simulate(x, w, F("int2"), F("fp16"), Spec())
    ref = lut_gemm(torch.tensor(x), torch.tensor(w), F("int2")).output.numpy()
    np.testing.assert_allclose(r.output, ref, rtol=1e-12, atol=1e-12)
    assert r.cycles == Model(Spec()).compute(6, 50, 9, F("int2"), F("fp16")).cycles


def test_unfused_switch_overrides_spec():
    rng = np.random.default_rng(4)
    x, w = rng.integers(-128, 128, (4, 40)), rng.integers(-2, 2, (40, 5))
    s = Spec(launch_cycles=11, precompute_bytes_per_cycle=2.0)
    fused, unfused = simulate(x, w, F("int2"), F("int8"), s), simulate(x, w, F("int2"), F("int8"), s, fused=False)
    np.testing.assert_array_equal(fused.output, unfused.output)
    # unfused: 11 launch + max(build 10, (160 act + 40 tables * 8 entries = 320 table bytes) / 2 = 240)
    assert unfused.precompute_cycles == 11 + 240 and fused.precompute_cycles == 10
    assert unfused.cycles == 251 + unfused.lookup_cycles and fused.cycles == fused.lookup_cycles


def test_plane_split_reassembles_codes():
    rng = np.random.default_rng(5)
    for f in ("int4", "uint3", "ternary", "binary"):
        fmt = F(f)
        c = _codes(rng, fmt, (7, 9))
        planes, off = plane_split(c, fmt)
        np.testing.assert_array_equal(sum(k * p for k, p in planes) + off, c)


def test_errors():
    with pytest.raises(InvalidSpecError):
        simulate(np.zeros((2, 3), dtype=int), np.zeros((4, 2), dtype=int), F("int2"), F("int8"), Spec())
    with pytest.raises(InvalidSpecError):
        simulate(np.zeros((2, 3), dtype=int), np.full((3, 2), 5), F("int2"), F("int8"), Spec())
    with pytest.raises(UnsupportedFormatError):
        simulate(np.zeros((2, 3), dtype=int), np.zeros((3, 2), dtype=int), F("int2"), F("int16"), Spec())


def test_side_mma_path_stepped_equals_fast():
    s = Spec(mac_int8_macs_per_cycle=64, mac_fp16_macs_per_cycle=32)
    rng = np.random.default_rng(6)
    x, w = rng.integers(-128, 128, (5, 37)), rng.integers(-128, 128, (37, 7))
    r = simulate(x, w, F("int8"), F("int8"), s)  # 8 planes on LUT lose to the MMA path here
    fast = Model(s).compute(5, 37, 7, F("int8"), F("int8"))
    assert fast.ran_as.startswith("side MMA") and r.cycles == fast.cycles == -(-5 * 37 * 7 // 64)
    np.testing.assert_array_equal(r.output, x @ w)
    xf, wf = rng.standard_normal((3, 10)), rng.standard_normal((10, 4))
    rf = simulate(xf, wf, F("fp16"), F("fp16"), s)
    assert rf.cycles == Model(s).compute(3, 10, 4, F("fp16"), F("fp16")).cycles == 4
    np.testing.assert_allclose(rf.output, xf @ wf, rtol=1e-12)
