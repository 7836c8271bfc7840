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
         [--tracemalloc WARMUP_S] [--dask-state]

Diagnosis of the driver's growth (off by default; both slow the driver): `--tracemalloc W`
traces the driver's allocations from the start of the sweep, adds the traced MB to each sample
and prints the allocation sites that grew most between a snapshot at W s (after warm-up) and
the end; `--dask-state` counts every sized attribute of the dask scheduler (and its extensions)
and of the client, and the driver's live objects by type (gc), at each sample and prints those
that changed after the first sample (object types: those up by 100 or more after it); `--heap`
(glibc only) adds to each sample the C heap's bytes in use and free (mallinfo2, all arenas) and
the driver's RSS after malloc_trim(0) hands free heap pages back: growth that the trim takes
back was freed memory the allocator kept, not live data.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import ctypes
import gc
import os
import shutil
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Sized
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


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]


def _heap(me: psutil.Process) -> tuple[float, float, float]:
    """(C heap MB in use, C heap MB free, RSS MB after malloc_trim(0)), glibc's."""
    libc = ctypes.CDLL(None)
    libc.mallinfo2.restype = _MallInfo2
    mi = libc.mallinfo2()
    libc.malloc_trim(0)
    return ((mi.uordblks + mi.hblkhd) / 2**20, mi.fordblks / 2**20,
            me.memory_info().rss / 2**20)


def _sizes(obj: Any, prefix: str) -> dict[str, int]:
    """len() of every sized attribute of obj (its __dict__'s and __slots__'; strings left
    out), named prefix.attr."""
    attrs = dict(getattr(obj, "__dict__", {}))
    for cls in type(obj).__mro__:
        for name in getattr(cls, "__slots__", ()):
            if hasattr(obj, name):
                attrs[name] = getattr(obj, name)
    out = {}
    for name, val in attrs.items():
        if isinstance(val, Sized) and not isinstance(val, (str, bytes)):
            with contextlib.suppress(TypeError, ValueError, AttributeError):  # len() needs state
                out[f"{prefix}.{name}"] = len(val)
    return out


def _scheduler_sizes(dask_scheduler: Any) -> dict[str, int]:
    """Run on the scheduler (its event loop): its sizes, its extensions', its plugins',
    its workers' and its batched streams' message logs, and its event topics'."""
    s = dask_scheduler
    out = _sizes(s, "scheduler")
    for name, ext in s.extensions.items():
        out.update(_sizes(ext, f"ext[{name}]"))
    for name, plugin in s.plugins.items():
        out.update(_sizes(plugin, f"plugin[{name}]"))
    for i, ws in enumerate(s.workers.values()):
        out.update(_sizes(ws, f"worker{i}"))
    for i, bc in enumerate(s.stream_comms.values()):
        out[f"stream{i}.recent_message_log"] = len(bc.recent_message_log)
    broker = getattr(s, "_broker", None)
    if broker is not None:
        out.update({f"events[{k}]": len(t.events) for k, t in broker._topics.items()})
    out.update({f"task_prefix[{k}]._groups": len(tp._groups)
                for k, tp in s.task_prefixes.items()})
    return out


def _dask_sizes(client: Any) -> dict[str, int]:
    """The client's and the scheduler's sizes, and the driver's live objects by type."""
    out = _sizes(client, "client")
    out.update(client.run_on_scheduler(_scheduler_sizes))
    from dask.utils import key_split  # its memo of task keys (an lru_cache in the driver)

    out["dask.utils.key_split memo"] = key_split.cache_info().currsize
    out.update({f"objects[{k}]": v for k, v in
                collections.Counter(type(o).__qualname__ for o in gc.get_objects()).items()})
    return out


