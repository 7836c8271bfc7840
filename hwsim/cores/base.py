"""The one protocol every core family implements (DESIGN.md rules 3-5).

A core model answers two questions about a GEMM tile of shape (m, k, n), run
`batch` times, with weight format `w` and activation format `a`:

- how many compute cycles one core needs (no memory stalls: that is
  `hwsim.memory`'s job), and
- how many of each hardware *action* it performs (count, then cost: the
  energy table in `hwsim.energy` prices actions; cores never know joules).

Shapes may be numpy integer arrays (broadcast together) so that the mapper can
price many candidate tiles in one call; results then are arrays too.

A model also states, in `mapping_hints(layer)`, everything `mapper` and `hwsim.memory`
need to know about the family (DESIGN.md rule 14): nothing outside a family reads its
fields by name. `lowbit.hwsim.cores.checks.check_core_family` runs the invariants.
"""

from __future__ import annotations

import enum
import itertools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

import numpy as np
from lowbit.kernels_ref.errors import InvalidSpecError
from lowbit.kernels_ref.formats import Format

if TYPE_CHECKING:
    from lowbit.models.ir import Layer

__all__ = [
    "Action",
    "ActionKind",
    "CoreFamily",
    "CoreModel",
    "Dataflow",
    "MappingHints",
    "PairMemo",
    "TileCompute",
    "array_dims_of",
    "require_no_k_segment",
]


class CoreFamily(enum.Enum):
    MAC_ARRAY = "mac_array"
    BIT_SERIAL = "bit_serial"
    LUT_TENSOR_CORE = "lut_tensor_core"
    LUT_CPU = "lut_cpu"
    BINARY_TENSOR_CORE = "binary_tensor_core"


class Dataflow(enum.Enum):
    WEIGHT_STATIONARY = "ws"
    OUTPUT_STATIONARY = "os"
    INPUT_STATIONARY = "is"
    NONE = "none"  # cores without a spatial dataflow choice (tensor-core style, LUT, CPU)


class ActionKind(enum.Enum):
    """What a core does, at what widths. `Action.bits` holds the operand widths."""

    MAC_INT = "mac_int"            # bits = (w_bits, a_bits)
    MAC_FP = "mac_fp"              # bits = (w_bits, a_bits) of the float operands
    ADD = "add"                    # bits = (width,)
    SHIFT_ADD = "shift_add"        # bits = (accumulator width,)
    REG_READ = "reg_read"          # bits = (width,)
    LUT_READ = "lut_read"          # bits = (entry width,)
    LUT_WRITE = "lut_write"        # bits = (entry width,)
    XNOR = "xnor"                  # bits = (word width,)
    AND = "and"                    # bits = (word width,)
    POPCOUNT = "popcount"          # bits = (word width,)
    DEQUANT = "dequant"            # bits = (output width,)
    BIT_TRANSPOSE = "bit_transpose"  # bits = (word width,)


@dataclass(frozen=True, order=True)
class Action:
    kind: ActionKind
    bits: tuple[int, ...]

    def __hash__(self) -> int:
        """hash((kind, bits)), computed once per Action (the core models' dicts and the energy
        table hash the same few actions many times; the enum's Python-level hash dominates)."""
        h = self.__dict__.get("_hash")
        if h is None:
            h = hash((self.kind, self.bits))
            object.__setattr__(self, "_hash", h)
        return h

    def __reduce__(self) -> tuple[Any, tuple[ActionKind, tuple[int, ...]]]:
        # rebuilt from its fields: a str-keyed enum hashes differently in another process
        return (Action, (self.kind, self.bits))

    def __str__(self) -> str:
        return f"{self.kind.value}:{'x'.join(map(str, self.bits))}"


class PairMemo:
    """A bounded memo keyed by a (weight, activation) format pair, per core model instance (the
    spec is frozen): looked up by the formats' identity first (hashing a frozen `Format` costs
    ~1 us), then by equality; cleared past `limit` pairs."""

    __slots__ = ("_by_eq", "_by_id", "limit")

    def __init__(self, limit: int = 256) -> None:
        self._by_id: dict[tuple[int, int], tuple[Format, Format, Any]] = {}
        self._by_eq: dict[tuple[Format, Format], Any] = {}
        self.limit = limit

    def __len__(self) -> int:
        return len(self._by_eq)

    def get(self, w: Format, a: Format) -> Any:
        """The stored value of (w, a), or None."""
        if not self._by_eq:  # empty (a new model): nothing to hash the pair for
            return None
        hit = self._by_id.get((id(w), id(a)))
        if hit is not None and hit[0] is w and hit[1] is a:  # the pair kept alive: its ids are its own
            return hit[2]
        val = self._by_eq.get((w, a))
        if val is not None:
            self._remember(w, a, val)
        return val

    def put(self, w: Format, a: Format, val: Any) -> None:
        if len(self._by_eq) >= self.limit:
            self._by_eq.clear()
            self._by_id.clear()
        self._by_eq[(w, a)] = val
        self._remember(w, a, val)

    def _remember(self, w: Format, a: Format, val: Any) -> None:
        if len(self._by_id) >= 2 * self.limit:
            self._by_id.clear()
        self._by_id[(id(w), id(a))] = (w, a, val)


@dataclass
class TileCompute:
    """Compute cycles and action counts for a tile (scalars or broadcast arrays)."""

    cycles: Any  # int or np.ndarray[int64]
    actions: dict[Action, Any] = field(default_factory=dict)
    ran_as: str = ""  # e.g. "int8x8 (int4 widened: core lacks int4)"; empty when native
    steps: Any = None  # array steps (each a pass of the whole array), for `sram_counts: array_steps`;
    #                    None: the family does not count them

    def total_actions(self) -> dict[Action, float]:
        return {a: float(np.sum(v)) for a, v in self.actions.items()}


