"""lowbit's library path held to the Bit Fusion simulator run here on configurations its published
CSV lacks (issue 17 item 2): batch 1 and 4, 32x32 / 16x64 / 16x128 with buffers scaled, 192- and
4096-bit interfaces, 16x32 with half the buffers.

Goldens: tests/data/bitfusion/bitfusion_sim_runs.csv / .json, made by
benchmarks/bitfusion_sim_golden.py (the simulator's own sweep, graphs and energy under Python 3 with
the mechanical fixes of benchmarks/peers/bitfusion_py3.patch; commands in SOURCE.md). That run
reproduces the published CSV's 305 rows count for count before it makes these.

Each configuration is the `bitfusion-eyeriss-budget` preset with the run's array, buffers, banks,
interface and the CACTI costs the simulator priced its banks with, evaluated per layer through
`hwsim.evaluate` (as test_bitfusion_widths.py does) at the run's batch. Targets: compute cycles
equal, totals within 10% per (configuration, benchmark); DRAM bytes and energy reported, asserted
as measured (benchmarks/RESULTS.md, "Bit Fusion simulator run here on further configurations").
Measured with the five-loop Bit Fusion mapping (commit 1f20d27): all 88 (configuration, benchmark)
totals and all 671 layers equal in cycles, compute cycles and DRAM bits, energy to float rounding.
Before it (commit 1c1f57a) totals were within 0.6% and compute equal, but DRAM bytes at 4096 bits
were 0.43-1.47x (16x32 b1 ResNet-18 0.434, 32x32 CIFAR10 1.472), so the per-layer assertions
fail there.
"""

from __future__ import annotations

import collections
import csv
import json
import math
from functools import cache
from pathlib import Path

import pytest
from lowbit.hwsim.spec import load_accelerator
from lowbit.kernels_ref.formats import Format
from lowbit.models import Layer, OpKind
from lowbit.models.zoo.bitfusion_benchmarks import (
    BENCHMARKS,
    bitfusion_benchmark,
    bitfusion_formats,
)

from lowbit import hwsim

DATA = Path(__file__).resolve().parents[1] / "data" / "bitfusion"
RUNS = json.loads((DATA / "bitfusion_sim_runs.json").read_text())
CONFIGS = tuple(RUNS["configs"])
PARTS = ("cycles", "compute", "dram", "energy", "energy_dram", "energy_onchip")


def accel_for(key: str):
    """The preset at one run configuration (banks and per-access energies as get_energy_cost has
    them: WBUF N*M, IBUF N, OBUF M banks of 32-bit words, its per-bit cost x 32 per access)."""
    c = RUNS["configs"][key]
    n, m, cost = c["N"], c["M"], c["energy_cost_nJ"]
    ch = {
        "core.rows": n,
        "core.cols": m,
        "dram.bandwidth_bytes_per_cycle": c["interface_bits"] // 8,
        "energy.pe_cycle_j": cost["core_dynamic_energy"] * 1e-9 / (n * m),
    }
    for buf, ns in (("wbuf", "wgt"), ("ibuf", "act"), ("obuf", "out")):
        banks = c["banks"][ns]["banks"]
        ch.update(
            {
                f"buffers.{buf}.size_bytes": c["sram_bytes"][ns],
                f"buffers.{buf}.banks": banks,
                f"buffers.{buf}.bandwidth_bytes_per_cycle": 4 * banks,
                f"buffers.{buf}.read_j_per_access": cost[f"{buf}_read_energy"] * 32e-9,
                f"buffers.{buf}.write_j_per_access": cost[f"{buf}_write_energy"] * 32e-9,
                f"buffers.{buf}.read_bytes_per_access": 4,
                f"buffers.{buf}.write_bytes_per_access": 4,
            }
        )
    return load_accelerator("bitfusion-eyeriss-budget").with_changes(**ch)


def at_batch(layer: Layer, batch: int) -> Layer:
    """The zoo's batch-16 layer at another batch (the simulator's graphs at BATCH_SIZE = batch)."""
    if layer.op is OpKind.CONV2D:
        return Layer.conv2d(layer.name, layer.conv, images=batch)
    return Layer.linear(layer.name, batch, layer.k, layer.n)


@cache
def peer_rows() -> tuple[dict[str, str], ...]:
    with open(DATA / "bitfusion_sim_runs.csv", newline="") as fh:
        return tuple(csv.DictReader(fh))


def peer_layers(key: str) -> dict[tuple[str, str], tuple[int, int, int]]:
    """(network, layer) -> (cycles, compute cycles, DRAM bits) of the simulator's run."""
    return {
        (r["Network"], r["Layer"].rsplit("/", 1)[0]): (
            int(r["Cycles"]),
            int(r["Cycles"]) - int(r["Memory wait cycles"]),
            int(r["DRAM Read"]) + int(r["DRAM Write"]),
        )
        for r in peer_rows()
        if r["config"] == key
    }


@cache
def peer() -> dict[str, dict[str, collections.Counter]]:
    out: dict = collections.defaultdict(lambda: collections.defaultdict(collections.Counter))
    for r in peer_rows():
        cyc, wait = int(r["Cycles"]), int(r["Memory wait cycles"])
        out[r["config"]][r["Network"]].update(
            {
                "cycles": cyc,
                "compute": cyc - wait,
                "dram": (int(r["DRAM Read"]) + int(r["DRAM Write"])) / 8,
                "energy": float(r["Energy total (nJ)"]),
                "energy_dram": float(r["Energy DRAM (nJ)"]),
                "energy_onchip": float(r["Energy core (nJ)"]) + float(r["Energy SRAM (nJ)"]),
            }
        )
    return out


