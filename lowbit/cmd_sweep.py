"""`lowbit sweep`: co-design sweep of a hardware design space x models into a SQLite store."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from lowbit.argtypes import BATCH_MAX, SEQ_MAX, bounded_int
from lowbit.kernels_ref.errors import InvalidSpecError


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "sweep", help="co-design sweep: design space x models, inner ILP per point, results to SQLite",
        description="Evaluate every design point of a YAML design space (grid, random or evolutionary) "
                    "for each model, with an inner integer program over per-layer formats; each finished "
                    "point is committed to the store at once (--resume skips them).")
    p.add_argument("--space", required=True, metavar="YAML", help="design-space file")
    p.add_argument("--model", action="append", default=[], metavar="NAME",
                   help="run only these of the space's models (repeatable; default: all of them)")
    p.add_argument("--executor", default="local", choices=("local", "dask", "serial"),
                   help="local process pool (default), dask.distributed, or serial in this process")
    p.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                   help="dask scheduler address (default: a LocalCluster)")
    p.add_argument("--workers", type=bounded_int(1, 1024, "--workers"), default=None, help="worker processes (local/LocalCluster)")
    p.add_argument("--db", default="sweep.sqlite", metavar="FILE", help="result store (default sweep.sqlite)")
    p.add_argument("--resume", action="store_true", help="keep the store's finished points and run the rest")
    p.add_argument("--cache-dir", default=None, metavar="DIR", help="sensitivity cache directory")
    w = p.add_argument_group("workload (overrides the space's, for every model)")
    w.add_argument("--phase", choices=("prefill", "decode", "inference", "generate"), default=None,
                   help="phase; generate = prefill of --prompt tokens, then --generate decode steps")
    w.add_argument("--prompt", "--seq-len", dest="seq_len", type=bounded_int(1, SEQ_MAX, "--prompt"),
                   default=None, metavar="P", help="prompt tokens (generate) / sequence length (prefill)")
    w.add_argument("--generate", type=bounded_int(1, SEQ_MAX, "--generate"), default=None, metavar="G",
                   help="decode steps of --phase generate (default 20)")
    w.add_argument("--batch", type=bounded_int(1, BATCH_MAX, "--batch"), default=None, help="batch size")
    p.add_argument("--quiet", action="store_true",
                   help="no progress bar and no third-party output (dask's INFO lines, transformers)")
    p.set_defaults(func=_cmd_sweep)


def _cmd_sweep(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from lowbit.search.codesign import load_space, run_sweep
    from lowbit.search.codesign.parse import with_workload
    from lowbit.search.store import ResultStore

    space = with_workload(load_space(args.space), phase=args.phase, seq_len=args.seq_len,
                          generate=args.generate, batch=args.batch)
    if args.model:
        names = {m.name.lower(): m for m in space.models}
        missing = [m for m in args.model if m.lower() not in names]
        if missing:
            raise InvalidSpecError(f"--model {missing[0]!r}: not in {args.space} "
                                   f"(its models: {', '.join(m.name for m in space.models)})")
        space = replace(space, models=tuple(names[m.lower()] for m in args.model))
    if args.workers is not None and args.workers < 1:
        raise InvalidSpecError(f"--workers must be >= 1, got {args.workers}")
    if args.scheduler and args.executor != "dask":
        raise InvalidSpecError("--scheduler goes with --executor dask")
    db = Path(args.db)
    with ResultStore(db) as store:
        have = len(store.done_keys(space.name))
        if have and not args.resume:
            raise InvalidSpecError(f"{db}: already holds {have} points of sweep {space.name!r}; "
                                   f"pass --resume to keep them and run the rest, or another --db")
        s = run_sweep(space, store, executor=args.executor, workers=args.workers, scheduler=args.scheduler,
                      quiet=args.quiet, cache_dir=args.cache_dir,
                      progress=None if args.quiet else (lambda m: sys.stderr.write(m + "\n")))
        from lowbit.search.codesign.summary import summarize

        found = summarize(store.rows(space.name), space.objectives)
    print(f"sweep {space.name}: {s.total} points ({s.skipped} already done, {s.evaluated} evaluated: "
          f"{s.ok} ok, {s.infeasible} infeasible, {s.invalid} invalid) in {s.seconds:.2f} s"
          + (f" ({s.points_per_s:.1f} points/s)" if s.evaluated else ""))
    for line in findings_lines(found):
        print(line)
    print(f"results: {db}   report: lowbit report {db} -o report/")
    return 0


def findings_lines(found: Any) -> list[str]:
    """The end-of-sweep summary: counts over the whole store, the most frequent infeasibility
    reason with the smallest value any design achieves, the best design per objective."""
    from lowbit.reports.units import cell, column

    c = found.counts
    out = [f"  in the store: {c['ok']} ok, {c['infeasible']} infeasible, {c['invalid']} invalid"]
    if found.unmet:
        u = found.unmet[0]
        label = column(u.metric).label.split(" (")[0]
        out.append(f"  most frequent reason: the {label} budget cannot be met on {u.points} of "
                   f"{c['infeasible']} infeasible points; smallest achievable {cell(u.metric, u.smallest)} "
                   f"({u.design}, {u.model}) against a budget of {cell(u.metric, u.budget)}")
        out.extend(f"  also: {column(v.metric).label.split(' (')[0]} on {v.points} points (smallest "
                   f"{cell(v.metric, v.smallest)})" for v in found.unmet[1:3])
    if found.invalid:
        msg, n = found.invalid[0]
        out.append(f"  most frequent invalid ({n} points): {msg}")
    for b in found.best:
        out.append(f"  best {column(b.objective).label.split(' (')[0]} for {b.model}: "
                   f"{cell(b.objective, b.value)}  {b.design}")
    return out
