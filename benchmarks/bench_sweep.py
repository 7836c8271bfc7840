"""Co-design sweep throughput (issue 9): the 2000-point sweep (1000 designs x 2 models) of
`benchmarks/spaces/sweep2000.yaml` with the local process pool and with dask.distributed
(LocalCluster), each into a fresh store; the two stores must hold identical results.

Run: HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_sweep.py [--workers 2] [--executors local,dask]

Throughput = evaluated points / seconds of the sweep itself (quality tables are built
before it starts; the dask figure includes starting the LocalCluster and its workers).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from lowbit.search.codesign import load_space, run_sweep
from lowbit.search.store import ResultStore

SPACE = Path(__file__).resolve().parent / "spaces" / "sweep2000.yaml"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--executors", default="local,dask")
    ap.add_argument("--space", default=str(SPACE))
    args = ap.parse_args()
    space = load_space(args.space)
    snaps = {}
    with tempfile.TemporaryDirectory() as tmp:
        for ex in args.executors.split(","):
            db = Path(tmp) / f"{ex}.sqlite"
            t0 = time.perf_counter()
            with ResultStore(db) as st:
                s = run_sweep(space, st, executor=ex, workers=args.workers, quiet=True)
                snaps[ex] = st.snapshot()
            wall = time.perf_counter() - t0
            print(f"{ex:6s}: {s.evaluated} points ({s.ok} ok, {s.infeasible} infeasible, {s.invalid} invalid) "
                  f"sweep {s.seconds:.2f} s = {s.points_per_s:.1f} points/s; wall incl. quality tables "
                  f"{wall:.2f} s")
    names = list(snaps)
    same = all(snaps[n] == snaps[names[0]] for n in names[1:])
    print(f"stores identical across {', '.join(names)}: {same} ({len(snaps[names[0]])} rows)")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
