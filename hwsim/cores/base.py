"""The one protocol every core family implements (DESIGN.md rules 3-5).

A core model answers two questions about a GEMM tile of shape (m, k, n), run
`batch` times, with weight format `w` and activation format `a`:

- how many compute cycles one core needs (no memory stalls: that is
  `hwsim.memory`'s job), and
- how many of each hardware *action* it performs (count, then cost: the
  energy table in `hwsim.energy` prices actions; cores never know joules).

Shapes may be numpy integer arrays (broadcast together) so that the mapper can
price many candidate tiles in one call; results then are arrays too.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np
from lowbit.kernels_ref.formats import Format

__all__ = [
    "Action",
    "ActionKind",
    "CoreFamily",
    "CoreModel",
    "Dataflow",
    "TileCompute",
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

    def __str__(self) -> str:
        return f"{self.kind.value}:{'x'.join(map(str, self.bits))}"


@dataclass
class TileCompute:
    """Compute cycles and action counts for a tile (scalars or broadcast arrays)."""

    cycles: Any  # int or np.ndarray[int64]
    actions: dict[Action, Any] = field(default_factory=dict)
    ran_as: str = ""  # e.g. "int8x8 (int4 widened: core lacks int4)"; empty when native

    def total_actions(self) -> dict[Action, float]:
        return {a: float(np.sum(v)) for a, v in self.actions.items()}


@runtime_checkable
class CoreModel(Protocol):
    """Implemented by `Model` in each `hwsim.cores.<family>` module."""

    family: ClassVar[CoreFamily]

    @property
    def dataflows(self) -> tuple[Dataflow, ...]:
        """Dataflows the mapper may choose among (`(Dataflow.NONE,)` if no choice)."""
        ...

    def compute(self, m: Any, k: Any, n: Any, w: Format, a: Format,
                dataflow: Dataflow, batch: Any = 1) -> TileCompute:
        """Stall-free compute cycles and actions of `batch` GEMMs (m x k)(k x n) on one core."""
        ...

    def peak_macs_per_cycle(self, w: Format, a: Format) -> float:
        """Peak MACs per cycle of one core at these formats (for rooflines and utilisation)."""
        ...

    def area_mm2(self, node_nm: float) -> float:
        """Core area at a technology node."""
        ...
