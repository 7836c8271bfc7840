"""Allocators the ILP is compared against (none of them can beat it; tests hold that).

- `uniform`: every layer at one choice (layers that may not take it keep their allowed
  choice of least sensitivity).
- `greedy`: HAQ-like marginal benefit per cost. Start with every tie group at its least
  sensitive allowed choice; while a budget is exceeded, move the group to the choice with
  the smallest increase of the objective per unit of normalised budget excess removed.
- `lagrangian`: closed-form allocation in the spirit of BAQ: for multipliers lambda >= 0
  each group independently takes argmin_c obj[g, c] + sum_b lambda_b cost_b[g, c]; the
  multipliers are found by bisection (one budget) or projected subgradient steps (several),
  keeping the best feasible allocation seen.

Every function returns an `Allocation` with status "feasible" (not proven) or raises
InfeasibleBudgetError when it finds nothing within the budgets.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import replace

import numpy as np
from lowbit.kernels_ref.errors import InfeasibleBudgetError
from lowbit.search.costs import SENSITIVITY, CostTable
from lowbit.search.ilp import Allocation, format_budget_error

__all__ = ["best_uniform", "greedy", "lagrangian", "uniform"]


def _result(table: CostTable, assignment: np.ndarray, bud: Mapping[str, float], objective: str,
            method: str, t0: float) -> Allocation:
    totals = table.totals(assignment)
    objective = table.key(objective)
    return Allocation(layers=table.layers, choices=tuple(table.choices[c] for c in assignment),
                      assignment=tuple(int(c) for c in assignment), totals=totals, budgets=dict(bud),
                      objective_name=objective, objective=totals[objective], status="feasible",
                      solver=method, solve_time_s=time.perf_counter() - t0, method=method)


def _fits(totals: Mapping[str, float], bud: Mapping[str, float]) -> bool:
    return all(totals[n] <= b + 1e-9 * max(abs(b), 1e-300) for n, b in bud.items())


def _resolve(table: CostTable, budgets: Mapping[str, float | str] | None) -> dict[str, float]:
    raw = dict(table.budgets) if budgets is None else dict(budgets)
    return {table.key(n): table.resolve_budget(n, v) for n, v in raw.items()}


def _fail(table: CostTable, bud: Mapping[str, float], method: str) -> InfeasibleBudgetError:
    mins = table.min_totals(list(bud))
    msg = f"{method}: found no allocation within budgets; " + format_budget_error(bud, mins, jointly=False)
    return InfeasibleBudgetError(msg, minimums=mins)


def uniform(table: CostTable, label: str, budgets: Mapping[str, float | str] | None = None,
            objective: str = SENSITIVITY) -> Allocation:
    """Every layer at `label`. Not refused over budget (a baseline is worth seeing), but its
    status says so: "feasible" when the totals meet every budget, else "over-budget"."""
    t0 = time.perf_counter()
    bud = _resolve(table, budgets)
    objective = table.key(objective)
    alloc = _result(table, table.uniform(label), bud, objective, f"uniform:{label}", t0)
    return alloc if _fits(alloc.totals, bud) else replace(alloc, status="over-budget")


def best_uniform(table: CostTable, budgets: Mapping[str, float | str] | None = None,
                 objective: str = SENSITIVITY) -> Allocation:
    """The uniform allocation of least objective that meets the budgets."""
    bud = _resolve(table, budgets)
    fits = [a for a in (uniform(table, c, bud, objective) for c in table.choices) if _fits(a.totals, bud)]
    if not fits:
        raise _fail(table, bud, "uniform")
    return min(fits, key=lambda a: a.objective)


def greedy(table: CostTable, budgets: Mapping[str, float | str] | None = None,
           objective: str = SENSITIVITY) -> Allocation:
    """HAQ-like greedy descent from the least-sensitive allocation (see module docstring)."""
    t0 = time.perf_counter()
    bud = _resolve(table, budgets)
    names = list(bud)
    gid, grouped, allowed = table.grouped(list(dict.fromkeys([objective, *names])))
    obj = np.where(allowed, grouped[objective], np.inf)
    cur = np.argmin(obj, axis=1)
    G = cur.size
    rows = np.arange(G)
    if names:
        costs = np.stack([np.where(allowed, grouped[n], 0.0) for n in names])  # [B, G, C]; masked by ok
        bvec = np.array([bud[n] for n in names])
        scale = np.maximum(np.abs(bvec), 1e-300)
        for _ in range(G * table.num_choices * table.num_choices):
            tot = costs[:, rows, cur].sum(axis=1)
            excess = np.maximum(tot - bvec, 0.0) / scale
            if not (excess > 1e-12).any():
                break
            # Normalised excess removed by moving group g to choice c (weighted by how over each is).
            delta_cost = (costs - costs[:, rows, cur][:, :, None]) / scale[:, None, None]   # [B, G, C]
            w = excess / excess.sum()
            gain = -(w[:, None, None] * delta_cost).sum(axis=0)                               # [G, C]
            dobj = obj - obj[rows, cur][:, None]
            ok = allowed & (gain > 0) & np.isfinite(dobj) & (dobj >= 0)  # monotone: no cycling
            if not ok.any():
                break
            ratio = np.where(ok, np.maximum(dobj, 0.0) / np.where(ok, gain, 1.0), np.inf)
            g, c = np.unravel_index(int(np.argmin(ratio)), ratio.shape)
            cur[g] = c
    assignment = cur[gid]
    res = _result(table, assignment, bud, objective, "greedy", t0)
    if not _fits(res.totals, bud):
        raise _fail(table, bud, "greedy")
    return res


def lagrangian(table: CostTable, budgets: Mapping[str, float | str] | None = None,
               objective: str = SENSITIVITY, iterations: int = 60) -> Allocation:
    """BAQ-style Lagrangian relaxation; returns the best feasible allocation it visits."""
    t0 = time.perf_counter()
    bud = _resolve(table, budgets)
    names = list(bud)
    gid, grouped, allowed = table.grouped(list(dict.fromkeys([objective, *names])))
    obj = np.where(allowed, grouped[objective], np.inf)
    G = obj.shape[0]
    rows = np.arange(G)
    if not names:
        return _result(table, np.argmin(obj, axis=1)[gid], bud, objective, "lagrangian", t0)
    costs = np.stack([np.where(allowed, grouped[n], 0.0) for n in names])  # [B, G, C]
    bvec = np.array([bud[n] for n in names])
    # Normalise so multipliers live on comparable scales.
    oscale = max(float(np.abs(np.where(allowed, grouped[objective], 0.0)).sum()), 1e-300)
    cscale = np.maximum(np.abs(bvec), 1e-300)
    on = obj / oscale
    cn = costs / cscale[:, None, None]
    bn = bvec / cscale
    best: tuple[float, np.ndarray] | None = None

    def pick(lam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        score = on + np.tensordot(lam, cn, axes=1)
        cur = np.argmin(score, axis=1)
        return cur, cn[:, rows, cur].sum(axis=1)

    def consider(cur: np.ndarray, tot: np.ndarray) -> None:
        nonlocal best
        if (tot <= bn + 1e-12).all():
            val = float(obj[rows, cur].sum())
            if best is None or val < best[0]:
                best = (val, cur.copy())

    if len(names) == 1:
        lo, hi = 0.0, 1.0
        cur, tot = pick(np.array([hi]))
        while not (tot <= bn + 1e-12).all() and hi < 1e12:
            hi *= 4.0
            cur, tot = pick(np.array([hi]))
        consider(cur, tot)
        consider(*pick(np.array([lo])))
        for _ in range(iterations):
            mid = 0.5 * (lo + hi)
            cur, tot = pick(np.array([mid]))
            consider(cur, tot)
            if (tot <= bn + 1e-12).all():
                hi = mid
            else:
                lo = mid
    else:
        lam = np.zeros(len(names))
        step = 1.0
        for it in range(iterations * 4):
            cur, tot = pick(lam)
            consider(cur, tot)
            lam = np.maximum(lam + step / np.sqrt(it + 1.0) * (tot - bn), 0.0)
        # Finish with a large-multiplier sweep along the last direction for feasibility.
        d = np.maximum(lam, 1e-3)
        for f in np.geomspace(1.0, 1e9, 40):
            consider(*pick(d * f))
    if best is None:
        raise _fail(table, bud, "lagrangian")
    return _result(table, best[1][gid], bud, objective, "lagrangian", t0)
