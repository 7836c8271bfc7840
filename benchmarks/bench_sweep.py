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
DISTINCT = Path(__file__).resolve().parent / "spaces" / "distinct.yaml"


def distinct(path: str) -> int:
    """Fully distinct designs (issue 19 item 2): the serial executor in this process, points per
    CPU-second of the sweep (quality tables built before the clock starts)."""
    import os

    from lowbit.search.codesign.driver import model_contexts

    space = load_space(path)
    ctxs = model_contexts(space, None)
    with tempfile.TemporaryDirectory() as tmp, ResultStore(Path(tmp) / "d.sqlite") as st:
        c0, t0 = time.process_time(), time.perf_counter()
        s = run_sweep(space, st, executor="serial", quiet=True, contexts=ctxs)
        cpu, wall = time.process_time() - c0, time.perf_counter() - t0
    print(f"distinct designs ({path}): {s.evaluated} points ({s.ok} ok, {s.infeasible} infeasible, "
          f"{s.invalid} invalid) in {cpu:.2f} CPU s = {s.evaluated / cpu:.1f} points per CPU-second "
          f"(wall {wall:.2f} s; load average {os.getloadavg()[0]:.1f}; target >= 100)")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--executors", default="local,dask")
    ap.add_argument("--space", default=str(SPACE))
    ap.add_argument("--distinct", nargs="?", const=str(DISTINCT), default=None, metavar="SPACE",
                    help="fully distinct designs, serial, points per CPU-second (default space: "
                         "benchmarks/spaces/distinct.yaml)")
    args = ap.parse_args()
    if args.distinct:
        return distinct(args.distinct)
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
