"""T-MAC CPU model (issue 5): lookup-count equations, GEMV vs GEMM, linear in bits, and
single-thread decode tokens/s ratios on the M2 preset vs T-MAC's published numbers."""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import replace
from pathlib import Path

import pytest
from lowbit.hwsim import evaluate_workload
from lowbit.hwsim.cores.base import Dataflow
from lowbit.hwsim.cores.lut_cpu import Model, Spec
from lowbit.hwsim.spec import load_accelerator
from lowbit.kernels_ref.errors import InvalidSpecError, UnsupportedFormatError
from lowbit.kernels_ref.formats import Format
from lowbit.models import zoo
from lowbit.models.ir import OpKind

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


DATA = json.loads((ROOT / "tests" / "data" / "lut_tmac" / "paper_figures.json").read_text())
TMAC_M2 = DATA["tmac"]["m2_ultra_1thread_tokens_per_s"]
CASES = {"bitnet-3b": ("bitnet-3b", "ternary"), "llama-2-7b-w2": ("llama-2-7b", "int2"),
         "llama-2-7b-w4": ("llama-2-7b", "int4")}


def _tokens_per_s(accel, case: str, ctx: int = 128) -> float:
    """Single-thread decode tokens/s through hwsim.evaluate_workload (zoo decode workload at
    `ctx` KV positions; lm_head fp16: kernels_ref.formats has no fp32 weight format)."""
    model, wname = CASES[case]
    wl = zoo.get(model, phase="decode", seq_len=ctx, batch=1)
    fmts = {la.name: ("fp16" if la.name == "lm_head" else wname) for la in wl.layers if la.op is not OpKind.MATMUL}
    return 1.0 / evaluate_workload(wl, fmts, accel, act_fmt="fp16").latency_s


@pytest.fixture(scope="module")
def tps():
    """The tokens/s of CASES on a preset (`_tokens_per_s`), computed once per preset."""
    seen: dict[str, dict[str, float]] = {}

    def get(name: str) -> dict[str, float]:
        if name not in seen:
            accel = load_accelerator(name)
            seen[name] = {c: _tokens_per_s(accel, c) for c in CASES}
        return seen[name]
    return get


@pytest.mark.parametrize("preset,device", [("tmac-m2-neon", "m2_ultra"), ("tmac-avx2", "surface_book_3")])
def test_fitted_bandwidth_reproduces_its_fit_point(tps, preset, device):
    """Each preset's DRAM bandwidth is fitted on its device's Llama-2-7B W4 only (the preset's `# fitted:`)."""
    figures = DATA["tmac"][f"{device}_1thread_tokens_per_s"]
    assert tps(preset)["llama-2-7b-w4"] == pytest.approx(figures["llama-2-7b-w4"], rel=0.01)


def test_held_out_tokens_per_s(tps):
    """Held out from the fit. Target (issue 5): tok/s ratios within 25% of T-MAC's.
    Llama-2-7B W2: 16.39 vs 16.68 (-1.7%), met. BitNet-3B: 30.32 vs 22.08 (+37%), ratio to W2
    1.849 vs 1.324 (+40%): NOT met (benchmarks/RESULTS.md): the zoo's lm_head is fp16 where the
    BitNet-3B checkpoint is fp32, and our LUT kernel is weight-stream bound at 2-bit planes."""
    w2, w4, bn = (tps("tmac-m2-neon")[c] for c in ("llama-2-7b-w2", "llama-2-7b-w4", "bitnet-3b"))
    assert abs(w2 / TMAC_M2["llama-2-7b-w2"] - 1) <= 0.25
    assert abs((w2 / w4) / (TMAC_M2["llama-2-7b-w2"] / TMAC_M2["llama-2-7b-w4"]) - 1) <= 0.25
    assert w2 == pytest.approx(16.39, abs=0.05) and bn == pytest.approx(30.32, abs=0.05)  # measured
    assert bn / w2 == pytest.approx(1.849, abs=0.005)        # target 1.324 +-25%: not reached


def test_presets_load_and_run():
    for name in ("tmac-m2-neon", "tmac-avx2"):
        accel = load_accelerator(name)
        core = accel.model()
        c = core.compute(1, 3200, 8640, F("ternary"), F(accel.default_act_format), Dataflow.NONE)
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


# --- kernel costs derived from T-MAC's own kernel source (benchmarks/tmac_kernel_mca.py) ---
MCA = json.loads((ROOT / "tests" / "data" / "lut_tmac" / "kernel_mca.json").read_text())["kernels"]
TMAC_SB3 = DATA["tmac"]["surface_book_3_1thread_tokens_per_s"]


def test_cycles_per_lookup_by_hand():
    # AVX2 256-bit: 32 lanes; k=4096 -> 1024 groups; n=4096 -> 128 lookups per group and plane
    # int2: 2 * 1024 * 128 = 262144 lookups at 4.5 cycles each = 1179648 (the port/pipe fields
    # no longer enter); build 1024 * 8 * 2 / 16 / 3 = 341.33; combine 2 * 4096 / 8 / 3 = 341.33
    md = Model(Spec(isa="avx2", vector_bits=256, simd_ops_per_cycle=3, cycles_per_lookup=4.5))
    assert md.compute(1, 4096, 4096, F("int2"), F("fp16")).cycles == 1179648 + 683
    fast_ports = Model(Spec(isa="avx2", vector_bits=256, simd_ops_per_cycle=3, cycles_per_lookup=4.5,
                            lookups_per_cycle=8, unpack_ops=0.0, add_ops=0.0))
    assert fast_ports.compute(1, 4096, 4096, F("int2"), F("fp16")).cycles == 1179648 + 683
    assert md.peak_macs_per_cycle(F("int2"), F("fp16")) == pytest.approx(32 * 4 / 2 / 4.5)
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(InvalidSpecError, match="cycles_per_lookup"):
            Spec(cycles_per_lookup=bad)


