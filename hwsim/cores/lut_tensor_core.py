"""LUT Tensor Core (Mo et al., ISCA 2025): table-lookup mixed-precision GEMM units.

A unit of tile shape M x N x K (e.g. the elongated M2 N64 K4) holds, for each of
its M activation rows, one table of the 2^(K-1) signed partial sums of K
activations (table symmetrisation: weight bits {0,1} read as {-1,+1}, the other
half of the 2^K entries is the negation). Each cycle it reads M*N table entries
indexed by the K-bit weight-plane slices of its N columns and accumulates them;
weights are processed one bit-plane per pass (bit-serial, the accumulator shifts),
so a b-bit weight takes b passes. One table row serves all N columns (table reuse
across N). Cycle model for one core (an SM-like cluster of `units` units), per
GEMM (m x k)(k x n), P weight planes (1 binary, 2 ternary, b for INT/UINT b):

    tables    = m * ceil(k / K)                      one per row per K-group
    build     = ceil(tables / adders) * adds_per_table        (each adder owns one
                table: K-1 adds for the first entry, then one add per further entry in
                Gray-code order, 2^(K-1) - 1 of them, each +-2x_j of the previous)
    unfused   = launch_cycles + max(build, (act bytes + table bytes) / precompute_bytes_per_cycle)
                (precompute as its own kernel: activations read, tables written)
    fused     = build            (adds run in the previous operator's epilogue, whose
                output is the tables instead of the activations: no launch, no extra pass)
    lookups   = ceil(P * ceil(m/M) * ceil(n/N) * ceil(k/K) / units)   tile operations
                + pipeline_depth    (lookup-to-accumulate fill, once per GEMM with lookups;
                                     0 by default, 1 for our RTL tile `rtl_src/lut_tc.sv`)
    cycles    = lookups                 fused: the build is the previous operator's time
                                        (`precompute_cycles` / `Model.split_cycles` give it,
                                        for overhead accounting); the tables arrive as input
              = unfused + lookups       unfused: this call runs the precompute kernel too
                                        (charged per call: an upper bound when a mapper
                                        prices a layer tile by tile)

Tables are INT8 (`table_bits`) for integer activations (LUT Tensor Core quantises
tables to INT8) and `fp_table_bits` wide for FP16/BF16 activations. The final
offset correction (sum_k x_k times the planes' coefficients, read from the all-ones
entry) is one add per output, done in the accumulator as the last pass.
Actions: LUT_READ per lookup, ADD per table-build add, SHIFT_ADD per accumulate,
LUT_WRITE per stored table entry, DEQUANT per output and weight group (scales).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from lowbit.hwsim.cores.base import (
    Action,
    ActionKind,
    CoreFamily,
    Dataflow,
    MappingHints,
    PairMemo,
    TileCompute,
    array_dims_of,
    require_no_k_segment,
)
from lowbit.kernels_ref.errors import InvalidSpecError, UnsupportedFormatError
from lowbit.kernels_ref.formats import Format, FormatKind, Granularity

__all__ = [
    "Model",
    "Spec",
    "adds_per_table",
    "precompute_cycles",
    "table_bits_for",
    "weight_planes",
]


def weight_planes(fmt: Format) -> int:
    """One-bit weight planes the bit-serial LUT unit runs for a weight format (DB-LLM's
    dual binarisation: its two {0,1} planes, each with its own scale per group)."""
    if fmt.kind is FormatKind.BINARY:
        return 1
    if fmt.kind in (FormatKind.TERNARY, FormatKind.DUAL_BINARY):
        return 2
    if fmt.kind in (FormatKind.INT, FormatKind.UINT) and fmt.bits <= 8:
        return fmt.bits
    raise UnsupportedFormatError(
        f"LUT tensor core takes binary, ternary, dbllm or int/uint 1-8 weights, not {fmt}")


def table_bits_for(spec: Spec, a: Format) -> int:
    """Table entry width for an activation format (INT tables for int acts, FP for float)."""
    if a.kind in (FormatKind.INT, FormatKind.UINT) and a.bits <= 8:
        return spec.table_bits
    if a.kind is FormatKind.FP and a.bits <= 16:
        return spec.fp_table_bits
    raise UnsupportedFormatError(
        f"LUT tensor core builds tables from int/uint <= 8-bit or fp <= 16-bit activations, not {a}")


def adds_per_table(tile_k: int) -> int:
    """Adds to build one symmetrised table of 2^(K-1) entries (see module docstring)."""
    return (tile_k - 1) + ((1 << (tile_k - 1)) - 1)


def _ceil(a: Any, b: Any) -> Any:
    return -(-np.asarray(a, dtype=np.int64) // np.asarray(b, dtype=np.int64))


@dataclass(frozen=True)
class Spec:
    """LUT Tensor Core cluster. Defaults: the chosen M2 N64 K4 unit (array M*N*K = 512
    like an A100 INT8 tensor core's 8x4x16), INT8 tables, 4 units per cluster."""

    tile_m: int = 2                      # activation rows (tables) per unit
    tile_n: int = 64                     # weight columns sharing one table row
    tile_k: int = 4                      # activations per table (2^(K-1) entries)
    units: int = 4                       # LUT units per cluster (core)
    table_bits: int = 8                  # table entry width for integer activations
    fp_table_bits: int = 16              # table entry width for fp16/bf16 activations
    fused_precompute: bool = True        # tables built in the previous operator's epilogue
    precompute_adders: int = 64          # table-build adders (the cluster's int/fp ALU lanes)
    precompute_bytes_per_cycle: float = 16.0  # the cluster's share of DRAM bw for an unfused pass
    launch_cycles: int = 0               # fixed cost of launching an unfused precompute kernel
    accumulator_bits: int = 32           # shift-add accumulator width
    pipeline_depth: int = 0              # cycles from a unit's last lookup to its last accumulate
    mac_int8_macs_per_cycle: int = 0     # side MMA path for int <= 8 x int <= 8 (0: none)
    mac_fp16_macs_per_cycle: int = 0     # side MMA path for fp16 operands (0: none)
    unit_area_mm2: float = 0.0           # one unit at 45 nm; 0 -> gate-count estimate (area_mm2)

    def __post_init__(self) -> None:
        for key in ("tile_m", "tile_n", "tile_k", "units", "table_bits", "fp_table_bits",
                    "precompute_adders", "accumulator_bits"):
            v = getattr(self, key)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise InvalidSpecError(f"lut_tensor_core: {key} must be a positive integer, got {v!r}")
        if self.tile_k > 8:
            raise InvalidSpecError(f"lut_tensor_core: tile_k (table group) must be <= 8, got {self.tile_k}")
        for key in ("mac_int8_macs_per_cycle", "mac_fp16_macs_per_cycle"):
            v = getattr(self, key)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise InvalidSpecError(f"lut_tensor_core: {key} must be an integer >= 0, got {v!r}")
        if not isinstance(self.pipeline_depth, int) or isinstance(self.pipeline_depth, bool) \
                or self.pipeline_depth < 0:
            raise InvalidSpecError(f"lut_tensor_core: pipeline_depth must be an integer >= 0, "
                                   f"got {self.pipeline_depth!r}")
        if not isinstance(self.launch_cycles, int) or isinstance(self.launch_cycles, bool) or self.launch_cycles < 0:
            raise InvalidSpecError(f"lut_tensor_core: launch_cycles must be an integer >= 0, got {self.launch_cycles!r}")
        if not isinstance(self.fused_precompute, bool):
            raise InvalidSpecError(f"lut_tensor_core: fused_precompute must be true/false, got {self.fused_precompute!r}")
        if not self.precompute_bytes_per_cycle > 0:
            raise InvalidSpecError("lut_tensor_core: precompute_bytes_per_cycle must be > 0, "
                                   f"got {self.precompute_bytes_per_cycle}")
        if self.unit_area_mm2 < 0:
            raise InvalidSpecError(f"lut_tensor_core: unit_area_mm2 must be >= 0, got {self.unit_area_mm2}")

    @property
    def table_entries(self) -> int:
        return 1 << (self.tile_k - 1)

    def table_storage_bits(self, table_bits: int | None = None) -> int:
        """Table storage of one unit: M * 2^(K-1) * table bits."""
        return self.tile_m * self.table_entries * (table_bits or self.table_bits)


def precompute_cycles(spec: Spec, m: Any, k: Any, a: Format, fused: bool | None = None) -> Any:
    """Table-precompute cycles for m rows of k activations (fused or unfused; see docstring)."""
    fused = spec.fused_precompute if fused is None else fused
    tbits = table_bits_for(spec, a)
    tables = np.asarray(m, dtype=np.int64) * _ceil(k, spec.tile_k)
    build = _ceil(tables, spec.precompute_adders) * adds_per_table(spec.tile_k)
    if fused:
        return build
    act_bytes = np.asarray(m, dtype=np.int64) * np.asarray(k, dtype=np.int64) * _ceil(a.bits, 8)
    table_bytes = tables * spec.table_entries * tbits // 8
    mem = np.ceil((act_bytes + table_bytes) / spec.precompute_bytes_per_cycle).astype(np.int64)
    return spec.launch_cycles + np.maximum(build, mem)


class Model:
    """CoreModel for `Spec` (see module docstring for the cycle equations)."""

    family: ClassVar[CoreFamily] = CoreFamily.LUT_TENSOR_CORE

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self._plans = PairMemo()  # (w, a) -> what compute derives from the formats (`_plan`)
        self._hints: MappingHints | None = None

    @property
    def dataflows(self) -> tuple[Dataflow, ...]:
        return (Dataflow.NONE,)

    def mapping_hints(self, layer: Any = None) -> MappingHints:
        """Array dims tile_m, tile_n, tile_k; row split: tables are per row, so an N split
        would rebuild every row's tables on every cluster (mapper.tiling.search)."""
        if self._hints is None:  # the layer does not enter: one value per (frozen) spec
            s = self.spec
            self._hints = MappingHints(array_dims=array_dims_of(s.tile_m, s.tile_n, s.tile_k), row_split=True,
                                       accumulator_bits=s.accumulator_bits)
        return self._hints

    def lookup_ops(self, m: Any, k: Any, n: Any, w: Format, batch: Any = 1) -> Any:
        """Tile operations (one per unit per cycle) of `batch` GEMMs."""
        s = self.spec
        return (weight_planes(w) * np.asarray(batch, dtype=np.int64)
                * _ceil(m, s.tile_m) * _ceil(n, s.tile_n) * _ceil(k, s.tile_k))

    def split_cycles(self, m: Any, k: Any, n: Any, w: Format, a: Format,
                     batch: Any = 1, fused: bool | None = None) -> tuple[Any, Any]:
        """(precompute cycles, lookup cycles) of `batch` GEMMs."""
        s = self.spec
        b = np.asarray(batch, dtype=np.int64)
        pre = b * precompute_cycles(s, m, k, a, fused)
        ops = self.lookup_ops(m, k, n, w, batch)
        look = _ceil(ops, s.units)
        if s.pipeline_depth:
            look = look + np.where(ops > 0, s.pipeline_depth, 0)
        return pre, look

    def mac_rate(self, w: Format, a: Format) -> int:
        """MACs per cycle of the side MMA path for (w, a); 0 when it cannot run them."""
        s = self.spec
        ints = (FormatKind.INT, FormatKind.UINT, FormatKind.BINARY, FormatKind.TERNARY)
        if w.kind in ints and a.kind in ints and w.bits <= 8 and a.bits <= 8:
            return s.mac_int8_macs_per_cycle
        ok = all((f.kind in ints and f.bits <= 8) or (f.kind is FormatKind.FP and f.bits <= 16) for f in (w, a))
        return s.mac_fp16_macs_per_cycle if ok else 0

    def _lut_ok(self, w: Format, a: Format) -> bool:
        try:
            weight_planes(w)
            table_bits_for(self.spec, a)
        except UnsupportedFormatError:
            return False
        return True

    def compute(self, m: Any, k: Any, n: Any, w: Format, a: Format,
                dataflow: Dataflow = Dataflow.NONE, batch: Any = 1,
                k_segment: Any = None) -> TileCompute:
        """LUT cycles and actions; a GEMM the side MMA path (if any) finishes sooner runs there
        (e.g. activation x activation attention GEMMs, or fp16 x fp16 ones the LUT cannot take)."""
        require_no_k_segment("lut_tensor_core", k_segment)
        if dataflow is not Dataflow.NONE:
            raise InvalidSpecError(f"lut_tensor_core has no dataflow choice, got {dataflow.value!r}")
        if all(type(v) is int or isinstance(v, np.integer) for v in (m, k, n, batch)) \
                and min(m, k, n, batch) >= 0:
            return self._compute_int(int(m), int(k), int(n), w, a, int(batch))
        rate = self.mac_rate(w, a)
        lut_ok = self._lut_ok(w, a)
        if not lut_ok and not rate:
            weight_planes(w)
            table_bits_for(self.spec, a)
        m, k, n, batch = (np.asarray(v, dtype=np.int64) for v in (m, k, n, batch))
        macs = batch * m * k * n
        mac_cycles = _ceil(macs, rate) if rate else None
        if not lut_ok:
            fp = w.kind is FormatKind.FP or a.kind is FormatKind.FP
            act = Action(ActionKind.MAC_FP if fp else ActionKind.MAC_INT, (16, 16) if fp else (8, 8))
            return TileCompute(cycles=_scalar(mac_cycles), actions={act: _scalar(macs)},
                               ran_as=f"side MMA path ({'fp16' if fp else 'int8'}): LUT units cannot take {w} x {a}")
        lut = self._lut_compute(m, k, n, w, a, batch)
        if mac_cycles is None:
            return lut
        use_mac = mac_cycles < np.asarray(lut.cycles)
        if not np.any(use_mac):
            return lut
        fp = w.kind is FormatKind.FP or a.kind is FormatKind.FP
        act = Action(ActionKind.MAC_FP if fp else ActionKind.MAC_INT, (16, 16) if fp else (8, 8))
        actions = {key: _scalar(np.where(use_mac, 0, v)) for key, v in lut.actions.items()}
        actions[act] = _scalar(np.where(use_mac, macs, 0))
        ran = (f"side MMA path ({'fp16' if fp else 'int8'}, faster than {lut.ran_as})" if np.all(use_mac)
               else lut.ran_as + "; side MMA path where faster")
        return TileCompute(cycles=_scalar(np.where(use_mac, mac_cycles, lut.cycles)), actions=actions, ran_as=ran)

    def _plan(self, w: Format, a: Format) -> tuple[Any, ...]:
        """What `compute` derives from the formats alone (side-path rate, whether the LUT takes
        them, planes, table bits, action keys, ran_as), memoised per model instance (`PairMemo`;
        the spec is frozen). Formats neither path takes raise here, every call."""
        hit = self._plans.get(w, a)
        if hit is None:
            s = self.spec
            rate = self.mac_rate(w, a)
            lut_ok = self._lut_ok(w, a)
            if not lut_ok and not rate:
                weight_planes(w)
                table_bits_for(s, a)
            fp = w.kind is FormatKind.FP or a.kind is FormatKind.FP
            mac = Action(ActionKind.MAC_FP if fp else ActionKind.MAC_INT, (16, 16) if fp else (8, 8))
            planes = tbits = 0
            keys: tuple[Action, ...] = ()
            ran = ""
            if lut_ok:
                planes, tbits = weight_planes(w), table_bits_for(s, a)
                keys = (Action(ActionKind.LUT_READ, (tbits,)), Action(ActionKind.SHIFT_ADD, (s.accumulator_bits,)),
                        Action(ActionKind.LUT_WRITE, (tbits,)), Action(ActionKind.ADD, (tbits,)),
                        Action(ActionKind.ADD, (s.accumulator_bits,)), Action(ActionKind.DEQUANT, (s.accumulator_bits,)))
                ran = (f"{planes} weight plane(s) x {'fp' if a.kind is FormatKind.FP else 'int'}{tbits} tables, "
                       f"{'fused' if s.fused_precompute else 'unfused'} precompute")
            hit = (rate, lut_ok, fp, mac, planes, tbits, keys, ran,
                   w.group_size if w.granularity is Granularity.GROUP and w.group_size else 0)
            self._plans.put(w, a, hit)
        return hit

    def _compute_int(self, m: int, k: int, n: int, w: Format, a: Format, batch: int) -> TileCompute:
        """`compute` on non-negative plain ints (the mapper's whole-GEMM calls): the same formulas
        in Python arithmetic (IEEE doubles where numpy divides; equal results: tests)."""
        s = self.spec
        rate, lut_ok, fp, mac, planes, tbits, keys, ran, group = self._plan(w, a)
        macs = batch * m * k * n
        mac_cycles = -(-macs // rate) if rate else None
        if not lut_ok:
            return TileCompute(cycles=mac_cycles, actions={mac: macs},
                               ran_as=f"side MMA path ({'fp16' if fp else 'int8'}): LUT units cannot take {w} x {a}")
        k_tiles = -(-k // s.tile_k)
        tables = m * k_tiles  # precompute_cycles
        build = -(-tables // s.precompute_adders) * adds_per_table(s.tile_k)
        if s.fused_precompute:
            pre = batch * build
        else:
            act_bytes = m * k * -(-a.bits // 8)
            table_bytes = tables * s.table_entries * tbits // 8
            mem = math.ceil((act_bytes + table_bytes) / s.precompute_bytes_per_cycle)
            pre = batch * (s.launch_cycles + max(build, mem))
        ops = planes * batch * -(-m // s.tile_m) * -(-n // s.tile_n) * k_tiles
        look = -(-ops // s.units)
        if s.pipeline_depth:
            look = look + (s.pipeline_depth if ops > 0 else 0)
        lanes = ops * s.tile_m * s.tile_n
        tables_b = batch * tables
        outputs = batch * m * n
        counts = [lanes, lanes, tables_b * s.table_entries, tables_b * adds_per_table(s.tile_k), outputs]
        actions: dict[Action, Any] = {}
        for act, cnt in zip(keys, counts):  # equal widths share one key
            actions[act] = actions.get(act, 0) + cnt
        if group:
            actions[keys[5]] = actions.get(keys[5], 0) + outputs * -(-k // group)
        cycles = look if s.fused_precompute else pre + look
        if mac_cycles is None or not mac_cycles < cycles:
            return TileCompute(cycles=cycles, actions=actions, ran_as=ran)
        actions = dict.fromkeys(actions, 0)
        actions[mac] = macs
        return TileCompute(cycles=mac_cycles, actions=actions,
                           ran_as=f"side MMA path ({'fp16' if fp else 'int8'}, faster than {ran})")

    def _lut_compute(self, m: Any, k: Any, n: Any, w: Format, a: Format, batch: Any) -> TileCompute:
        s = self.spec
        planes = weight_planes(w)
        tbits = table_bits_for(s, a)
        pre, look = self.split_cycles(m, k, n, w, a, batch)
        ops = self.lookup_ops(m, k, n, w, batch)
        lanes = ops * s.tile_m * s.tile_n                # table reads
        tables = batch * m * _ceil(k, s.tile_k)
        outputs = batch * m * n
        counts = [
            (Action(ActionKind.LUT_READ, (tbits,)), lanes),
            (Action(ActionKind.SHIFT_ADD, (s.accumulator_bits,)), lanes),
            (Action(ActionKind.LUT_WRITE, (tbits,)), tables * s.table_entries),
            (Action(ActionKind.ADD, (tbits,)), tables * adds_per_table(s.tile_k)),
            (Action(ActionKind.ADD, (s.accumulator_bits,)), outputs),  # offset correction
        ]
        if w.granularity is Granularity.GROUP and w.group_size:
            counts.append((Action(ActionKind.DEQUANT, (s.accumulator_bits,)), outputs * _ceil(k, w.group_size)))
        actions: dict[Action, Any] = {}
        for act, cnt in counts:  # equal widths share one key
            actions[act] = actions.get(act, 0) + cnt
        ran = (f"{planes} weight plane(s) x {'fp' if a.kind is FormatKind.FP else 'int'}{tbits} tables, "
               f"{'fused' if s.fused_precompute else 'unfused'} precompute")
        cycles = look if s.fused_precompute else pre + look  # fused: built by the previous operator
        return TileCompute(cycles=_scalar(cycles), actions={k_: _scalar(v) for k_, v in actions.items()},
                           ran_as=ran)

    def peak_macs_per_cycle(self, w: Format, a: Format) -> float:
        s = self.spec
        rate = float(self.mac_rate(w, a))
        if not self._lut_ok(w, a):
            if rate:
                return rate
            weight_planes(w)
            table_bits_for(s, a)
        return max(rate, s.units * s.tile_m * s.tile_n * s.tile_k / weight_planes(w))

    def area_mm2(self, node_nm: float) -> float:
        """Area of the cluster's LUT units.

        `unit_area_mm2` (given at 45 nm) scaled by (node/45)^2; with 0, each unit is M*N lookup lanes, each a 2^(K-1):1 mux of
        table-bit entries (about 2^(K-1) - 1 two-input muxes per table bit, 0.5 NAND2
        each), a negation (table bits XORs) and an accumulator adder (accumulator bits
        full adders, 4.5 NAND2 each), plus M tables of 2^(K-1) x table-bit flip-flops
        (5 NAND2 each); a NAND2 is ~0.8 um^2 at 45 nm, scaled by (node/45)^2.
        """
        s = self.spec
        if s.unit_area_mm2 > 0:
            return s.units * s.unit_area_mm2 * (node_nm / 45.0) ** 2
        e, tb = s.table_entries, s.table_bits
        lane = (e - 1) * tb * 0.5 + tb * 1.0 + s.accumulator_bits * 4.5
        tables = s.tile_m * e * tb * 5.0
        nand2 = s.tile_m * s.tile_n * lane + tables
        return s.units * nand2 * 0.8 * (node_nm / 45.0) ** 2 * 1e-6


def _scalar(v: Any) -> Any:
    arr = np.asarray(v)
    return int(arr) if arr.ndim == 0 else arr
