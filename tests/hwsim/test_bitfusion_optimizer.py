"""lowbit's Bit Fusion mapping held to the Bit Fusion simulator's own optimiser, layer by layer.

Golden: tests/data/bitfusion/bitfusion_optimizer_runs.csv, the simulator's `_optimize_for_order`
and `get_stats_fast` (hsharma35/bitfusion optimizer.py, imported unmodified) run on the 61
benchmark layers at 16x32/16x64/16x128/16x256, 192- and 4096-bit interfaces, batch 16, by
benchmarks/bitfusion_optimizer_golden.py (SOURCE.md has the command; the script checks that it
reproduces every row of the published bitfusion_sim_per_layer.csv). Under the presets' rules the
mapper searches the simulator's five loops (`mapper.bitfusion_loops`, priced by
`hwsim.bitfusion_loops`): its chosen tiling (b, oh, ow, ic, oc), loop order, cycles, compute
cycles and DRAM bits must equal the simulator's, its energy the simulator's `get_energy`.
Before the five loops (one m loop of square blocks or whole images), DRAM bytes at 4096 bits
were 0.56x the simulator's on ResNet-18 at 16x32, 0.68x at 16x64, 1.13x at 16x256.
"""

from __future__ import annotations

import csv
import json
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from lowbit.hwsim.bitfusion_loops import FIVE_LOOP_ORDERS, applies
from lowbit.hwsim.spec import list_presets, load_accelerator
from lowbit.kernels_ref.errors import InvalidSpecError
from lowbit.kernels_ref.formats import Format
from lowbit.mapper import Mapping, price_mapping
from lowbit.models import Layer
from lowbit.models.ir import ConvGeometry
from lowbit.models.zoo.bitfusion_benchmarks import bitfusion_benchmark, bitfusion_formats

from lowbit import hwsim

DATA = Path(__file__).resolve().parents[1] / "data" / "bitfusion"
ENERGY = json.loads((DATA / "bitfusion_energy.json").read_text())
BUFS = (("wbuf", "wgt"), ("ibuf", "act"), ("obuf", "out"))
LETTER = {"B/b": "b", "OW/ow": "w", "OH/oh": "h", "IC/ic": "k", "OC/oc": "n"}


@cache
def golden() -> dict[str, list[dict[str, str]]]:
    out: dict[str, list[dict[str, str]]] = {}
    with open(DATA / "bitfusion_optimizer_runs.csv", newline="") as fh:
        for r in csv.DictReader(fh):
            out.setdefault(r["config"], []).append(r)
    return out


@cache
def accel_for(key: str):
    """The preset at `NxM@bits`: array, buffers, interface and the CACTI costs the simulator's
    `get_energy_cost` gives its banks (bitfusion_energy.json, per array width)."""
    n_m, bw = key.split("@")
    n, m = (int(v) for v in n_m.split("x"))
    cfg = ENERGY["configs"][f"{n_m}@4096"]
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


@cache
def _layers(bench: str) -> dict[str, Layer]:
    return {layer.name: layer for layer in bitfusion_benchmark(bench).layers}


def check_row(key: str, r: dict[str, str]) -> None:
    layer = _layers(r["network"])[r["layer"]]
    w, a = (Format.parse(s) for s in bitfusion_formats(r["network"])[layer.name])
    c = hwsim.evaluate(layer, w, accel_for(key), act_fmt=a)
    where = (key, r["network"], r["layer"])
    k = int(r["K"])
    m = c.mapping
    assert m is not None and m.m_block == (int(r["b"]), int(r["oh"]), int(r["ow"])), (where, str(m))
    assert (m.tile_k, m.tile_n) == (int(r["ic"]) * k * k, int(r["oc"])), (where, str(m))
    assert m.loop_order == "".join(LETTER[x] for x in r["order"].split(",")), (where, str(m))
    assert c.cycles == int(r["cycles"]), where
    assert c.compute_cycles == int(r["cycles"]) - int(r["memory_wait_cycles"]), where
    assert c.dram_bytes * 8 == int(r["dram_read_bits"]) + int(r["dram_write_bits"]), where
    assert c.total_energy_j * 1e9 == pytest.approx(float(r["energy_nJ"]), rel=1e-9), where


def test_golden_covers_eight_configurations():
    g = golden()
    assert sorted(g) == sorted(f"16x{m}@{bw}" for m in (32, 64, 128, 256) for bw in (192, 4096))
    assert all(len(rows) == 61 for rows in g.values())


@pytest.mark.parametrize("key", ["16x32@4096", "16x64@4096"])
def test_resnet18_equals_the_simulators_choice(key):
    """The layers of the largest DRAM-byte gap before the five loops (0.56x / 0.68x)."""
    rows = [r for r in golden()[key] if r["network"] == "RESNET-18"]
    assert len(rows) == 17
    for r in rows:
        check_row(key, r)


@pytest.mark.slow
@pytest.mark.parametrize("key", [f"16x{m}@{bw}" for m in (32, 64, 128, 256) for bw in (192, 4096)])
def test_every_layer_equals_the_simulators_choice(key):
    for r in golden()[key]:
        check_row(key, r)


def _small_conv() -> Layer:
    # B = 2 images, 6 x 6 x 32 in, 3 x 3 kernel, stride 1, no pad: 4 x 4 x 32 out
    return Layer.conv2d("c", ConvGeometry(32, 32, 6, 6, 3, 3), images=2)


