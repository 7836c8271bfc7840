"""BitNet-3B end to end through the library's real path (`hwsim.evaluate_workload`, what
`lowbit simulate` runs), INT8 tensor core against LUT Tensor Core (issue 5 acceptance, issue 17
item 4: no function from benchmarks/ is held here).

Paper figures: tests/data/lut_tmac/paper_figures.json (Mo et al. ISCA 2025, NOT confirmed
against the original text: tests/data/lut_tmac/NOTES.md). Target: latency ratio within 15%.
- batch 1, sequence 2048 (prefill): the setting is fully stated; held to the target.
- batch 1024: the paper's KV context is unknown to us. Earlier a context of 1 was held because
  it met the target (context 128 gives 1.23); that choice is gone: the ratio is held to its
  measured value at several contexts and none of them is claimed as the paper's setting
  (benchmarks/RESULTS.md, LUT section, reports the error at each)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from lowbit.hwsim.spec import load_accelerator
from lowbit.models import zoo

from lowbit import hwsim
from lowbit.cli import main

torch.set_num_threads(1)

DATA = Path(__file__).resolve().parents[1] / "data" / "lut_tmac" / "paper_figures.json"
UNITS = json.loads((DATA.parent / "units_derivation.json").read_text())
LAT = json.loads(DATA.read_text())["lut_tensor_core"]["bitnet_3b_latency_ms"]
PAPER = {k: v["int8_tc"] / v["lut_tc"] for k, v in LAT.items()}


def _pair(phase: str, seq: int, batch: int, base_hw: str) -> tuple[hwsim.WorkloadCost, hwsim.WorkloadCost]:
    wl = zoo.get("bitnet-3b", phase=phase, seq_len=seq, batch=batch)
    base = hwsim.evaluate_workload(wl, "int8", load_accelerator(base_hw), act_fmt="int8")
    lut = hwsim.evaluate_workload(wl, "ternary", load_accelerator("lut-tc-a100-like"), act_fmt="int8")
    return base, lut


@pytest.fixture(scope="module")
def prefill():
    return {hw: _pair("prefill", 2048, 1, hw) for hw in ("mac-tc-equal-area", "a100-like")}


@pytest.mark.parametrize("base_hw", ["mac-tc-equal-area", "a100-like"])
def test_bitnet_3b_prefill_ratio_within_15_percent(prefill, base_hw):
    base, lut = prefill[base_hw]
    assert base.hardware == base_hw and lut.hardware == "lut-tc-a100-like"
    ratio = base.latency_s / lut.latency_s
    assert abs(ratio / PAPER["b1s2048"] - 1) <= 0.15, (base_hw, ratio, PAPER["b1s2048"])
    assert ratio == pytest.approx(1.4524, abs=0.002)   # measured (-8.0%); moves only if the model does


# measured ratios at batch 1024 against the context (KV positions); paper 21.70 / 11.41 = 1.902
DECODE_MEASURED = {1: 1.5912, 8: 1.5345, 128: 1.2022, 512: 1.0677}


@pytest.mark.parametrize("ctx", sorted(DECODE_MEASURED))
def test_bitnet_3b_batch_1024_ratio_by_context(ctx):
    base, lut = _pair("decode", ctx, 1024, "mac-tc-equal-area")
    ratio = base.latency_s / lut.latency_s
    assert ratio == pytest.approx(DECODE_MEASURED[ctx], abs=0.002), (ctx, ratio)
    # the ratio is bounded by the linears' peak ratio 13 x 512 / 2 planes / 2048 = 1.625 (units: 13,
    # from our synthesis, test_units_derived_from_synthesis) and falls with context (KV reads cost
    # both designs alike)
    assert ratio < 1.625


def _layer(cost, name):
    return next(c for c in cost.layers if c.name == name)


def test_per_layer_compute_cycles_by_hand(prefill):
    base, lut = prefill["mac-tc-equal-area"]
    # INT8 TC q_proj (2048 x 3200 x 3200), N split: n = ceil(3200/108) = 30 on 107 SMs;
    # ceil(2048/8) * ceil(30/4) = 2048 MMA tiles / 4 units = 512, x ceil(3200/16) = 200 k steps
    q = _layer(base, "layers.0.q_proj")
    assert q.compute_cycles == 102400 and q.mapping.split_dim == "n"
    # LUT q_proj, M split: 19 rows per cluster; 2 ternary planes x ceil(19/2) x ceil(3200/64)
    # x ceil(3200/4) = 800000 tile ops / 13 units = 61538.5 -> 61539
    assert _layer(lut, "layers.0.q_proj").compute_cycles == 61539
    # attention context (32 heads x 2048 x 2048 x 100) on the INT8 TC, M split (19 query rows per
    # SM): 32 * ceil(19/8) * ceil(100/4) = 2400 tiles / 4 units = 600, x ceil(2048/16) = 128
    ctx = _layer(base, "layers.0.attn_context")
    assert ctx.compute_cycles == 76800 and ctx.mapping.split_dim == "m"


LINEARS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@pytest.mark.parametrize("setting", [("prefill", 2048, 1), ("decode", 1, 1024)])
def test_linears_compare_cores_not_memory_artifacts(setting):
    """Both designs' linear layers are compute-bound (stall under 5% of their cycles), so the
    ratio compares the cores: with partial sums in SMEM and an N-only split (before the fix)
    the INT8 side stalled 30-45% on its own (q_proj 102400 compute + 29881 stall)."""
    for cost in _pair(*setting, "mac-tc-equal-area"):
        lin = [c for c in cost.layers if c.name.rsplit(".", 1)[-1] in LINEARS]
        cyc, stall = sum(c.cycles for c in lin), sum(c.stall_cycles for c in lin)
        assert len(lin) == 7 * 26 and stall < 0.05 * cyc, (setting, cost.hardware, stall, cyc)


def test_cli_simulate_bitnet_2b_on_lut(capsys):
    rc = main(["simulate", "--hw", "lut-tc-a100-like", "--model", "bitnet-b1.58-2b", "--weights", "ternary",
               "--acts", "int8", "--json"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    d = json.loads(out)
    assert d["hardware"] == "lut-tc-a100-like" and d["model"] == "bitnet-b1.58-2b"
    assert d["total"]["cycles"] == sum(r["cycles"] for r in d["layers"]) > 0
    q = next(r for r in d["layers"] if r["name"] == "layers.0.q_proj")
    # hidden 2560 (microsoft/bitnet-b1.58-2B-4T config.json), seq 2048 over 108 clusters = 19 rows:
    # 2 planes x ceil(19/2) x ceil(2560/64) x ceil(2560/4) = 512000 tile ops / 13 units -> 39385
    assert q["compute_cycles"] == 39385


def test_units_derived_from_synthesis():
    """The preset's LUT units per SM are the area model's, not the paper's (issue 17 item 4):
    whole LUT units in the area of 4 INT8 tensor-core units, both synthesised onto Nangate 45 nm
    cells (benchmarks/lut_tc_units_derivation.py wrote units_derivation.json)."""
    d = UNITS["designs"]
    tc, lut = d["int8_tc_unit"], d["lut_unit"]
    # the synthesised units are the presets' geometries: INT8 8x4x16 MMA, LUT M2 N64 K4 INT8 tables
    base, ltc = load_accelerator("mac-tc-equal-area").core, load_accelerator("lut-tc-a100-like").core
    assert (tc["params"]["PM"], tc["params"]["PN"], tc["params"]["K"]) == (base.tile_m, base.tile_n, base.tile_k)
    assert (lut["params"]["TM"], lut["params"]["TN"], lut["params"]["TK"], lut["params"]["TB"]) == (
        ltc.tile_m, ltc.tile_n, ltc.tile_k, ltc.table_bits)
    ratio = tc["area_um2"] / lut["area_um2"]
    assert ratio == pytest.approx(3.2951, abs=1e-4)
    assert ltc.units == int(base.units * ratio) == UNITS["lut_units_per_sm"] == 13
    # equal core area by construction: the LUT core's area is the INT8 core's
    spec_lut, spec_base = load_accelerator("lut-tc-a100-like"), load_accelerator("mac-tc-equal-area")
    assert spec_lut.model().area_mm2(45) == pytest.approx(spec_base.model().area_mm2(45), rel=1e-9)
