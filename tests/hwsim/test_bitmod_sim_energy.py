"""Energy through the zoo path (`hwsim.evaluate_workload`) held to bitmod_sim's own energy.

Goldens: tests/data/bitmod_sim/*.json (bitmod_sim run here, commands in README.md there): per
model its printed `Energy: [on-chip, total]` (uJ, rounded) and the components its
`calc_*_energy()` returned (`energy_uj`: compute, sram_rd, sram_wr, dram), and the CACTI 7
per-access costs it used (`sram`). The presets `bitmod*` carry bitmod_sim's constants, each
cited in the YAML: PE energy x 1.5 per PE per compute cycle (`energy.pe_cycle_j`), the buffers'
per-access energies (`read_j_per_access` ...), one port read per array step
(`memory.sram_counts: array_steps`), 150 pJ/byte DRAM, no leakage.

Issue 17 item 6 target: totals within 15%, DRAM and on-chip each within 20%, every model and
phase. Measured (benchmarks/RESULTS.md, issue-17 energy): every total within 0.35%, DRAM within
0.1% (lowbit also charges the embedding lookups, which bitmod_sim has no layer for), on-chip
within 1.9% (runs whose weight width gives bitmod_sim other SRAM ports than the preset's).
"""

import json
from functools import cache
from pathlib import Path

import pytest
from lowbit.hwsim import evaluate_workload
from lowbit.hwsim.spec import load_accelerator
from lowbit.models import zoo

DATA = Path(__file__).resolve().parents[1] / "data" / "bitmod_sim"
SETUP = json.loads((DATA / "setup.json").read_text())
MODELS = tuple(SETUP["models"])
PHASES = tuple(SETUP["phases"])
# the designs bitmod_sim's scripts run, the preset and weight format per (design, phase, model)
PRESETS = {"fp16": "bitmod-fp16-baseline", "bitmod-lossless": "bitmod", **SETUP["presets"]}
# BitMoD itself in the fast lane (its layer costs are cached from test_bitmod_sim.py); the rest slow
ARCHS = [a if a == "bitmod" else pytest.param(a, marks=pytest.mark.slow) for a in PRESETS]


def fmt(arch: str, phase: str, model: str) -> str:
    if arch == "fp16":
        return "fp16"
    if arch == "bitmod-lossless":  # test_bitmod.py --is_lossless: w_prec = 6.0625
        return "int6g128_spow2"
    return SETUP["formats"][arch][phase] if arch == "bitmod" else SETUP["formats"][arch][model]


@cache
def golden(arch: str, phase: str) -> dict:
    return json.loads((DATA / f"{arch}-{phase}.json").read_text())


def preset(arch: str, phase: str):
    return load_accelerator(PRESETS[arch] + ("" if phase == "prefill" else "-decode"))


def with_run_ports(accel, sram: dict):
    """The preset with the buffers' per-access energies bitmod_sim used for this run (its port
    widths follow the weight width, accelerator.py _init_mem; CACTI 7 prices each port)."""
    ch = {}
    for buf, key in (("wbuf", "weight"), ("ibuf", "input")):
        s = sram[key]
        ch[f"buffers.{buf}.read_j_per_access"] = s["r_cost_pj"] * 1e-12
        ch[f"buffers.{buf}.read_bytes_per_access"] = s["rw_bw_bits"] / 8
        ch[f"buffers.{buf}.write_j_per_access"] = s["w_cost_min_pj"] * 1e-12
        ch[f"buffers.{buf}.write_bytes_per_access"] = s["w_bw_min_bits"] / 8
    return accel.with_changes(**ch)


def peer(arch: str, phase: str, model: str) -> dict[str, float]:
    e = golden(arch, phase)["models"][model]["energy_uj"]
    on = (e["compute"] + e["sram_rd"] + e["sram_wr"]) * 1e-6
    return {"total": on + e["dram"] * 1e-6, "dram": e["dram"] * 1e-6, "onchip": on,
            "pe": e["compute"] * 1e-6, "sram": (e["sram_rd"] + e["sram_wr"]) * 1e-6}


@cache
def ours(arch: str, phase: str, model: str, run_ports: bool = False) -> dict[str, float]:
    accel = preset(arch, phase)
    if run_ports:
        accel = with_run_ports(accel, golden(arch, phase)["models"][model]["sram"])
    c = evaluate_workload(zoo.get(model, phase=phase, seq_len=256, batch=1), fmt(arch, phase, model), accel)
    e = c.energy_breakdown_j
    assert set(e) == {"pe", "sram", "dram", "leakage"} and e["leakage"] == 0.0
    return {"total": c.total_energy_j, "dram": e["dram"], "onchip": c.total_energy_j - e["dram"],
            "pe": e["pe"], "sram": e["sram"]}