@dataclass(frozen=True)
class MappingHints:
    """What a core family tells `mapper` and `hwsim.memory` about one layer on it.

    - `array_dims`: the array's extents (each > 1, ascending, unique). The mapper's tile
      candidates per GEMM dimension include their multiples, and none is narrower than the
      smallest (a narrower tile would leave the array idle).
    - `k_segment`: > 0 when this layer's K is reduced as independent runs of this length
      (Bit Fusion reduces a conv one kernel position at a time over its input channels);
      `hwsim.memory` passes it to `compute(k_segment=)`. 0: one plain reduction.
    - `row_split`: whether the mapper may also split a layer over cores by rows (M).
    - `min_tile_n`: the narrowest whole N tile worth trying under `MemoryRules.padded_tiles`
      (the array's N extent: a narrower whole tile idles columns on every tile); 1: no floor.
    - `accumulator_bits`: width of the partial sums a K-split tile holds on chip.
    - `pad_n`, `pad_k_rows`: under `MemoryRules.array_padding`, an output tile's N is stored
      padded to a multiple of `pad_n` (the array columns spreading N) and a weight tile's K to
      a multiple of `pad_k_rows` x the MACs one row does per cycle at the layer's precisions
      (Bit Fusion: N rows x perf factor); 1: no padding.
    - `pe_count`: processing elements of one core's array, for an energy per PE-cycle
      (`energy: {pe_cycle_j: ...}`); 0: the family does not state it.
    """

    array_dims: tuple[int, ...] = ()
    k_segment: int = 0
    row_split: bool = False
    min_tile_n: int = 1
    accumulator_bits: int = 32
    pad_n: int = 1
    pad_k_rows: int = 1
    pe_count: int = 0

    def __post_init__(self) -> None:
        if not self._plain():
            self._check()

    def _plain(self) -> bool:
        """Plain ints, strictly ascending dims, a bool row split: every check of `_check` passes
        (a cheaper test; anything else takes the full checks)."""
        dims = self.array_dims
        return type(dims) is tuple and all(type(d) is int and d > 1 for d in dims) \
            and all(x < y for x, y in itertools.pairwise(dims)) and type(self.k_segment) is int \
            and self.k_segment >= 0 and type(self.row_split) is bool and type(self.min_tile_n) is int \
            and self.min_tile_n >= 1 and type(self.accumulator_bits) is int and self.accumulator_bits >= 1 \
            and type(self.pad_n) is int and self.pad_n >= 1 and type(self.pad_k_rows) is int \
            and self.pad_k_rows >= 1 and type(self.pe_count) is int and self.pe_count >= 0

    def _check(self) -> None:
        dims = self.array_dims
        if not isinstance(dims, tuple) or not all(_pos_int(d) and d > 1 for d in dims) \
                or list(dims) != sorted(set(dims)):
            raise InvalidSpecError(f"mapping hints: array_dims must be ascending unique ints > 1, got {dims!r}")
        if not (_pos_int(self.k_segment) or self.k_segment == 0) or isinstance(self.k_segment, bool):
            raise InvalidSpecError(f"mapping hints: k_segment must be an int >= 0, got {self.k_segment!r}")
        if not isinstance(self.row_split, bool):
            raise InvalidSpecError(f"mapping hints: row_split must be a bool, got {self.row_split!r}")
        for key in ("min_tile_n", "accumulator_bits", "pad_n", "pad_k_rows"):
            if not _pos_int(getattr(self, key)):
                raise InvalidSpecError(f"mapping hints: {key} must be a positive int, got {getattr(self, key)!r}")
        if not (_pos_int(self.pe_count) or self.pe_count == 0) or isinstance(self.pe_count, bool):
            raise InvalidSpecError(f"mapping hints: pe_count must be an int >= 0, got {self.pe_count!r}")


def _pos_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 1


def array_dims_of(*extents: int) -> tuple[int, ...]:
    """Ascending unique extents above 1 (the `MappingHints.array_dims` form)."""
    return tuple(sorted({int(e) for e in extents if int(e) > 1}))


def require_no_k_segment(family: str, k_segment: Any) -> None:
    """For families that reduce K in one run: a K segment other than None/0 is an error."""
    if k_segment is not None and np.any(np.asarray(k_segment) != 0):
        raise InvalidSpecError(f"{family}: this core reduces K in one run; it takes no k_segment "
                               f"(got {k_segment!r})")


@runtime_checkable
class CoreModel(Protocol):
    """Implemented by `Model` in each `hwsim.cores.<family>` module."""

    family: ClassVar[CoreFamily]

    @property
    def dataflows(self) -> tuple[Dataflow, ...]:
        """Dataflows the mapper may choose among (`(Dataflow.NONE,)` if no choice)."""
        ...

    def compute(self, m: Any, k: Any, n: Any, w: Format, a: Format,
                dataflow: Dataflow, batch: Any = 1, k_segment: Any = None) -> TileCompute:
        """Stall-free compute cycles and actions of `batch` GEMMs (m x k)(k x n) on one core.

        `k_segment` is the `MappingHints.k_segment` of the layer (None or 0: one plain
        reduction); a family whose hints never set one raises InvalidSpecError for any other."""
        ...

    def mapping_hints(self, layer: Layer | None = None) -> MappingHints:
        """What the mapper and the memory model need for `layer` (None: no layer-specific hint)."""
        ...

    def peak_macs_per_cycle(self, w: Format, a: Format) -> float:
        """Peak MACs per cycle of one core at these formats (for rooflines and utilisation)."""
        ...

    def area_mm2(self, node_nm: float) -> float:
        """Core area at a technology node."""
        ...
