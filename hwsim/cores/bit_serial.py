"""Bit-serial and bit-composable PE arrays: Stripes, Loom, BitMoD, Bit Fusion.

One parametrised model. The array has `rows x cols` PEs; each PE reduces a
dot product of `lanes` elements along K per step. `rows_dim` / `cols_dim`
say which GEMM dimension (M = output rows / windows / tokens, K = reduction,
N = output features / filters) each array axis spreads; lanes always spread K.
So the GEMM elements processed per step are

    P_m, P_k, P_n = product of the extents assigned to each dimension
                    (lanes always multiply P_k)

and one step lasts `pass_cycles(w, a)` cycles, which is where precision enters:

- `serial = activations` (Stripes): ceil(p_a / bits_per_cycle_a) cycles; the
  weights are bit-parallel (`parallel_bits_w` wide).
- `serial = weights` (BitMoD): ceil(p_w / bits_per_cycle_w) cycles; the
  activations are bit-parallel (integer or float).
- `serial = both` (Loom): ceil(p_w / bpc_w) * ceil(p_a / bpc_a) cycles.
- `serial = none`: bit-parallel; with `fusion_brick_bits > 0` it is Bit Fusion:
  a Fusion Unit of `fusion_bricks` BitBricks of `fusion_brick_bits` x
  `fusion_brick_bits` fuses per cycle into
  F = fusion_bricks / (B(p_w) * B(p_a)) MACs, B(p) = ceil(p / brick) rounded up
  to a power of two (bricks fuse in pairs). With 2-bit bricks and 16 per FU:
  8x8 -> 1, 4x4 -> 4, 2x2 -> 16, 8x4 -> 2, 8x2 -> 4, 4x2 -> 8 MACs per cycle
  (Sharma et al., ISCA 2018, Fig. 2 / `get_perf_factor` in hsharma35/bitfusion:
  int(8/p_a) * int(8/p_w) for p in 2..8; 1- and 2-bit both use one brick).
  F > 1 multiplies P_k (the FU reduces F products into its column's partial
  sum, as `ceil(ic / (N * perf_factor))` in the Bit Fusion simulator); F < 1
  (operands wider than `fusion_max_bits`) takes 1/F cycles per step, temporally.
  Without fusion, operands wider than the parallel datapath take
  ceil(p / parallel_bits) passes each.

Cycles of `batch` GEMMs (stall-free, no fill/drain: the published Stripes,
Loom, Bit Fusion and BitMoD cycle models count none):

    steps  = batch * ceil(m / P_m) * ceil(k / (P_k * F)) * ceil(n / P_n)
    cycles = steps * pass_cycles
           + batch * ceil(m / P_m) * ceil(n / P_n) * ceil(k / g) * dequant_cycles_per_group

With `conv_channelwise` (Bit Fusion), a conv layer's K = kh*kw*ic is reduced one
kernel position at a time: ceil(k / (P_k*F)) becomes kh*kw * ceil(ic / (P_k*F))
(pass `k_segment = ic`, see `k_segment_for`; `Model.mapping_hints(layer)` states it,
`mapper.layer_gemm` records it and `hwsim.memory` passes it on to `compute`).

The last term is BitMoD's per-group (g = the weight format's group size)
bit-serial dequantisation unit when it is not hidden behind the group's own
compute (the `bitmod` preset sets 0: a 128-element group takes 128/4 steps of
>= 1 cycle, longer than the unit's shift-add over the scale; FIDELITY.md's
BitMoD formula has no dequant term).

Presets (hwsim/presets/, each with its sources in comments): `stripes` (16 tiles of 16
windows x 16 filters x 16 lanes, activations 1 bit/cycle) and its 16-bit bit-parallel
baseline `dadiannao`; `loom` (both operands serial, 32768 lanes = 128 16b MACs/cycle at
16/16 bits); `bitfusion-eyeriss-budget` / `bitfusion-stripes-budget` (bf_e_conf.ini /
bf_s_conf.ini: 16 x 32 fusion units); `bitmod` / `bitmod-decode` (32x32 / 64x16, dp 4,
2 weight bits per cycle) and the bit-parallel baselines it is compared with,
`bitmod-fp16-baseline`, `bitmod-ant`, `bitmod-olive` and their `-decode` arrays.

Actions (count, then cost), per bit-cycle of useful MAC lanes:
    SHIFT_ADD(accumulator_bits)          macs * bit_cycles  (serial modes)
    REG_READ(serial chunk width)         per serial operand, macs * bit_cycles
    REG_READ(parallel operand width)     macs * bit_cycles
    MAC_INT / MAC_FP (w bits, a bits)    macs               (bit-parallel / fused)
    DEQUANT(accumulator_bits)            batch * m * n * ceil(k / g)  (group formats)
where bit_cycles = the serial passes one MAC takes (1 for bit-parallel).
"""

