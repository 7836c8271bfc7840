"""Bit-parallel MAC arrays: systolic R x C arrays (TPU / SCALE-Sim style) and tensor cores.

GEMM view: (M x K) . (K x N), repeated `batch` times (M = output pixels / tokens,
K = reduction / conv window, N = filters / output features).

Systolic style (`style: systolic`), R = `rows`, C = `cols`. Per fold (one
mapping of the array) and number of folds, exactly SCALE-Sim 3.0's compute
convention (SCALE-Sim `compute/systolic_compute_{os,ws,is}.py`; FIDELITY.md):

    dataflow  per-fold cycles     T    folds                    array rows/cols hold
    os        T + R + C - 2       K    ceil(M/R) * ceil(N/C)    rows: M, cols: N
    ws        2R + C + T - 2      M    ceil(K/R) * ceil(N/C)    rows: K, cols: N
    is        2R + C + T - 2      N    ceil(K/R) * ceil(M/C)    rows: K, cols: M

Full R and C are charged even for a partial fold (the skew and the drain cross the
whole array). Where the per-fold count comes from (`hwsim.cyclesim.systolic`
moves the values and reproduces it): OS streams T operand pairs skewed by row and
column, so the last MAC of PE(R-1, C-1) happens in cycle T-1 + R-1 + C-1; WS/IS
first shift the stationary operand down the R rows (R cycles), then stream T
skewed rows whose partial sums run down the R rows, the last leaving column C-1 in
cycle R + (T-1) + (R-1) + (C-1). Folds do not overlap. Cycles of `batch` GEMMs:

    cycles = batch * folds * per_fold * slow          (- 1 when scalesim_mode)

SCALE-Sim reports the index of the last busy cycle (0-based), hence its "-1"
(applied to the whole call; a caller summing tiles in SCALE-Sim mode should
evaluate the whole layer in one call). `slow` is 1/rate for a precision slower
than the base rate (each wavefront step takes that many cycles); a faster
precision (rate r > 1, e.g. int4 at 2x) packs r products into one PE along K,
so K becomes ceil(K / r) in the table above.

Tensor-core style (`style: tensor_core`): `units` units each do a
tile_m x tile_n x tile_k MMA per cycle at rate 1 (tile_k * r at rate r > 1):

    cycles = ceil(batch * ceil(M/tile_m) * ceil(N/tile_n) / units) * ceil(K/(tile_k*r)) * slow

Precision: `precisions` lists the modes the datapath has (format names, e.g.
int8, int4, fp16, bf16) and `rates` their relative MACs per cycle. A (weight,
activation) pair runs in the fastest listed mode that holds both operands exactly
(int b in int p >= b or in a float with a p_mant+1 >= b-1 bit significand; float
ExMy in a float with at least as many exponent and mantissa bits; NF/BitMoD
codebook weights are decoded into a >= 16-bit float mode); `TileCompute.ran_as`
says when that mode is not the pair's own; no mode holds them ->
UnsupportedFormatError.

Actions (count, then cost), all per useful MAC (idle PEs of a partial fold are
not charged; they are clock-gated):
    MAC_INT / MAC_FP (p, p)      at the executed mode's width p
    REG_READ(p) x 2              the two operands read from the PE's (forwarding) registers
    REG_READ(accumulator_bits)   the partial sum forwarded between PEs (ws, is, tensor core)
    ADD(accumulator_bits)        the accumulation
    DEQUANT(accumulator_bits)    batch * M * N * ceil(K/g) for group-quantised weights
                                 (per-group rescale of partial sums; overlapped, no cycles)
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass
from functools import cached_property
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
    "PLAN_CACHE_SIZE",
    "CoreStyle",
    "Model",
    "Spec",
    "clear_cache",
    "holds",
    "pe_area_um2_45nm",
    "systolic_fold_cycles",
    "systolic_folds",
]

PLAN_CACHE_SIZE = 1024  # format plans shared by specs of equal datapath modes (`_shared_plan`)

_SYSTOLIC_DATAFLOWS = (Dataflow.WEIGHT_STATIONARY, Dataflow.OUTPUT_STATIONARY, Dataflow.INPUT_STATIONARY)

# Horowitz, "Computing's energy problem", ISSCC 2014, area at 45 nm (um^2):
# 8b int mult 282, 32b int mult 3495, 8b add 36, 32b add 137, 16b fp mult 1640,
# 32b fp mult 7700, 16b fp add 1360, 32b fp add 4184.
_INT_MULT8_UM2 = 282.0
_ADD32_UM2 = 137.0
_FP16_MULT_UM2 = 1640.0
_FP32_MULT_UM2 = 7700.0
_FP16_ADD_UM2 = 1360.0
# Pipeline / forwarding registers: ~4.5 um^2 per flip-flop at 45 nm (~6 NAND2 equivalents
# of 0.8 um^2, NanGate 45 nm DFF_X1 is 4.52 um^2).
_FF_UM2 = 4.52


class CoreStyle(enum.Enum):
    SYSTOLIC = "systolic"
    TENSOR_CORE = "tensor_core"


@dataclass(frozen=True)
class Spec:
    """A bit-parallel MAC array. Defaults: SCALE-Sim 3.0's default 32 x 32 int8 array."""

    style: CoreStyle = CoreStyle.SYSTOLIC  # systolic R x C array, or tensor-core MMA units
    rows: int = 32  # systolic: PE rows R (os: M, ws/is: K spreads over them)
    cols: int = 32  # systolic: PE columns C (os/ws: N, is: M spreads over them)
    tile_m: int = 8  # tensor_core: M of one unit's MMA per cycle
    tile_n: int = 4  # tensor_core: N of one unit's MMA per cycle
    tile_k: int = 16  # tensor_core: K of one unit's MMA per cycle (x rate for faster modes)
    units: int = 1  # tensor_core: MMA units per core, each a tile_m x tile_n x tile_k MMA/cycle
    dataflows: tuple[Dataflow, ...] = _SYSTOLIC_DATAFLOWS  # the mapper picks one; [none]: tensor_core
    precisions: tuple[str, ...] = ("int8",)  # datapath modes (int8, int4, fp16, bf16, ...)
    rates: tuple[float, ...] = (1.0,)  # MACs per PE per cycle of each precision, relative
    accumulator_bits: int = 32  # partial-sum width (forwarded, added, spilled)
    scalesim_mode: bool = False  # report SCALE-Sim's last-busy-cycle index (cycles - 1)
    pe_area_um2: float = 0.0  # 0 -> estimated from Horowitz's 45 nm areas (pe_area_um2_45nm)

    def __post_init__(self) -> None:
        if not isinstance(self.style, CoreStyle):
            raise InvalidSpecError(f"mac_array: style must be systolic or tensor_core, got {self.style!r}")
        for key in ("rows", "cols", "tile_m", "tile_n", "tile_k", "units", "accumulator_bits"):
            v = getattr(self, key)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise InvalidSpecError(f"mac_array: {key} must be a positive integer, got {v!r}")
        if not isinstance(self.dataflows, tuple) or not self.dataflows:
            raise InvalidSpecError(f"mac_array: dataflows must be a non-empty tuple, got {self.dataflows!r}")
        for df in self.dataflows:
            if not isinstance(df, Dataflow):
                raise InvalidSpecError(f"mac_array: unknown dataflow {df!r}")
        if len(set(self.dataflows)) != len(self.dataflows):
            raise InvalidSpecError(f"mac_array: dataflows repeat: {[d.value for d in self.dataflows]}")
        if self.style is CoreStyle.SYSTOLIC:
            bad = [d.value for d in self.dataflows if d not in _SYSTOLIC_DATAFLOWS]
            if bad:
                raise InvalidSpecError(f"mac_array: a systolic array runs ws/os/is, not {bad}")
        elif self.dataflows != (Dataflow.NONE,):
            raise InvalidSpecError("mac_array: a tensor_core has no dataflow choice; set dataflows: [none]")
        if self.scalesim_mode and self.style is not CoreStyle.SYSTOLIC:
            raise InvalidSpecError("mac_array: scalesim_mode needs style systolic")
        if not isinstance(self.precisions, tuple) or not self.precisions:
            raise InvalidSpecError(f"mac_array: precisions must be a non-empty tuple, got {self.precisions!r}")
        if not isinstance(self.rates, tuple) or len(self.rates) != len(self.precisions):
            raise InvalidSpecError(
                f"mac_array: rates needs one entry per precision ({len(self.precisions)}), got {self.rates!r}")
        for name in self.precisions:
            try:
                fmt = Format.parse(name)
            except UnsupportedFormatError as exc:
                raise InvalidSpecError(f"mac_array: precisions: {exc}") from None
            if fmt.kind not in (FormatKind.INT, FormatKind.UINT, FormatKind.FP):
                raise InvalidSpecError(f"mac_array: precision {name!r} is not an int, uint or float mode")
            if str(fmt) != _base(fmt):
                raise InvalidSpecError(
                    f"mac_array: precision {name!r} must be a plain element type such as {_base(fmt)!r}")
        if len({_base(Format.parse(p)) for p in self.precisions}) != len(self.precisions):
            raise InvalidSpecError(f"mac_array: precisions repeat: {self.precisions}")
        for name, r in zip(self.precisions, self.rates):
            if isinstance(r, bool) or not isinstance(r, (int, float)) or not 1 / 1024 <= r <= 1024:
                raise InvalidSpecError(f"mac_array: rate of {name} must be a number in [1/1024, 1024], got {r!r}")
            if not (_is_whole(r) or _is_whole(1.0 / r)):
                raise InvalidSpecError(
                    f"mac_array: rate of {name} must be a whole number or 1/whole number, got {r}")
        if isinstance(self.pe_area_um2, bool) or not isinstance(self.pe_area_um2, (int, float)) \
                or self.pe_area_um2 < 0:
            raise InvalidSpecError(f"mac_array: pe_area_um2 must be >= 0, got {self.pe_area_um2!r}")

    @cached_property
    def modes(self) -> tuple[tuple[Format, float], ...]:
        """(mode format, rate), fastest first; ties: narrower first, then listed order."""
        return _modes(self.precisions, self.rates)


