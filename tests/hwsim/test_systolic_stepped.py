"""hwsim.cyclesim.systolic: the stepped array computes the exact integer GEMM, and its
observed cycle count equals the fast model's (SCALE-Sim's fold formula)."""

from __future__ import annotations

import numpy as np
import pytest
from lowbit.hwsim.cores.base import Dataflow
from lowbit.hwsim.cores.mac_array import CoreStyle, Model, Spec
from lowbit.hwsim.cyclesim.systolic import simulate
from lowbit.kernels_ref.errors import InvalidSpecError, UnsupportedFormatError
from lowbit.kernels_ref.formats import Format

OS, WS, IS = Dataflow.OUTPUT_STATIONARY, Dataflow.WEIGHT_STATIONARY, Dataflow.INPUT_STATIONARY
I8, I4 = Format.parse("int8"), Format.parse("int4")

SHAPES = [(1, 1, 1), (7, 13, 11), (17, 37, 19), (1, 40, 9), (33, 5, 1), (16, 16, 16)]
ARRAYS = [(4, 4), (8, 5), (3, 11), (16, 16)]


def _codes(rng: np.random.Generator, fmt: Format, shape: tuple[int, int]) -> np.ndarray:
    return rng.integers(fmt.qmin, fmt.qmax + 1, shape)


@pytest.mark.parametrize("df", [WS, OS, IS], ids=lambda d: d.value)
@pytest.mark.parametrize("rows, cols", ARRAYS)
def test_stepped_equals_gemm_and_fast_model(df, rows, cols):
    rng = np.random.default_rng(rows * 100 + cols)
    for scalesim in (False, True):
        spec = Spec(rows=rows, cols=cols, scalesim_mode=scalesim)
        model = Model(spec)
        for m, k, n in SHAPES:
            x, w = _codes(rng, I8, (m, k)), _codes(rng, I8, (k, n))
            r = simulate(x, w, I8, I8, spec, df)
            np.testing.assert_array_equal(r.output, x @ w)
            assert r.cycles == model.compute(m, k, n, I8, I8, df).cycles, (df, rows, cols, m, k, n)
            assert r.cycles == r.busy_cycles - (1 if scalesim else 0)


def test_extreme_values_exact():
    spec = Spec(rows=5, cols=3)
    x = np.full((9, 70), -128)
    w = np.full((70, 4), -128)
    for df in (WS, OS, IS):
        r = simulate(x, w, I8, I8, spec, df)
        np.testing.assert_array_equal(r.output, x @ w)
        assert r.output[0, 0] == 70 * 128 * 128


def test_single_fold_counts_by_hand():
    # one fold, no padding: R=4, C=3, M=4, K=4, N=3
    spec = Spec(rows=4, cols=3)
    x, w = np.ones((4, 4), dtype=np.int64), np.ones((4, 3), dtype=np.int64)
    assert simulate(x, w, I8, I8, spec, OS).busy_cycles == 4 + 4 + 3 - 2      # T=K=4
    assert simulate(x, w, I8, I8, spec, WS).busy_cycles == 2 * 4 + 3 + 4 - 2  # T=M=4
    spec_is = Spec(rows=4, cols=4)                                            # IS: cols hold M
    assert simulate(x, w, I8, I8, spec_is, IS).busy_cycles == 2 * 4 + 4 + 3 - 2  # T=N=3


def test_rates_pack_and_slow():
    rng = np.random.default_rng(3)
    # int4 at 2x packs two K elements per PE; int16 at 1/2 rate takes two cycles per step
    spec = Spec(rows=6, cols=5, precisions=("int8", "int4", "int16"), rates=(1.0, 2.0, 0.5))
    model = Model(spec)
    i16 = Format.parse("int16")
    for fmt in (I4, I8, i16):
        for df in (WS, OS, IS):
            x, w = _codes(rng, fmt, (11, 23)), _codes(rng, fmt, (23, 7))
            r = simulate(x, w, fmt, fmt, spec, df)
            np.testing.assert_array_equal(r.output, x @ w)
            assert r.cycles == model.compute(11, 23, 7, fmt, fmt, df).cycles


def test_tensor_core_stepped():
    rng = np.random.default_rng(4)
    spec = Spec(style=CoreStyle.TENSOR_CORE, dataflows=(Dataflow.NONE,), tile_m=4, tile_n=3, tile_k=5,
                units=3, precisions=("int8", "int4"), rates=(1.0, 2.0))
    model = Model(spec)
    for fmt in (I8, I4):
        for m, k, n in SHAPES:
            x, w = _codes(rng, fmt, (m, k)), _codes(rng, fmt, (k, n))
            r = simulate(x, w, fmt, fmt, spec)
            np.testing.assert_array_equal(r.output, x @ w)
            assert r.cycles == model.compute(m, k, n, fmt, fmt, Dataflow.NONE).cycles


def test_bad_inputs():
    spec = Spec(rows=4, cols=4)
    with pytest.raises(InvalidSpecError):
        simulate(np.full((2, 3), 200), np.ones((3, 2), dtype=np.int64), I8, I8, spec)   # out of int8 range
    with pytest.raises(InvalidSpecError):
        simulate(np.ones((2, 3), dtype=np.int64), np.ones((4, 2), dtype=np.int64), I8, I8, spec)
    with pytest.raises(UnsupportedFormatError):
        f16 = Format.parse("fp16")
        simulate(np.ones((2, 3)), np.ones((3, 2)), f16, f16, Spec(precisions=("fp16",)))
    with pytest.raises(InvalidSpecError):
        simulate(np.ones((2, 3), dtype=np.int64), np.ones((3, 2), dtype=np.int64), I8, I8,
                 Spec(rows=4, cols=4, dataflows=(WS,)), OS)
