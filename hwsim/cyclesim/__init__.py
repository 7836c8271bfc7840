"""Cycle-stepped simulators, one per core family (DESIGN.md rule 5).

Each module exports `simulate(x, w, w_fmt, a_fmt, spec)` that moves real values through
the family's hardware cycle by cycle and returns a result with `output` (x @ w, as the
family's `kernels_ref` kernel computes it) and `cycles` (the family's fast model's count).
Dispatch is a closed table: a family without a stepped simulator is an error.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from lowbit.hwsim.cores.base import CoreFamily
from lowbit.kernels_ref.errors import InvalidSpecError

__all__ = ["STEPPED_MODULES", "stepped_module"]

STEPPED_MODULES: dict[CoreFamily, str] = {
    CoreFamily.MAC_ARRAY: "lowbit.hwsim.cyclesim.systolic",
    CoreFamily.BIT_SERIAL: "lowbit.hwsim.cyclesim.bit_serial",
    CoreFamily.LUT_TENSOR_CORE: "lowbit.hwsim.cyclesim.lut",
    CoreFamily.LUT_CPU: "lowbit.hwsim.cyclesim.lut_cpu",
    CoreFamily.BINARY_TENSOR_CORE: "lowbit.hwsim.cyclesim.binary",
}


def stepped_module(family: CoreFamily) -> ModuleType:
    """The cycle-stepped simulator module of a family; InvalidSpecError when it has none."""
    if not isinstance(family, CoreFamily) or family not in STEPPED_MODULES:
        name = getattr(family, "value", family)
        raise InvalidSpecError(f"core family {name!r} has no cycle-stepped simulator "
                               "(register one in hwsim.cyclesim.STEPPED_MODULES)")
    return importlib.import_module(STEPPED_MODULES[family])