@cache
def evaluated(key: str) -> dict[tuple[str, str], hwsim.LayerCost]:
    """(network, layer) -> lowbit's cost at the run's configuration and batch."""
    acc, batch, out = accel_for(key), RUNS["configs"][key]["batch"], {}
    for bench in BENCHMARKS:
        fmts = bitfusion_formats(bench)
        for layer in bitfusion_benchmark(bench).layers:
            w, a = (Format.parse(s) for s in fmts[layer.name])
            out[(bench, layer.name)] = hwsim.evaluate(at_batch(layer, batch), w, acc, act_fmt=a)
    return out


@cache
def ours(key: str) -> dict[str, collections.Counter]:
    costs, out = evaluated(key), {}
    for bench in BENCHMARKS:
        t = collections.Counter()
        for layer in bitfusion_benchmark(bench).layers:
            c = costs[(bench, layer.name)]
            t.update(
                {
                    "cycles": c.cycles,
                    "compute": c.compute_cycles,
                    "dram": c.dram_bytes,
                    "energy": c.total_energy_j * 1e9,
                    "energy_dram": c.energy_j["dram"] * 1e9,
                    "energy_onchip": (c.energy_j["pe"] + c.energy_j["sram"]) * 1e9,
                }
            )
        out[bench] = t
    return out


def ratios(key: str) -> dict[str, dict[str, float]]:
    p, o = peer()[key], ours(key)
    return {b: {part: o[b][part] / p[b][part] for part in PARTS} for b in BENCHMARKS}


def test_goldens_are_the_simulators_run():
    # the run first reproduced the published CSV: all 305 rows equal in all ten count columns,
    # and get_energy_cost equal to bitfusion_energy.json's costs (its formulas re-implemented)
    val = RUNS["validation"]
    assert val["rows"] == val["published_rows"] == val["rows_equal_all_10_counts"] == 305
    assert max(val["energy_cost_vs_bitfusion_energy_json_max_rel"].values()) < 1e-12
    # the CACTI built here gives the shipped cacti_sweep.csv's energies on all its 8 rows
    assert val["cacti_shipped_rows_equal"] == val["cacti_shipped_rows"] == 8
    assert len(CONFIGS) == 11
    assert not any(
        math.isnan(v) for c in RUNS["configs"].values() for v in c["energy_cost_nJ"].values()
    )
    # the new bank sizes were priced by CACTI here (OBUF 1024 B read-write port; WBUF 256 B)
    added = {
        (float(r["size (bytes)"]), int(r["read-write port"]))
        for r in RUNS["cacti_rows_added_by_this_run"]
    }
    assert added == {(1024.0, 1), (256.0, 0)}


def test_batch_one_is_the_graph_at_batch_one():
    # AlexNet (WRPN) conv1_a at batch 1 on 16x32: the host im2cols it, get_compute_cycles =
    # b*oh*ow * ceil(oc/M) * ceil(K*K*ic/(N*perf)) = 55*55 * ceil(96/32) * ceil(363/16) = 208,725
    # (8-bit x 8-bit, perf factor 1); the published batch-16 row is 16x that
    with open(DATA / "bitfusion_sim_runs.csv", newline="") as fh:
        row = next(
            r
            for r in csv.DictReader(fh)
            if r["config"] == "16x32@192 b1 64/32/16KB"
            and r["Network"] == "AlexNet"
            and r["Layer"] == "conv1_a/Convolution"
        )
    assert int(row["Cycles"]) - int(row["Memory wait cycles"]) == 55 * 55 * 3 * 23
    with open(DATA / "bitfusion_sim_per_layer.csv", newline="") as fh:
        pub = next(
            r
            for r in csv.DictReader(fh)
            if (r["M"], r["Bandwidth (bits/cycle)"]) == ("32", "192")
            and r["Network"] == "AlexNet"
            and r["Layer"] == "conv1_a/Convolution"
        )
    assert int(pub["Cycles"]) - int(pub["Memory wait cycles"]) == 16 * 55 * 55 * 3 * 23
    layer = at_batch(bitfusion_benchmark("AlexNet").layers[0], 1)
    w, a = (Format.parse(s) for s in bitfusion_formats("AlexNet")["conv1_a"])
    assert (
        hwsim.evaluate(layer, w, accel_for("16x32@192 b1 64/32/16KB"), act_fmt=a).compute_cycles
        == 208725
    )


def _check(key: str) -> None:
    for bench, r in ratios(key).items():
        assert r["cycles"] == pytest.approx(1.0, abs=0.10), (key, bench, r)  # issue 17 target
        assert r["compute"] == pytest.approx(1.0, abs=0.0), (key, bench, r)  # target: equal
        # measured (five-loop Bit Fusion mapping, commit 1f20d27): every (config, benchmark) total,
        # DRAM byte count and energy part equal to the simulator's run to float rounding
        for part in ("cycles", "dram", "energy", "energy_dram", "energy_onchip"):
            assert r[part] == pytest.approx(1.0, rel=1e-9), (key, bench, part, r[part])
    # ... and so is every layer: cycles, compute cycles and DRAM bits, exactly
    costs = evaluated(key)
    for lay, want in peer_layers(key).items():
        c = costs[lay]
        assert (c.cycles, c.compute_cycles, c.dram_bytes * 8) == want, (key, lay)


FAST = ("16x32@192 b1 64/32/16KB", "16x64@4096 b1 128/64/32KB")


@pytest.mark.parametrize("key", FAST)
def test_batch_one_runs(key: str):
    _check(key)


@pytest.mark.slow
@pytest.mark.parametrize("key", [k for k in CONFIGS if k not in FAST])
def test_other_runs(key: str):
    _check(key)
