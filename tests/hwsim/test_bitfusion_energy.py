"""Bit Fusion energy through hwsim.evaluate held to the Bit Fusion simulator's own energy.

Golden: tests/data/bitfusion/bitfusion_energy.json, made by benchmarks/bitfusion_energy_golden.py
(commands in its docstring): the simulator's own `Stats.get_energy_breakdown` (stats.py, run
unmodified) on its per-layer counts (bitfusion_sim_per_layer.csv), energy costs by
`get_energy_cost`'s formulas from its CACTI sweep and array synthesis CSVs. The preset
`bitfusion-eyeriss-budget` carries those costs, each cited in the YAML (per-FU dynamic energy
per cycle `energy.pe_cycle_j`, per-access buffer energies, 15 pJ/bit DRAM, no leakage,
`memory.sram_counts: stationary_inner`); the other array widths change the IBUF/OBUF bank
sizes, and so their CACTI costs, which the test sets from the golden's `configs`.

Issue 17 item 6 target: totals within 15%, DRAM and on-chip within 20%, every benchmark and
configuration. Measured (benchmarks/RESULTS.md, issue-17 energy): since the mapper searches the
simulator's own five loops under the preset's rules (`mapper.bitfusion_loops`; its tiling, order,
cycles and DRAM bits equal the simulator's optimiser on every layer, test_bitfusion_optimizer.py),
total, DRAM and on-chip energy equal the simulator's on all 40 (config, benchmark) pairs, the
largest relative difference 4.4e-16 (float rounding). Before: with `memory: block_promotion` and
one m loop, 192 bits within 0.02%, and at 4096 bits 4 of 32 pairs missed on DRAM bytes (16x32
ResNet-18 -44.0%, CIFAR10 -17.5%, VGG-7 +16.6%; 16x64 ResNet-18 -32.0%); 11 before that rule.
"""

import collections
import json
from functools import cache
from pathlib import Path

import pytest
from lowbit.hwsim.spec import load_accelerator
from lowbit.kernels_ref.formats import Format
from lowbit.models.zoo.bitfusion_benchmarks import (
    BENCHMARKS,
    bitfusion_benchmark,
    bitfusion_formats,
)

from lowbit import hwsim

GOLDEN = json.loads((Path(__file__).resolve().parents[1] / "data" / "bitfusion" / "bitfusion_energy.json")
                    .read_text())
BUFS = (("wbuf", "wgt"), ("ibuf", "act"), ("obuf", "out"))


def accel_for(key: str):
    """The preset at the CSV row's configuration `NxM@bits`: array columns, buffers, interface and
    the CACTI costs the simulator priced its banks with."""
    n_m, bw = key.split("@")
    n, m = (int(v) for v in n_m.split("x"))
    cfg = GOLDEN["configs"][key]
    ch = {"core.rows": n, "core.cols": m, "dram.bandwidth_bytes_per_cycle": int(bw) // 8,
          "energy.pe_cycle_j": cfg["detail"]["core"]["nJ_per_cycle"] * 1e-9 / (n * m)}
    for buf, ns in BUFS:
        d = cfg["detail"][ns]
        ch[f"buffers.{buf}.size_bytes"] = cfg["sram_bytes"][ns]
        ch[f"buffers.{buf}.banks"] = d["banks"]
        ch[f"buffers.{buf}.read_j_per_access"] = d["read_energy_nJ_per_access"] * 1e-9
        ch[f"buffers.{buf}.write_j_per_access"] = d["write_energy_nJ_per_access"] * 1e-9
        ch[f"buffers.{buf}.read_bytes_per_access"] = d["word_bits"] / 8
        ch[f"buffers.{buf}.write_bytes_per_access"] = d["word_bits"] / 8
    return load_accelerator("bitfusion-eyeriss-budget").with_changes(**ch)


def peer(key: str) -> dict[str, collections.Counter]:
    out: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for r in GOLDEN["layers"]:
        if r["config"] == key:
            out[r["network"]].update({"total": r["total_nJ"], "dram": r["dram_nJ"],
                                      "onchip": r["core_nJ"] + r["sram_nJ"]})
    return out