def test_goldens_hold_the_printed_energy():
    """The stored components add up to bitmod_sim's printed `Energy: [on-chip, total]`."""
    for arch in PRESETS:
        for phase in PHASES:
            for model in MODELS:
                on, total = golden(arch, phase)["models"][model]["printed"]["energy_uj_onchip_total"]
                p = peer(arch, phase, model)
                assert (round(p["onchip"] * 1e6), round(p["total"] * 1e6)) == (on, total)
    # issue 17's figure: Llama-2-13B prefill on BitMoD 9.00 J (DRAM 7.34 J, on-chip 1.66 J)
    p = peer("bitmod", "prefill", "llama-2-13b")
    assert (round(p["total"], 2), round(p["dram"], 2), round(p["onchip"], 2)) == (9.0, 7.34, 1.66)


@pytest.mark.parametrize("arch", [a for a in PRESETS if a != "bitmod-lossless"])
def test_preset_constants_are_the_runs(arch: str):
    """Each preset's per-access energies are the CACTI costs bitmod_sim used at the design's
    own weight width (the first model's run; the pe energy is its script's x 1.5). The
    lossless runs (6.0625 bits) use the `bitmod` presets, whose ports are for 4.0625 / 3.0625."""
    for phase in PHASES:
        acc = preset(arch, phase)
        g = golden(arch, phase)["models"][MODELS[0]]
        assert acc.energy.pe_cycle_j == pytest.approx(g["args"]["pe_energy_pj_with_pr_scaling"] * 1e-12)
        bufs = {b.name: b for b in acc.buffers}
        for buf, key in (("wbuf", "weight"), ("ibuf", "input")):
            s = g["sram"][key]
            assert bufs[buf].read_j_per_access == pytest.approx(s["r_cost_pj"] * 1e-12)
            assert bufs[buf].read_bytes_per_access == s["rw_bw_bits"] / 8
            assert bufs[buf].write_j_per_access == pytest.approx(s["w_cost_min_pj"] * 1e-12)
            assert bufs[buf].write_bytes_per_access == s["w_bw_min_bits"] / 8
        assert acc.dram.energy_j_per_byte == pytest.approx(g["dram"]["r_cost_pj"] * 1e-12 / (g["dram"]["rw_bw_bits"] / 8))


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("phase", PHASES)
def test_energy_within_issue_target(arch: str, phase: str):
    """The presets as shipped: total within 15%, DRAM and on-chip within 20% (issue 17), and as
    measured: total within 0.35%, DRAM within 0.15%, on-chip within 2.5% (the largest: OliVe
    Llama-3-8B decode at 4.5 bits -0.33% / -1.9%, ANT Llama-2-13B and BitMoD-lossless, whose
    weight width gives bitmod_sim other SRAM ports than the preset's; test_components_with_the_
    runs_ports below prices those runs with their own ports)."""
    for model in MODELS:
        o, p = ours(arch, phase, model), peer(arch, phase, model)
        assert o["total"] == pytest.approx(p["total"], rel=0.15), model
        assert o["dram"] == pytest.approx(p["dram"], rel=0.20), model
        assert o["onchip"] == pytest.approx(p["onchip"], rel=0.20), model
        assert o["total"] == pytest.approx(p["total"], rel=0.0035), model
        assert o["dram"] == pytest.approx(p["dram"], rel=0.0015), model
        assert o["onchip"] == pytest.approx(p["onchip"], rel=0.025), model


@pytest.mark.slow
@pytest.mark.parametrize("arch", PRESETS)
@pytest.mark.parametrize("phase", PHASES)
def test_components_with_the_runs_ports(arch: str, phase: str):
    """With each run's own port costs, PE energy equals bitmod_sim's to 5e-4 (FP16 Yi-6B prefill
    cycles differ by 3e-4) and SRAM energy to 2e-3 (bitmod_sim rounds each row's write up to a
    64-bit word: Phi-2's 2560 x 3.0625-bit rows), grouped-query attention included (both stack
    the query heads that share a K/V head into one GEMM per K/V head)."""
    for model in MODELS:
        o, p = ours(arch, phase, model, run_ports=True), peer(arch, phase, model)
        assert o["pe"] == pytest.approx(p["pe"], rel=5e-4), model
        assert o["sram"] == pytest.approx(p["sram"], rel=2e-3), model
