"""hwsim.memory: loop-order reuse, packed operands, capacity, double-buffered timeline."""

from __future__ import annotations

import numpy as np
import pytest
from lowbit.hwsim.memory import LOOP_ORDERS, GemmShape, price_candidates
from lowbit.hwsim.spec import accelerator
from lowbit.kernels_ref.formats import Format

I8, I4 = Format.parse("int8"), Format.parse("int4")


def _acc(dram_bw: float = 8.0, size: int = 1 << 20, double: bool = True, sram_bw: float = 1e6):
    return accelerator(
        name="mem-test", freq_hz=1e9, node_nm=45,
        core={"family": "mac_array", "style": "systolic", "rows": 4, "cols": 4, "dataflows": ["os"],
              "precisions": ["int8"], "rates": [1.0]},
        buffers=[{"name": "buf", "operands": ["input", "weight", "output"], "size_bytes": size,
                  "bandwidth_bytes_per_cycle": sram_bw, "banks": 1, "double_buffered": double}],
        dram={"bandwidth_bytes_per_cycle": dram_bw})


def _price(acc, shape, w, order, tile=(4, 4, 4)):
    return price_candidates(shape, w, I8, acc, *tile, LOOP_ORDERS.index(order), 0)


def test_dram_traffic_by_loop_order_hand_derived():
    acc = _acc(size=128)  # 64 B usable: no whole operand can stay resident
    shape = GemmShape(m=8, k=8, n=8)
    # 2 x 2 x 2 tiles of 4; every operand is 64 B at int8, partial sums 256 B at 32 bits.
    # order m,k,n: input (m,k) innermost dep k, no unrelated loop outside -> 64;
    #   weight (k,n): unrelated m outside -> 2 x 64; output (m,n): unrelated k outside -> r = 2:
    #   one partial-sum spill (256 B out, 256 B back) and the final 64 B write.
    p = _price(acc, shape, I8, "mkn")
    assert float(p.dram_bytes) == 64 + 128 + (256 + 256) + 64
    # order m,n,k: input refetched per n (128), weight per m (128), output written once (64).
    p = _price(acc, shape, I8, "mnk")
    assert float(p.dram_bytes) == 128 + 128 + 64
    # whole-matrix tiles: compulsory traffic only
    p = _price(acc, shape, I8, "mkn", (8, 8, 8))
    assert float(p.dram_bytes) == 64 * 3


def test_int4_weights_move_half_the_bytes():
    acc = _acc()
    shape = GemmShape(m=1, k=256, n=256)
    p8 = _price(acc, shape, I8, "mnk", (1, 256, 256))
    p4 = _price(acc, shape, I4, "mnk", (1, 256, 256))
    w8 = 256 * 256
    assert float(p8.dram_bytes - p4.dram_bytes) == w8 / 2
    g = Format.parse("int4g128")
    pg = _price(acc, shape, g, "mnk", (1, 256, 256))
    assert float(pg.dram_bytes - p4.dram_bytes) == pytest.approx(w8 * (g.bits_per_weight - 4) / 8)


def test_ample_bandwidth_no_stall_and_starved_stalls():
    shape = GemmShape(m=64, k=64, n=64)
    rich = _price(_acc(dram_bw=1e9), shape, I8, "mnk", (16, 16, 16))
    assert float(rich.stall_cycles) == 0 and float(rich.cycles) == float(rich.compute_cycles) > 0
    poor = _price(_acc(dram_bw=0.01), shape, I8, "mnk", (16, 16, 16))
    assert float(poor.stall_cycles) > 10 * float(poor.compute_cycles)
    # memory-bound: cycles ~ bytes / bandwidth
    # (+ the drain of the last 16 x 16 output tile, 2% here)
    assert float(poor.cycles) == pytest.approx(float(poor.dram_bytes) / 0.01 + 16 * 16 / 0.01, rel=0.01)


def test_timeline_closed_form_double_vs_single():
    shape = GemmShape(m=16, k=16, n=16)
    tile = (4, 16, 16)  # 4 steps
    bw = 2.0
    dbl = _price(_acc(dram_bw=bw), shape, I8, "mnk", tile)
    sgl = _price(_acc(dram_bw=bw, double=False), shape, I8, "mnk", tile)
    steps = 4
    c = float(dbl.compute_cycles) / steps
    l_ = float(dbl.dram_bytes) / steps / bw
    drain = 4 * 16 / bw
    assert float(dbl.cycles) == pytest.approx(round(l_ + (steps - 1) * max(c, l_) + c + drain - steps * c) + steps * c)
    assert float(sgl.cycles) == pytest.approx(round(steps * (c + l_) + drain - steps * c) + steps * c)
    assert float(sgl.cycles) > float(dbl.cycles)


def test_capacity_and_vectorised_candidates():
    acc = _acc(size=2048)  # double-buffered: 1024 B usable
    shape = GemmShape(m=64, k=64, n=64)
    tm = np.array([4, 16, 32])
    p = price_candidates(shape, I8, I8, acc, tm, 16, 16, 0, 0)
    # tile bytes: input tm*16 + weight 256 + partial sums tm*16*4 (32-bit accumulators)
    assert p.fits.tolist() == [True, False, False]
    np.testing.assert_array_equal(p.need_bytes["buf"], 2 * (tm * 80 + 256))
    assert p.cycles.shape == (3,)


def test_total_energy_is_sum_of_breakdown():
    p = _price(_acc(), GemmShape(m=8, k=8, n=8), I8, "mkn")
    assert float(p.total_energy_j) == pytest.approx(sum(float(v) for v in p.energy_j.values()))
    assert {"mac", "sram", "dram"} <= set(p.energy_j)


def test_resident_operand_fetched_once():
    # whole input in one tile (tm = M, tk = K): whatever the loop order, it is read once even
    # though the n loop turns 8 times around it.
    acc = _acc()
    shape = GemmShape(m=8, k=8, n=64)
    for order in LOOP_ORDERS:
        p = _price(acc, shape, I8, order, (8, 8, 8))
        assert float(p.dram_bytes) == 64 + 512 + 512, order
