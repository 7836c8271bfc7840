"""search.baselines.greedy: the heap-driven descent against the move-by-move rule it implements."""

from __future__ import annotations

import numpy as np
import pytest
from lowbit.kernels_ref.errors import InfeasibleBudgetError
from lowbit.search import baselines
from lowbit.search.costs import CostTable
from lowbit.search.ilp import solve


def _reference(table: CostTable, bud: dict[str, float]) -> np.ndarray:
    """The greedy as first written: every candidate re-priced after every move (O(G^2 C))."""
    names = list(bud)
    gid, grouped, allowed = table.grouped(["sensitivity", *names])
    obj = np.where(allowed, grouped["sensitivity"], np.inf)
    cur = np.argmin(obj, axis=1)
    rows = np.arange(cur.size)
    costs = np.stack([np.where(allowed, grouped[n], 0.0) for n in names])
    bvec = np.array([bud[n] for n in names])
    scale = np.maximum(np.abs(bvec), 1e-300)
    for _ in range(cur.size * table.num_choices ** 2):
        excess = np.maximum(costs[:, rows, cur].sum(axis=1) - bvec, 0.0) / scale
        if not (excess > 1e-12).any():
            break
        delta = (costs - costs[:, rows, cur][:, :, None]) / scale[:, None, None]
        gain = -((excess / excess.sum())[:, None, None] * delta).sum(axis=0)
        dobj = obj - obj[rows, cur][:, None]
        ok = allowed & (gain > 0) & np.isfinite(dobj) & (dobj >= 0)
        if not ok.any():
            break
        ratio = np.where(ok, np.maximum(dobj, 0.0) / np.where(ok, gain, 1.0), np.inf)
        g, c = np.unravel_index(int(np.argmin(ratio)), ratio.shape)
        cur[g] = c
    return cur[gid]


def _table(rng: np.random.Generator, L: int, C: int, ties: bool) -> CostTable:
    bits = np.sort(rng.choice(np.arange(2, 17), size=C, replace=False))
    params = rng.integers(10, 1000, size=L)[:, None]
    sens = rng.lognormal(0, 1, (L, 1)) * np.exp2(-bits)[None, :] * params * rng.uniform(0.5, 1.5, (L, C))
    lat = params * np.ceil(bits / 2)[None, :] * rng.uniform(0.7, 1.3, (L, C))
    ties_ = ((0, L - 1), (1, 2)) if ties else ()
    return CostTable(layers=tuple(f"l{i}" for i in range(L)), choices=tuple(f"int{b}" for b in bits),
                     sensitivity=sens, costs={"size": params * bits[None, :] / 8.0, "latency": lat},
                     ties=ties_)


def _budgets(table: CostTable, rng: np.random.Generator, names: list[str]) -> dict[str, float]:
    mins = table.min_totals()
    hi = table.totals(np.argmin(table.sensitivity, axis=1))
    return {n: mins[n] + rng.uniform(0.1, 0.9) * (hi[n] - mins[n]) for n in names}


@pytest.mark.parametrize("seed", range(40))
def test_one_budget_moves_equal_the_move_by_move_rule(seed: int) -> None:
    rng = np.random.default_rng(seed)
    table = _table(rng, int(rng.integers(3, 120)), int(rng.integers(2, 6)), ties=bool(seed % 2))
    bud = _budgets(table, rng, ["size" if seed % 3 else "latency"])
    ref = _reference(table, bud)
    try:
        got = baselines.greedy(table, bud)
    except InfeasibleBudgetError:
        assert not all(table.totals(ref)[n] <= b * (1 + 1e-9) for n, b in bud.items())
        return
    assert got.assignment == tuple(int(c) for c in ref)


@pytest.mark.parametrize("seed", range(20))
def test_two_budgets_feasible_and_never_below_the_ilp(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    table = _table(rng, int(rng.integers(3, 120)), int(rng.integers(2, 6)), ties=bool(seed % 2))
    bud = _budgets(table, rng, ["size", "latency"])
    try:
        g = baselines.greedy(table, bud)
    except InfeasibleBudgetError:
        return
    assert all(g.totals[n] <= b * (1 + 1e-9) for n, b in bud.items())
    assert g.objective >= solve(table, bud).objective * (1 - 1e-9)
    assert all(len({g.assignment[i] for i in grp}) == 1 for grp in table.ties)