from __future__ import annotations

import enum
import functools
import operator
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
)
from lowbit.kernels_ref.errors import InvalidSpecError, UnsupportedFormatError
from lowbit.kernels_ref.formats import Format, FormatKind, Granularity

__all__ = [
    "FORMAT_PLAN_FIELDS",
    "GemmDim",
    "Model",
    "SerialOperands",
    "Spec",
    "clear_cache",
    "fusion_bricks_per_operand",
    "k_segment_for",
    "operand_bits",
    "serial_chunks",
]

_INTEGER_KINDS = (FormatKind.INT, FormatKind.UINT, FormatKind.BINARY, FormatKind.TERNARY)
# weight kinds decoded through a table or float unit, not multiplied as integers
_DECODED_KINDS = tuple(k for k in FormatKind if k.value in ("fp", "nf", "bitmod"))


class SerialOperands(enum.Enum):
    """Which operands stream bit-serially through a PE."""

    ACTIVATIONS = "activations"  # Stripes
    WEIGHTS = "weights"          # BitMoD
    BOTH = "both"                # Loom
    NONE = "none"                # bit-parallel, or Bit Fusion with fusion_brick_bits > 0


class GemmDim(enum.Enum):
    M = "m"
    K = "k"
    N = "n"


@dataclass(frozen=True)
class Spec:
    """Bit-serial / bit-composable array. Defaults: one Stripes chip (16 tiles of
    16 windows x 16 filters x 16 lanes, activations 1 bit per cycle, 16-bit weights;
    Judd et al., MICRO 2016, Sec. 4)."""

    serial: SerialOperands = SerialOperands.ACTIVATIONS  # which operands stream bit-serially
    bits_per_cycle_w: int = 1    # weight bits a serial PE consumes per cycle
    bits_per_cycle_a: int = 1    # activation bits a serial PE consumes per cycle
    parallel_bits_w: int = 16    # width of the bit-parallel weight datapath
    parallel_bits_a: int = 16    # width of the bit-parallel activation datapath
    rows: int = 256              # PE array rows (spread `rows_dim`)
    cols: int = 16               # PE array columns (spread `cols_dim`)
    lanes: int = 16              # K elements each PE reduces per step
    rows_dim: GemmDim = GemmDim.N  # GEMM dimension the rows spread (m, k or n)
    cols_dim: GemmDim = GemmDim.M  # GEMM dimension the columns spread (m, k or n)
    fusion_brick_bits: int = 0   # Bit Fusion BitBrick width (0: no fusion)
    fusion_bricks: int = 16      # BitBricks per Fusion Unit (a power of two)
    fusion_max_bits: int = 8     # widest operand one Fusion Unit fuses in a cycle
    dequant_cycles_per_group: int = 0  # BitMoD dequantisation cycles per weight group not hidden
    conv_channelwise: bool = False  # reduce a conv one kernel position at a time (Bit Fusion)
    im2col_max_in_channels: int = 0  # channel-wise: convs with <= this many input channels per
                                     # group are host-im2col'd instead
    accumulator_bits: int = 32   # shift-add accumulator width
    float_datapath: bool = False  # the bit-parallel datapath multiplies float activations
    dataflow: Dataflow = Dataflow.OUTPUT_STATIONARY  # the one dataflow this array runs
    pe_area_um2: float = 0.0   # 0 -> estimated from gate counts (see area_mm2)

    def __post_init__(self) -> None:
        for key in ("bits_per_cycle_w", "bits_per_cycle_a", "parallel_bits_w", "parallel_bits_a",
                    "rows", "cols", "lanes", "fusion_bricks", "fusion_max_bits", "accumulator_bits"):
            v = getattr(self, key)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise InvalidSpecError(f"bit_serial: {key} must be a positive integer, got {v!r}")
        for key in ("fusion_brick_bits", "dequant_cycles_per_group", "im2col_max_in_channels"):
            v = getattr(self, key)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise InvalidSpecError(f"bit_serial: {key} must be a non-negative integer, got {v!r}")
        if not isinstance(self.serial, SerialOperands):
            raise InvalidSpecError(f"bit_serial: serial must be a SerialOperands, got {self.serial!r}")
        for key in ("rows_dim", "cols_dim"):
            if not isinstance(getattr(self, key), GemmDim):
                raise InvalidSpecError(f"bit_serial: {key} must be one of m, k, n, got {getattr(self, key)!r}")
        if self.rows_dim is self.cols_dim and self.rows_dim is not GemmDim.K:
            # two axes over the same output dimension are allowed only for K (a deeper reduction)
            raise InvalidSpecError(
                f"bit_serial: rows_dim and cols_dim both spread {self.rows_dim.value}; use one axis")
        if self.fusion_brick_bits and self.serial is not SerialOperands.NONE:
            raise InvalidSpecError("bit_serial: fusion_brick_bits needs serial = none (Bit Fusion is bit-parallel)")
        if self.fusion_brick_bits:
            b = self.fusion_bricks
            if b & (b - 1):
                raise InvalidSpecError(f"bit_serial: fusion_bricks must be a power of two, got {b}")
            if self.fusion_max_bits % self.fusion_brick_bits:
                raise InvalidSpecError("bit_serial: fusion_max_bits must be a multiple of fusion_brick_bits")
            per = self.fusion_max_bits // self.fusion_brick_bits
            if per * per > b or per & (per - 1):
                raise InvalidSpecError(
                    f"bit_serial: fusion_max_bits={self.fusion_max_bits} needs {per * per} bricks "
                    f"(a power of two per operand), unit has {b}")
        if not isinstance(self.dataflow, Dataflow):
            raise InvalidSpecError(f"bit_serial: dataflow must be a Dataflow, got {self.dataflow!r}")
        if self.pe_area_um2 < 0:
            raise InvalidSpecError(f"bit_serial: pe_area_um2 must be >= 0, got {self.pe_area_um2}")

    # ------------------------------------------------------------ derived
    @property
    def serial_w(self) -> bool:
        return self.serial in (SerialOperands.WEIGHTS, SerialOperands.BOTH)

    @property
    def serial_a(self) -> bool:
        return self.serial in (SerialOperands.ACTIVATIONS, SerialOperands.BOTH)

    def parallelism(self) -> tuple[int, int, int]:
        """(P_m, P_k, P_n) GEMM elements per step at fusion factor 1."""
        pm, pk, pn = 1, self.lanes, 1  # (no enum-keyed dict: an enum's hash is Python-level)
        for dim, ext in ((self.rows_dim, self.rows), (self.cols_dim, self.cols)):
            if dim is GemmDim.M:
                pm *= ext
            elif dim is GemmDim.K:
                pk *= ext
            else:
                pn *= ext
        return pm, pk, pn


