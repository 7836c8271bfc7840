"""`registry.all_kernels`: every kernel module contributes; a missing one is an error."""

from __future__ import annotations

import pytest
import torch
from lowbit.kernels_ref import registry

torch.set_num_threads(1)


def test_every_kernel_module_contributes() -> None:
    kernels = registry.all_kernels()
    modules = {k.fn.__module__ for k in kernels}
    assert set(registry.KERNEL_MODULES) <= modules
    assert len({k.name for k in kernels}) == len(kernels)


def test_a_missing_kernel_module_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "KERNEL_MODULES", (*registry.KERNEL_MODULES, "lowbit.kernels_ref.no_such"))
    with pytest.raises(ModuleNotFoundError, match="lowbit.kernels_ref.no_such"):
        registry.all_kernels()


def test_a_kernel_module_without_kernels_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys
    import types

    from lowbit.kernels_ref.errors import LowbitError

    empty = types.ModuleType("lowbit_test_empty_kernels")
    empty.kernels = lambda: ()  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, empty.__name__, empty)
    monkeypatch.setattr(registry, "KERNEL_MODULES", (*registry.KERNEL_MODULES, empty.__name__))
    with pytest.raises(LowbitError, match="lowbit_test_empty_kernels registers no kernel"):
        registry.all_kernels()
