"""Quantities with units for budgets: "2ms", "5mJ", "4MB", "4GiB", "1.2e9", and what each
metric of a CostTable is counted in.

Inside lowbit every number is SI with the unit in its name (DESIGN.md rule 2):
`latency_s` (seconds), `energy_j` (joules), `memory_bytes` (bytes), `cycles`. A budget given
with a unit is converted to that base unit; its unit must be one its metric is counted in
(`latency_s=5KiB` is an error naming the metric). Plain names from an older table or a costs
JSON (`latency`, `energy`, `memory`) resolve to the SI metric when the table has it
(`metric_alias`); a costs JSON's own names (HAWQ's `latency` in ms, `size` in MiB) stay in
that file's unit, stated by the file, and take plain numbers.
"""

from __future__ import annotations

import math

from lowbit.kernels_ref.errors import InvalidSpecError
from lowbit.kernels_ref.loaders import short

__all__ = ["METRIC_ALIASES", "check_unit", "metric_unit_kind", "parse_quantity", "unit_of"]

_UNITS: dict[str, float] = {
    "": 1.0, "b": 1.0,
    "kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
    "kib": 2.0**10, "mib": 2.0**20, "gib": 2.0**30, "tib": 2.0**40,
    "k": 1e3, "m": 1e6, "g": 1e9,
    "j": 1.0, "mj": 1e-3, "uj": 1e-6, "nj": 1e-9, "pj": 1e-12,
    "s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9, "ps": 1e-12,
    "cycles": 1.0,
}

_UNIT_KIND = {**{u: "bytes" for u in ("b", "kb", "mb", "gb", "tb", "kib", "mib", "gib", "tib")},
              **{u: "joules" for u in ("j", "mj", "uj", "nj", "pj")},
              **{u: "seconds" for u in ("s", "ms", "us", "ns", "ps")}, "cycles": "cycles"}

#: Plain metric names and the SI metric they mean when a table carries that one instead.
METRIC_ALIASES = {"latency": "latency_s", "energy": "energy_j", "memory": "memory_bytes",
                  "weight_bytes": "memory_bytes"}

_DISPLAY_UNIT = {"seconds": "s", "joules": "J", "bytes": "B", "cycles": "cycles"}


def metric_unit_kind(name: str) -> str | None:
    """What a metric is counted in, by its name: seconds (latency_s, *_s), joules (energy_j,
    energy, *_j), bytes (memory_bytes, memory, size, *_bytes), cycles (cycles, latency,
    *_cycles: a plain `latency` is a cycle count or a costs file's own unit); None for a plain
    count (bops, sensitivity, ...)."""
    n = name.lower()
    if n in ("memory", "size", "weight_bytes") or n.endswith("_bytes"):
        return "bytes"
    if n == "energy" or n.endswith("_j"):
        return "joules"
    if n.endswith("_s"):
        return "seconds"
    if n in ("latency", "cycles") or n.endswith("_cycles"):
        return "cycles"
    return None


def unit_of(name: str) -> str:
    """Display unit of a metric ("s", "J", "B", "cycles"), "" for a plain number."""
    kind = metric_unit_kind(name)
    return _DISPLAY_UNIT.get(kind, "") if kind else ""


def _split(text: str) -> tuple[str, str]:
    s = str(text).strip()
    i = len(s)
    while i > 0 and s[i - 1].isalpha():
        i -= 1
    return s[:i].strip(), s[i:].strip()


def check_unit(text: str, metric: str, where: str) -> None:
    """A budget's unit must be one its metric is counted in: `latency_s=5KiB` is an error."""
    _num, unit = _split(text)
    unit_kind = _UNIT_KIND.get(unit.lower())
    if unit_kind is None:  # a plain number or a k/M/G multiplier fits any metric
        return
    want = metric_unit_kind(metric)
    if unit_kind != want:
        raise InvalidSpecError(f"{where}: {metric}={short(text, 30)[1:-1]}: {unit!r} is a unit of "
                               f"{unit_kind}, but {metric} is "
                               f"{'counted in ' + want if want else 'a plain number'}")


def parse_quantity(text: str, where: str) -> float:
    """Parse "3.5GB", "200mJ", "2ms", "1.2e9", "4GiB" into a plain SI number.

    Decimal prefixes for B/J/s; binary for KiB/MiB/GiB. Raises InvalidSpecError naming `where`.
    """
    num, unit = _split(text)
    if unit.lower() not in _UNITS:
        raise InvalidSpecError(f"{where}: unknown unit {unit!r} in {text!r} "
                               f"(use B, KB, MB, GB, KiB, MiB, GiB, J, mJ, uJ, nJ, pJ, s, ms, us, ns)")
    try:
        value = float(num)
    except ValueError:
        raise InvalidSpecError(f"{where}: {text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise InvalidSpecError(f"{where}: {text!r} must be a finite non-negative number")
    return value * _UNITS[unit.lower()]
