"""Allocation speed targets (issue 8): run with `.venv/bin/python benchmarks/bench_ilp.py`.

1. 1000 layers x 8 formats x 3 budgets (memory, latency, energy) solved to a proven optimum
   (target < 2 s). Random instance with realistic structure: sensitivity ~ params * 4^-bits
   times a lognormal per-layer factor; memory = params * bits/8; latency ~ params * ceil(bits/2)
   (2-bit serial PE) with +-20 % noise; energy ~ params * bits^1.5.
2. 30-point epsilon-constraint Pareto sweep of quality vs memory on LLaMA-2-7B: 32 blocks x 7
   linear layers (q,k,v,o 4096x4096; gate,up 4096->11008; down 11008->4096) = 224 layers x 6
   formats (target < 30 s). q/k/v and gate/up are tied. Costs: weight bytes from
   `Format.storage_bits` (scales included); decode latency = weight bytes / 256 B per cycle
   (memory-bound, BitMoD's 256-bit DRAM); energy = bytes x 1200 pJ / 8 B (BitMoD DRAM figure).
   No LLaMA weights here, so sensitivity is synthetic (same law as 1.): this times the solver,
   not quality. Also compares the ILP against greedy / Lagrangian / uniform on the sweep.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np

from kernels_ref.formats import Format
from search import baselines
from search.costs import CostTable
from search.ilp import solve
from search.pareto import sweep


def random_table(L: int = 1000, seed: int = 0) -> CostTable:
    rng = np.random.default_rng(seed)
    bits = np.array([2, 3, 4, 5, 6, 8, 12, 16])
    params = rng.integers(10_000, 10_000_000, L).astype(float)[:, None]
    sens = rng.lognormal(0, 1, (L, 1)) * np.exp2(-2 * bits)[None, :] * params * 1e-6
    mem = params * bits[None, :] / 8
    lat = params * np.ceil(bits / 2)[None, :] * rng.uniform(0.8, 1.2, (L, len(bits)))
    en = params * bits[None, :] ** 1.5 * 1e-12 * rng.uniform(0.8, 1.2, (L, len(bits)))
    return CostTable(layers=tuple(f"l{i}" for i in range(L)), choices=tuple(f"int{b}" for b in bits),
                     sensitivity=sens, costs={"memory": mem, "latency": lat, "energy": en})


def llama2_7b_table(seed: int = 0) -> CostTable:
    rng = np.random.default_rng(seed)
    fmts = [Format.parse(s) for s in ("int2g128", "int3g128", "int4g128", "int5g128", "int6", "int8")]
    shapes = [("q", 4096, 4096), ("k", 4096, 4096), ("v", 4096, 4096), ("o", 4096, 4096),
              ("gate", 4096, 11008), ("up", 4096, 11008), ("down", 11008, 4096)]
    names, ks, ns, ties = [], [], [], []
    for b in range(32):
        base = len(names)
        for nm, k, n in shapes:
            names.append(f"layers.{b}.{nm}")
            ks.append(k)
            ns.append(n)
        ties += [[base, base + 1, base + 2], [base + 4, base + 5]]
    mem = np.array([[f.storage_bits(k, n) / 8 for f in fmts] for k, n in zip(ks, ns)])
    params = (np.array(ks) * np.array(ns)).astype(float)[:, None]
    bits = np.array([f.bits for f in fmts])
    sens = rng.lognormal(0, 1, (len(names), 1)) * np.exp2(-2 * bits)[None, :] * params * 1e-6
    return CostTable(layers=tuple(names), choices=tuple(str(f) for f in fmts), sensitivity=sens,
                     costs={"memory": mem, "latency": mem / 256.0, "energy": mem * 1200e-12 / 8},
                     ties=tuple(tuple(t) for t in ties), model="llama-2-7b (shapes; synthetic sensitivity)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    t = random_table()
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        a = solve(t, {"memory": "0.5x", "latency": "0.55x", "energy": "0.5x"})
        times.append(time.perf_counter() - t0)
    print(f"[1] 1000 layers x 8 formats x 3 budgets: status {a.status}, solver {a.solver}, "
          f"best {min(times):.3f} s, median {np.median(times):.3f} s over {args.repeats} (target < 2 s)")
    for fn in (baselines.greedy, baselines.lagrangian, baselines.best_uniform):
        try:
            t0 = time.perf_counter()
            b = fn(t, {"memory": "0.5x", "latency": "0.55x", "energy": "0.5x"})
            print(f"    {fn.__name__:12s} objective {b.objective:.6g} = {b.objective / a.objective:.4f} x ILP "
                  f"({time.perf_counter() - t0:.2f} s)")
        except Exception as exc:  # a baseline finding nothing is a result worth printing
            print(f"    {fn.__name__:12s} no feasible allocation: {exc}")

    lt = llama2_7b_table()
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        pts = sweep(lt, "memory", points=30, out_dir=d)
        dt = time.perf_counter() - t0
    ilp = [p for p in pts if p.kind == "ilp"]
    nopt = sum(p.status == "optimal" for p in ilp)
    front = sum(not p.dominated for p in ilp if p.status == "optimal")
    print(f"[2] LLaMA-2-7B 224 layers x 6 formats, 30-point memory sweep: {dt:.2f} s (target < 30 s), "
          f"{nopt}/30 proven optimal, {front} non-dominated")
    worst = {}
    for p in ilp[1:-1:4]:
        bud = {"memory": p.budget}
        for fn in (baselines.greedy, baselines.lagrangian):
            try:
                r = fn(lt, bud).objective / p.objective
            except Exception:
                r = float("inf")
            worst[fn.__name__] = max(worst.get(fn.__name__, 1.0), r)
    print("    worst baseline objective / ILP objective over 7 sweep budgets: "
          + ", ".join(f"{k} {v:.4f}" for k, v in worst.items()))


if __name__ == "__main__":
    main()
