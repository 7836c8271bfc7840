"""Binary tensor cores (BTC / ABQ-LLM style) and XNOR-popcount ASIC arrays.

A W(x)A(y) GEMM runs as x*y one-bit GEMMs on binary MMA tiles (e.g. NVIDIA's
m8n8k128 BMMA with AND/XOR + popcount), whose int32 partial products are
combined by a shift-add epilogue (plane i of the weights and plane j of the
activations weigh 2^(i+j), the two's-complement sign planes negatively).

Cycle model for one core (an SM, or an ASIC array), per GEMM of (m x k)(k x n):

    planes    = P_w * P_a           (P = 1 binary, 2 ternary, b for INT b)
    mma       = planes * ceil(m/tm) * ceil(n/tn) * ceil(k/tk)    tile MMAs
    mma_cyc   = ceil(mma / units) * tile_cycles
    epilogue  = ceil((planes + o) * m_pad * n_pad / epilogue_ops_per_cycle)   (shift-add;
                o = 1 when an operand is binary {-1,+1} and needs an offset correction)
    pack      = ceil(P_a * m * ceil(k/32) / pack_words_per_cycle)       (activation
                bit-transpose at run time; weights are packed offline)
    cycles    = mma_cyc + epilogue + pack

The three phases are charged in sequence (no overlap), which is conservative;
`hwsim.memory` adds the memory hierarchy. Weights of `binary`, `ternary`,
INT/UINT 1-8 and activations of the same kinds are supported, and the composite
weight formats dbllm, pbllm and salient (`bit_planes`, `salient_rows`); float formats
are not (UnsupportedFormatError).
"""

from __future__ import annotations

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
from lowbit.kernels_ref.formats import Format, FormatKind

__all__ = ["Model", "Spec", "bit_planes", "has_offset", "salient_rows"]

_LOGIC_OPS = ("and", "xor")
_INT4, _BINARY = Format.parse("int4"), Format.parse("binary")


def bit_planes(fmt: Format) -> int:
    """Number of one-bit planes a format decomposes into on a binary core.

    DB-LLM (dbllm): its two {0,1} planes. PB-LLM (pbllm): the sign codes, zero at salient
    positions, as 2 ternary planes plus the salient int8 codes as 8 dense planes (the core has
    no sparse path; `kernels_ref.composite` runs it the same way). The salient-channel format
    splits K instead (`salient_rows`): its planes differ by row and are priced per part."""
    if fmt.kind is FormatKind.BINARY:
        return 1
    if fmt.kind in (FormatKind.TERNARY, FormatKind.DUAL_BINARY):
        return 2
    if fmt.kind is FormatKind.PARTIAL_BINARY:
        return 2 + 8
    if fmt.kind in (FormatKind.INT, FormatKind.UINT) and fmt.bits <= 8:
        return fmt.bits
    raise UnsupportedFormatError(
        f"binary tensor core cannot decompose {fmt} into bit planes (needs binary, ternary, int1-8, "
        "dbllm, pbllm or salient)")


def has_offset(fmt: Format) -> bool:
    """Binary {-1,+1} codes are stored as bits b with v = 2b - 1, and DB-LLM adds beta times the
    activation row sum: an offset to correct."""
    return fmt.kind in (FormatKind.BINARY, FormatKind.DUAL_BINARY)