@functools.lru_cache(maxsize=PLAN_CACHE_SIZE)
def _modes(precisions: tuple[str, ...], rates: tuple[float, ...]) -> tuple[tuple[Format, float], ...]:
    """`Spec.modes` of these precisions and rates (frozen values; bounded)."""
    parsed = [(Format.parse(p), float(r), i) for i, (p, r) in enumerate(zip(precisions, rates))]
    parsed.sort(key=lambda t: (-t[1], t[0].bits, t[2]))
    return tuple((f, r) for f, r, _ in parsed)


def clear_cache() -> None:
    """Drop the format plans and datapath modes shared across specs (`_shared_plan`, `_modes`)."""
    _shared_plan.cache_clear()
    _modes.cache_clear()


def _is_whole(x: float) -> bool:
    return abs(x - round(x)) < 1e-9 and round(x) >= 1


def holds(mode: Format, fmt: Format) -> bool:
    """Whether a datapath mode represents every value of operand format `fmt` exactly."""
    k = fmt.kind
    if mode.kind is FormatKind.INT:
        if k is FormatKind.INT:
            return fmt.bits <= mode.bits
        if k is FormatKind.UINT:
            return fmt.bits + 1 <= mode.bits
        return k in (FormatKind.BINARY, FormatKind.TERNARY) and mode.bits >= 2
    if mode.kind is FormatKind.UINT:
        return k is FormatKind.UINT and fmt.bits <= mode.bits
    if mode.kind is FormatKind.FP:
        sig = mode.man_bits + 1  # significand bits incl. the hidden one: integers up to 2^sig exact
        if k is FormatKind.FP:
            return fmt.exp_bits <= mode.exp_bits and fmt.man_bits <= mode.man_bits
        if k is FormatKind.INT:
            return fmt.bits - 1 <= sig
        if k is FormatKind.UINT:
            return fmt.bits <= sig
        if k in (FormatKind.BINARY, FormatKind.TERNARY):
            return True
        if k in (FormatKind.NF, FormatKind.BITMOD):
            return mode.bits >= 16
        return False
    raise UnsupportedFormatError(f"mac_array: unknown datapath mode {mode}")


