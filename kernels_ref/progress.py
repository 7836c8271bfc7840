"""Progress bars for long work: tqdm on a terminal, silent otherwise (pipes, CI, tests)."""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["progress"]


def progress(total: int, desc: str, *, quiet: bool = False, unit: str = "it") -> Any:
    """A tqdm bar of `total` steps on stderr, disabled when `quiet` or stderr is not a terminal."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=quiet or not sys.stderr.isatty(), leave=False)
