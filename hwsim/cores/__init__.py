"""Core families, dispatched by `CoreFamily` (DESIGN.md rule 4).

Each family lives in its own module, which exports `Spec` (a frozen dataclass
of the family's parameters, validated at construction) and `Model` (the
`CoreModel` built from a `Spec`). Dispatch is a closed table: an unknown family
is an error, never a default.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterable
from types import ModuleType
from typing import Any

from lowbit.hwsim.cores.base import CoreFamily
from lowbit.kernels_ref.errors import InvalidSpecError

__all__ = ["CoreFamily", "check_registered", "family_module"]

_MODULES: dict[CoreFamily, str] = {
    CoreFamily.MAC_ARRAY: "lowbit.hwsim.cores.mac_array",
    CoreFamily.BIT_SERIAL: "lowbit.hwsim.cores.bit_serial",
    CoreFamily.LUT_TENSOR_CORE: "lowbit.hwsim.cores.lut_tensor_core",
    CoreFamily.LUT_CPU: "lowbit.hwsim.cores.lut_cpu",
    CoreFamily.BINARY_TENSOR_CORE: "lowbit.hwsim.cores.binary_tensor_core",
}


def check_registered(families: Iterable[Any] = CoreFamily) -> None:
    """ImportError unless every family has a module in the dispatch table (run at import)."""
    missing = [getattr(f, "value", f) for f in families if f not in _MODULES]
    if missing:
        raise ImportError(f"core families without an implementation module: {missing} "
                          "(add them to lowbit.hwsim.cores._MODULES)")


check_registered()


def family_module(family: CoreFamily | str) -> ModuleType:
    """The module implementing a family; InvalidSpecError for an unknown family name.

    A registered family whose module cannot be imported is a packaging bug: ImportError."""
    if isinstance(family, str):
        try:
            family = CoreFamily(family)
        except ValueError:
            known = ", ".join(f.value for f in CoreFamily)
            raise InvalidSpecError(f"unknown core family {family!r} (known: {known})") from None
    if family not in _MODULES:
        raise InvalidSpecError(f"core family {getattr(family, 'value', family)!r} has no implementation")
    mod = sys.modules.get(_MODULES[family])
    if mod is not None and getattr(mod, "Model", None) is not None:  # imported (what import_module
        return mod                                                     # returns), without its lookup
    try:
        return importlib.import_module(_MODULES[family])
    except ModuleNotFoundError as exc:
        raise ImportError(f"core family {family.value!r}: its module {_MODULES[family]} cannot be "
                          f"imported: {exc}") from exc
