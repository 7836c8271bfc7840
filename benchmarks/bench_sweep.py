"""Co-design sweep throughput (issue 9): the 2000-point sweep (1000 designs x 2 models) of
`benchmarks/spaces/sweep2000.yaml` with the local process pool and with dask.distributed
(LocalCluster), each into a fresh store; the two stores must hold identical results.

Run: HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_sweep.py [--workers 2] [--executors local,dask]

Throughput = evaluated points / seconds of the sweep itself (quality tables are built
before it starts; the workers start before the sweep's clock (`executors.session`; dask's also
import lowbit first, as the forked pool's have), that start-up reported beside it. CPU seconds
of the sweep are the driver's (which runs the dask scheduler) plus its live worker processes';
"all told" adds the start-up and the shutdown.

Per CPU-second on one core (issue 19 item 2), the serial executor in this process:
`--shared` (the 2000 points above, designs sharing structure: 5 clocks per array/DRAM
structure; target >= 300) and `--distinct` (every point a different design; target >= 100).
`--ab SPACE` runs that space serially in this process alternating the reference path
(`SweepCaches(reference=True)`: one `hwsim.evaluate` per layer and choice, every point assembled
alone) and the fast path, hwsim's and the mapper's caches cleared before each run, and checks
the two stores are identical.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from lowbit.search.codesign import load_space, run_sweep
from lowbit.search.executors import session
from lowbit.search.store import ResultStore

SPACE = Path(__file__).resolve().parent / "spaces" / "sweep2000.yaml"
DISTINCT = Path(__file__).resolve().parent / "spaces" / "distinct.yaml"


def _cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _tree_cpu() -> float:
    """CPU seconds of this process and its live worker processes so far."""
    import psutil  # comes with dask.distributed

    me = psutil.Process()
    total = sum(me.cpu_times()[:2])
    for c in me.children(recursive=True):
        try:
            total += sum(c.cpu_times()[:2])
        except psutil.Error:
            pass
    return total


def _warm() -> None:
    import lowbit.search.codesign.worker  # noqa: F401 - what a task's unpickling imports


def per_cpu_second(path: str, what: str, target: int, jit: bool = True) -> int:
    """The serial executor in this process, points per CPU-second of the sweep (quality tables
    built before the clock starts)."""
    from lowbit.mapper import fast
    from lowbit.search.codesign.driver import model_contexts

    space = load_space(path)
    ctxs = model_contexts(space, None)
    j0 = time.process_time()
    if jit:
        fast.prefer_jit()  # what a sweep's worker does first: numba imported, the cached kernel loaded
    else:
        fast.set_jit("off")
    start = time.process_time() - j0
    with tempfile.TemporaryDirectory() as tmp, ResultStore(Path(tmp) / "d.sqlite") as st:
        c0, t0 = time.process_time(), time.perf_counter()
        s = run_sweep(space, st, executor="serial", quiet=True, contexts=ctxs)
        cpu, wall = time.process_time() - c0, time.perf_counter() - t0
    print(f"{what} ({path}): {s.evaluated} points ({s.ok} ok, {s.infeasible} infeasible, "
          f"{s.invalid} invalid) in {cpu:.2f} CPU s = {s.evaluated / cpu:.1f} points per CPU-second "
          f"(wall {wall:.2f} s; load average {os.getloadavg()[0]:.1f}; target >= {target}); mapper "
          f"{'compiled latency search, its start-up (numba import + cached kernel) ' + format(start, '.2f') + ' CPU s before the clock' if jit else 'numpy only (--no-jit)'}; "
          f"{s.evaluated / (cpu + start):.1f} points per CPU-second with the start-up")
    return 0


def ab(path: str, rounds: int, jit: bool = False) -> int:
    """Two paths alternated in this process, points per CPU-second of each run, the two
    stores compared: the reference path against the fast one, or (`jit`) the fast path with
    the mapper's numpy latency search against its compiled one (numba imported and the kernel
    loaded before the first round)."""
    from lowbit.hwsim.evaluate import clear_cache
    from lowbit.mapper import fast
    from lowbit.search.codesign import SweepCaches
    from lowbit.search.codesign.driver import model_contexts

    space = load_space(path)
    ctxs = model_contexts(space, None)
    arms = {"numpy": (False, "off"), "compiled": (False, "on")} if jit else \
        {"reference": (True, "on"), "fast": (False, "on")}
    fast.set_jit("on")
    rates: dict[str, list[float]] = {name: [] for name in arms}
    snaps = {}
    for _ in range(rounds):
        for name, (reference, mode) in arms.items():
            clear_cache()
            fast.set_jit(mode)
            with tempfile.TemporaryDirectory() as tmp, ResultStore(Path(tmp) / "d.sqlite") as st:
                c0 = time.process_time()
                s = run_sweep(space, st, executor="serial", quiet=True, contexts=ctxs,
                              caches=SweepCaches(reference=reference))
                cpu = time.process_time() - c0
                snaps[name] = st.snapshot()
            rates[name].append(s.evaluated / cpu)
            print(f"{name:9s}: {s.evaluated} points in {cpu:.2f} CPU s = {s.evaluated / cpu:.1f} points per "
                  f"CPU-second (load average {os.getloadavg()[0]:.1f})", flush=True)
    (a, b) = arms
    same = snaps[a] == snaps[b]
    ratio = sorted(f / r for f, r in zip(rates[b], rates[a]))
    print(f"{path}: {b} / {a} per round {', '.join(f'{x:.2f}' for x in ratio)}; best "
          f"{max(rates[a]):.1f} -> {max(rates[b]):.1f} points per CPU-second; "
          f"stores identical: {same} ({len(snaps[b])} rows)")
    return 0 if same else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--executors", default="local,dask")
    ap.add_argument("--space", default=str(SPACE))
    ap.add_argument("--distinct", nargs="?", const=str(DISTINCT), default=None, metavar="SPACE",
                    help="fully distinct designs, serial, points per CPU-second (default space: "
                         "benchmarks/spaces/distinct.yaml)")
    ap.add_argument("--shared", nargs="?", const=str(SPACE), default=None, metavar="SPACE",
                    help="designs sharing structure, serial, points per CPU-second (default space: "
                         "benchmarks/spaces/sweep2000.yaml)")
    ap.add_argument("--ab", default=None, metavar="SPACE",
                    help="reference vs fast path on SPACE, alternated in one process (serial)")
    ap.add_argument("--jit-ab", default=None, metavar="SPACE",
                    help="the mapper's numpy vs compiled latency search on SPACE, alternated in one process")
    ap.add_argument("--rounds", type=int, default=3, help="alternations for --ab / --jit-ab")
    ap.add_argument("--no-jit", action="store_true",
                    help="--distinct / --shared with the mapper's numpy latency search only")
    args = ap.parse_args()
    if args.ab or args.jit_ab:
        return ab(args.ab or args.jit_ab, args.rounds, jit=bool(args.jit_ab))
    if args.distinct:
        return per_cpu_second(args.distinct, "distinct designs", 100, jit=not args.no_jit)
    if args.shared:
        return per_cpu_second(args.shared, "designs sharing structure", 300, jit=not args.no_jit)
    space = load_space(args.space)
    from lowbit.search.codesign.driver import model_contexts

    ctxs = model_contexts(space, None)  # quality tables once, before the clocks start
    snaps = {}
    rate: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for ex in args.executors.split(","):
            db = Path(tmp) / f"{ex}.sqlite"
            t0, c0 = time.perf_counter(), _cpu()
            with ResultStore(db) as st, session(ex, workers=args.workers) as sess:
                if sess.client is not None:  # workers up and lowbit imported, as a forked pool's are
                    sess.client.wait_for_workers(args.workers)
                    sess.client.run(_warm)
                up = time.perf_counter() - t0
                t1, c1 = time.perf_counter(), _tree_cpu()
                s = run_sweep(space, st, session=sess, quiet=True, contexts=ctxs)
                swall, scpu = time.perf_counter() - t1, _tree_cpu() - c1
                snaps[ex] = st.snapshot()
            wall, cpu = time.perf_counter() - t0, _cpu() - c0
            rate[ex] = s.evaluated / swall
            print(f"{ex:6s}: {s.evaluated} points ({s.ok} ok, {s.infeasible} infeasible, {s.invalid} invalid) "
                  f"in {swall:.2f} s = {rate[ex]:.1f} points/s, CPU (driver + workers) {scpu:.1f} s = "
                  f"{s.evaluated / scpu:.1f} points per CPU-second; workers started in {up:.1f} s; "
                  f"all told {wall:.1f} s wall, {cpu:.1f} CPU s; load average {os.getloadavg()[0]:.1f}")
    names = list(snaps)
    same = all(snaps[n] == snaps[names[0]] for n in names[1:])
    if "local" in rate and "dask" in rate:
        print(f"dask / local throughput: {rate['dask'] / rate['local']:.0%} (target >= 80%)")
    print(f"stores identical across {', '.join(names)}: {same} ({len(snaps[names[0]])} rows)")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
