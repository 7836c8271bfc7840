"""Exact multiple-choice knapsack with one budget, by dynamic programming over Pareto states.

Problem: groups ``g`` with choices ``k`` (``gi[k]`` sorted, every group has at least one),
objective ``obj[k]`` and one budget row ``cost[k]``; pick one choice per group, minimise the total
objective subject to ``sum cost <= budget``. With no budget row, ``cost`` is all zeros.

Method (exact; no discretisation, so real-valued costs such as seconds are handled as they are):
the states after groups ``0..g`` are the partial (cost, objective) sums. A state whose cost and
objective are both no better than another's can never complete into a better allocation (the
completions are the same), so only the Pareto frontier is kept. Two more exact prunings:

- a state whose cost plus the cheapest completion exceeds the budget cannot be completed;
- a state whose objective plus the best-objective completion is above the objective of a
  known feasible allocation (any state completed with the cheapest choices) cannot win.

The frontier after the last group holds the optimum. The frontier can grow exponentially on
adversarial data, so past `max_states` states the solver gives up (returns ``None``) and the
caller solves the ILP instead: the answer is exact either way.

Tolerance: a total within ``tol`` of the budget counts as meeting it, the same rule `search.ilp`
uses to call a budget achievable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["MAX_STATES", "DPResult", "solve_one_budget"]

#: States kept at once before giving up (each group multiplies the frontier by its choices
#: before the Pareto filter; a ResNet-18 or MiniLM point keeps well under a thousand).
MAX_STATES = 200_000


@dataclass(frozen=True)
class DPResult:
    pick: np.ndarray     # [G] index into the variable arrays
    status: str          # "optimal" | "infeasible"
    states: int          # largest frontier kept


def solve_one_budget(obj: np.ndarray, cost: np.ndarray, budget: float, gi: np.ndarray, G: int,
                     tol: float = 0.0, max_states: int = MAX_STATES) -> DPResult | None:
    """Exact optimum (see module), or None when the frontier would exceed `max_states`."""
    obj = np.asarray(obj, dtype=np.float64)
    cost = np.asarray(cost, dtype=np.float64)
    starts = np.searchsorted(gi, np.arange(G))
    ends = np.r_[starts[1:], obj.size]
    gmin_cost = np.minimum.reduceat(cost, starts)
    gmin_obj = np.minimum.reduceat(obj, starts)
    cheapest = starts + np.array([int(np.argmin(cost[s:e])) for s, e in zip(starts, ends)], dtype=np.int64)
    # suffix sums over groups g.. (index G is the empty completion)
    rem_cost = np.r_[np.cumsum(gmin_cost[::-1])[::-1], 0.0]
    rem_obj = np.r_[np.cumsum(gmin_obj[::-1])[::-1], 0.0]
    rem_obj_cheap = np.r_[np.cumsum(obj[cheapest][::-1])[::-1], 0.0]
    limit = budget + tol
    if rem_cost[0] > limit:
        return DPResult(np.zeros(0, dtype=np.int64), "infeasible", 1)
    s_cost = np.zeros(1)
    s_obj = np.zeros(1)
    parents: list[np.ndarray] = []
    picks: list[np.ndarray] = []
    most = 1
    for g in range(G):
        ks = np.arange(starts[g], ends[g])
        n_cost = (s_cost[:, None] + cost[ks][None, :]).ravel()
        n_obj = (s_obj[:, None] + obj[ks][None, :]).ravel()
        par = np.repeat(np.arange(s_cost.size), ks.size)
        kk = np.tile(ks, s_cost.size)
        ok = n_cost + rem_cost[g + 1] <= limit
        # incumbent: any state completed by the cheapest choices is feasible (it passed `ok`)
        ub = float((n_obj + rem_obj_cheap[g + 1])[ok].min())
        ok &= n_obj + rem_obj[g + 1] <= ub
        n_cost, n_obj, par, kk = n_cost[ok], n_obj[ok], par[ok], kk[ok]
        order = np.lexsort((n_obj, n_cost))  # by cost, then objective
        n_cost, n_obj, par, kk = n_cost[order], n_obj[order], par[order], kk[order]
        best_before = np.r_[np.inf, np.minimum.accumulate(n_obj)[:-1]]
        front = n_obj < best_before  # strictly better objective than every cheaper-or-equal state
        s_cost, s_obj = n_cost[front], n_obj[front]
        parents.append(par[front])
        picks.append(kk[front])
        most = max(most, s_cost.size)
        if s_cost.size > max_states:
            return None
    # the frontier is sorted by cost with strictly falling objective: the last state is optimal
    i = s_cost.size - 1
    pick = np.empty(G, dtype=np.int64)
    for g in range(G - 1, -1, -1):
        pick[g] = picks[g][i]
        i = int(parents[g][i])
    return DPResult(pick, "optimal", most)
