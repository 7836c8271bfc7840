"""Bit Fusion through hwsim.evaluate (core + memory + mapper): totals and compute vs its simulator.

Golden data: tests/data/bitfusion/bitfusion_sim_per_layer.csv (see SOURCE.md), the Bit Fusion
simulator's per-layer output at the 16x32 array, batch 16. The preset `bitfusion-eyeriss-budget`
sets the simulator's DRAM traffic rules (`memory:` in the YAML, sources in its comments):
32-bit outputs read and written, host-im2col'd first-layer input, input tiles with halo, whole
(padded) tiles with square pixel blocks and whole-window channel tiles.

Issue-4 target (192-bit interface, bf_e_conf.ini): each benchmark's total cycles within 10% of
the simulator's sum, median per-layer error within 15%. Measured (benchmarks/RESULTS.md): every
benchmark total within 0.8% (ratios 0.993-1.003), every median under 1%.
"""

import csv
import statistics
from pathlib import Path

import pytest
import torch
from lowbit.hwsim.spec import load_accelerator
from lowbit.kernels_ref.formats import Format
from lowbit.models.zoo.bitfusion_benchmarks import (
    BENCHMARKS,
    bitfusion_benchmark,
    bitfusion_formats,
)

from lowbit import hwsim

torch.set_num_threads(1)

CSV = Path(__file__).resolve().parents[1] / "data" / "bitfusion" / "bitfusion_sim_per_layer.csv"


def _rows(bandwidth):
    with open(CSV, newline="") as f:
        return {(r["Network"], r["Layer"].rsplit("/", 1)[0]): r for r in csv.DictReader(f)
                if r["N"] == "16" and r["M"] == "32" and r["Bandwidth (bits/cycle)"] == bandwidth}


def _costs(accel):
    out = {}
    for bench in BENCHMARKS:
        fmts = bitfusion_formats(bench)
        for layer in bitfusion_benchmark(bench).layers:
            w, a = (Format.parse(s) for s in fmts[layer.name])
            out[(bench, layer.name)] = hwsim.evaluate(layer, w, accel, act_fmt=a)
    return out


@pytest.fixture(scope="module")
def costs():
    return _costs(load_accelerator("bitfusion-eyeriss-budget"))


@pytest.fixture(scope="module")
def costs_4096():
    # the CSV's 4096-bit rows: same array and buffers, a 4096-bit (512-byte) memory interface
    return _costs(load_accelerator("bitfusion-eyeriss-budget").with_changes(dram__bandwidth_bytes_per_cycle=512))


def _keys(costs, bench):
    return [k for k in costs if k[0] == bench]


def test_total_cycles_within_issue_target(costs):
    rows = _rows("192")
    for bench in BENCHMARKS:
        keys = _keys(costs, bench)
        ours = sum(costs[k].cycles for k in keys)
        peer = sum(int(rows[k]["Cycles"]) for k in keys)
        med = statistics.median(abs(costs[k].cycles / int(rows[k]["Cycles"]) - 1) for k in keys)
        assert ours == pytest.approx(peer, rel=0.10), bench   # issue 4 target
        assert med <= 0.15, bench                              # issue 4 target
        # measured: ratios 0.993-1.003, medians <= 0.71% (benchmarks/RESULTS.md); hold it tighter
        assert ours == pytest.approx(peer, rel=0.02), bench
        assert med <= 0.02, bench


def test_total_cycles_at_4096_bit_interface(costs_4096):
    # the simulator's other configuration in the CSV (memory waits of a few dozen cycles):
    # measured ratios 0.9996-1.0000, medians <= 0.44%
    rows = _rows("4096")
    for bench in BENCHMARKS:
        keys = _keys(costs_4096, bench)
        ours = sum(costs_4096[k].cycles for k in keys)
        peer = sum(int(rows[k]["Cycles"]) for k in keys)
        assert ours == pytest.approx(peer, rel=0.005), bench
        assert statistics.median(abs(costs_4096[k].cycles / int(rows[k]["Cycles"]) - 1) for k in keys) <= 0.01


def test_compute_cycles_through_evaluate(costs):
    # padded tiles: compute = tiles x the core's cycles for one whole tile, as the simulator's
    # num_tiles * get_compute_cycles(tile); against its `Cycles - Memory wait cycles` at 192 bits.
    rows = _rows("192")
    for bench in BENCHMARKS:
        keys = _keys(costs, bench)
        ours = sum(costs[k].compute_cycles for k in keys)
        peer = sum(int(rows[k]["Cycles"]) - int(rows[k]["Memory wait cycles"]) for k in keys)
        if bench == "LSTM":
            # DRAM-bound (compute 105,792 of 337,175 cycles): the mapper's fastest tiling there has
            # 32-channel K tiles that half-fill the 64-deep 4-bit reduction, so compute is 1.98x the
            # simulator's while the total is within 0.7%; compute stays below the total.
            assert ours < sum(costs[k].cycles for k in keys)
            continue
        assert ours == pytest.approx(peer, rel=0.01), bench


def test_dram_bytes_equal_simulator_on_layers(costs):
    # DRAM Read + DRAM Write (bits) of the simulator's own rows; ours within 0.5% on these layers
    # (one per traffic rule: 32-bit outputs, host im2col input, halo tiles, padded 13x13 blocks)
    rows = _rows("192")
    for key in (("CIFAR10", "conv3"), ("AlexNet", "conv1_a"), ("VGG-7", "conv3_a"), ("AlexNet", "conv4_a"),
                ("RESNET-18", "module3/conv3_1_b"), ("RNN", "matmul")):
        r = rows[key]
        peer_bytes = (int(r["DRAM Read"]) + int(r["DRAM Write"])) / 8
        assert costs[key].dram_bytes == pytest.approx(peer_bytes, rel=0.005), key
