"""Run a benchmark script against another checkout of this repository, in this venv.

    git worktree add /tmp/old REV
    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/run_tree.py /tmp/old /tmp/old/benchmarks/bench_sweep.py --distinct

The editable install (`pip install -e .`) maps each `lowbit` package to a folder of this checkout
(the `MAPPING` of its `__editable___lowbit_*_finder` module); this points that map at ROOT's
folders instead, then runs SCRIPT as `__main__` with the remaining arguments. So an earlier tree
is measured on today's machine with the same interpreter and dependencies (how the session-6
rows of issue 19 in RESULTS.md told a slower VM from a code regression). Files a tree's code
reads by path (presets, configs) come from ROOT too, since they sit in its package folders.
"""

from __future__ import annotations

import importlib
import runpy
import sys
from pathlib import Path


def main() -> int:
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    root, script = Path(sys.argv[1]).resolve(), sys.argv[2]
    here = Path(__file__).resolve().parents[1]
    finders = [m for m in sys.modules if m.startswith("__editable___lowbit") and m.endswith("_finder")]
    if not finders or "lowbit" in sys.modules:
        print("run_tree: needs lowbit's editable install, not yet imported", file=sys.stderr)
        return 2
    mapping = importlib.import_module(finders[0]).MAPPING
    mapping.update({k: v.replace(str(here), str(root), 1) for k, v in mapping.items()})
    sys.argv = sys.argv[2:]
    runpy.run_path(script, run_name="__main__")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
