"""Energy tables per technology node: count, then cost (DESIGN.md rule 3).

Core models emit `Action` counts; an `EnergyTable` prices them. Swapping the
table never touches a core model.

45 nm anchors (Horowitz, "Computing's energy problem", ISSCC 2014; FIDELITY.md):

    int add  8b 0.03 pJ, 32b 0.1 pJ      -> adder  0.1 pJ * bits / 32 (linear in width)
    int mult 8b 0.2 pJ,  32b 3.1 pJ      -> mult   0.2 pJ * (w * a) / 64 (product of widths;
                                            32x32 gives 3.2 pJ vs the table's 3.1)
    fp add  16b 0.4 pJ, 32b 0.9 pJ       -> line through both: 0.03125 pJ * bits - 0.1 pJ
    fp mult 16b 1.1 pJ, 32b 3.7 pJ       -> affine in the product of significand widths
                                            (11*11 -> 1.1, 24*24 -> 3.7)
    SRAM 8 KB 64-bit read ~ 10 pJ        -> 1.25 pJ/byte * sqrt(bank_bytes / 8 KiB); the
                                            square-root fit also meets Horowitz's 32 KB ~ 20 pJ
                                            and 1 MB ~ 100 pJ (fit: 113 pJ) per 64-bit read
    DRAM 1.3-2.6 nJ per 64 bits          -> 1.95 nJ / 64 bit (mid-range) = 30.5 pJ/byte,
                                            not scaled with node (an off-chip interface)

A MAC at operand widths (w, a) = multiplier (product of widths) + adder at the
product width w + a (the partial-product sum); a core's separate ADD action
at the accumulator width is the accumulation into the running sum.

Scaling to other nodes (logic and SRAM energy): Stillmaker & Baas, "Scaling
equations for the accurate prediction of CMOS device performance from 180 nm
to 7 nm", Integration 58 (2017): energy at node X is the quadratic
c2*Vdd^2 + c1*Vdd + c0 of their Table (per-node coefficients below), at each
node's nominal Vdd (45 nm 1.0 V, 32 nm 0.9 V, 20 nm 0.9 V, 16 nm 0.85 V,
14 nm 0.8 V, 10 nm 0.75 V, 7 nm 0.7 V, as used here); the factor is E(X)/E(45).
Between listed nodes the log of the factor is interpolated linearly in the node
(28 nm lies between 32 and 20); below 7 nm (no data) 7 nm's factor is used. This gives 32 nm 0.53, 28 nm 0.38, 16 nm 0.14, 7 nm 0.047.

Small storage (assumptions, stated): a flip-flop/register bit read 1.5 fJ at
45 nm (NanGate 45 nm DFF class switching energy at 50% activity); a LUT entry
read or write 3 fJ/bit (register file plus read mux); a 2-input gate 0.5 fJ/bit;
a popcount of w bits is an adder tree of ~w full adders (w * add per bit);
DEQUANT(b) is one b x 16 multiply (scale) plus a b-bit add; BIT_TRANSPOSE(w)
moves a word through two registers. Leakage: 0.01 W/mm^2 at every node unless
the spec overrides it (`energy: {leakage_w_per_mm2: ...}`).

A peer that prices its PE from synthesis per cycle (bitmod_sim: `pe_energy x PEs x compute
cycles`; Bit Fusion: the array's dynamic energy per cycle) sets `energy: {pe_cycle_j: ...}`:
`hwsim.memory` then books the core's compute energy as `pe` = pe_cycle_j x the core's
`MappingHints.pe_count` x compute cycles, and prices none of its actions.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from lowbit.hwsim.cores.base import Action, ActionKind
from lowbit.kernels_ref.errors import InvalidSpecError

__all__ = [
    "COMPONENT",
    "PJ",
    "EnergyTable",
    "node_energy_factor",
    "sram_area_mm2",
]

PJ = 1e-12
FJ = 1e-15

# Stillmaker & Baas 2017 energy polynomial coefficients (c2, c1, c0) in Vdd, and nominal Vdd.
_SB_ENERGY: dict[int, tuple[float, float, float]] = {
    45: (1.103, -0.362, 0.2767),
    32: (0.9559, -0.7823, 0.471),
    20: (0.373, -0.1582, 0.04104),
    16: (0.2958, -0.1241, 0.03024),
    14: (0.2363, -0.09675, 0.02239),
    10: (0.2068, -0.09311, 0.02375),
    7: (0.1776, -0.09097, 0.02447),
}
_NOMINAL_VDD: dict[int, float] = {45: 1.0, 32: 0.9, 20: 0.9, 16: 0.85, 14: 0.8, 10: 0.75, 7: 0.7}
# Nodes coarser than 45 nm: scale by (node / 45) (dynamic energy ~ C V^2 with C ~ feature size,
# Dennard-era), as stated.

# Component each action's energy is booked under in a LayerCost breakdown.
COMPONENT: dict[ActionKind, str] = {
    ActionKind.MAC_INT: "mac",
    ActionKind.MAC_FP: "mac",
    ActionKind.ADD: "add",
    ActionKind.SHIFT_ADD: "add",
    ActionKind.REG_READ: "reg",
    ActionKind.LUT_READ: "lut",
    ActionKind.LUT_WRITE: "lut",
    ActionKind.XNOR: "logic",
    ActionKind.AND: "logic",
    ActionKind.POPCOUNT: "popcount",
    ActionKind.DEQUANT: "dequant",
    ActionKind.BIT_TRANSPOSE: "transpose",
}


def _sb(node: int) -> float:
    c2, c1, c0 = _SB_ENERGY[node]
    v = _NOMINAL_VDD[node]
    return c2 * v * v + c1 * v + c0


@functools.lru_cache(maxsize=64)
def node_energy_factor(node_nm: float) -> float:
    """Energy of the same logic/SRAM operation at `node_nm` relative to 45 nm (see module doc)."""
    if not node_nm > 0:
        raise InvalidSpecError(f"energy: technology node must be positive, got {node_nm}")
    if node_nm >= 45:
        return float(node_nm) / 45.0
    nodes = sorted(_SB_ENERGY)  # 7 .. 45
    if node_nm < nodes[0]:
        return _sb(nodes[0]) / _sb(45)  # no scaling data below 7 nm: 7 nm's factor (stated)
    base = _sb(45)
    for lo, hi in itertools.pairwise(nodes):
        if lo <= node_nm <= hi:
            flo, fhi = math.log(_sb(lo) / base), math.log(_sb(hi) / base)
            t = (node_nm - lo) / (hi - lo)
            return math.exp(flo + t * (fhi - flo))
    raise InvalidSpecError(f"energy: node {node_nm} nm out of range")  # unreachable for 7..45


def sram_area_mm2(size_bytes: float, node_nm: float) -> float:
    """SRAM macro area: 0.35 um^2 6T cell at 45 nm x 2 for periphery per bit, scaled (node/45)^2."""
    return float(size_bytes) * 8 * 0.35 * 2.0 * (node_nm / 45.0) ** 2 * 1e-6


def _fp_significand(bits: int) -> int:
    """Significand width (incl. hidden bit) assumed for a float operand of `bits` bits."""
    table = {32: 24, 19: 11, 16: 11, 8: 4, 6: 3, 4: 2}
    return table.get(bits, max(2, round(bits * 11 / 16)))


@dataclass(frozen=True)
class EnergyTable:
    """Prices of actions at one technology node (joules). Build with `EnergyTable.for_node`."""

    node_nm: float
    factor: float                      # node_energy_factor(node_nm)
    int_mult8_j: float = 0.2 * PJ      # 8x8 int multiply at 45 nm
    int_add32_j: float = 0.1 * PJ      # 32-bit int add at 45 nm
    fp_mult16_j: float = 1.1 * PJ
    fp_mult32_j: float = 3.7 * PJ
    fp_add16_j: float = 0.4 * PJ
    fp_add32_j: float = 0.9 * PJ
    reg_bit_j: float = 1.5 * FJ
    lut_bit_j: float = 3.0 * FJ
    gate_bit_j: float = 0.5 * FJ
    sram_8k_j_per_byte: float = 10.0 * PJ / 8   # 8 KB, 64-bit read ~ 10 pJ
    sram_write_ratio: float = 1.0
    sram_flat_j_per_byte: float | None = None   # override: the same per-byte price at any size
    dram_j_per_byte: float = 1.95e-9 / 8        # 1.95 nJ per 64 bits
    leakage_w_per_mm2: float = 0.01
    mac_scale_int: float = 1.0
    mac_scale_fp: float = 1.0
    pe_cycle_j: float | None = None    # override: joules per PE per compute cycle (replaces actions)

    @classmethod
    def for_node(cls, node_nm: float, overrides: Any = None, dram_j_per_byte: float | None = None) -> EnergyTable:
        """The table at a node; `overrides` is an `hwsim.spec.EnergyOverrides` (or None)."""
        f = node_energy_factor(float(node_nm))
        kw: dict[str, Any] = {}
        if dram_j_per_byte is not None:
            kw["dram_j_per_byte"] = float(dram_j_per_byte)
        if overrides is not None:
            base = cls(node_nm=float(node_nm), factor=f)
            if overrides.mac_int8_j is not None:
                kw["mac_scale_int"] = overrides.mac_int8_j / max(base._mac_int_raw(8, 8), 1e-30)
            if overrides.mac_fp16_j is not None:
                kw["mac_scale_fp"] = overrides.mac_fp16_j / max(base._mac_fp_raw(16, 16), 1e-30)
            if overrides.sram_j_per_byte is not None:
                kw["sram_flat_j_per_byte"] = overrides.sram_j_per_byte
            if overrides.pe_cycle_j is not None:
                kw["pe_cycle_j"] = float(overrides.pe_cycle_j)
            if overrides.leakage_w_per_mm2 is not None:
                kw["leakage_w_per_mm2"] = overrides.leakage_w_per_mm2
        return cls(node_nm=float(node_nm), factor=f, **kw)

    # ------------------------------------------------------------ primitives (joules, at node)
    def add_j(self, bits: float) -> float:
        return self.int_add32_j * bits / 32.0 * self.factor

    def int_mult_j(self, w_bits: float, a_bits: float) -> float:
        return self.int_mult8_j * (w_bits * a_bits) / 64.0 * self.factor

    def fp_mult_j(self, w_bits: int, a_bits: int) -> float:
        s16, s32 = 11 * 11, 24 * 24
        slope = (self.fp_mult32_j - self.fp_mult16_j) / (s32 - s16)
        icpt = self.fp_mult16_j - slope * s16
        return max(icpt + slope * _fp_significand(w_bits) * _fp_significand(a_bits), 0.0) * self.factor

    def fp_add_j(self, bits: float) -> float:
        slope = (self.fp_add32_j - self.fp_add16_j) / 16.0
        return max(self.fp_add16_j + slope * (bits - 16), 0.05 * PJ) * self.factor

    def _mac_int_raw(self, w: int, a: int) -> float:
        return self.int_mult_j(w, a) + self.add_j(w + a)

    def _mac_fp_raw(self, w: int, a: int) -> float:
        return self.fp_mult_j(w, a) + self.fp_add_j(max(w, a))

    def mac_j(self, w_bits: int, a_bits: int, fp: bool = False) -> float:
        """One multiply-accumulate at these operand widths (see module doc)."""
        if fp:
            return self._mac_fp_raw(w_bits, a_bits) * self.mac_scale_fp
        return self._mac_int_raw(w_bits, a_bits) * self.mac_scale_int

    def sram_j_per_byte(self, bank_bytes: float, write: bool = False) -> float:
        """Read (or write) energy per byte of an SRAM bank of `bank_bytes` (square-root fit)."""
        if self.sram_flat_j_per_byte is not None:
            e = self.sram_flat_j_per_byte
        else:
            e = self.sram_8k_j_per_byte * math.sqrt(max(float(bank_bytes), 64.0) / 8192.0) * self.factor
        return e * (self.sram_write_ratio if write else 1.0)

    def leakage_j(self, area_mm2: float, seconds: Any) -> Any:
        return self.leakage_w_per_mm2 * area_mm2 * seconds

    # ------------------------------------------------------------ actions
    def price(self, action: Action) -> float:
        """Joules of one action; InvalidSpecError for an unknown kind or malformed widths."""
        k, b = action.kind, action.bits
        need = 2 if k in (ActionKind.MAC_INT, ActionKind.MAC_FP) else 1
        if len(b) < need or any(x <= 0 for x in b[:need]):
            raise InvalidSpecError(f"energy: action {action} needs {need} positive width(s)")
        if k is ActionKind.MAC_INT:
            return self.mac_j(b[0], b[1])
        if k is ActionKind.MAC_FP:
            return self.mac_j(b[0], b[1], fp=True)
        if k in (ActionKind.ADD, ActionKind.SHIFT_ADD):
            return self.add_j(b[0])
        if k is ActionKind.REG_READ:
            return self.reg_bit_j * b[0] * self.factor
        if k in (ActionKind.LUT_READ, ActionKind.LUT_WRITE):
            return self.lut_bit_j * b[0] * self.factor
        if k in (ActionKind.XNOR, ActionKind.AND):
            return self.gate_bit_j * b[0] * self.factor
        if k is ActionKind.POPCOUNT:
            return self.add_j(1) * b[0]
        if k is ActionKind.DEQUANT:
            return self.int_mult_j(b[0], 16) + self.add_j(b[0])
        if k is ActionKind.BIT_TRANSPOSE:
            return 2 * self.reg_bit_j * b[0] * self.factor
        raise InvalidSpecError(f"energy: no price for action kind {k!r}")

    def price_all(self, actions: Mapping[Action, Any]) -> Any:
        """Total joules of action counts (counts may be numpy arrays: the result broadcasts)."""
        total: Any = 0.0
        for a, n in actions.items():
            total = total + self.price(a) * np.asarray(n, dtype=np.float64)
        return total

    def breakdown(self, actions: Mapping[Action, Any]) -> dict[str, Any]:
        """Joules per component (`COMPONENT`) of action counts."""
        out: dict[str, Any] = {}
        for a, n in actions.items():
            comp = COMPONENT.get(a.kind)
            if comp is None:
                raise InvalidSpecError(f"energy: no component for action kind {a.kind!r}")
            out[comp] = out.get(comp, 0.0) + self.price(a) * np.asarray(n, dtype=np.float64)
        return out