def _print_growth(first: tracemalloc.Snapshot, last: tracemalloc.Snapshot, warmup: float) -> None:
    """The allocation sites whose live traced memory grew most from first to last."""
    keep = [tracemalloc.Filter(False, tracemalloc.__file__)]
    first, last = first.filter_traces(keep), last.filter_traces(keep)
    stats = last.compare_to(first, "lineno")
    total = sum(st.size_diff for st in stats)
    print(f"tracemalloc: traced memory grew {total / 2**20:+.2f} MB from {warmup:g} s to the end; "
          "top sites (size diff, count diff, site):")
    for st in stats[:20]:
        fr = st.traceback[0]
        print(f"  {st.size_diff / 1024:+9.1f} KB {st.count_diff:+7d}  {fr.filename}:{fr.lineno}")
    print("top 6 by traceback (innermost frame last):")
    for st in last.compare_to(first, "traceback")[:6]:
        print(f"  {st.size_diff / 1024:+9.1f} KB {st.count_diff:+7d}")
        for fr in st.traceback:
            print(f"      {fr.filename}:{fr.lineno}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=120.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--executor", default="dask", choices=("dask", "local"))
    ap.add_argument("--interval", type=float, default=5.0, help="RSS sampling interval (s)")
    ap.add_argument("--space", default=str(SPACE))
    ap.add_argument("--keep-store", metavar="PATH", help="copy the result store here at the end "
                    "(bench_strategy_archive.py replays it)")
    ap.add_argument("--tracemalloc", type=float, metavar="WARMUP_S", help="trace the driver's "
                    "allocations; print the sites that grew from WARMUP_S to the end")
    ap.add_argument("--dask-state", action="store_true", help="count the dask scheduler's and "
                    "client's sized attributes at each sample; print those that changed")
    ap.add_argument("--heap", action="store_true", help="C heap in use / free at each sample "
                    "and the RSS after malloc_trim(0) (glibc)")
    args = ap.parse_args()
    space = load_space(args.space)
    me = psutil.Process()
    ctxs = model_contexts(space, None)
    print(f"space {space.name}: {space.num_designs:,} designs x {len(space.models)} models, strategy "
          f"{space.strategy} (population {space.population}); executor {args.executor}, "
          f"{args.workers} workers; {args.seconds:g} s; load average {os.getloadavg()[0]:.2f}")
    samples: list[tuple[float, float, list[float], int]] = []
    traced: list[float] = []  # traced MB at each sample (--tracemalloc)
    heaps: list[tuple[float, float, float]] = []  # (--heap)
    snaps: list[tracemalloc.Snapshot] = []
    states: list[tuple[float, int, dict[str, int]]] = []  # (t, points, sizes) (--dask-state)
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
            if args.tracemalloc is not None:
                tracemalloc.start(8)

            def sampler() -> None:
                while not stop.is_set():
                    d, w, _c = _sample(me)
                    t, n = time.perf_counter() - t0, st_count()
                    samples.append((t, d, w, n))
                    if args.tracemalloc is not None:
                        traced.append(tracemalloc.get_traced_memory()[0] / 2**20)
                        if not snaps and t >= args.tracemalloc:
                            snaps.append(tracemalloc.take_snapshot())
                    if args.dask_state and ex.client is not None:
                        states.append((t, n, _dask_sizes(ex.client)))
                    if args.heap:
                        heaps.append(_heap(me))
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
            if args.tracemalloc is not None:
                traced.append(tracemalloc.get_traced_memory()[0] / 2**20)
                if snaps:
                    snaps.append(tracemalloc.take_snapshot())
                tracemalloc.stop()
            if args.dask_state and ex.client is not None:
                states.append((wall, samples[-1][3], _dask_sizes(ex.client)))
            if args.heap:
                heaps.append(_heap(me))
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
    print("| t (s) | points | driver RSS MB | worker RSS MB |" + (" traced MB |" if traced else "")
          + (" C heap in use MB | C heap free MB | RSS after trim MB |" if heaps else ""))
    print("|---:|---:|---:|---|" + ("---:|" if traced else "") + ("---:|---:|---:|" if heaps else ""))
    for i, (t, dr, wr, n) in enumerate(samples):
        tr = f" {traced[i]:.1f} |" if i < len(traced) else ""
        hp = " {:.1f} | {:.1f} | {:.0f} |".format(*heaps[i]) if i < len(heaps) else ""
        print(f"| {t:.0f} | {n} | {dr:.0f} | {' / '.join(f'{x:.0f}' for x in wr)} |{tr}{hp}")
    pick: list[Any] = [samples[0], samples[len(samples) // 2], samples[-1]]
    print("start / middle / end: driver " + " / ".join(f"{s[1]:.0f}" for s in pick) + " MB; workers "
          + " / ".join("+".join(f"{x:.0f}" for x in s[2]) for s in pick) + " MB")
    if len(snaps) == 2:
        _print_growth(snaps[0], snaps[1], args.tracemalloc)
    if states:
        # objects by type: only those up by 100 or more from the second sample to the end
        changed = sorted(k for k in states[-1][2] if any(st[2].get(k) != states[0][2].get(k)
                                                           for st in states)
                         and (not k.startswith("objects[") or len(states) < 3
                              or states[-1][2][k] - states[1][2].get(k, 0) >= 100))
        print(f"dask state that changed after {states[0][0]:.0f} s: len at t = "
              + " / ".join(f"{t:.0f}" for t, _n, _sz in states) + " s (points "
              + " / ".join(str(n) for _t, n, _sz in states) + ")")
        for k in changed:
            print(f"  {k}: " + " / ".join(str(sz.get(k, "-")) for _t, _n, sz in states))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
