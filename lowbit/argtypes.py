"""argparse value types with stated bounds: a number outside them is a usage error (one line,
exit 2) before it reaches numpy.

The bounds are what any real run needs with a wide margin, and small enough that the
arithmetic they feed (cycles x batch, energies, seeds for numpy and torch) stays inside int64
or float64 without wrapping or overflowing:

- seeds: 0 .. 2**32 - 1, the range numpy's legacy seeding and torch.manual_seed share;
- batch: 1 .. 2**20, sequence lengths and token counts: 1 .. 2**24 (what a number of this size
  can mean; the two together can still exceed int64 cycles on a large model, which the cost
  path refuses as a numeric overflow rather than wrapping);
- Pareto points: 2 .. 1000 (each point is one integer program);
- worker processes: 1 .. 1024; ports 0 .. 65535; time limits: finite, > 0, at most a week.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

__all__ = ["BATCH_MAX", "POINTS_MAX", "SEED_MAX", "SEQ_MAX", "bounded_float", "bounded_int"]

SEED_MAX = 2**32 - 1
BATCH_MAX = 2**20
SEQ_MAX = 2**24
POINTS_MAX = 1000


def bounded_int(lo: int, hi: int, what: str) -> Callable[[str], int]:
    """An argparse `type=` that accepts a decimal integer in [lo, hi]."""

    def parse(text: str) -> int:
        t = text.strip()
        if not t.lstrip("+-").isdigit() or len(t) > 30:
            raise argparse.ArgumentTypeError(f"{what} must be an integer, got {text[:30]!r}")
        v = int(t)
        if not lo <= v <= hi:
            raise argparse.ArgumentTypeError(f"{what} {t[:30]} is out of range [{lo}, {hi}]")
        return v

    parse.__name__ = what  # argparse names the type in some messages
    return parse


def bounded_float(lo: float, hi: float, what: str, lo_open: bool = False) -> Callable[[str], float]:
    """An argparse `type=` that accepts a finite float in [lo, hi] (or (lo, hi])."""

    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be a number, got {text[:30]!r}") from None
        if not math.isfinite(v) or v > hi or v < lo or (lo_open and v == lo):
            raise argparse.ArgumentTypeError(
                f"{what} {text[:30]} is out of range {'(' if lo_open else '['}{lo}, {hi}]")
        return v

    parse.__name__ = what
    return parse
