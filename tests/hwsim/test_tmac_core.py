"""T-MAC CPU model (issue 5): lookup-count equations, GEMV vs GEMM, linear in bits, and
single-thread decode tokens/s ratios on the M2 preset vs T-MAC's published numbers."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from lowbit.hwsim.cores.base import Dataflow
from lowbit.hwsim.cores.lut_cpu import Model, Spec
from lowbit.kernels_ref.errors import InvalidSpecError, UnsupportedFormatError
from lowbit.kernels_ref.formats import Format

ROOT = Path(__file__).resolve().parents[2]
F = Format.parse


def test_gemv_cycles_by_hand():
    # NEON 128-bit: 16 lanes; k=4096 -> 1024 groups; n=4096 -> 256 lookups per group and plane
    # int2: 2 * 1024 * 256 = 524288 lookups; max(524288/2, 524288*3/4) = 393216
    # build: 1024 groups * 8 entries * 2 ops / 8 int16 lanes / 4 = 512
    # combine: 2 * 4096 outputs / 4 fp32 lanes / 4 = 512
    c = Model(Spec()).compute(1, 4096, 4096, F("int2"), F("fp16"))
    assert c.cycles == 393216 + 512 + 512


def test_gemm_scales_with_tokens_and_cores():
    md = Model(Spec())
    one = md.compute(1, 4096, 4096, F("int4"), F("int8")).cycles
    assert md.compute(8, 4096, 4096, F("int4"), F("int8")).cycles == 8 * one
    four = Model(Spec(cores=4)).compute(8, 4096, 4096, F("int4"), F("int8")).cycles
    assert four == pytest.approx(2 * one, abs=1)


def test_linear_in_weight_bits():
    md = Model(Spec(isa="avx2", vector_bits=256, lookups_per_cycle=1, simd_ops_per_cycle=3))
    cyc = [md.compute(1, 4096, 11008, F(f"int{b}"), F("fp16")).cycles for b in (1, 2, 3, 4)]
    d = [b - a for a, b in itertools.pairwise(cyc)]
    assert max(d) - min(d) <= 1 and d[0] > 0
    assert md.compute(1, 512, 512, F("ternary"), F("int8")).cycles == md.compute(1, 512, 512, F("int2"), F("int8")).cycles


def test_decode_tokens_per_s_ratios_within_25_percent(bench):
    raw, core = bench.load_preset("tmac-m2-neon")
    tps = {c: bench.tmac_tokens_per_s(raw, core, c) for c in bench.TMAC_CASES}
    pub = bench.TMAC_M2
    for x, y in (("bitnet-3b", "llama-2-7b-w2"), ("llama-2-7b-w2", "llama-2-7b-w4"), ("bitnet-3b", "llama-2-7b-w4")):
        assert abs((tps[x] / tps[y]) / (pub[x] / pub[y]) - 1) <= 0.25, (x, y, tps)


def test_presets_load_and_run(bench):
    for name in ("tmac-m2-neon", "tmac-avx2"):
        raw, core = bench.load_preset(name)
        c = core.compute(1, 3200, 8640, F("ternary"), F(raw["default_act_format"]), Dataflow.NONE)
        assert c.cycles > 0 and core.peak_macs_per_cycle(F("int2"), F("fp16")) > 0 and core.area_mm2(5) > 0


def test_errors():
    with pytest.raises(UnsupportedFormatError):
        Model(Spec()).compute(1, 64, 64, F("fp16"), F("fp16"))
    with pytest.raises(UnsupportedFormatError):
        Model(Spec()).compute(1, 64, 64, F("int4"), F("fp32"))
    with pytest.raises(InvalidSpecError, match="isa"):
        Spec(isa="sse")
    with pytest.raises(InvalidSpecError, match="vector_bits"):
        Spec(vector_bits=96)
    with pytest.raises(InvalidSpecError):
        Model(Spec()).compute(1, 64, 64, F("int4"), F("int8"), Dataflow.OUTPUT_STATIONARY)


def test_fma_path_for_attention_and_wide_weights():
    from lowbit.hwsim.cores.base import Action, ActionKind

    md = Model(Spec(fp_macs_per_cycle=16))
    att = md.compute(1, 128, 2048, F("fp16"), F("fp16"))          # q . K^T at context 2048
    assert att.cycles == 128 * 2048 // 16 and att.actions == {Action(ActionKind.MAC_FP, (32, 32)): 128 * 2048}
    lut = md.compute(1, 4096, 4096, F("int2"), F("fp16"))
    assert lut.cycles == 393216 + 512 + 512                         # LUT kernel still wins at 2 bits
    wide = md.compute(1, 4096, 4096, F("int8"), F("fp16"))          # 8 planes lose to 16 FMA/cycle
    assert wide.cycles == 4096 * 4096 // 16 and wide.ran_as.startswith("fp32 FMA")
