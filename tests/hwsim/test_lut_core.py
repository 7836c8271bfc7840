"""LUT Tensor Core model (issue 5): tile equations, table storage and reuse, bit-serial
scaling, precompute overhead and BitNet-3B end to end against the paper (FIDELITY.md)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from lowbit.hwsim import evaluate_workload
from lowbit.hwsim.cores.base import Action, ActionKind, Dataflow
from lowbit.hwsim.cores.lut_tensor_core import Model, Spec, adds_per_table, precompute_cycles
from lowbit.hwsim.spec import load_accelerator
from lowbit.kernels_ref.errors import InvalidSpecError, UnsupportedFormatError
from lowbit.kernels_ref.formats import Format
from lowbit.models import zoo

ROOT = Path(__file__).resolve().parents[2]
F = Format.parse


def test_tile_equation_by_hand():
    # M2 N64 K4, 4 units, 64 adders: m=5, k=37, n=70, int4 weights (4 planes)
    # tables = 5 * ceil(37/4) = 50; build = ceil(50/64) * (3 + 7) = 10 cycles (fused: the
    # previous operator's time, not in this call's cycles)
    # lookups = 4 * ceil(5/2) * ceil(70/64) * ceil(37/4) = 4*3*2*10 = 240 ops -> 60 cycles
    c = Model(Spec()).compute(5, 37, 70, F("int4"), F("int8"))
    assert c.cycles == 60 and Model(Spec()).split_cycles(5, 37, 70, F("int4"), F("int8")) == (10, 60)
    assert Model(Spec(fused_precompute=False)).compute(5, 37, 70, F("int4"), F("int8")).cycles == \
        precompute_cycles(Spec(), 5, 37, F("int8"), fused=False) + 60
    assert c.actions[Action(ActionKind.LUT_READ, (8,))] == 240 * 2 * 64
    assert c.actions[Action(ActionKind.ADD, (8,))] == 50 * 10
    assert c.actions[Action(ActionKind.LUT_WRITE, (8,))] == 50 * 8
    assert c.actions[Action(ActionKind.ADD, (32,))] == 5 * 70
    fp = Model(Spec()).compute(5, 37, 70, F("int4"), F("fp16"))
    assert fp.cycles == c.cycles and Action(ActionKind.LUT_READ, (16,)) in fp.actions


def test_table_storage_and_symmetrisation():
    assert adds_per_table(4) == 3 + 7
    assert Spec().table_entries == 8                       # 2^(K-1)
    assert Spec().table_storage_bits() == 2 * 8 * 8        # M * 2^(K-1) * table bits
    assert Spec(tile_m=8, tile_n=8, tile_k=8).table_storage_bits(16) == 8 * 2 ** 7 * 16


def test_table_reuse_across_n():
    md = Model(Spec())
    pre1, look1 = md.split_cycles(64, 1024, 256, F("int2"), F("int8"))
    pre2, look2 = md.split_cycles(64, 1024, 512, F("int2"), F("int8"))
    assert pre1 == pre2 and look2 == 2 * look1             # tables built once, read by every N


def test_elongated_tile_needs_fewer_tables_than_square():
    # same M*N*K = 512: M2 N64 K4 builds tables for 2 rows; M8 N8 K8 for 8 rows of 128 entries
    long_, square = Spec(), Spec(tile_m=8, tile_n=8, tile_k=8)
    assert long_.table_storage_bits() * 64 == square.table_storage_bits()


def test_latency_linear_in_weight_bits_on_compute_bound_layers():
    md = Model(Spec(units=14))
    cyc = [md.compute(2048, 3200, 8640, F(f"int{b}"), F("int8")).cycles for b in (1, 2, 3, 4)]
    steps = np.diff(cyc)
    assert np.all(np.abs(steps - steps[0]) <= 1) and steps[0] > 0  # affine in bits (ceil over 14 units)
    assert 3.99 < cyc[3] / cyc[0] <= 4.0                    # fused: lookups only
    assert md.compute(64, 512, 256, F("ternary"), F("int8")).cycles == \
        md.compute(64, 512, 256, F("int2"), F("int8")).cycles


def test_unfused_precompute_is_launch_plus_memory_pass():
    s = Spec(fused_precompute=False, launch_cycles=100, precompute_bytes_per_cycle=10.0)
    # m=19, k=3200: act 60800 B + tables 19*800*8 B = 121600 -> 182400/10 = 18240 > build
    build = math.ceil(19 * 800 / 64) * 10
    assert precompute_cycles(s, 19, 3200, F("int8")) == 100 + max(build, 18240)
    assert precompute_cycles(s, 19, 3200, F("int8"), fused=True) == build


PAPER = json.loads((ROOT / "tests" / "data" / "lut_tmac" / "paper_figures.json").read_text())["lut_tensor_core"]
PRE = PAPER["precompute_overhead_percent"]
SETTINGS = {"b1s2048": ("prefill", 2048, 1), "b1024": ("decode", 1, 1024)}
LINEARS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def _linear_compute(accel, key: str) -> int:
    wl = zoo.get("bitnet-3b", phase=SETTINGS[key][0], seq_len=SETTINGS[key][1], batch=SETTINGS[key][2])
    cost = evaluate_workload(wl, "ternary", accel, act_fmt="int8")
    return sum(c.compute_cycles for c in cost.layers if c.name.rsplit(".", 1)[-1] in LINEARS)


def test_unfused_precompute_overhead_fitted_and_held_out():
    """Unfused table precompute share of BitNet-3B's ternary linears through
    hwsim.evaluate_workload: 1 - (fused compute) / (unfused compute), the fused run charging the
    lookups only. `launch_cycles` is fitted on b1s2048 alone (lut-tc-a100-like.yaml `# fitted:`:
    the fit sits at the bound 0); b1024 is held out. Target (issue 5): within 5 points.
    Measured (units: 13, derived from synthesis): b1s2048 17.3% vs 16.5% (+0.8, met at the fit's
    bound); b1024 18.0% vs 24.4% (-6.4): NOT met on the held-out setting (benchmarks/RESULTS.md;
    with the paper-derived units: 14 it was 18.4% and 19.1%, -5.3)."""
    accel = load_accelerator("lut-tc-a100-like")
    unfused = accel.with_changes(**{"core.fused_precompute": False})
    got = {k: 100.0 * (1 - _linear_compute(accel, k) / _linear_compute(unfused, k)) for k in SETTINGS}
    assert abs(got["b1s2048"] - PRE["b1s2048_unfused"]) <= 5.0                 # the fit setting
    assert got["b1s2048"] == pytest.approx(17.28, abs=0.05)                     # measured
    assert got["b1024"] == pytest.approx(18.03, abs=0.05)                       # held out, measured
    assert abs(got["b1024"] - PRE["b1024_unfused"]) > 5.0                       # target missed: 6.4
    # a launch cost only adds: the fit cannot go below 17.3% at b1s2048
    later = unfused.with_changes(**{"core.launch_cycles": 2820})
    assert 100.0 * (1 - _linear_compute(accel, "b1s2048") / _linear_compute(later, "b1s2048")) > got["b1s2048"]


def test_fused_precompute_share_within_5_points():
    """Fused: the adds the previous operator does, from the core model's split_cycles on the rows
    one cluster owns (evaluate does not charge a fused precompute to the GEMM), against the
    lookups of the same rows. No fitted value enters. Measured 2.7% / 2.8% vs 2.6% / 2.5%."""
    accel = load_accelerator("lut-tc-a100-like")
    md = accel.model()
    for key, (phase, seq, batch) in SETTINGS.items():
        m = math.ceil(seq * batch / accel.num_cores)
        pre = look = 0
        for la in zoo.get("bitnet-3b", phase=phase, seq_len=seq, batch=batch).layers:
            if la.name.startswith("layers.0.") and la.name.rsplit(".", 1)[-1] in LINEARS:
                p, lk = md.split_cycles(m, la.k, la.n, F("ternary"), F("int8"), fused=True)
                pre, look = pre + int(p), look + int(lk)
        share = 100.0 * pre / (pre + look)
        assert abs(share - PRE[f"{key}_fused"]) <= 5.0, (key, share)


def test_equal_area_presets():
    lut, mac = load_accelerator("lut-tc-a100-like").model(), load_accelerator("mac-tc-equal-area").model()
    for node in (7, 28, 45):
        assert lut.area_mm2(node) == pytest.approx(mac.area_mm2(node), rel=1e-9)
    # 13 units x 512 one-bit MACs vs 4 x 512 INT8 MACs: ternary (2 planes) peak 3328 vs 2048
    assert lut.peak_macs_per_cycle(F("ternary"), F("int8")) == 3328
    assert mac.peak_macs_per_cycle(F("int8"), F("int8")) == 2048


def test_vectorised_shapes_match_scalar_calls():
    md = Model(Spec(fused_precompute=False, launch_cycles=50))
    ms, ks, ns = np.array([1, 17, 256]), np.array([64, 300, 4096]), np.array([64, 33, 512])
    vec = md.compute(ms, ks, ns, F("int3"), F("int8"))
    for i in range(3):
        assert vec.cycles[i] == md.compute(int(ms[i]), int(ks[i]), int(ns[i]), F("int3"), F("int8")).cycles


def test_errors():
    with pytest.raises(UnsupportedFormatError):
        Model(Spec()).compute(4, 16, 4, F("fp16"), F("int8"))
    with pytest.raises(UnsupportedFormatError):
        Model(Spec()).compute(4, 16, 4, F("int4"), F("int16"))
    with pytest.raises(InvalidSpecError):
        Model(Spec()).compute(4, 16, 4, F("int4"), F("int8"), Dataflow.WEIGHT_STATIONARY)
    with pytest.raises(InvalidSpecError, match="tile_k"):
        Spec(tile_k=9)
    with pytest.raises(InvalidSpecError, match="units"):
        Spec(units=0)
    with pytest.raises(InvalidSpecError, match="fused_precompute"):
        Spec(fused_precompute="yes")  # type: ignore[arg-type]


def test_side_mma_path_takes_what_it_finishes_sooner():
    s = Spec(units=14, mac_int8_macs_per_cycle=2048, mac_fp16_macs_per_cycle=1024)
    md = Model(s)
    # attention-like act x act: 8 planes on the LUT (8*1024*2*25 = 409600 ops / 14) vs 2048 MAC/cycle
    att = md.compute(2048, 100, 2048, F("int8"), F("int8"))
    assert att.cycles == 2048 * 100 * 2048 // 2048 and Action(ActionKind.MAC_INT, (8, 8)) in att.actions
    fp = md.compute(64, 64, 64, F("fp16"), F("fp16"))
    assert fp.cycles == 64 ** 3 // 1024 and fp.actions == {Action(ActionKind.MAC_FP, (16, 16)): 64 ** 3}
    tern = md.compute(2048, 3200, 3200, F("ternary"), F("int8"))
    assert tern.ran_as.startswith("2 weight plane") and tern.cycles == Model(Spec(units=14)).compute(
        2048, 3200, 3200, F("ternary"), F("int8")).cycles
    # non-decreasing in weight bits: min(LUT(b), MAC) with LUT(b) increasing
    cyc = [md.compute(64, 512, 256, F(f"int{b}"), F("int8")).cycles for b in (1, 2, 3, 4, 6, 8)]
    assert cyc == sorted(cyc)
    assert md.peak_macs_per_cycle(F("fp16"), F("fp16")) == 1024
    with pytest.raises(UnsupportedFormatError):
        Model(Spec()).compute(4, 16, 4, F("fp16"), F("fp16"))


def test_mapper_splits_lut_layers_by_rows():
    from lowbit.hwsim.spec import load_accelerator
    from lowbit.mapper import price_mapping, search
    from lowbit.models.ir import Layer

    accel = load_accelerator("lut-tc-a100-like")
    layer = Layer.linear("q", 2048, 3200, 3200)
    w, a = F("ternary"), F("int8")
    best = search(layer, w, a, accel)
    assert best.split_dim == "m" and best.cores == 108          # ceil(2048/19) clusters of 19 rows
    # the N split (every cluster rebuilding all 2048 rows' tables, n = 30 padded to 64) is slower
    from lowbit.mapper.tiling import _search_split

    n_map, _ = _search_split(layer, w, a, accel, "latency", 10, None, "n")
    assert int(price_mapping(layer, w, a, accel, best).cycles.ravel()[0]) < \
        int(price_mapping(layer, w, a, accel, n_map).cycles.ravel()[0])
