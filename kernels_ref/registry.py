"""The contract between the reference-kernel modules and the verification harness.

Each kernel module (`dense`, `bitserial`, `lut`, `binary`) exports a function
`kernels() -> tuple[RefKernel, ...]`; `kernels_ref.verify` collects them by
calling `all_kernels()`. No global mutable registry: the list is rebuilt on call.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from lowbit.kernels_ref.errors import LowbitError
from lowbit.kernels_ref.formats import Format

__all__ = ["KERNEL_MODULES", "RefKernel", "all_kernels"]

KERNEL_MODULES: tuple[str, ...] = (
    "lowbit.kernels_ref.dense",
    "lowbit.kernels_ref.bitserial",
    "lowbit.kernels_ref.lut",
    "lowbit.kernels_ref.binary",
    "lowbit.kernels_ref.i2s",
    "lowbit.kernels_ref.composite",
)


@dataclass(frozen=True)
class RefKernel:
    """One reference kernel and the formats it is verified on.

    `fn(x, w_codes, w_fmt, a_fmt)` computes x @ w where `x` is [M, K] (integer
    activation codes if `a_fmt` is INT/UINT/BINARY/TERNARY, else float values)
    and `w_codes` is [K, N] integer weight codes of `w_fmt`. It returns the
    unscaled product: int64 for integer paths (`exact=True`, compared for
    equality), float for float-activation paths (compared within `rel_tol`).

    `draw(w_fmt, k, n, gen, extreme)`, when set, makes the weights instead of integer codes:
    it returns (the object passed to `fn` as `w_codes`, its float64 values [K, N]); the
    oracle is then a float64 matmul of those values (composite formats, `kernels_ref.composite`).
    """

    name: str
    family: str
    weight_formats: tuple[str, ...]
    act_formats: tuple[str, ...]
    fn: Callable[[torch.Tensor, torch.Tensor, Format, Format], torch.Tensor]
    exact: bool = True
    rel_tol: float = 0.0
    draw: Callable[[Format, int, int, torch.Generator, bool], tuple[Any, torch.Tensor]] | None = None


def all_kernels() -> tuple[RefKernel, ...]:
    """Every kernel of every module in KERNEL_MODULES. A module that fails to import, or
    that registers no kernel, is an error (never skipped)."""
    out: list[RefKernel] = []
    for name in KERNEL_MODULES:
        kernels = tuple(importlib.import_module(name).kernels())
        if not kernels:
            raise LowbitError(f"kernel module {name} registers no kernel")
        out.extend(kernels)
    return tuple(out)
