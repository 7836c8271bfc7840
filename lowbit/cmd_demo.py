"""`lowbit demo`: the main job on the embedded default (what `make demo` runs).

1. Allocate per-layer formats for ResNet-18 (HAWQ-V3 sensitivities) and MiniLM-L6
   (sensitivities measured on its real weights) on a bit-serial (bitmod), a LUT
   (lut-tc-a100-like) and a binary (btc-a100-like) preset, each under a latency
   budget halfway between its fastest allocation and all-int8.
2. Sweep a small Loom design space (rows x cols x clock) for both models with the
   local executor; every point is committed to DIR/sweep.sqlite as it completes.
3. Quality-vs-latency Pareto fronts of each model on the three presets.
4. Write the HTML report (interactive explorer and figures embedded, CSV/JSON beside it) and
   print its path.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

SPACE = Path(__file__).resolve().parents[1] / "search" / "spaces" / "demo.yaml"


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("demo", help="the main job: allocate, sweep, Pareto fronts, HTML report",
                              description=__doc__.split("\n", 1)[1] if __doc__ else None,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-o", "--output", default="demo-out", metavar="DIR", help="output directory (default demo-out)")
    p.add_argument("--space", default=str(SPACE), metavar="YAML", help="design space (default: the embedded one)")
    p.add_argument("--workers", type=int, default=2, help="local worker processes (default 2)")
    p.add_argument("--points", type=int, default=10, help="points per Pareto front (default 10)")
    p.add_argument("--quiet", action="store_true",
                   help="no progress bars and no third-party output (dask's INFO lines, transformers)")
    p.set_defaults(func=_cmd_demo)


def _say(msg: str) -> None:
    print(msg, flush=True)


def _cmd_demo(args: argparse.Namespace) -> int:
    from lowbit.kernels_ref.errors import InvalidSpecError
    from lowbit.reports.report import build_report
    from lowbit.search import pareto
    from lowbit.search.codesign import design_table, load_space, model_contexts, run_sweep
    from lowbit.search.store import ResultStore

    if args.workers < 1:
        raise InvalidSpecError(f"--workers must be >= 1, got {args.workers}")
    t0 = time.perf_counter()
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    space = load_space(args.space)
    _say(f"[1/4] quality tables for {', '.join(m.name for m in space.models)} "
         f"(MiniLM: measured on its real weights, cached after the first run)")
    ctxs = model_contexts(space)

    db = out / "sweep.sqlite"
    for suffix in ("", "-wal", "-shm"):  # the demo starts afresh; `lowbit sweep --resume` is the resumable path
        Path(str(db) + suffix).unlink(missing_ok=True)
    _say(f"[2/4] sweep {space.name}: {space.num_designs} designs x {len(space.models)} models "
         f"-> {db}")
    with ResultStore(db) as store:
        s = run_sweep(space, store, executor="local", workers=args.workers, quiet=args.quiet, contexts=ctxs)
        rows = store.snapshot()
    _say(f"      {s.evaluated} points in {s.seconds:.1f} s ({s.ok} ok, {s.infeasible} infeasible, "
         f"{s.invalid} invalid)")

    presets = [b.base for b in space.hardware if not b.params]
    _say("      allocations on the presets (latency budget: "
         + ", ".join(f"{k} {v}" for k, v in space.budgets) + "):")
    _say(f"      {'model':10s} {'hardware':18s} {'latency':>10s} {'vs int8':>8s} {'energy':>10s} "
         f"{'quality loss':>12s} {'int8 loss':>10s}  formats")
    for _k, p, r in sorted(rows, key=lambda x: (x[1]["model"], x[1]["base"])):
        if p["params"] or p["base"] not in presets:
            continue
        if r["status"] != "ok":
            _say(f"      {p['model']:10s} {p['base']:18s} {r['status']}: {r.get('message', '')}")
            continue
        u8 = r["uniform"].get("int8", {})
        mix: dict[str, int] = {}
        for c, has_w in zip(r["choices"], r["has_weights"]):
            if has_w:
                mix[c] = mix.get(c, 0) + 1
        _say(f"      {p['model']:10s} {p['base']:18s} {r['latency_s'] * 1e3:8.3f}ms "
             f"{r['latency_s'] / u8['latency_s']:7.2f}x {r['energy_j'] * 1e3:8.3f}mJ "
             f"{r['quality']:12.4g} {u8['quality']:10.4g}  "
             + " ".join(f"{k}x{v}" for k, v in sorted(mix.items())))

    _say(f"[3/4] Pareto fronts (quality loss vs latency, {args.points} ILPs each) on {', '.join(presets)}")
    pareto_dirs: dict[str, list[Path]] = {}
    for m in space.models:
        for hw in presets:
            table = design_table(hw, {}, ctxs[m.name], space.act_formats)
            d = out / "pareto" / f"{m.name}__{hw}"
            if d.exists():
                for f in d.iterdir():
                    f.unlink()
            pareto.sweep(table, "latency_s", points=args.points, out_dir=d, quiet=args.quiet)
            pareto_dirs.setdefault(m.name, []).append(d)

    _say("[4/4] report")
    rep = out / "report"
    index = build_report([db, *(d for dirs in pareto_dirs.values() for d in dirs)], rep,
                         title="lowbit demo: allocation and co-design")
    _say(f"done in {time.perf_counter() - t0:.1f} s")
    print(f"report: {index.resolve()}")
    sys.stdout.flush()
    return 0
