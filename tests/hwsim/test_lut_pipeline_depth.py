"""lut_tensor_core.Spec.pipeline_depth (issue 18): the lookup-to-accumulate fill our RTL tile
has. Default 0 keeps every number; depth d adds d cycles once per GEMM with lookups, in the
fast model and the stepped simulator alike, and nothing to a GEMM without lookups."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from lowbit.hwsim.cores import lut_tensor_core as ltc
from lowbit.hwsim.cyclesim import lut as lut_sim
from lowbit.kernels_ref.errors import InvalidSpecError
from lowbit.kernels_ref.formats import Format

W2, A8 = Format.parse("int2"), Format.parse("int8")


def test_default_depth_is_the_old_formula():
    s = ltc.Spec()
    assert s.pipeline_depth == 0
    m, k, n = 37, 200, 130
    look = -(-2 * -(-m // s.tile_m) * -(-n // s.tile_n) * -(-k // s.tile_k) // s.units)
    assert ltc.Model(s).compute(m, k, n, W2, A8).cycles == look


@pytest.mark.parametrize("fused", [True, False])
def test_depth_adds_to_fast_and_stepped(fused):
    base = ltc.Spec(tile_m=2, tile_n=4, tile_k=4, units=2, precompute_adders=4, fused_precompute=fused)
    deep = replace(base, pipeline_depth=3)
    rng = np.random.default_rng(0)
    x, w = rng.integers(-128, 128, (5, 9)), rng.integers(-2, 2, (9, 6))
    s0, s3 = lut_sim.simulate(x, w, W2, A8, base), lut_sim.simulate(x, w, W2, A8, deep)
    assert s3.cycles == s0.cycles + 3 and s3.lookup_cycles == s0.lookup_cycles + 3
    np.testing.assert_array_equal(s3.output, x @ w)
    assert ltc.Model(deep).compute(5, 9, 6, W2, A8).cycles == s3.cycles
    assert ltc.Model(base).compute(5, 9, 6, W2, A8).cycles == s0.cycles
    # vectorised: no lookups (m = 0), no fill
    cyc = ltc.Model(deep).compute(np.array([0, 5]), 9, 6, W2, A8).cycles
    assert list(cyc) == [ltc.Model(base).compute(0, 9, 6, W2, A8).cycles, s3.cycles]


def test_depth_validated():
    with pytest.raises(InvalidSpecError, match="pipeline_depth"):
        ltc.Spec(pipeline_depth=-1)
    with pytest.raises(InvalidSpecError, match="pipeline_depth"):
        ltc.Spec(pipeline_depth=True)
