"""search.mckp: the one-budget Pareto dynamic program equals the exact ILP (`method="ilp"`) on
random instances with ties, held layers and integer (cycle-like) or real costs."""

from __future__ import annotations

import numpy as np
import pytest
from lowbit.kernels_ref.errors import InfeasibleBudgetError
from lowbit.search.costs import CostTable
from lowbit.search.ilp import solve
from lowbit.search.mckp import solve_one_budget


def _table(rng: np.random.Generator, L: int, C: int, integer: bool) -> CostTable:
    bits = np.arange(1, C + 1, dtype=float)
    size = rng.uniform(0.1, 1.0, L)[:, None]
    sens = size * rng.lognormal(0, 1, (L, 1)) * np.exp2(-2 * bits) * rng.uniform(0.7, 1.3, (L, C))
    cyc = size * bits * rng.uniform(0.5, 1.5, (L, C)) * 1e6
    if integer:
        cyc = np.round(cyc)
    mem = size * bits * 1e4
    ties = ()
    if L >= 4 and rng.random() < 0.5:
        ties = ((0, 1), (2, 3)) if rng.random() < 0.5 else ((1, 2, 3),)
    allowed = rng.random((L, C)) < 0.8
    allowed[np.arange(L), rng.integers(0, C, L)] = True
    for g in ties:  # members of a tie share their allowed set
        allowed[list(g)] = allowed[g[0]]
    return CostTable(layers=tuple(f"l{i}" for i in range(L)), choices=tuple(f"c{j}" for j in range(C)),
                     sensitivity=sens, costs={"cycles": cyc, "memory_bytes": mem}, ties=ties, allowed=allowed)


@pytest.mark.slow  # > 2 s; the slow lane (make test) runs it
@pytest.mark.parametrize("seed", range(60))
def test_dp_equals_the_ilp_on_random_one_budget_instances(seed: int) -> None:
    rng = np.random.default_rng(seed)
    t = _table(rng, int(rng.integers(1, 40)), int(rng.integers(1, 7)), integer=seed % 2 == 0)
    metric, objective = [("cycles", "sensitivity"), ("memory_bytes", "sensitivity"),
                         ("sensitivity", "cycles")][seed % 3]
    lo, hi = t.min_totals([metric])[metric], float(t.totals(t.uniform(t.choices[-1]))[metric])
    for frac in (0.0, 0.1, 0.37, 0.8, 1.0):
        b = lo + frac * max(hi - lo, 0.0)
        ref = solve(t, {metric: b}, objective=objective, method="ilp")
        dp = solve(t, {metric: b}, objective=objective, method="auto")
        assert dp.method == "mckp-dp" and dp.status == "optimal" and ref.status == "optimal"
        assert dp.totals[metric] <= b + 1e-9 * max(abs(b), 1.0)
        assert dp.objective == pytest.approx(ref.objective, rel=1e-9, abs=1e-12)
        for g in t.ties:  # tied layers got one choice
            assert len({dp.assignment[i] for i in g}) == 1
        assert all(t.allowed[i, c] for i, c in enumerate(dp.assignment))


def test_no_budget_picks_each_groups_best_and_infeasible_is_the_same_error() -> None:
    t = _table(np.random.default_rng(7), 12, 4, integer=True)
    dp = solve(t, {}, method="auto")
    assert dp.method == "mckp-dp"
    assert dp.objective == pytest.approx(solve(t, {}, method="ilp").objective, rel=1e-12)
    lo = t.min_totals(["cycles"])["cycles"]
    for m in ("ilp", "auto"):
        with pytest.raises(InfeasibleBudgetError, match="smallest achievable"):
            solve(t, {"cycles": lo * 0.99}, method=m)


def test_two_budgets_go_to_the_ilp_and_a_large_frontier_gives_up() -> None:
    t = _table(np.random.default_rng(3), 20, 5, integer=False)
    a = solve(t, {"cycles": "0.7x", "memory_bytes": "0.8x"}, method="auto")
    assert a.method == "ilp"
    # the dynamic program gives up (None) rather than grow past its bound; the answer is the ILP's
    rng = np.random.default_rng(0)
    G, C = 30, 6
    gi = np.repeat(np.arange(G), C)
    cost = rng.uniform(0, 1, G * C)
    obj = 1.0 - cost + rng.uniform(0, 0.01, G * C)  # anti-correlated: a wide frontier
    assert solve_one_budget(obj, cost, 0.5 * G, gi, G, max_states=50) is None
    r = solve_one_budget(obj, cost, 0.5 * G, gi, G)
    assert r is not None and r.status == "optimal" and cost[r.pick].sum() <= 0.5 * G
    assert (gi[r.pick] == np.arange(G)).all()
