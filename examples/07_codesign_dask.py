"""A co-design sweep on dask.

A small design space — the Loom bit-serial preset with 2 array heights x 2 clocks — run for
ResNet-18 (HAWQ-V3 sensitivities) on a local dask.distributed cluster (extra `dist`; pass
`--scheduler tcp://HOST:PORT` to use a running one instead). Every (design, model) point gets
its own inner ILP under a latency budget of 0.7x its all-int8 latency, and is committed to a
SQLite store as it finishes, so an interrupted sweep resumes (`lowbit sweep --resume`).
Writes OUT/sweep.sqlite and OUT/points.csv (one row per point: parameters, status, latency in
seconds, energy in joules, quality loss).

    python examples/07_codesign_dask.py --out /tmp/ex7 [--executor local]
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

from lowbit.search.codesign import parse_space, run_sweep
from lowbit.search.store import ResultStore

SPACE = {
    "name": "example-loom",
    "strategy": "grid",
    "formats": ["int2", "int4", "int8"],
    "budgets": {"latency": "0.7x"},
    "models": ["resnet-18"],
    "hardware": [{"base": "loom", "params": {"core.rows": [64, 128], "freq_hz": [6.0e8, 1.0e9]}}],
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="examples-out/07_codesign_dask", help="output directory")
    ap.add_argument("--executor", default="dask", choices=("dask", "local"))
    ap.add_argument("--scheduler", default=None, help="a running dask scheduler (tcp://HOST:PORT)")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    space = parse_space(SPACE, "examples/07_codesign_dask.py")
    db = out / "sweep.sqlite"
    for suffix in ("", "-wal", "-shm"):  # start afresh
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    with ResultStore(db) as store:
        s = run_sweep(space, store, executor=args.executor, workers=args.workers,
                      scheduler=args.scheduler, quiet=True)
        rows = store.snapshot()
    print(f"{s.evaluated} points: {s.ok} ok, {s.infeasible} infeasible, {s.invalid} invalid")
    table = []
    for _key, point, result in rows:
        table.append({"model": point["model"], "params": json.dumps(point["params"], sort_keys=True),
                      "status": result["status"], "latency_s": result.get("latency_s"),
                      "energy_j": result.get("energy_j"), "quality": result.get("quality")})
    with open(out / "points.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(table[0]))
        w.writeheader()
        w.writerows(table)
    ok = [r for r in table if r["status"] == "ok"]
    if ok:
        best = min(ok, key=lambda r: r["latency_s"])
        print(f"fastest: {best['params']} at {best['latency_s'] * 1e3:.3f} ms")
    print(f"wrote {db} and {out / 'points.csv'}")


if __name__ == "__main__":
    main()
