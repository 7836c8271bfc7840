"""At-scale co-design sweep (issue 19 item 6): the evolutionary strategy over the 100,000-design
space `benchmarks/spaces/scale100k.yaml` (x 2 models), on dask.distributed (a LocalCluster of
`--workers` worker processes, one thread each) or the local process pool, for a fixed time.

Reports points per second and per CPU-second (driver, which also runs the dask scheduler,
plus its worker processes), and samples the RSS of the driver and of every worker process
over the run: start, middle and end, to show the memory of a long sweep stays flat (every cache
on the way is a bounded LRU). Workers start once, before the clock (`executors.session`); the
quality tables are built before it too. The sweep stops at the first generation boundary after
`--seconds`.

Run: HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_sweep_scale.py [--seconds 120]
         [--workers 2] [--executor dask] [--interval 5] [--keep-store PATH]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil  # comes with dask.distributed
from lowbit.search.codesign import load_space, run_sweep
from lowbit.search.codesign.driver import model_contexts
from lowbit.search.executors import session
from lowbit.search.store import ResultStore

SPACE = Path(__file__).resolve().parent / "spaces" / "scale100k.yaml"


class _TimeUp(Exception):
    pass


def _workers(me: psutil.Process) -> list[psutil.Process]:
    """The worker processes: every descendant but multiprocessing's resource tracker."""
    out = []
    for c in me.children(recursive=True):
        try:
            if "resource_tracker" not in " ".join(c.cmdline()):
                out.append(c)
        except psutil.Error:
            pass
    return out


def _sample(me: psutil.Process) -> tuple[float, list[float], float]:
    """(driver RSS MB, worker RSS MB each, CPU seconds of driver + live workers)."""
    cpu = sum(me.cpu_times()[:2])
    rss = []
    for w in _workers(me):
        try:
            rss.append(w.memory_info().rss / 2**20)
            cpu += sum(w.cpu_times()[:2])
        except psutil.Error:
            pass
    return me.memory_info().rss / 2**20, rss, cpu


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=120.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--executor", default="dask", choices=("dask", "local"))
    ap.add_argument("--interval", type=float, default=5.0, help="RSS sampling interval (s)")
    ap.add_argument("--space", default=str(SPACE))
    ap.add_argument("--keep-store", metavar="PATH", help="copy the result store here at the end "
                    "(bench_strategy_archive.py replays it)")
    args = ap.parse_args()
    space = load_space(args.space)
    me = psutil.Process()
    ctxs = model_contexts(space, None)
    print(f"space {space.name}: {space.num_designs:,} designs x {len(space.models)} models, strategy "
          f"{space.strategy} (population {space.population}); executor {args.executor}, "
          f"{args.workers} workers; {args.seconds:g} s; load average {os.getloadavg()[0]:.2f}")
    samples: list[tuple[float, float, list[float], int]] = []
    gens: list[tuple[float, str]] = []
    with tempfile.TemporaryDirectory() as tmp, ResultStore(Path(tmp) / "s.sqlite") as st:
        t_start = time.perf_counter()
        with session(args.executor, workers=args.workers) as ex:
            if ex.client is not None:
                ex.client.wait_for_workers(args.workers)
            startup = time.perf_counter() - t_start
            stop = threading.Event()
            t0 = time.perf_counter()
            cpu0 = _sample(me)[2]

            def sampler() -> None:
                while not stop.is_set():
                    d, w, _c = _sample(me)
                    samples.append((time.perf_counter() - t0, d, w, st_count()))
                    stop.wait(args.interval)

            def st_count() -> int:
                with ResultStore(st.path) as other:  # its own connection (threads)
                    return other.count()

            def progress(msg: str) -> None:
                gens.append((time.perf_counter() - t0, msg))
                if time.perf_counter() - t0 >= args.seconds:
                    raise _TimeUp

            th = threading.Thread(target=sampler, daemon=True)
            th.start()
            try:
                run_sweep(space, st, contexts=ctxs, session=ex, quiet=True, progress=progress)
            except _TimeUp:
                pass
            wall = time.perf_counter() - t0
            d, w, cpu1 = _sample(me)
            stop.set()
            th.join()
            samples.append((wall, d, w, st.count()))
        points = st.count()
        db_mb = os.path.getsize(st.path) / 1e6
        if args.keep_store:
            st.close()
            shutil.copyfile(st.path, args.keep_store)
    cpu = cpu1 - cpu0
    print(f"workers started in {startup:.1f} s; {len(gens)} generations, {points} points in "
          f"{wall:.1f} s = {points / wall:.1f} points/s; CPU {cpu:.1f} s (driver + workers) = "
          f"{points / cpu:.1f} points per CPU-second; store {db_mb:.1f} MB; load average "
          f"{os.getloadavg()[0]:.2f}")
    print("| t (s) | points | driver RSS MB | worker RSS MB |")
    print("|---:|---:|---:|---|")
    for t, dr, wr, n in samples:
        print(f"| {t:.0f} | {n} | {dr:.0f} | {' / '.join(f'{x:.0f}' for x in wr)} |")
    pick: list[Any] = [samples[0], samples[len(samples) // 2], samples[-1]]
    print("start / middle / end: driver " + " / ".join(f"{s[1]:.0f}" for s in pick) + " MB; workers "
          + " / ".join("+".join(f"{x:.0f}" for x in s[2]) for s in pick) + " MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