def _ceil(a: Any, b: Any) -> Any:
    return -(-np.asarray(a, dtype=np.int64) // b)


def _pow2_ceil(x: int) -> int:
    return 1 << max(0, (x - 1).bit_length())


def operand_bits(fmt: Format) -> int:
    """Bits a PE processes for one code of `fmt`.

    Ternary {-1,0,1} and binary {-1,+1} codes enter as 2-bit two's complement (as in
    `kernels_ref.bitserial.operand_bits`; +1 does not fit one two's-complement bit), so a
    binary operand costs one BitBrick on Bit Fusion and two serial cycles at 1 bit/cycle."""
    if fmt.kind in (FormatKind.BINARY, FormatKind.TERNARY):
        return 2
    return fmt.bits


def serial_chunks(bits: int, bits_per_cycle: int) -> int:
    """Cycles a serial operand of `bits` takes at `bits_per_cycle` (sign-extended last chunk)."""
    return -(-bits // bits_per_cycle)


def fusion_bricks_per_operand(bits: int, brick_bits: int) -> int:
    """BitBricks one operand occupies in a Fusion Unit: ceil(bits/brick) up to a power of two."""
    return _pow2_ceil(-(-bits // brick_bits))


def k_segment_for(layer: Any, spec: Spec) -> int | None:
    """The `k_segment` a layer runs with on this array, or None (plain im2col GEMM).

    With `conv_channelwise`, a convolution is reduced one kernel position at a time over
    its input channels (Bit Fusion's `get_compute_cycles(im2col=False)`:
    kh*kw*ceil(ic/(rows*F)) steps per output), except when the layer has at most
    `im2col_max_in_channels` input channels per group: the host then im2cols it (Bit
    Fusion does so for the network's input layer).
    """
    conv = getattr(layer, "conv", None)
    if not spec.conv_channelwise or conv is None:
        return None
    ic = conv.in_channels // conv.groups
    if ic <= spec.im2col_max_in_channels:
        return None
    return ic


class Model:
    """CoreModel for `Spec` (cycle equations in the module docstring)."""

    family: ClassVar[CoreFamily] = CoreFamily.BIT_SERIAL

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self._plans = PairMemo()  # (w, a) -> what compute derives from the formats (`_plan`)
        self._hints: MappingHints | None = None

    @property
    def dataflows(self) -> tuple[Dataflow, ...]:
        return (self.spec.dataflow,)

    def mapping_hints(self, layer: Any = None) -> MappingHints:
        """Array dims rows, cols, lanes; the layer's K segment (`k_segment_for`); the N extent
        P_n as the narrowest whole N tile (Bit Fusion's optimiser); no row split; rows x cols
        PEs (a BitMoD dot-product PE, a Bit Fusion Fusion Unit)."""
        s = self.spec
        seg = k_segment_for(layer, s) if layer is not None and s.conv_channelwise else None
        if not seg and self._hints is not None:  # no K segment: one value per (frozen) spec
            return self._hints
        def pad(dim: GemmDim) -> int:  # {rows_dim: rows, cols_dim: cols}.get(dim, 1): cols win a tie
            return s.cols if s.cols_dim is dim else (s.rows if s.rows_dim is dim else 1)

        hints = MappingHints(array_dims=array_dims_of(s.rows, s.cols, s.lanes), k_segment=int(seg or 0),
                             min_tile_n=s.parallelism()[2], accumulator_bits=s.accumulator_bits,
                             pad_n=int(pad(GemmDim.N)), pad_k_rows=int(pad(GemmDim.K)),
                             pe_count=s.rows * s.cols)
        if not seg:
            self._hints = hints
        return hints

    # ------------------------------------------------------------ formats
    def _check(self, w: Format, a: Format) -> None:
        s = self.spec
        if a.is_float:
            if s.serial_a:
                raise UnsupportedFormatError(f"bit_serial: activations {a} cannot stream bit-serially (float)")
            if not s.float_datapath:
                raise UnsupportedFormatError(f"bit_serial: this core has no float activation datapath for {a}")
            if a.bits > s.parallel_bits_a:
                raise UnsupportedFormatError(
                    f"bit_serial: float activations {a} wider than the {s.parallel_bits_a}-bit datapath")
        elif a.kind not in _INTEGER_KINDS:
            raise UnsupportedFormatError(f"bit_serial: activation format {a} is not supported")
        if w.kind in _DECODED_KINDS:
            # BitMoD-style per-group float/codebook weights stream as their stored codes
            # (a serial-weight PE decodes them in its dequantisation unit); a bit-parallel
            # datapath multiplies them only if it is a float one (FP16 baseline).
            if not s.serial_w and not (s.float_datapath and not s.fusion_brick_bits):
                raise UnsupportedFormatError(f"bit_serial: weights {w} need a weight-serial or float core")
            if not s.serial_w and w.bits > s.parallel_bits_w:
                raise UnsupportedFormatError(
                    f"bit_serial: float weights {w} wider than the {s.parallel_bits_w}-bit datapath")
        elif w.kind not in _INTEGER_KINDS:
            raise UnsupportedFormatError(f"bit_serial: weight format {w} is not supported")
        if s.fusion_brick_bits and a.is_float:
            raise UnsupportedFormatError(f"bit_serial: Bit Fusion bricks cannot take float activations {a}")

    def fusion_factor(self, w: Format, a: Format) -> tuple[int, int]:
        """(MACs per Fusion Unit per step F >= 1, cycles per step when F < 1)."""
        s = self.spec
        bricks = (fusion_bricks_per_operand(operand_bits(w), s.fusion_brick_bits)
                  * fusion_bricks_per_operand(operand_bits(a), s.fusion_brick_bits))
        if bricks <= s.fusion_bricks:
            return s.fusion_bricks // bricks, 1
        return 1, bricks // s.fusion_bricks

    def pass_cycles(self, w: Format, a: Format) -> tuple[int, int]:
        """(K-parallelism multiplier F, cycles per step) at these formats."""
        self._check(w, a)
        s = self.spec
        bw, ba = operand_bits(w), operand_bits(a)
        if s.fusion_brick_bits:
            return self.fusion_factor(w, a)
        cw = serial_chunks(bw, s.bits_per_cycle_w) if s.serial_w else (
            1 if w.kind in _DECODED_KINDS else serial_chunks(bw, s.parallel_bits_w))
        ca = serial_chunks(ba, s.bits_per_cycle_a) if s.serial_a else (
            1 if a.is_float else serial_chunks(ba, s.parallel_bits_a))
        return 1, cw * ca

    # ------------------------------------------------------------ protocol
    def compute(self, m: Any, k: Any, n: Any, w: Format, a: Format,
                dataflow: Dataflow | None = None, batch: Any = 1,
                k_segment: Any = None) -> TileCompute:
        """Stall-free cycles and actions. `k_segment` (optional, see `k_segment_for`): K is
        a run of independent reductions of this length (a conv reduced one kernel position
        at a time over its input channels); each is padded to the array's K parallelism."""
        s = self.spec
        if dataflow is not None and dataflow is not s.dataflow:
            raise InvalidSpecError(
                f"bit_serial: this array runs {s.dataflow.value}, not {getattr(dataflow, 'value', dataflow)!r}")
        if all(type(v) is int or isinstance(v, np.integer) for v in (m, k, n, batch)) and \
                (k_segment is None or type(k_segment) is int or isinstance(k_segment, np.integer)):
            return self._compute_int(int(m), int(k), int(n), int(batch),
                                     None if k_segment is None else int(k_segment), self._plan(w, a))
        fuse, per_step = self.pass_cycles(w, a)
        pm, pk, pn = s.parallelism()
        m, k, n, batch = (np.asarray(v, dtype=np.int64) for v in (m, k, n, batch))
        if np.any(m < 0) or np.any(k < 0) or np.any(n < 0) or np.any(batch < 0):
            raise InvalidSpecError("bit_serial: tile dimensions must be non-negative")
        tiles_mn = batch * _ceil(m, pm) * _ceil(n, pn)
        if k_segment is None or (np.ndim(k_segment) == 0 and int(k_segment) == 0):  # one plain run
            k_steps = _ceil(k, pk * fuse)
        else:
            seg = np.asarray(k_segment, dtype=np.int64)
            if np.any(seg < 1):
                raise InvalidSpecError("bit_serial: k_segment must be positive")
            # whole segments, then the partial one (a K tile need not hold whole segments)
            k_steps = (k // seg) * _ceil(seg, pk * fuse) + _ceil(k % seg, pk * fuse)
        steps = tiles_mn * k_steps
        cycles = steps * per_step
        groups = self._groups(k, w)
        if s.dequant_cycles_per_group and groups is not None:
            cycles = cycles + tiles_mn * groups * s.dequant_cycles_per_group
        macs = batch * m * k * n
        actions: dict[Action, Any] = {}
        bw, ba = operand_bits(w), operand_bits(a)
        if s.serial is SerialOperands.NONE:
            bit_cycles = per_step
            kind = ActionKind.MAC_FP if (a.is_float or w.kind in _DECODED_KINDS) else ActionKind.MAC_INT
            actions[Action(kind, (bw, ba))] = macs
            actions[Action(ActionKind.REG_READ, (bw,))] = macs
            actions[Action(ActionKind.REG_READ, (ba,))] = macs
        else:
            bit_cycles = per_step
            lane_cycles = macs * bit_cycles
            actions[Action(ActionKind.SHIFT_ADD, (s.accumulator_bits,))] = lane_cycles
            w_width = min(s.bits_per_cycle_w, bw) if s.serial_w else bw
            a_width = min(s.bits_per_cycle_a, ba) if s.serial_a else ba
            actions[Action(ActionKind.REG_READ, (w_width,))] = lane_cycles
            key = Action(ActionKind.REG_READ, (a_width,))
            actions[key] = actions.get(key, 0) + lane_cycles
        if groups is not None:
            actions[Action(ActionKind.DEQUANT, (s.accumulator_bits,))] = batch * m * n * groups
        ran = self._ran_as(w, a, fuse, per_step)
        return TileCompute(cycles=_scalar(cycles),
                           actions={key: _scalar(v) for key, v in actions.items()}, ran_as=ran,
                           steps=_scalar(steps))

    def _plan(self, w: Format, a: Format) -> tuple[Any, ...]:
        """What `compute` derives from the formats alone (the format checks, F, cycles per step,
        P_m / P_k / P_n, the group size, the action keys in `compute`'s order, ran_as), memoised
        per model instance (the spec is frozen; bounded: cleared past 256 format pairs); all but
        P_m / P_k / P_n shared across specs by the fields they read (`_format_plan`)."""
        hit = self._plans.get(w, a)
        if hit is not None:
            return hit
        fuse, per_step, group, keys, dequant, ran = _format_plan(_FormatPlanKey(self.spec), w, a)
        pm, pk, pn = self.spec.parallelism()
        hit = (fuse, per_step, pm, pk, pn, group, keys, dequant, ran)
        self._plans.put(w, a, hit)
        return hit

    def _format_plan(self, w: Format, a: Format) -> tuple[Any, ...]:
        """(F, cycles per step, group size, action keys, dequant action, ran_as): what `_plan`
        reads from the formats and the spec's `FORMAT_PLAN_FIELDS` only."""
        s = self.spec
        fuse, per_step = self.pass_cycles(w, a)
        bw, ba = operand_bits(w), operand_bits(a)
        if s.serial is SerialOperands.NONE:
            kind = ActionKind.MAC_FP if (a.is_float or w.kind in _DECODED_KINDS) else ActionKind.MAC_INT
            keys = (Action(kind, (bw, ba)), Action(ActionKind.REG_READ, (bw,)), Action(ActionKind.REG_READ, (ba,)))
        else:
            w_width = min(s.bits_per_cycle_w, bw) if s.serial_w else bw
            a_width = min(s.bits_per_cycle_a, ba) if s.serial_a else ba
            keys = (Action(ActionKind.SHIFT_ADD, (s.accumulator_bits,)), Action(ActionKind.REG_READ, (w_width,)),
                    Action(ActionKind.REG_READ, (a_width,)))
        group = w.group_size if w.granularity is Granularity.GROUP and w.group_size else 0
        return (fuse, per_step, group, keys, Action(ActionKind.DEQUANT, (s.accumulator_bits,)),
                self._ran_as(w, a, fuse, per_step))

    def _compute_int(self, m: int, k: int, n: int, batch: int, k_segment: int | None,
                     plan: tuple[Any, ...]) -> TileCompute:
        """`compute` on plain ints (the mapper's whole-GEMM calls): the same integer formulas in
        Python arithmetic, without numpy's per-call cost on 0-d arrays (equal results: tests)."""
        fuse, per_step, pm, pk, pn, group, keys, dequant, ran = plan
        if m < 0 or k < 0 or n < 0 or batch < 0:
            raise InvalidSpecError("bit_serial: tile dimensions must be non-negative")
        tiles_mn = batch * -(-m // pm) * -(-n // pn)
        kp = pk * fuse
        if not k_segment:  # one plain run
            k_steps = -(-k // kp)
        else:
            if k_segment < 1:
                raise InvalidSpecError("bit_serial: k_segment must be positive")
            k_steps = (k // k_segment) * -(-k_segment // kp) + -(-(k % k_segment) // kp)
        steps = tiles_mn * k_steps
        cycles = steps * per_step
        groups = -(-k // group) if group else None
        dq = self.spec.dequant_cycles_per_group
        if dq and groups is not None:
            cycles = cycles + tiles_mn * groups * dq
        macs = batch * m * k * n
        count = macs if self.spec.serial is SerialOperands.NONE else macs * per_step
        actions: dict[Action, Any] = {keys[0]: count, keys[1]: count}
        if self.spec.serial is SerialOperands.NONE:
            actions[keys[2]] = count  # as `compute`: equal widths keep one count
        else:
            actions[keys[2]] = actions.get(keys[2], 0) + count  # equal widths share one key
        if groups is not None:
            actions[dequant] = batch * m * n * groups
        return TileCompute(cycles=cycles, actions=actions, ran_as=ran, steps=steps)

    def _groups(self, k: Any, w: Format) -> Any:
        if w.granularity is Granularity.GROUP and w.group_size:
            return _ceil(k, w.group_size)
        return None

    def _ran_as(self, w: Format, a: Format, fuse: int, per_step: int) -> str:
        s = self.spec
        if s.fusion_brick_bits:
            if fuse > 1:
                return f"fused {fuse} x {w.bits}b*{a.bits}b MACs per fusion unit per cycle"
            return f"{w.bits}b*{a.bits}b in {per_step} cycle(s) per fusion unit" if per_step > 1 else ""
        if s.serial is SerialOperands.NONE:
            return "" if per_step == 1 else f"{per_step} passes of the bit-parallel datapath"
        return f"{per_step} bit-serial cycle(s) per step ({s.serial.value} serial)"

    def peak_macs_per_cycle(self, w: Format, a: Format) -> float:
        s = self.spec
        fuse, per_step = self.pass_cycles(w, a)
        pm, pk, pn = s.parallelism()
        return pm * pk * pn * fuse / per_step

    def area_mm2(self, node_nm: float) -> float:
        """Array area. With `pe_area_um2 = 0`, each lane is estimated from NAND2 gate
        equivalents at 45 nm (0.8 um^2 each, scaled by (node/45)^2): a bit-serial lane
        ~ (serial-chunk x parallel-width) AND array + accumulator-wide adder; a
        bit-parallel lane ~ w*a full adders (a multiplier) + accumulator adder; a fusion
        unit ~ bricks * brick^2 full adders. Full adder ~ 6 NAND2; AND ~ 1.25 NAND2."""
        s = self.spec
        pm, pk, pn = s.parallelism()
        lanes_total = pm * pk * pn
        if s.pe_area_um2 > 0:
            return s.rows * s.cols * s.pe_area_um2 * (node_nm / 45.0) ** 2 * 1e-6
        if s.fusion_brick_bits:
            gates = s.fusion_bricks * s.fusion_brick_bits ** 2 * 6 + s.accumulator_bits * 6
        elif s.serial is SerialOperands.NONE:
            gates = s.parallel_bits_w * s.parallel_bits_a * 6 + s.accumulator_bits * 6
        else:
            cw = s.bits_per_cycle_w if s.serial_w else s.parallel_bits_w
            ca = s.bits_per_cycle_a if s.serial_a else s.parallel_bits_a
            gates = cw * ca * (1.25 if min(cw, ca) == 1 else 6) + s.accumulator_bits * 6
        return lanes_total * gates * 0.8 * (node_nm / 45.0) ** 2 * 1e-6


def _scalar(v: Any) -> Any:
    arr = np.asarray(v)
    return int(arr) if arr.ndim == 0 else arr


# the spec fields `Model._format_plan` reads (format checks, pass cycles, action keys, ran_as)
FORMAT_PLAN_FIELDS = ("serial", "bits_per_cycle_w", "bits_per_cycle_a", "parallel_bits_w", "parallel_bits_a",
                      "fusion_brick_bits", "fusion_bricks", "float_datapath", "accumulator_bits")
_PLAN_FIELDS = operator.attrgetter(*FORMAT_PLAN_FIELDS)


class _FormatPlanKey:
    """A spec seen only through `FORMAT_PLAN_FIELDS` (hash / equality by those): specs that
    differ in the array (rows, cols, lanes, axes), dataflow, dequant cycles or area share it."""

    __slots__ = ("key", "spec")

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.key = _PLAN_FIELDS(spec)

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _FormatPlanKey) and self.key == other.key


@functools.lru_cache(maxsize=1024)
def _format_plan(pk: _FormatPlanKey, w: Format, a: Format) -> tuple[Any, ...]:
    """`Model._format_plan`, shared by specs of equal `FORMAT_PLAN_FIELDS` (bounded; an error is
    raised, never stored)."""
    return Model(pk.spec)._format_plan(w, a)


def clear_cache() -> None:
    """Drop the format plans shared across specs (`_format_plan`)."""
    _format_plan.cache_clear()
