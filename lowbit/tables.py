"""Plain-text tables for the command line; engineering units come from `lowbit.reports.units`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from lowbit.reports.units import eng  # one formatter for the CLI and the reports

__all__ = ["eng", "table"]


def table(rows: Iterable[Sequence[str]], header: Sequence[str], right: Iterable[int] = ()) -> str:
    """Columns padded to their widest cell; indices in `right` are right-aligned."""
    rows = [tuple(r) for r in rows]
    right = set(right)
    widths = [max(len(r[i]) for r in [tuple(header), *rows]) for i in range(len(header))]
    lines = ["  ".join(c.rjust(w) if i in right else c.ljust(w)
                       for i, (c, w) in enumerate(zip(r, widths))).rstrip()
             for r in [tuple(header), *rows]]
    return "\n".join(lines)
