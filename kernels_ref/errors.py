"""Typed errors shared by every lowbit package (DESIGN.md rule 7).

They live at the bottom of the dependency graph, beside `kernels_ref.formats`,
so that `models` and `kernels_ref` can raise them without importing upwards.
The CLI turns any `LowbitError` into one line on stderr and exit code 2.
"""

from __future__ import annotations

__all__ = [
    "InfeasibleBudgetError",
    "InvalidSpecError",
    "LowbitError",
    "MappingInfeasibleError",
    "UnsupportedFormatError",
]


class LowbitError(Exception):
    """Base of every error lowbit raises on purpose."""


class InvalidSpecError(LowbitError, ValueError):
    """A spec, config, argument or file is malformed; the message names what and where."""


class UnsupportedFormatError(LowbitError, ValueError):
    """A number format is unknown, or a component cannot run it."""


class MappingInfeasibleError(LowbitError):
    """No mapping of a layer fits the hardware; names the layer and the smallest buffer that fits."""


class InfeasibleBudgetError(LowbitError):
    """Budgets cannot all be met; `minimums` holds the smallest achievable value of each budget."""

    def __init__(self, message: str, minimums: dict[str, float] | None = None) -> None:
        super().__init__(message)
        self.minimums: dict[str, float] = dict(minimums or {})