@cache
def ours(key: str) -> dict[str, collections.Counter]:
    acc = load_accelerator("bitfusion-eyeriss-budget") if key == "16x32@192" else accel_for(key)
    out: dict[str, collections.Counter] = {}
    for bench in BENCHMARKS:
        fmts, c = bitfusion_formats(bench), collections.Counter()
        for layer in bitfusion_benchmark(bench).layers:
            w, a = (Format.parse(s) for s in fmts[layer.name])
            cost = hwsim.evaluate(layer, w, acc, act_fmt=a)
            assert set(cost.energy_j) == {"pe", "sram", "dram", "leakage"} and cost.energy_j["leakage"] == 0.0
            c.update({"total": cost.total_energy_j * 1e9, "dram": cost.energy_j["dram"] * 1e9,
                      "onchip": (cost.energy_j["pe"] + cost.energy_j["sram"]) * 1e9})
        out[bench] = c
    return out


def err(key: str, bench: str, part: str) -> float:
    return ours(key)[bench][part] / peer(key)[bench][part] - 1


def test_preset_is_the_16x32_configuration():
    acc, cfg = load_accelerator("bitfusion-eyeriss-budget"), GOLDEN["configs"]["16x32@192"]
    assert acc.energy.pe_cycle_j == pytest.approx(cfg["energy_cost_nJ"]["core_dynamic_energy"] * 1e-9 / 512)
    assert acc.dram.energy_j_per_byte == pytest.approx(15e-12 * 8)
    bufs = {b.name: b for b in acc.buffers}
    for buf, ns in BUFS:  # per bit as the simulator prices them (its per-access energy / 32-bit word)
        assert bufs[buf].sram_j_per_byte() == pytest.approx(cfg["energy_cost_nJ"][f"{buf}_read_energy"] * 8e-9)
        assert bufs[buf].sram_j_per_byte(write=True) == pytest.approx(
            cfg["energy_cost_nJ"][f"{buf}_write_energy"] * 8e-9)


def test_192_bit_interface_within_target():
    """bf_e_conf.ini: every benchmark within target; measured total, DRAM and on-chip equal (within
    1e-9; LeNet-5 total -8.6%, DRAM -9.5% before `block_promotion`, within 0.02% before the five
    loops)."""
    for bench in BENCHMARKS:
        assert abs(err("16x32@192", bench, "total")) <= 0.15, bench
        assert abs(err("16x32@192", bench, "dram")) <= 0.20, bench
        assert abs(err("16x32@192", bench, "onchip")) <= 0.20, bench
        assert abs(err("16x32@192", bench, "onchip")) <= 0.01, bench
        for part in ("total", "dram", "onchip"):
            assert abs(err("16x32@192", bench, part)) <= 1e-9, (bench, part)


# measured: the benchmarks whose total misses 15% or DRAM misses 20% at 4096 bits: none since the five
# loops (mapper.bitfusion_loops); before, with one m loop: 16x32 {CIFAR10, VGG-7, RESNET-18}, 16x64
# {RESNET-18}; before memory.block_promotion (11 misses): 16x32 {AlexNet, CIFAR10, LeNet-5, RESNET-18,
# RNN, LSTM}, 16x64 {CIFAR10, RESNET-18, RNN, LSTM}, 16x128 {RESNET-18}
MISSES_4096: dict[str, set[str]] = {"16x32@4096": set(), "16x64@4096": set(), "16x128@4096": set(),
                                    "16x256@4096": set()}


@pytest.mark.slow
@pytest.mark.parametrize("key", list(MISSES_4096))
def test_4096_bit_interface(key: str):
    """Every width within target; measured total, DRAM and on-chip equal to the simulator's
    (within 1e-9; on-chip was within 1.2% and 4 DRAM misses before the five loops)."""
    miss = set()
    for bench in BENCHMARKS:
        for part in ("total", "dram", "onchip"):
            assert abs(err(key, bench, part)) <= 1e-9, (key, bench, part)
        if abs(err(key, bench, "total")) > 0.15 or abs(err(key, bench, "dram")) > 0.20:
            miss.add(bench)
            assert abs(err(key, bench, "total") - err(key, bench, "dram")) <= 0.1, (key, bench)
    assert miss == MISSES_4096[key]