def test_five_loop_promotion_by_hand():
    # 16x32, 4096-bit interface, OBUF 4 KB (usable 2 KB = 16,384 bits), int8 (perf factor 1, K rows 16).
    # Tile b = 1, oh = ow = 2, ic = 16, oc = 32; order k, b, w, h, n (outer to inner); trips b 2, k 2, w 2,
    # h 2, n 1. Tiles (bits): weights ceil(9*16, 16)*16 * 32 * 8 = 36,864; inputs (3+1)^2 * 16 * 8 = 2,048;
    # outputs 2*2*32*32 = 4,096. Promotion, innermost first (optimizer.py:121-151):
    #   inputs  h, w, b, k all dependent: 2,048 x 16 = 32,768, held whole
    #   weights n (x1) dependent, h w b free, k x2: 73,728, held whole
    #   outputs n, h, w -> 16,384 held; b x2 = 32,768 > 16,384 stops it; k (unrelated, outside) x2: 65,536
    # DRAM = reads 32,768 + 73,728 + 65,536 + writes 65,536 = 237,568 bits.
    # compute = 16 tiles x 2*2*9 = 576; fill 32,768 + 73,728 + 16,384 = 122,880 (30 cycles), drain 16,384
    # (4), middle 237,568 - 122,880 - 16,384 = 98,304 (24 < compute: hidden): cycles 576 + 34 = 610.
    acc = load_accelerator("bitfusion-eyeriss-budget").with_changes(
        **{"dram.bandwidth_bytes_per_cycle": 512, "buffers.obuf.size_bytes": 4096})
    fmt = Format.parse("int8")
    mp = Mapping(tile_m=4, tile_k=16 * 9, tile_n=32, loop_order="kbwhn", dataflow=acc.model().dataflows[0],
                 m_block=(1, 2, 2))
    c = hwsim.evaluate(_small_conv(), fmt, acc, mp, act_fmt=fmt)
    assert c.dram_bytes * 8 == 237_568
    assert (c.cycles, c.compute_cycles) == (610, 576)
    # the same tile with n outermost: outputs promote through h, w, b (32,768 > cap stops at b), then k x2
    # and n x1; weights through n, k (held whole); nothing changes but the order's letters
    same = price_mapping(_small_conv(), fmt, fmt, acc, Mapping(tile_m=4, tile_k=144, tile_n=32, loop_order="nkbwh",
                                                               dataflow=mp.dataflow, m_block=(1, 2, 2)))
    assert float(np.ravel(same.dram_bytes)[0]) * 8 == 237_568


def test_only_the_bitfusion_presets_take_the_five_loops():
    took = {name for name in list_presets() if applies(load_accelerator(name).memory)}
    assert took == {"bitfusion-eyeriss-budget", "bitfusion-stripes-budget"}
    assert len(FIVE_LOOP_ORDERS) == 120 and FIVE_LOOP_ORDERS[0] == "bwhkn"


def test_five_loop_mapping_validated():
    with pytest.raises(InvalidSpecError, match="m_block"):
        Mapping(tile_m=5, tile_k=9, tile_n=32, loop_order="bwhkn", m_block=(1, 2, 2))
    with pytest.raises(InvalidSpecError, match="five-loop"):
        Mapping(tile_m=4, tile_k=9, tile_n=32, loop_order="mkn", m_block=(1, 2, 2))
    with pytest.raises(InvalidSpecError, match="loop_order"):
        Mapping(tile_m=4, tile_k=9, tile_n=32, loop_order="bwhkn")
    assert "(b1 2x2)" in str(Mapping(tile_m=4, tile_k=9, tile_n=32, loop_order="bwhkn", m_block=(1, 2, 2)))
    off = load_accelerator("bitfusion-eyeriss-budget").with_changes(memory__block_promotion=False)
    fmt = Format.parse("int8")
    mp = Mapping(tile_m=4, tile_k=144, tile_n=32, loop_order="bwhkn", dataflow=off.model().dataflows[0],
                 m_block=(1, 2, 2))
    with pytest.raises(InvalidSpecError, match="five-loop"):
        hwsim.evaluate(_small_conv(), fmt, off, mp, act_fmt=fmt)


def test_tile_counts_on_the_stripes_budget_preset():
    # bitfusion-stripes-budget keeps lowbit's buffer counts (`sram_counts: tiles`) and 128 KB buffers
    # (usable 524,288 bits each): the tile of test_five_loop_promotion_by_hand, order k, b, w, h, n.
    # Outputs now promote through b too (32,768 bits held), k is free inside: every operand crosses
    # DRAM once: 32,768 + 73,728 + 32,768 read + 32,768 written = 172,032 bits = 21,504 bytes.
    # Cycles 576 + ceil(139,264 / 4096) + ceil(32,768 / 4096) = 576 + 34 + 8 = 618 (middle 0).
    # Buffer bits per tile step (16 steps): input 2,048 and weight 36,864 read, output 4,096 written
    # and read back after the first of 2 ic steps; plus the input and weight DRAM fills:
    # (32,768 + 589,824 + 32,768 + 65,536 + 32,768 + 73,728) / 8 = 103,424 bytes.
    acc = load_accelerator("bitfusion-stripes-budget")
    fmt = Format.parse("int8")
    mp = Mapping(tile_m=4, tile_k=144, tile_n=32, loop_order="kbwhn", dataflow=acc.model().dataflows[0],
                 m_block=(1, 2, 2))
    c = hwsim.evaluate(_small_conv(), fmt, acc, mp, act_fmt=fmt)
    assert (c.cycles, c.compute_cycles, c.dram_bytes, c.sram_bytes) == (618, 576, 21_504, 103_424)
    assert hwsim.evaluate(_small_conv(), fmt, acc, act_fmt=fmt).mapping.m_block  # searched in five loops
