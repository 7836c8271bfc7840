"""T-MAC (Wei et al., EuroSys 2025): LUT-based low-bit GEMV/GEMM on CPU SIMD cores.

Weights are split into one-bit planes; for every group of g = 4 activations of a
token the core builds a table of the 2^(g-1) signed partial sums (the other half is
the negation), quantised to INT8. A table-lookup instruction (NEON `tbl`, AVX2
`pshufb`) looks up `vector_bits / 8` bytes at once: one activation group of one
token against `vector_bits / 8` weight columns (their 4-bit plane slices are the
indices). Cycle model for `cores` cores, per GEMM (m tokens x k)(k x n), P planes:

    lookups = P * m * ceil(k / g) * ceil(n / lanes)           lanes = vector_bits / 8
    look    = max(lookups / lookups_per_cycle,
                  lookups * (1 + unpack_ops + add_ops) / simd_ops_per_cycle)
              (per lookup: unpack the packed indices, the lookup, an accumulate), or
            = lookups * cycles_per_lookup where that is given (> 0): a kernel's own cost per
              lookup instruction, everything its loop issues with it included (e.g. llvm-mca
              on T-MAC's compiled kernel: benchmarks/tmac_kernel_mca.py)
    build   = m * ceil(k / g) * 2^(g-1) * build_ops_per_entry / (vector_bits / 16)
              / simd_ops_per_cycle                       (int16 lanes; add + quantise)
    combine = P * m * n / (vector_bits / 32) / simd_ops_per_cycle   (plane shift-add
              and scale in fp32 lanes)
    cycles  = ceil((look + build + combine) / cores) + call_overhead_cycles

A GEMM runs on the fp32 FMA path (`fp_macs_per_cycle`) where that is faster, or where the
LUT kernel cannot take it. That path prices the products only, not a dequantisation of
low-bit weights: where it wins over the LUT kernel at 1-4 bits (tmac-avx2, whose derived
lookup cost is 4.6 cycles), it stands for an ideal dequantise-then-FMA kernel, not for what
T-MAC runs.

Decoding is m = 1 (GEMV); m > 1 is GEMM (prefill or batched decode). Memory
bandwidth belongs to the accelerator spec (`dram`), and hwsim.memory / the caller's
roofline adds it. Activations must be int <= 8 or fp <= 16 bits (fp tables are
quantised to INT8 as T-MAC does).
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
from lowbit.hwsim.cores.lut_tensor_core import weight_planes
from lowbit.kernels_ref.errors import InvalidSpecError, UnsupportedFormatError
from lowbit.kernels_ref.formats import Format, FormatKind

__all__ = ["Model", "Spec"]


@dataclass(frozen=True)
class Spec:
    """One or more SIMD CPU cores running T-MAC kernels. Defaults: an ARM NEON core."""

    isa: str = "neon"                    # neon, avx2 or avx512 (names the lookup instruction)
    vector_bits: int = 128               # SIMD register width: vector_bits / 8 lookups at once
    lookups_per_cycle: int = 2           # tbl / pshufb issue per cycle per core
    simd_ops_per_cycle: int = 4          # SIMD pipes per core
    unpack_ops: float = 1.0              # ops per lookup to unpack the 4-bit indices
    add_ops: float = 1.0                 # ops per lookup to accumulate the result
    build_ops_per_entry: float = 2.0     # table build: an add and a quantise step
    g: int = 4                           # activations per table (2^(g-1) entries), <= 8
    cores: int = 1                       # CPU cores running the kernel
    table_bits: int = 8                  # table entry width (T-MAC quantises tables to INT8)
    accumulator_bits: int = 16           # lookup accumulator width
    call_overhead_cycles: int = 0        # per kernel call (dispatch, thread sync)
    cycles_per_lookup: float = 0.0       # kernel cycles per lookup instruction (0: port/pipe bound)
    fp_macs_per_cycle: int = 0           # per core: FMA lanes for GEMMs off the LUT path (0: none)
    core_area_mm2: float = 2.5           # one core incl. L1 at 5 nm (die-shot order of magnitude)

    def __post_init__(self) -> None:
        if self.isa not in ("neon", "avx2", "avx512"):
            raise InvalidSpecError(f"lut_cpu: isa must be neon, avx2 or avx512, got {self.isa!r}")
        for key in ("vector_bits", "lookups_per_cycle", "simd_ops_per_cycle", "g", "cores",
                    "table_bits", "accumulator_bits"):
            v = getattr(self, key)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise InvalidSpecError(f"lut_cpu: {key} must be a positive integer, got {v!r}")
        if self.vector_bits % 128:
            raise InvalidSpecError(f"lut_cpu: vector_bits must be a multiple of 128, got {self.vector_bits}")
        if self.g > 8:
            raise InvalidSpecError(f"lut_cpu: g must be <= 8, got {self.g}")
        if not isinstance(self.fp_macs_per_cycle, int) or isinstance(self.fp_macs_per_cycle, bool) \
                or self.fp_macs_per_cycle < 0:
            raise InvalidSpecError(f"lut_cpu: fp_macs_per_cycle must be an integer >= 0, got {self.fp_macs_per_cycle!r}")
        for key in ("unpack_ops", "add_ops", "build_ops_per_entry", "core_area_mm2", "cycles_per_lookup"):
            if not getattr(self, key) >= 0 or not math.isfinite(getattr(self, key)):
                raise InvalidSpecError(f"lut_cpu: {key} must be a finite number >= 0, got {getattr(self, key)}")
        if not isinstance(self.call_overhead_cycles, int) or self.call_overhead_cycles < 0:
            raise InvalidSpecError(f"lut_cpu: call_overhead_cycles must be an integer >= 0, "
                                   f"got {self.call_overhead_cycles!r}")

    def look_cycles(self, lookups: Any) -> Any:
        """`look` of the module docstring for `lookups` lookup instructions (an int or an array):
        `cycles_per_lookup` each where given, else the port or SIMD-pipe bound."""
        if self.cycles_per_lookup:
            return lookups * self.cycles_per_lookup
        port = lookups / self.lookups_per_cycle
        pipes = lookups * (1 + self.unpack_ops + self.add_ops) / self.simd_ops_per_cycle
        return np.maximum(port, pipes) if isinstance(lookups, np.ndarray) else max(port, pipes)

    @property
    def lanes(self) -> int:
        """Bytes (weight columns) one lookup instruction serves."""
        return self.vector_bits // 8


def _acts_ok(a: Format) -> None:
    if a.kind in (FormatKind.INT, FormatKind.UINT) and a.bits <= 8:
        return
    if a.kind is FormatKind.FP and a.bits <= 16:
        return
    raise UnsupportedFormatError(f"T-MAC takes int <= 8-bit or fp <= 16-bit activations, not {a}")


def _planes(w: Format) -> int:
    try:
        return weight_planes(w)
    except UnsupportedFormatError:
        raise UnsupportedFormatError(
            f"T-MAC LUT kernels take binary, ternary, dbllm or int/uint 1-8 weights, not {w}") from None


def _ceil(a: Any, b: Any) -> Any:
    return -(-np.asarray(a, dtype=np.int64) // np.asarray(b, dtype=np.int64))


class Model:
    """CoreModel for `Spec` (see module docstring for the cycle equations)."""

    family: ClassVar[CoreFamily] = CoreFamily.LUT_CPU

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self._plans = PairMemo()  # (w, a) -> what compute derives from the formats (`_plan`)
        self._hints: MappingHints | None = None

    @property
    def dataflows(self) -> tuple[Dataflow, ...]:
        return (Dataflow.NONE,)

    def mapping_hints(self, layer: Any = None) -> MappingHints:
        """Array dims: the weight columns one lookup serves (`lanes`); no row split."""
        if self._hints is None:  # the layer does not enter: one value per (frozen) spec
            s = self.spec
            self._hints = MappingHints(array_dims=array_dims_of(s.lanes), accumulator_bits=s.accumulator_bits)
        return self._hints

    def _lut_ok(self, w: Format, a: Format) -> bool:
        try:
            _planes(w)
            _acts_ok(a)
        except UnsupportedFormatError:
            return False
        return True

    def compute(self, m: Any, k: Any, n: Any, w: Format, a: Format,
                dataflow: Dataflow = Dataflow.NONE, batch: Any = 1,
                k_segment: Any = None) -> TileCompute:
        """LUT kernel cycles; a GEMM the FMA path (`fp_macs_per_cycle`) finishes sooner, or one
        the LUT kernel cannot take (activation x activation attention in fp), runs there."""
        require_no_k_segment("lut_cpu", k_segment)
        if dataflow is not Dataflow.NONE:
            raise InvalidSpecError(f"lut_cpu has no dataflow choice, got {dataflow.value!r}")
        s = self.spec
        if all(type(v) is int or isinstance(v, np.integer) for v in (m, k, n, batch)):
            return self._compute_int(int(m), int(k), int(n), w, a, int(batch))
        m, k, n, batch = (np.asarray(v, dtype=np.int64) for v in (m, k, n, batch))
        macs = batch * m * k * n
        fma = Action(ActionKind.MAC_FP, (32, 32))
        fma_cycles = (_ceil(macs, s.fp_macs_per_cycle * s.cores) + s.call_overhead_cycles
                      if s.fp_macs_per_cycle else None)
        if not self._lut_ok(w, a):
            if fma_cycles is None or w.bits > 32 or a.bits > 32:
                _planes(w)
                _acts_ok(a)
                raise UnsupportedFormatError(f"T-MAC core cannot run {w} x {a}")
            return TileCompute(cycles=_scalar(fma_cycles), actions={fma: _scalar(macs)},
                               ran_as=f"fp32 FMA path: the LUT kernel cannot take {w} x {a}")
        lut = self._lut_compute(m, k, n, w, a, batch)
        if fma_cycles is None or not np.any(fma_cycles < np.asarray(lut.cycles)):
            return lut
        use = fma_cycles < np.asarray(lut.cycles)
        actions = {key: _scalar(np.where(use, 0, v)) for key, v in lut.actions.items()}
        actions[fma] = _scalar(np.where(use, macs, 0))
        return TileCompute(cycles=_scalar(np.where(use, fma_cycles, lut.cycles)), actions=actions,
                           ran_as=f"fp32 FMA path where faster than {lut.ran_as}")

    def _plan(self, w: Format, a: Format) -> tuple[Any, ...]:
        """(LUT kernel runs (w, a), its weight planes, action keys, ran_as strings), memoised per
        model instance (`PairMemo`; the spec is frozen)."""
        hit = self._plans.get(w, a)
        if hit is None:
            s = self.spec
            ok = self._lut_ok(w, a)
            planes = _planes(w) if ok else 0
            keys = (Action(ActionKind.LUT_READ, (s.table_bits,)), Action(ActionKind.ADD, (s.accumulator_bits,)),
                    Action(ActionKind.LUT_WRITE, (s.table_bits,)), Action(ActionKind.SHIFT_ADD, (32,)))
            ran = f"{planes} weight plane(s), g={s.g} int8 tables, {s.isa} {s.vector_bits}-bit" if ok else ""
            hit = (ok, planes, keys, Action(ActionKind.MAC_FP, (32, 32)), ran)
            self._plans.put(w, a, hit)
        return hit

    def _compute_int(self, m: int, k: int, n: int, w: Format, a: Format, batch: int) -> TileCompute:
        """`compute` on plain ints (the mapper's whole-GEMM calls): the same formulas in Python
        arithmetic (IEEE doubles where numpy divides; equal results: tests)."""
        s = self.spec
        if m < 0 or k < 0 or n < 0 or batch < 0:
            return self._compute_np(m, k, n, w, a, batch)  # numpy's negative floor division, as before
        ok, planes, keys, fma, ran = self._plan(w, a)
        macs = batch * m * k * n
        fma_cycles = -(-macs // (s.fp_macs_per_cycle * s.cores)) + s.call_overhead_cycles \
            if s.fp_macs_per_cycle else None
        if not ok:
            if fma_cycles is None or w.bits > 32 or a.bits > 32:
                _planes(w)
                _acts_ok(a)
                raise UnsupportedFormatError(f"T-MAC core cannot run {w} x {a}")
            return TileCompute(cycles=fma_cycles, actions={fma: macs},
                               ran_as=f"fp32 FMA path: the LUT kernel cannot take {w} x {a}")
        groups = batch * m * -(-k // s.g)
        lookups = planes * groups * -(-n // s.lanes)
        look = s.look_cycles(lookups)
        entries = groups * (1 << (s.g - 1))
        build = entries * s.build_ops_per_entry / (s.vector_bits // 16) / s.simd_ops_per_cycle
        outputs = batch * m * n
        combine = planes * outputs / (s.vector_bits // 32) / s.simd_ops_per_cycle
        cycles = math.ceil((look + build + combine) / s.cores) + s.call_overhead_cycles
        counts = (lookups * s.lanes, lookups * s.lanes, entries, planes * outputs)
        if fma_cycles is not None and fma_cycles < cycles:
            actions = dict.fromkeys(keys, 0)
            actions[fma] = macs
            return TileCompute(cycles=fma_cycles, actions=actions, ran_as=f"fp32 FMA path where faster than {ran}")
        return TileCompute(cycles=cycles, actions=dict(zip(keys, counts)), ran_as=ran)

    def _compute_np(self, m: Any, k: Any, n: Any, w: Format, a: Format, batch: Any) -> TileCompute:
        return self.compute(np.asarray(m), np.asarray(k), np.asarray(n), w, a, Dataflow.NONE, np.asarray(batch))

    def _lut_compute(self, m: Any, k: Any, n: Any, w: Format, a: Format, batch: Any) -> TileCompute:
        s = self.spec
        planes = _planes(w)
        groups = batch * m * _ceil(k, s.g)
        lookups = planes * groups * _ceil(n, s.lanes)
        look = s.look_cycles(lookups)
        entries = groups * (1 << (s.g - 1))
        build = entries * s.build_ops_per_entry / (s.vector_bits // 16) / s.simd_ops_per_cycle
        outputs = batch * m * n
        combine = planes * outputs / (s.vector_bits // 32) / s.simd_ops_per_cycle
        cycles = np.ceil((look + build + combine) / s.cores).astype(np.int64) + s.call_overhead_cycles
        actions: dict[Action, Any] = {
            Action(ActionKind.LUT_READ, (s.table_bits,)): lookups * s.lanes,
            Action(ActionKind.ADD, (s.accumulator_bits,)): lookups * s.lanes,
            Action(ActionKind.LUT_WRITE, (s.table_bits,)): entries,
            Action(ActionKind.SHIFT_ADD, (32,)): planes * outputs,
        }
        return TileCompute(cycles=_scalar(cycles), actions={k_: _scalar(v) for k_, v in actions.items()},
                           ran_as=f"{planes} weight plane(s), g={s.g} int8 tables, {s.isa} {s.vector_bits}-bit")

    def peak_macs_per_cycle(self, w: Format, a: Format) -> float:
        s = self.spec
        fma = float(s.fp_macs_per_cycle * s.cores)
        if not self._lut_ok(w, a):
            if fma:
                return fma
            _planes(w)
            _acts_ok(a)
        per_lookup = 1 / s.cycles_per_lookup if s.cycles_per_lookup else \
            min(s.lookups_per_cycle, s.simd_ops_per_cycle / (1 + s.unpack_ops + s.add_ops))
        return max(fma, s.cores * per_lookup * s.lanes * s.g / _planes(w))

    def area_mm2(self, node_nm: float) -> float:
        """`cores * core_area_mm2`, the latter given at 5 nm, scaled by (node / 5 nm)^2."""
        return self.spec.cores * self.spec.core_area_mm2 * (node_nm / 5.0) ** 2


def _scalar(v: Any) -> Any:
    arr = np.asarray(v)
    return int(arr) if arr.ndim == 0 else arr

