"""hwsim.energy: Horowitz 45 nm anchors, width scaling, node scaling, every action priced."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from lowbit.hwsim.cores.base import Action, ActionKind
from lowbit.hwsim.energy import COMPONENT, EnergyTable, node_energy_factor

PJ = 1e-12


def test_horowitz_anchors_45nm():
    t = EnergyTable.for_node(45)
    # FIDELITY.md (Horowitz ISSCC 2014): int mult 8b 0.2 pJ, 32b 3.1 pJ; int add 32b 0.1 pJ;
    # fp mult 16b 1.1 / 32b 3.7 pJ; fp add 16b 0.4 / 32b 0.9 pJ.
    assert t.int_mult_j(8, 8) == pytest.approx(0.2 * PJ)
    assert t.int_mult_j(32, 32) == pytest.approx(3.1 * PJ, rel=0.05)
    assert t.add_j(32) == pytest.approx(0.1 * PJ)
    assert t.add_j(8) == pytest.approx(0.03 * PJ, rel=0.2)
    assert t.fp_mult_j(16, 16) == pytest.approx(1.1 * PJ)
    assert t.fp_mult_j(32, 32) == pytest.approx(3.7 * PJ)
    assert t.fp_add_j(16) == pytest.approx(0.4 * PJ) and t.fp_add_j(32) == pytest.approx(0.9 * PJ)
    # SRAM: 8 KB 64-bit read ~10 pJ, 32 KB ~20 pJ, 1 MB ~100 pJ (Horowitz); sqrt fit
    assert t.sram_j_per_byte(8192) * 8 == pytest.approx(10 * PJ)
    assert t.sram_j_per_byte(32768) * 8 == pytest.approx(20 * PJ)
    assert t.sram_j_per_byte(2**20) * 8 == pytest.approx(100 * PJ, rel=0.15)
    # DRAM 1.3-2.6 nJ / 64 bit
    assert 1.3e-9 <= t.dram_j_per_byte * 8 <= 2.6e-9


def test_mac_energy_order_int4_int8_fp16():
    for node in (45, 28, 16, 7):
        t = EnergyTable.for_node(node)
        e4 = t.price(Action(ActionKind.MAC_INT, (4, 4)))
        e8 = t.price(Action(ActionKind.MAC_INT, (8, 8)))
        e16 = t.price(Action(ActionKind.MAC_FP, (16, 16)))
        assert 0 < e4 < e8 < e16
        # multiplier ~ product of widths: 4x4 multiplier is a quarter of 8x8
        assert t.int_mult_j(4, 4) == pytest.approx(t.int_mult_j(8, 8) / 4)
        assert t.int_mult_j(4, 8) == pytest.approx(t.int_mult_j(8, 8) / 2)


def test_node_scaling_monotone_and_stated_values():
    f = [node_energy_factor(n) for n in (65, 45, 32, 28, 20, 16, 7)]
    assert all(a > b for a, b in itertools.pairwise(f))
    assert f[1] == 1.0
    # Stillmaker & Baas 2017 polynomial at nominal Vdd: 7 nm (0.7 V) / 45 nm (1.0 V)
    e45 = 1.103 - 0.362 + 0.2767
    e7 = 0.1776 * 0.49 - 0.09097 * 0.7 + 0.02447
    assert node_energy_factor(7) == pytest.approx(e7 / e45)
    assert node_energy_factor(5) == pytest.approx(node_energy_factor(7))
    t45, t7 = EnergyTable.for_node(45), EnergyTable.for_node(7)
    a = Action(ActionKind.MAC_INT, (8, 8))
    assert t7.price(a) == pytest.approx(t45.price(a) * e7 / e45)


def test_every_action_kind_priced_and_booked():
    t = EnergyTable.for_node(28)
    for kind in ActionKind:
        bits = (8, 8) if kind in (ActionKind.MAC_INT, ActionKind.MAC_FP) else (32,)
        e = t.price(Action(kind, bits))
        assert e > 0 and math.isfinite(e)
        assert kind in COMPONENT
    from lowbit.kernels_ref.errors import InvalidSpecError
    with pytest.raises(InvalidSpecError):
        t.price(Action(ActionKind.MAC_INT, (8,)))


def test_price_all_equals_breakdown_sum_vectorised():
    t = EnergyTable.for_node(45)
    acts = {Action(ActionKind.MAC_INT, (8, 8)): np.array([10, 20]), Action(ActionKind.ADD, (32,)): np.array([10, 20]),
            Action(ActionKind.LUT_READ, (8,)): np.array([3, 0])}
    total = t.price_all(acts)
    bd = t.breakdown(acts)
    assert set(bd) == {"mac", "add", "lut"}
    np.testing.assert_allclose(total, sum(bd.values()))
    np.testing.assert_allclose(total[0], 10 * 0.25 * PJ + 10 * 0.1 * PJ + 3 * 24e-15)


def test_overrides():
    from lowbit.hwsim.spec import EnergyOverrides
    t = EnergyTable.for_node(45, EnergyOverrides(mac_int8_j=1e-12, sram_j_per_byte=2e-12, leakage_w_per_mm2=0.5),
                             dram_j_per_byte=1e-10)
    assert t.price(Action(ActionKind.MAC_INT, (8, 8))) == pytest.approx(1e-12)
    assert t.sram_j_per_byte(1 << 20) == 2e-12 and t.dram_j_per_byte == 1e-10
    assert t.leakage_j(2.0, 1.0) == pytest.approx(1.0)
