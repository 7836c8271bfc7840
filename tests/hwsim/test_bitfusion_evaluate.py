"""Bit Fusion through hwsim.evaluate (core + memory + mapper): compute cycles and totals.

Golden data: tests/data/bitfusion/bitfusion_sim_per_layer.csv (see SOURCE.md). Compute
cycles through evaluate must stay within 6% of the Bit Fusion simulator's per benchmark
(they differ from the exact core numbers only by the mapper's K tiles; measured 0.94-1.02).

The issue-4 total-cycle target (each benchmark within 10% of the simulator at the 192-bit
interface, median layer error within 15%) is NOT met: hwsim.memory moves 10-90% of the
simulator's DRAM bytes (it writes outputs at the activation format, the simulator at 32
bits with partial-sum round trips and host-im2col'd first-layer inputs). The target is an
xfail(strict) test below; measured values in benchmarks/RESULTS.md.
"""

import csv
import statistics
from pathlib import Path

import pytest

import hwsim
from hwsim.spec import load_accelerator
from kernels_ref.formats import Format
from models.zoo.bitfusion_benchmarks import BENCHMARKS, bitfusion_benchmark, bitfusion_formats

CSV = Path(__file__).resolve().parents[1] / "data" / "bitfusion" / "bitfusion_sim_per_layer.csv"


def _rows(bandwidth):
    with open(CSV, newline="") as f:
        return {(r["Network"], r["Layer"].rsplit("/", 1)[0]): r for r in csv.DictReader(f)
                if r["N"] == "16" and r["M"] == "32" and r["Bandwidth (bits/cycle)"] == bandwidth}


@pytest.fixture(scope="module")
def costs():
    accel = load_accelerator("bitfusion-eyeriss-budget")
    out = {}
    for bench in BENCHMARKS:
        fmts = bitfusion_formats(bench)
        for layer in bitfusion_benchmark(bench).layers:
            w, a = (Format.parse(s) for s in fmts[layer.name])
            out[(bench, layer.name)] = hwsim.evaluate(layer, w, accel, act_fmt=a)
    return out


def test_compute_cycles_through_evaluate(costs):
    rows = _rows("4096")
    for bench in BENCHMARKS:
        keys = [k for k in costs if k[0] == bench]
        ours = sum(costs[k].compute_cycles for k in keys)
        peer = sum(int(rows[k]["Cycles"]) - int(rows[k]["Memory wait cycles"]) for k in keys)
        assert ours == pytest.approx(peer, rel=0.06), bench


@pytest.mark.xfail(strict=True, reason=(
    "issue-4 target not met (measured total ratio ours/peer: AlexNet 0.82, SVHN 0.62, CIFAR10 0.56, "
    "LeNet-5 0.60, VGG-7 0.39, ResNet-18 0.81, RNN 0.90, LSTM 0.82): hwsim.memory moves fewer DRAM "
    "bytes than the Bit Fusion simulator; strict, so meeting it flags this marker for removal"))
def test_total_cycles_within_issue_target(costs):
    rows = _rows("192")
    for bench in BENCHMARKS:
        keys = [k for k in costs if k[0] == bench]
        ours = sum(costs[k].cycles for k in keys)
        peer = sum(int(rows[k]["Cycles"]) for k in keys)
        med = statistics.median(abs(costs[k].cycles / int(rows[k]["Cycles"]) - 1) for k in keys)
        assert ours == pytest.approx(peer, rel=0.10), bench
        assert med <= 0.15, bench


def test_total_cycles_never_above_simulator(costs):
    # the simulator's traffic model is the heavier one: every benchmark total stays at or below it
    rows = _rows("192")
    for bench in BENCHMARKS:
        keys = [k for k in costs if k[0] == bench]
        assert sum(costs[k].cycles for k in keys) <= sum(int(rows[k]["Cycles"]) for k in keys), bench
