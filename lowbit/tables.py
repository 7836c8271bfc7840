"""Plain-text tables and engineering units for the command line (reports draw their own)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

__all__ = ["eng", "table"]

_PREFIX = ((1e-12, "p"), (1e-9, "n"), (1e-6, "µ"), (1e-3, "m"), (1.0, ""), (1e3, "k"),
           (1e6, "M"), (1e9, "G"), (1e12, "T"))


def eng(value: float, unit: str, digits: int = 3) -> str:
    """`value` (in SI base units) with an SI prefix: eng(0.00143, 's') -> '1.43 ms'. Bytes use
    decimal prefixes (12.4 MB = 12.4e6 B), as the unit column says."""
    if value is None or not math.isfinite(value):
        return "-"
    if value == 0:
        return f"0 {unit}"
    mag = abs(value)
    scale, p = next(((s, p) for s, p in reversed(_PREFIX) if mag >= s * 0.9995), _PREFIX[0])
    return f"{value / scale:.{digits}g} {p}{unit}"


def table(rows: Iterable[Sequence[str]], header: Sequence[str], right: Iterable[int] = ()) -> str:
    """Columns padded to their widest cell; indices in `right` are right-aligned."""
    rows = [tuple(r) for r in rows]
    right = set(right)
    widths = [max(len(r[i]) for r in [tuple(header), *rows]) for i in range(len(header))]
    lines = ["  ".join(c.rjust(w) if i in right else c.ljust(w)
                       for i, (c, w) in enumerate(zip(r, widths))).rstrip()
             for r in [tuple(header), *rows]]
    return "\n".join(lines)
