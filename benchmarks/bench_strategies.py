"""Co-design search strategies (issue 9): how many of the true Pareto-optimal designs (latency,
energy, area) a budget of `--samples` evaluations finds, random vs evolutionary (NSGA-II style),
against the full grid of a 540-design Loom space with ResNet-18 (inner ILP per point).

Run: HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_strategies.py [--samples 64] [--seeds 6]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from lowbit.search.codesign import parse_space, run_sweep
from lowbit.search.pareto import nondominated_ranks
from lowbit.search.store import ResultStore


def space(strategy: str, seed: int, samples: int, population: int) -> dict:  # type: ignore[type-arg]
    return {"name": f"{strategy}{seed}", "seed": seed, "strategy": strategy, "samples": samples,
            "population": population, "objectives": ["latency", "energy", "area"],
            "formats": ["int2", "int4", "int8"], "budgets": {"latency": "0.7x"}, "models": ["resnet-18"],
            "hardware": [{"base": "loom", "params": {
                "core.rows": [16, 32, 64, 128, 256, 512], "core.cols": [4, 8, 16, 32, 64],
                "dram.bandwidth_bytes_per_cycle": [8, 16, 32, 64, 128, 256], "num_cores": [1, 2, 4]}}]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=64)
    ap.add_argument("--population", type=int, default=8)
    ap.add_argument("--seeds", type=int, default=6)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        with ResultStore(Path(tmp) / "grid.sqlite") as st:
            run_sweep(parse_space(space("grid", 0, 1, 1)), st, executor="local", workers=2, quiet=True)
            rows = st.snapshot()
        ok = [(p["design"], r) for _k, p, r in rows if r["status"] == "ok"]
        objs = np.log([[r["latency_s"], r["energy_j"], r["area_mm2"]] for _d, r in ok])
        front = {ok[i][0] for i in np.flatnonzero(nondominated_ranks(objs) == 0)}
        print(f"grid: {len(rows)} designs ({len(ok)} feasible), {len(front)} Pareto-optimal "
              f"(latency, energy, area); {time.perf_counter() - t0:.1f} s")
        for strategy in ("random", "evolutionary"):
            found = []
            for seed in range(args.seeds):
                with ResultStore(Path(tmp) / f"{strategy}{seed}.sqlite") as st:
                    run_sweep(parse_space(space(strategy, seed, args.samples, args.population)), st,
                              executor="serial", quiet=True)
                    found.append(len({p["design"] for _k, p, _r in st.snapshot()} & front))
            print(f"{strategy:12s}: {args.samples} evaluations, Pareto-optimal designs found per seed "
                  f"{found}, mean {np.mean(found):.2f} of {len(front)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
