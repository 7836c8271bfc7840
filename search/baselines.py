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

import heapq
import math
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


#: `greedy` recomputes its budget weights when a budget's share of the excess moves this far.
_REWEIGHT = 0.05


def greedy(table: CostTable, budgets: Mapping[str, float | str] | None = None,
           objective: str = SENSITIVITY) -> Allocation:
    """HAQ-like greedy descent from the least-sensitive allocation (see module docstring).

    A move of group g to choice c costs ``dobj = obj[g, c] - obj[g, cur]`` (>= 0, so the
    descent cannot cycle) and removes ``gain = w . (cost[g, cur] - cost[g, c]) / |budget|`` of
    normalised excess, ``w`` the budgets' shares of the current normalised excess; the move of
    least ``dobj / gain`` (first in (group, choice) order on a tie) is taken until every budget
    is met or no move helps. The moves sit in a heap (O(G C log(G C)) a phase): only the moved
    group's candidates change after a move. ``w`` is held for a *phase* and recomputed when a
    budget is met or newly exceeded, or a budget's share of the excess moves by more than
    ``_REWEIGHT`` (0.05); with one budget ``w = (1,)`` throughout, so the moves are those of
    the move-by-move rule (totals are summed afresh at each phase and
    updated per move within one)."""
    t0 = time.perf_counter()
    bud = _resolve(table, budgets)
    names = list(bud)
    gid, grouped, allowed = table.grouped(list(dict.fromkeys([objective, *names])))
    obj = np.where(allowed, grouped[objective], np.inf)
    cur = np.argmin(obj, axis=1)
    if names:
        costs = np.stack([np.where(allowed, grouped[n], 0.0) for n in names])  # [B, G, C]; masked by ok
        bvec = np.array([bud[n] for n in names])
        _greedy_descent(obj, costs, bvec, allowed, cur,
                        max_moves=cur.size * table.num_choices * table.num_choices)
    assignment = cur[gid]
    res = _result(table, assignment, bud, objective, "greedy", t0)
    if not _fits(res.totals, bud):
        raise _fail(table, bud, "greedy")
    return res


def _greedy_descent(obj: np.ndarray, costs: np.ndarray, bvec: np.ndarray, allowed: np.ndarray,
                    cur: np.ndarray, max_moves: int) -> None:
    """The moves of `greedy` (costs [B, G, C], budgets [B]); `cur` [G] is updated in place.

    A phase's first candidates are computed in numpy; after a move only the moved group's
    are, in plain Python over its C choices (the same float operations in the same order)."""
    _B, G, C = costs.shape
    rows = np.arange(G)
    scale = np.maximum(np.abs(bvec), 1e-300)
    per_g = np.ascontiguousarray(costs.transpose(1, 2, 0)).tolist()  # [G][C][B], Python floats
    obj_l, ok_l = obj.tolist(), allowed.tolist()
    sc, bv = scale.tolist(), bvec.tolist()
    moves = 0
    while moves < max_moves:
        tot_a = costs[:, rows, cur].sum(axis=1)  # exact sums at every phase start
        excess = np.maximum(tot_a - bvec, 0.0) / scale
        over = excess > 1e-12
        if not over.any():
            return
        w = excess / excess.sum()
        delta = (costs - costs[:, rows, cur][:, :, None]) / scale[:, None, None]     # [B, G, C]
        gain = -(w[:, None, None] * delta).sum(axis=0)                               # [G, C]
        dobj = obj - obj[rows, cur][:, None]
        ok = allowed & (gain > 0) & np.isfinite(dobj) & (dobj >= 0)  # monotone: no cycling
        gg, cc = np.nonzero(ok)
        ratio = np.maximum(dobj[gg, cc], 0.0) / gain[gg, cc]
        heap = list(zip(ratio.tolist(), gg.tolist(), cc.tolist(), [0] * gg.size))
        heapq.heapify(heap)
        ver = [0] * G  # a group's queued moves are stale once it has moved
        tot, ov, wl = tot_a.tolist(), over.tolist(), w.tolist()
        phase_moves = 0
        while heap and moves < max_moves:
            _r, g, c, v = heapq.heappop(heap)
            if v != ver[g]:
                continue
            old, new = per_g[g][int(cur[g])], per_g[g][c]
            tot = [t + (n - o) for t, n, o in zip(tot, new, old)]
            cur[g] = c
            ver[g] += 1
            moves += 1
            phase_moves += 1
            now = [max(t - bb, 0.0) / s for t, bb, s in zip(tot, bv, sc)]
            if any((x > 1e-12) != o for x, o in zip(now, ov)) or any(
                    abs(x / sum(now) - wb) > _REWEIGHT for x, wb in zip(now, wl)):
                break  # a budget met or newly over, or the shares moved: new weights, a new phase
            o_g, row, okr, vg = obj_l[g][c], per_g[g], ok_l[g], ver[g]
            for c2 in range(C):
                d_obj = obj_l[g][c2] - o_g
                if not okr[c2] or not math.isfinite(d_obj) or d_obj < 0:
                    continue
                gn = -sum(wb * ((row[c2][b] - new[b]) / sc[b]) for b, wb in enumerate(wl))
                if gn > 0:
                    heapq.heappush(heap, (max(d_obj, 0.0) / gn, g, c2, vg))
        if phase_moves == 0:
            return  # no move helps


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