def systolic_fold_cycles(m: Any, k: Any, n: Any, rows: int, cols: int,
                         dataflow: Dataflow) -> tuple[Any, Any]:
    """(folds, per-fold cycles) of one GEMM on an R x C systolic array (SCALE-Sim 3.0)."""
    m, k, n = (np.asarray(v, dtype=np.int64) for v in (m, k, n))
    return _fold_formula(m, k, n, rows, cols, dataflow)


def systolic_folds(m: int, k: int, n: int, rows: int, cols: int, dataflow: Dataflow) -> tuple[int, int]:
    """`systolic_fold_cycles` on plain ints, without numpy (the SCALE-Sim file path)."""
    return _fold_formula(m, k, n, rows, cols, dataflow)


def _fold_formula(m: Any, k: Any, n: Any, r: int, c: int, dataflow: Dataflow) -> tuple[Any, Any]:
    """The table in the module docstring, for ints or int64 arrays alike."""
    if dataflow is Dataflow.OUTPUT_STATIONARY:
        return -(-m // r) * -(-n // c), k + r + c - 2
    if dataflow is Dataflow.WEIGHT_STATIONARY:
        return -(-k // r) * -(-n // c), 2 * r + c + m - 2
    if dataflow is Dataflow.INPUT_STATIONARY:
        return -(-k // r) * -(-m // c), 2 * r + c + n - 2
    raise InvalidSpecError(f"mac_array: a systolic array has no dataflow {getattr(dataflow, 'value', dataflow)!r}")


def pe_area_um2_45nm(spec: Spec) -> float:
    """One PE (systolic) or one MAC lane (tensor core) at 45 nm, from Horowitz's areas.

    Integer multiplier: 282 um^2 * (p/8)^2 for the widest int mode p (array multipliers
    grow with the product of widths); float: 1640 um^2 (16-bit) / 7700 (32-bit) multiplier
    plus a 1360 um^2 16-bit float adder when any float mode exists; accumulator adder
    137 um^2 * acc/32; registers: two operand registers of the widest mode plus the
    accumulator, 4.52 um^2 per flip-flop."""
    modes = [Format.parse(p) for p in spec.precisions]
    ints = [f.bits for f in modes if f.kind in (FormatKind.INT, FormatKind.UINT)]
    floats = [f.bits for f in modes if f.kind is FormatKind.FP]
    area = 0.0
    if ints:
        area += _INT_MULT8_UM2 * (max(ints) / 8.0) ** 2
    if floats:
        area += (_FP16_MULT_UM2 if max(floats) <= 16 else _FP32_MULT_UM2) + _FP16_ADD_UM2
    area += _ADD32_UM2 * spec.accumulator_bits / 32.0
    widest = max(ints + floats)
    area += _FF_UM2 * (2 * widest + spec.accumulator_bits)
    return area


class Model:
    """CoreModel for `Spec` (cycle equations in the module docstring)."""

    family: ClassVar[CoreFamily] = CoreFamily.MAC_ARRAY

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self._plans = PairMemo()  # (w, a) -> what compute derives from the formats (`_plan`)
        self._hints: MappingHints | None = None

    @property
    def dataflows(self) -> tuple[Dataflow, ...]:
        return self.spec.dataflows

    def mapping_hints(self, layer: Any = None) -> MappingHints:
        """Array dims: rows, cols and the tile_m/n/k fields (every extent > 1 of either style:
        the mapper's tile candidates have always been built from all five).

        Row split: tensor-core style only. GPU kernels spread a GEMM over SMs by output tiles
        in both M and N (cuBLAS/CUTLASS threadblock tiles), and FlashAttention-2 (Dao, 2023,
        section 3.2) parallelises attention over the sequence (query-row) blocks; an N split
        alone left e.g. attention's context GEMM (n = head_dim 100 over 108 SMs) one column
        per SM, padded to the unit's tile_n. The mapper keeps an M split only where it
        prices strictly better. Systolic style: N split only (SCALE-Sim runs one array)."""
        if self._hints is None:  # the layer does not enter: one value per (frozen) spec
            s = self.spec
            self._hints = MappingHints(array_dims=array_dims_of(s.rows, s.cols, s.tile_m, s.tile_n, s.tile_k),
                                       row_split=s.style is CoreStyle.TENSOR_CORE,
                                       accumulator_bits=s.accumulator_bits)
        return self._hints

    # ------------------------------------------------------------ precision
    def mode(self, w: Format, a: Format) -> tuple[Format, float]:
        """(datapath mode, rate) a (weight, activation) pair runs in."""
        return _mode(self.spec.modes, self.spec.precisions, w, a)

    def _ran_as(self, w: Format, a: Format, mode: Format) -> str:
        return _ran_as(self.spec.modes, w, a, mode)

    # ------------------------------------------------------------ protocol
    def compute(self, m: Any, k: Any, n: Any, w: Format, a: Format,
                dataflow: Dataflow | None = None, batch: Any = 1, k_segment: Any = None) -> TileCompute:
        require_no_k_segment("mac_array", k_segment)
        s = self.spec
        if dataflow is None:
            dataflow = s.dataflows[0]
        if dataflow not in s.dataflows:
            raise InvalidSpecError(
                f"mac_array: this core runs {[d.value for d in s.dataflows]}, "
                f"not {getattr(dataflow, 'value', dataflow)!r}")
        _, rate, ran_as, keys = self._plan(w, a)
        scalar = all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in (m, k, n, batch))
        if scalar:  # plain ints: same formulas without numpy's per-call overhead (mapper/CLI hot path)
            m, k, n, batch = int(m), int(k), int(n), int(batch)
            if min(m, k, n, batch) < 0:
                raise InvalidSpecError("mac_array: tile dimensions must be non-negative")
        else:
            m, k, n, batch = (np.asarray(v, dtype=np.int64) for v in (m, k, n, batch))
            if np.any(m < 0) or np.any(k < 0) or np.any(n < 0) or np.any(batch < 0):
                raise InvalidSpecError("mac_array: tile dimensions must be non-negative")
        pack = round(rate) if rate >= 1 else 1
        slow = round(1.0 / rate) if rate < 1 else 1
        k_eff = -(-k // pack)
        if s.style is CoreStyle.SYSTOLIC:
            folds, per_fold = _fold_formula(m, k_eff, n, s.rows, s.cols, dataflow)
            cycles = batch * folds * per_fold * slow
            if scalar:
                cycles = 0 if 0 in (m, k, n, batch) else cycles
                if s.scalesim_mode:
                    cycles = max(cycles - 1, 0)
            else:
                cycles = np.where((m == 0) | (k == 0) | (n == 0) | (batch == 0), 0, cycles)
                if s.scalesim_mode:
                    cycles = np.maximum(cycles - 1, 0)
        elif s.style is CoreStyle.TENSOR_CORE:
            tiles = batch * -(-m // s.tile_m) * -(-n // s.tile_n)
            cycles = -(-tiles // s.units) * -(-k_eff // s.tile_k) * slow
        else:
            raise InvalidSpecError(f"mac_array: unknown style {s.style!r}")
        macs = batch * m * k * n
        mac_key, reg_key, add_key, acc_key, dq_key = keys  # the action keys of (w, a) (`_plan`)
        actions: dict[Action, Any] = {mac_key: macs, reg_key: 2 * macs, add_key: macs}
        if dataflow is not Dataflow.OUTPUT_STATIONARY:
            actions[acc_key] = actions.get(acc_key, 0) + macs
        if w.granularity is Granularity.GROUP and w.group_size:
            actions[dq_key] = batch * m * n * -(-k // w.group_size)
        if scalar:
            return TileCompute(cycles=int(cycles), actions=actions, ran_as=ran_as)
        return TileCompute(cycles=_scalar(cycles), actions={key: _scalar(v) for key, v in actions.items()},
                           ran_as=ran_as)

    def _plan(self, w: Format, a: Format) -> tuple[Format, float, str, tuple[Action, ...]]:
        """(mode, rate, ran_as, action keys: MAC, operand register read, accumulator add and
        read, dequant) of a format pair, memoised per model instance (bounded: cleared past 256
        format pairs) and, across specs, by the only fields it depends on (`_shared_plan`)."""
        hit = self._plans.get(w, a)
        if hit is None:
            s = self.spec
            hit = _shared_plan(s.precisions, s.rates, s.accumulator_bits, w, a)
            self._plans.put(w, a, hit)
        return hit

    def peak_macs_per_cycle(self, w: Format, a: Format) -> float:
        s = self.spec
        _, rate = self.mode(w, a)
        if s.style is CoreStyle.SYSTOLIC:
            return float(s.rows * s.cols * rate)
        return float(s.tile_m * s.tile_n * s.tile_k * s.units * rate)

    def area_mm2(self, node_nm: float) -> float:
        """MAC-array area: PEs (systolic R*C, tensor core units*tile_m*tile_n*tile_k lanes)
        times the per-PE area (`pe_area_um2`, or `pe_area_um2_45nm`), scaled by
        (node/45)^2. Buffers are priced by `hwsim.memory`, not here."""
        if not node_nm > 0:
            raise InvalidSpecError(f"mac_array: technology node must be positive, got {node_nm}")
        s = self.spec
        pes = s.rows * s.cols if s.style is CoreStyle.SYSTOLIC else s.units * s.tile_m * s.tile_n * s.tile_k
        per = s.pe_area_um2 if s.pe_area_um2 > 0 else pe_area_um2_45nm(s)
        return pes * per * (node_nm / 45.0) ** 2 * 1e-6


@functools.lru_cache(maxsize=PLAN_CACHE_SIZE)
def _shared_plan(precisions: tuple[str, ...], rates: tuple[float, ...], accumulator_bits: int, w: Format,
                 a: Format) -> tuple[Format, float, str, tuple[Action, ...]]:
    """`Model._plan` of a spec with these datapath modes (precisions, rates) and accumulator width:
    the only spec fields the plan reads, so specs that differ elsewhere (array, dataflows, style,
    buffers, clock) share it. Keyed by frozen values, bounded; an error is raised, never stored."""
    modes = _modes(precisions, rates)
    mode, rate = _mode(modes, precisions, w, a)
    p, acc = mode.bits, accumulator_bits
    kind = ActionKind.MAC_FP if mode.kind is FormatKind.FP else ActionKind.MAC_INT
    keys = (Action(kind, (p, p)), Action(ActionKind.REG_READ, (p,)), Action(ActionKind.ADD, (acc,)),
            Action(ActionKind.REG_READ, (acc,)), Action(ActionKind.DEQUANT, (acc,)))
    return mode, rate, _ran_as(modes, w, a, mode), keys


def _mode(modes: tuple[tuple[Format, float], ...], precisions: tuple[str, ...], w: Format,
          a: Format) -> tuple[Format, float]:
    """(datapath mode, rate) of the first of `modes` that holds both formats."""
    for fmt, rate in modes:
        if holds(fmt, w) and holds(fmt, a):
            return fmt, rate
    raise UnsupportedFormatError(
        f"mac_array: no datapath mode of {list(precisions)} holds weights {w} and activations {a}")


def _ran_as(modes: tuple[tuple[Format, float], ...], w: Format, a: Format, mode: Format) -> str:
    def native(f: Format) -> bool:
        return f.kind is mode.kind and f.bits == mode.bits and (
            f.kind is not FormatKind.FP or (f.exp_bits, f.man_bits) == (mode.exp_bits, mode.man_bits))

    if native(w) and native(a):
        return ""
    have = {str(f) for f, _ in modes}  # = str(Format.parse(p)) of every precision
    lacking = [_base(f) for f in (w, a) if not native(f) and _base(f) not in have]
    why = f"core lacks {', '.join(dict.fromkeys(lacking))}" if lacking else \
        f"weights and activations share one {_base(mode)} mode"
    return f"{_base(mode)} ({_base(w)} weights x {_base(a)} activations widened: {why})"


_FP_BASE = {(5, 10): "fp16", (8, 7): "bf16", (4, 3): "fp8e4m3", (5, 2): "fp8e5m2", (2, 1): "fp4", (3, 2): "fp6"}


def _base(f: Format) -> str:
    """A format's element type without scale/granularity (int4g128 -> int4)."""
    if f.kind is FormatKind.FP:
        return _FP_BASE.get((f.exp_bits, f.man_bits), f"fpe{f.exp_bits}m{f.man_bits}")
    if f.kind in (FormatKind.INT, FormatKind.UINT):
        return f"{f.kind.value}{f.bits}"
    if f.kind is FormatKind.BITMOD:
        return str(f.variant)
    return f.kind.value


def _scalar(v: Any) -> Any:
    arr = np.asarray(v)
    return int(arr) if arr.ndim == 0 else arr