def salient_rows(k: Any, fmt: Format) -> Any:
    """Salient (int4) rows of a K-tile of a salient-channel format: ceil(k x salient_count / g),
    exact when g divides k; the other k - that rows are binary."""
    assert fmt.group_size is not None
    return -(-np.asarray(k, dtype=np.int64) * fmt.salient_count // fmt.group_size)


@dataclass(frozen=True)
class Spec:
    """Binary MMA core. Defaults: one A100 SM (4 tensor cores, m8n8k128 BMMA).

    A100 INT1 dense peak 4992 TOPS (NVIDIA A100 datasheet / whitepaper, Table 1)
    = 2 ops x 16384 binary MACs per SM per cycle x 108 SMs x 1.41 GHz, so each of
    the 4 tensor cores finishes one m8n8k128 (8192 MACs) every 2 cycles.
    """

    tile_m: int = 8                    # M of one binary MMA tile
    tile_n: int = 8                    # N of one binary MMA tile
    tile_k: int = 128                  # K (bits) of one binary MMA tile
    tile_cycles: int = 2               # cycles one unit takes per tile MMA
    units: int = 4                     # binary MMA units per core (SM)
    logic_op: str = "and"              # and (AND-popcount) or xor (XNOR-popcount)
    epilogue_ops_per_cycle: int = 64   # int32 ALU lanes per SM (A100: 64 INT32 units/SM)
    pack_words_per_cycle: int = 32     # 32-bit ballot words packed per cycle per SM
    accumulator_bits: int = 32         # popcount / shift-add epilogue width
    unit_area_mm2: float = 0.0         # 0 -> estimated from XOR/popcount gate counts

    def __post_init__(self) -> None:
        for key in ("tile_m", "tile_n", "tile_k", "tile_cycles", "units",
                    "epilogue_ops_per_cycle", "pack_words_per_cycle", "accumulator_bits"):
            v = getattr(self, key)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise InvalidSpecError(f"binary_tensor_core: {key} must be a positive integer, got {v!r}")
        if self.logic_op not in _LOGIC_OPS:
            raise InvalidSpecError(
                f"binary_tensor_core: logic_op must be one of {', '.join(_LOGIC_OPS)}, got {self.logic_op!r}")
        if self.unit_area_mm2 < 0:
            raise InvalidSpecError(f"binary_tensor_core: unit_area_mm2 must be >= 0, got {self.unit_area_mm2}")


def _ceil(a: Any, b: Any) -> Any:
    return -(-np.asarray(a, dtype=np.int64) // b)


class Model:
    """CoreModel for `Spec` (see module docstring for the cycle equations)."""

    family: ClassVar[CoreFamily] = CoreFamily.BINARY_TENSOR_CORE

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self._plans = PairMemo()  # (w, a) -> what compute derives from the formats (`_plan`)
        self._hints: MappingHints | None = None

    @property
    def dataflows(self) -> tuple[Dataflow, ...]:
        return (Dataflow.NONE,)

    def mapping_hints(self, layer: Any = None) -> MappingHints:
        """Array dims tile_m, tile_n, tile_k. Row split: activations are bit-transposed per
        row, so an N split re-packs every row on every core, while an M split packs each row
        once (as ABQ-LLM does: one packing pass before the GEMM); mapper.tiling.search keeps
        the M split only where it prices strictly better."""
        if self._hints is None:  # the layer does not enter: one value per (frozen) spec
            s = self.spec
            self._hints = MappingHints(array_dims=array_dims_of(s.tile_m, s.tile_n, s.tile_k), row_split=True,
                                       accumulator_bits=s.accumulator_bits)
        return self._hints

    def plane_counts(self, w: Format, a: Format) -> tuple[int, int]:
        return bit_planes(w), bit_planes(a)

    def compute(self, m: Any, k: Any, n: Any, w: Format, a: Format,
                dataflow: Dataflow = Dataflow.NONE, batch: Any = 1, k_segment: Any = None) -> TileCompute:
        require_no_k_segment("binary_tensor_core", k_segment)
        if dataflow is not Dataflow.NONE:
            raise InvalidSpecError(f"binary_tensor_core has no dataflow choice, got {dataflow.value!r}")
        if w.kind is FormatKind.SALIENT_CHANNEL:  # int4 rows + binary rows: two GEMMs in sequence
            k_hi = salient_rows(k, w)
            hi = self.compute(m, k_hi, n, _INT4, a, dataflow, batch)
            lo = self.compute(m, np.asarray(k, dtype=np.int64) - k_hi, n, _BINARY, a, dataflow, batch)
            acts = {key: _scalar(hi.actions.get(key, 0) + lo.actions.get(key, 0))
                    for key in {**hi.actions, **lo.actions}}
            return TileCompute(cycles=_scalar(np.asarray(hi.cycles) + lo.cycles), actions=acts,
                               ran_as=f"salient channels: {hi.ran_as} on int4 rows + {lo.ran_as} on binary rows")
        s = self.spec
        if all(type(v) is int or isinstance(v, np.integer) for v in (m, k, n, batch)) \
                and min(m, k, n, batch) >= 0:
            return self._compute_int(int(m), int(k), int(n), w, a, int(batch))
        pw, pa = self.plane_counts(w, a)
        planes = pw * pa
        m, k, n, batch = (np.asarray(v, dtype=np.int64) for v in (m, k, n, batch))
        tiles_m, tiles_n, tiles_k = _ceil(m, s.tile_m), _ceil(n, s.tile_n), _ceil(k, s.tile_k)
        mma = planes * batch * tiles_m * tiles_n * tiles_k
        mma_cycles = _ceil(mma, s.units) * s.tile_cycles
        out_pad = batch * tiles_m * s.tile_m * tiles_n * s.tile_n
        # one shift-add per plane pair per output, plus one offset-correction add when
        # an operand is binary {-1,+1} (stored as 0/1 bits: v = 2b - 1)
        epi_ops = (planes + int(has_offset(w) or has_offset(a))) * out_pad
        epi_cycles = _ceil(epi_ops, s.epilogue_ops_per_cycle)
        pack_words = pa * batch * m * _ceil(k, 32)
        pack_cycles = _ceil(pack_words, s.pack_words_per_cycle)
        cycles = mma_cycles + epi_cycles + pack_cycles
        word = s.tile_k
        logic = ActionKind.AND if s.logic_op == "and" else ActionKind.XNOR
        lanes = mma * s.tile_m * s.tile_n  # one k-wide word op per output lane per MMA
        actions = {
            Action(logic, (word,)): lanes,
            Action(ActionKind.POPCOUNT, (word,)): lanes,
            Action(ActionKind.ADD, (s.accumulator_bits,)): lanes,
            Action(ActionKind.SHIFT_ADD, (s.accumulator_bits,)): epi_ops,
            Action(ActionKind.BIT_TRANSPOSE, (32,)): pack_words,
        }
        return TileCompute(cycles=_scalar(cycles), actions={k_: _scalar(v) for k_, v in actions.items()},
                           ran_as=f"{planes} one-bit GEMMs ({pw} weight x {pa} activation planes)")

    def _plan(self, w: Format, a: Format) -> tuple[Any, ...]:
        """(weight planes, activation planes, offset add, action keys, ran_as) of a (non-salient)
        format pair, memoised per model instance (`PairMemo`; the spec is frozen)."""
        hit = self._plans.get(w, a)
        if hit is None:
            s = self.spec
            pw, pa = self.plane_counts(w, a)
            logic = ActionKind.AND if s.logic_op == "and" else ActionKind.XNOR
            keys = (Action(logic, (s.tile_k,)), Action(ActionKind.POPCOUNT, (s.tile_k,)),
                    Action(ActionKind.ADD, (s.accumulator_bits,)), Action(ActionKind.SHIFT_ADD, (s.accumulator_bits,)),
                    Action(ActionKind.BIT_TRANSPOSE, (32,)))
            hit = (pw, pa, int(has_offset(w) or has_offset(a)), keys,
                   f"{pw * pa} one-bit GEMMs ({pw} weight x {pa} activation planes)")
            self._plans.put(w, a, hit)
        return hit

    def _compute_int(self, m: int, k: int, n: int, w: Format, a: Format, batch: int) -> TileCompute:
        """`compute` of a non-salient format pair on non-negative plain ints (the mapper's
        whole-GEMM calls): the same integer formulas in Python arithmetic (equal: tests)."""
        s = self.spec
        pw, pa, offset, keys, ran = self._plan(w, a)
        planes = pw * pa
        tiles_m, tiles_n, tiles_k = -(-m // s.tile_m), -(-n // s.tile_n), -(-k // s.tile_k)
        mma = planes * batch * tiles_m * tiles_n * tiles_k
        out_pad = batch * tiles_m * s.tile_m * tiles_n * s.tile_n
        epi_ops = (planes + offset) * out_pad
        pack_words = pa * batch * m * -(-k // 32)
        cycles = (-(-mma // s.units) * s.tile_cycles + -(-epi_ops // s.epilogue_ops_per_cycle)
                  + -(-pack_words // s.pack_words_per_cycle))
        lanes = mma * s.tile_m * s.tile_n
        return TileCompute(cycles=cycles, actions=dict(zip(keys, (lanes, lanes, lanes, epi_ops, pack_words))),
                           ran_as=ran)

    def peak_macs_per_cycle(self, w: Format, a: Format) -> float:
        s = self.spec
        if w.kind is FormatKind.SALIENT_CHANNEL:  # planes averaged over the rows: (4 kc + g - kc) / g
            assert w.group_size is not None
            pw_avg = (3 * w.salient_count + w.group_size) / w.group_size
            return s.units * s.tile_m * s.tile_n * s.tile_k / s.tile_cycles / (pw_avg * bit_planes(a))
        pw, pa = self.plane_counts(w, a)
        return s.units * s.tile_m * s.tile_n * s.tile_k / s.tile_cycles / (pw * pa)

    def area_mm2(self, node_nm: float) -> float:
        """Area of the core's MMA units.

        With `unit_area_mm2 = 0`, each binary MAC lane is estimated at 4 NAND2
        equivalents (AND/XOR + its share of the popcount tree and adder) of
        0.8 um^2 at 45 nm (a NAND2 is ~0.8 um^2 in a 45 nm standard-cell
        library), scaled by (node/45)^2.
        """
        s = self.spec
        if s.unit_area_mm2 > 0:
            return s.units * s.unit_area_mm2
        lanes_per_cycle = s.tile_m * s.tile_n * s.tile_k / s.tile_cycles
        um2 = s.units * lanes_per_cycle * 4 * 0.8 * (node_nm / 45.0) ** 2
        return um2 * 1e-6


def _scalar(v: Any) -> Any:
    arr = np.asarray(v)
    return int(arr) if arr.ndim == 0 else arr
