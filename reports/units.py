"""Display units for reports and the command line: SI engineering formatting (1.43 ms, 3.2 mJ,
12.4 MB), the unit a column's name carries (house rule: SI inside, unit in the name), and
readable design names built from parameter values (``loom rows=128 freq=0.8GHz``).

Values come in SI base units; only this module turns them into text.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, NamedTuple

__all__ = [
    "Column",
    "cell",
    "column",
    "compact",
    "component_label",
    "design_label",
    "eng",
    "num",
    "param_text",
]

_PREFIX = ((1e-12, "p"), (1e-9, "n"), (1e-6, "µ"), (1e-3, "m"), (1.0, ""), (1e3, "k"),
           (1e6, "M"), (1e9, "G"), (1e12, "T"))


def eng(value: float | None, unit: str, digits: int = 3) -> str:
    """`value` (in SI base units) with an SI prefix: eng(0.00143, 's') -> '1.43 ms'. Bytes use
    decimal prefixes (12.4 MB = 12.4e6 B), as the unit column says."""
    if value is None or not math.isfinite(value):
        return "-"
    if value == 0:
        return f"0 {unit}"
    mag = abs(value)
    scale, p = next(((s, p) for s, p in reversed(_PREFIX) if mag >= s * 0.9995), _PREFIX[0])
    return f"{value / scale:.{digits}g} {p}{unit}"


def num(value: Any, digits: int = 4) -> str:
    """A unitless number as people write it: 611,200 / 0.3972 / 1.2 G (never 6.112e+05)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}" if abs(value) < 10**9 else eng(float(value), "").strip()
    if not isinstance(value, float):
        return str(value)
    if not math.isfinite(value):
        return "-"
    mag = abs(value)
    if mag == 0:
        return "0"
    if mag >= 1e9:
        return eng(value, "").strip()
    if mag >= 10 ** (digits - 1):
        return f"{value:,.0f}"
    if mag >= 1e-4:
        return f"{value:.{digits}g}" if "e" not in f"{value:.{digits}g}" else f"{value:f}"
    m, e = f"{value:.{digits - 1}e}".split("e")
    return f"{m}×10^{int(e)}"


class Column(NamedTuple):
    label: str    # the header text, unit in parentheses
    unit: str     # SI unit the cells carry ("" for unitless)
    prefixed: bool  # cells formatted with an SI prefix (eng) rather than as plain numbers


#: name suffix -> (unit, SI-prefixed cells). Longest suffixes first.
_SUFFIX = (("_bytes_per_s", "B/s", True), ("_macs_per_s", "MAC/s", True), ("_bytes", "B", True),
           ("_mm2", "mm²", False), ("_cycles", "cycles", False), ("_hz", "Hz", True), ("_nm", "nm", False), ("_s", "s", True),
           ("_j", "J", True), ("_w", "W", True))


def column(key: str) -> Column:
    """Header and unit of a data column named with its SI unit: 'latency_s' -> 'latency (s)',
    'params.freq_hz' -> 'freq (Hz)', 'energy_j.dram' -> 'energy: dram (J)'; other names are
    shown as they are, unitless."""
    name = key.removeprefix("params.")
    base, _, part = name.partition(".") if name.startswith("energy_j.") else (name, "", "")
    for suffix, unit, pre in _SUFFIX:
        if base.endswith(suffix) and len(base) > len(suffix):
            label = base[: -len(suffix)].replace("_", " ")
            if part:
                label = f"{label}: {component_label(part)}"
            return Column(f"{label} ({unit})", unit, pre)
    return Column(name.replace("_", " ") if name == key else name, "", False)


def cell(key: str, value: Any) -> str:
    """`value` of column `key` as text (eng for SI-prefixed units, plain numbers otherwise)."""
    col = column(key)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if col.prefixed:
            return eng(float(value), col.unit)
        if col.unit:
            return f"{num(float(value))} {col.unit}"
    return num(value)


def compact(key: str, value: Any) -> str:
    """A parameter value inside a design name: freq_hz 8e8 -> '0.8GHz', 1024 -> '1024'."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if key.endswith("freq_hz") and value >= 1e8:
        return f"{value / 1e9:g}GHz"
    col = column(key)
    if col.prefixed:
        return eng(float(value), col.unit).replace(" ", "")
    return f"{value:g}{col.unit}" if isinstance(value, float) else str(value)


def _short(key: str) -> str:
    """'core.rows' -> 'rows', 'freq_hz' -> 'freq', 'buffers.0.size_bytes' -> 'size'."""
    last = [p for p in key.split(".") if not p.isdigit()][-1] if key else key
    for suffix, _unit, _pre in _SUFFIX:
        if last.endswith(suffix) and len(last) > len(suffix):
            return last[: -len(suffix)]
    return last


def param_text(params: Mapping[str, Any]) -> str:
    """'rows=128 cols=16 freq=0.8GHz' (short names; the full key when two would collide)."""
    shorts = [_short(k) for k in params]
    return " ".join(f"{s if shorts.count(s) == 1 else k}={compact(k, v)}"
                    for s, (k, v) in zip(shorts, params.items()))


def design_label(base: str, params: Mapping[str, Any] | None) -> str:
    """A design's readable id: its base and parameter values ('loom rows=128 freq=0.8GHz');
    a preset without parameters is 'bitmod (preset)'."""
    if not params:
        return f"{base} (preset)"
    return f"{base} {param_text(params)}"


_COMPONENTS = {"mac": "MAC", "add": "adders", "reg": "registers", "sram": "SRAM", "dram": "DRAM",
               "leakage": "leakage", "lut": "LUT reads", "popcount": "popcount",
               "table_build": "LUT build"}


def component_label(key: str) -> str:
    """An energy component's name for people: 'dram' -> 'DRAM', 'sram:L1' -> 'SRAM (L1)'."""
    head, _, level = key.partition(":")
    name = _COMPONENTS.get(head, head.replace("_", " "))
    return f"{name} ({level})" if level else name