def test_fma_path_where_faster_than_a_costly_lookup():
    """The fp32 FMA path prices products only (no dequantisation), so with a high lookup cost it
    wins at 4 planes (4 x 131072 x 4 cycles against 4096 x 4096 / 16); the LUT kernel keeps
    the cheaper case (1 plane)."""
    md = Model(Spec(isa="avx2", vector_bits=256, simd_ops_per_cycle=3, cycles_per_lookup=4.0,
                    fp_macs_per_cycle=16))
    c4 = md.compute(1, 4096, 4096, F("int4"), F("fp16"))
    assert c4.ran_as.startswith("fp32 FMA") and c4.cycles == 4096 * 4096 // 16
    c1 = md.compute(1, 4096, 4096, F("binary"), F("fp16"))   # 1 plane: 131072 lookups x 4
    assert not c1.ran_as.startswith("fp32") and c1.cycles == math.ceil(131072 * 4.0 + 1024 * 8 * 2 / 16 / 3
                                                                         + 4096 / 8 / 3)


def test_avx2_lookup_cost_is_the_one_derived_from_tmacs_kernel():
    """tmac-avx2's cycles_per_lookup is the mean of llvm-mca's Ice Lake cycles per vpshufb over
    T-MAC's three tuned kernels (tests/data/lut_tmac/kernel_mca.json), not a fitted value."""
    per = [MCA[c]["x86_icelake"]["cycles_per_lookup"] for c in ("bitnet-3b", "llama-2-7b-w2", "llama-2-7b-w4")]
    assert max(per) - min(per) < 0.12 and all(MCA[c]["x86_icelake"]["vpshufb_per_iteration"] == 16 for c in MCA)
    assert load_accelerator("tmac-avx2").core.cycles_per_lookup == round(sum(per) / 3, 3) == 4.589


def test_neon_unpack_ops_are_the_kernels_and_its_other_ops_are_not():
    """tmac-m2-neon's unpack_ops 1 is the kernel's count (one ushr or and per tbl). Its add_ops 1
    is an assumption: the kernel issues 2.28-2.38 other vector ops per tbl (widening adds and
    the fp epilogue), and with those at 4 ops/cycle the W4 kernels alone would be slower than
    T-MAC's measured W4 rate (NOTES.md): not reached, kept named in the preset."""
    core = load_accelerator("tmac-m2-neon").core
    assert all(MCA[c]["aarch64_apple_m2"]["unpack_ops_per_tbl"] == core.unpack_ops == 1.0 for c in MCA)
    other = [MCA[c]["aarch64_apple_m2"]["other_ops_per_tbl"] for c in MCA]
    assert min(other) > 2.2 and core.add_ops == 1.0


def test_neon_tbl_rate_does_not_enter(tps):
    """The assumed tbl issue rate (2/cycle) is not on the critical path: any rate of at least 4/3
    per cycle gives the same tokens/s (the SIMD-op bound, 3 ops per lookup on 4 pipes, binds)."""
    base = load_accelerator("tmac-m2-neon")
    for rate in (4, 8):
        accel = base.with_changes(**{"core.lookups_per_cycle": rate})
        assert accel.core.lookups_per_cycle == rate != base.core.lookups_per_cycle
        for c in CASES:
            assert _tokens_per_s(accel, c) == tps("tmac-m2-neon")[c]


def test_avx2_held_out_tokens_per_s(tps):
    """Held out from the fit: Surface Book 3, 1 thread. BitNet-3B 12.66 vs 12.65 (+0.1%),
    Llama-2-7B W2 6.84 vs 6.77 (+1.1%), BitNet/W2 1.849 vs 1.869 (-1.0%). All three are
    DRAM-bound at the fitted bandwidth, so these check the byte counts; what they check of the
    derived lookup cost is that T-MAC's LUT kernels alone (the linears but lm_head, priced with
    the FMA path off) fit inside the measured token time: 59 / 119 / 238 ms, 75% / 81% / 89%
    of it. (With the FMA path on, the model runs these at 2-4 bits on it: an ideal
    dequantise-then-FMA kernel, faster than 4.6 cycles per lookup; lut_cpu's docstring.)"""
    w2, bn = tps("tmac-avx2")["llama-2-7b-w2"], tps("tmac-avx2")["bitnet-3b"]
    assert bn == pytest.approx(12.66, abs=0.02) and w2 == pytest.approx(6.84, abs=0.02)  # measured
    assert abs(bn / TMAC_SB3["bitnet-3b"] - 1) <= 0.05 and abs(w2 / TMAC_SB3["llama-2-7b-w2"] - 1) <= 0.05
    accel = load_accelerator("tmac-avx2")
    lut_only = Model(replace(accel.core, fp_macs_per_cycle=0))
    for case, (model, wname) in CASES.items():
        wl = zoo.get(model, phase="decode", seq_len=128, batch=1)
        cycles = sum(lut_only.compute(la.m, la.k, la.n, F(wname), F("fp16")).cycles
                     for la in wl.layers if la.op is OpKind.LINEAR and la.name != "lm_head")
        share = cycles / accel.freq_hz * TMAC_SB3[case]       # of T-MAC's measured token time
        assert share == pytest.approx({"bitnet-3b": 0.750, "llama-2-7b-w2": 0.806, "llama-2-7b-w4": 0.891}[case],
                                      abs=0.01), case
