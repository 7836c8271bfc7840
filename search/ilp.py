"""Per-layer format allocation as a multiple-choice knapsack, solved exactly with pulp.

Model: one binary x[g, c] per tie group g (tied layers share one set of variables,
so a tie costs nothing to enforce) and allowed choice c; sum_c x[g, c] = 1.
Objective: minimise the total of one metric (sensitivity by default, or a cost
such as latency under a quality budget). Budgets: sum_{g,c} cost[g, c] x[g, c] <= B
for any subset of the table's metrics.

Numerics: each budget row is shifted by its per-group minimum (so the right-hand
side is the slack above the smallest achievable total) and scaled by the largest
coefficient, and the objective is shifted and scaled the same way; this keeps
HiGHS' absolute tolerances meaningful whether costs are in cycles (1e9) or joules
(1e-3). `mip_rel_gap = mip_abs_gap = 0`, and a result is "optimal" only when
``prob.sol_status == LpSolutionOptimal`` (pulp reports status Optimal after a time
limit too, so the status alone proves nothing).

Infeasible budgets raise `InfeasibleBudgetError` with the smallest achievable
value of every budget, each taken alone (exact: the sum over groups of the
cheapest allowed choice), so the message says how far each budget is off.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pulp
from lowbit.kernels_ref.errors import InfeasibleBudgetError, InvalidSpecError, LowbitError
from lowbit.search.costs import SENSITIVITY, CostTable
from lowbit.search.ilp_core import solve_core

__all__ = ["Allocation", "format_budget_error", "solve", "solver_name"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Allocation:
    """One choice per layer with its totals and how sure the solver is."""

    layers: tuple[str, ...]
    choices: tuple[str, ...]          # chosen label per layer
    assignment: tuple[int, ...]       # chosen choice index per layer
    totals: Mapping[str, float]       # every metric summed over layers
    budgets: Mapping[str, float]      # absolute budgets the allocation was made under
    objective_name: str
    objective: float
    status: str                       # "optimal" (proven) or "feasible" (incumbent, not proven)
    solver: str = ""
    solve_time_s: float = 0.0
    method: str = "ilp"
    extra: Mapping[str, Any] = field(default_factory=dict)

    def format_of(self, layer: str) -> str:
        return self.choices[self.layers.index(layer)]


def solver_name() -> str:
    """'HiGHS' when highspy is importable, else 'CBC'."""
    try:
        return "HiGHS" if pulp.HiGHS(msg=False).available() else "CBC"
    except (pulp.PulpSolverError, ImportError, OSError):  # solver missing or unusable
        return "CBC"


@contextlib.contextmanager
def _quiet_stdout() -> Iterator[None]:
    """Silence C-level stdout: highspy prints a licence banner on its first Highs() even with
    output_flag off, which would corrupt tables and JSON the CLI prints."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # captured / replaced stdout: nothing C-level to hide
        yield
        return
    sys.stdout.flush()
    saved = os.dup(fd)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), fd)
        yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)


def _make_solver(name: str, time_limit_s: float | None) -> pulp.LpSolver:
    if name == "HiGHS":
        return pulp.HiGHS(msg=False, gapRel=0.0, gapAbs=0.0, timeLimit=time_limit_s, threads=1)
    if name == "CBC":
        return pulp.PULP_CBC_CMD(msg=False, gapRel=0.0, gapAbs=0.0, timeLimit=time_limit_s)
    raise InvalidSpecError(f"solver: unknown solver {name!r} (HiGHS or CBC)")


def format_budget_error(budgets: Mapping[str, float], minimums: Mapping[str, float], jointly: bool) -> str:
    parts = [f"{n} <= {budgets[n]:.6g} (smallest achievable {minimums[n]:.6g})" for n in budgets]
    head = ("budgets cannot all be met together although each alone can: " if jointly
            else "budget cannot be met: ")
    return head + "; ".join(parts)


def solve(table: CostTable, budgets: Mapping[str, float | str] | None = None, *,
          objective: str = SENSITIVITY, time_limit_s: float | None = None,
          solver: str | None = None, method: str = "ilp") -> Allocation:
    """Minimise `objective` under `budgets` (name -> absolute number, quantity or "0.6x").

    `budgets=None` uses the table's own budgets. Returns an `Allocation` whose status is
    "optimal" only when the solver proved it; a time limit gives the incumbent as
    "feasible". `method` ``"auto"`` solves a program with at most one budget by the exact
    Pareto dynamic program of `search.mckp` (the ILP when its frontier grows too large; equal
    optima may then differ in which allocation is returned), ``"ilp"`` always by the ILP.
    Raises InfeasibleBudgetError (with every budget's achievable minimum) when
    no allocation meets the budgets, LowbitError when a time limit passes with no incumbent.
    """
    t0 = time.perf_counter()
    raw = dict(table.budgets) if budgets is None else dict(budgets)
    bud = {table.key(n): table.resolve_budget(n, v) for n, v in raw.items()}
    objective = table.key(objective)  # a plain `latency` means `latency_s` on an SI table
    obj_arr_check = table.metric(objective)  # validates the name
    del obj_arr_check
    names = list(dict.fromkeys([objective, *bud]))
    gid, grouped, allowed = table.grouped(names)
    G, C = allowed.shape
    mins = {n: float(np.where(allowed, grouped[n], np.inf).min(axis=1).sum()) for n in bud}
    tol = {n: 1e-9 * max(abs(bud[n]), abs(mins[n]), 1e-300) for n in bud}
    short = {n: b for n, b in bud.items() if b < mins[n] - tol[n]}
    if short:
        raise InfeasibleBudgetError(format_budget_error(bud, mins, jointly=False), minimums=mins)

    sname = solver or solver_name()
    # Exact presolve: drop a choice when another allowed choice of the same group is no worse in
    # the objective and in every budgeted metric (strictly better in one, or equal and earlier).
    stack = np.stack([np.where(allowed, grouped[n], np.inf) for n in names], axis=-1)  # [G, C, M]
    le = (stack[:, :, None, :] <= stack[:, None, :, :]).all(-1)   # le[g, a, b]: a no worse than b
    lt = (stack[:, :, None, :] < stack[:, None, :, :]).any(-1)
    earlier = np.tri(C, k=-1, dtype=bool).T                        # earlier[a, b]: a < b
    dominated = (le & (lt | earlier[None])).any(axis=1) & allowed
    keep = allowed & ~dominated
    gi, ci = np.nonzero(keep)  # variables, in group order
    nvar = gi.size

    if method not in ("ilp", "auto"):
        raise InvalidSpecError(f"solve: unknown method {method!r} (ilp or auto)")
    if method == "auto" and len(bud) <= 1 and nvar:
        dp = _solve_dp(grouped, objective, bud, tol, gi, ci, G)
        if dp is not None:
            if dp.status == "infeasible":  # pragma: no cover - the minimum check above catches it
                raise InfeasibleBudgetError(format_budget_error(bud, mins, jointly=True), minimums=mins)
            return _allocation(table, ci[dp.pick][gid], bud, objective, "optimal", "mckp-dp", t0,
                               method="mckp-dp", extra={"states": dp.states})

    def shifted(n: str) -> tuple[np.ndarray, float]:
        a = np.where(allowed, grouped[n], np.inf)
        base = a.min(axis=1)
        coef = (grouped[n] - base[:, None])[gi, ci]
        scale = float(np.abs(coef).max()) if nvar else 0.0
        return coef, (scale if scale > 0 else 1.0)

    ocoef, oscale = shifted(objective)
    rows, rhs = [], []
    for n, b in bud.items():
        coef, scale = shifted(n)
        if not coef.any():
            continue
        rows.append(coef / scale)
        rhs.append(max((b - mins[n]) / scale, 0.0))
    t_build = time.perf_counter() - t0
    with _quiet_stdout():
        core = solve_core(ocoef / oscale, np.array(rows).reshape(len(rows), nvar), np.array(rhs),
                          gi, G, lambda left: _make_solver(sname, left), time_limit_s)
    t_solve = time.perf_counter() - t0 - t_build
    log.debug("ilp %d groups x %d choices, %d budgets: build %.3fs, solve %.3fs (%s; %d restricted "
              "MIPs, last %d variables)", G, C, len(bud), t_build, t_solve, sname, core.rounds,
              core.mip_vars)
    if core.status == "infeasible":
        raise InfeasibleBudgetError(format_budget_error(bud, mins, jointly=True), minimums=mins)
    return _allocation(table, ci[core.pick][gid], bud, objective, core.status, sname, t0)


def _solve_dp(grouped: Mapping[str, np.ndarray], objective: str, bud: Mapping[str, float],
              tol: Mapping[str, float], gi: np.ndarray, ci: np.ndarray, G: int) -> Any:
    """`search.mckp` on the presolved variables (at most one budget); None when it gives up."""
    from lowbit.search.mckp import solve_one_budget

    obj = grouped[objective][gi, ci]
    if bud:
        (n, b), = bud.items()
        return solve_one_budget(obj, grouped[n][gi, ci], b, gi, G, tol=tol[n])
    return solve_one_budget(obj, np.zeros_like(obj), 0.0, gi, G)


def _allocation(table: CostTable, assignment: np.ndarray, bud: Mapping[str, float], objective: str,
                status: str, sname: str, t0: float, method: str = "ilp",
                extra: Mapping[str, Any] | None = None) -> Allocation:
    totals = table.totals(assignment)
    for n, b in bud.items():
        if totals[n] > b + 1e-6 * max(abs(b), 1e-300):
            raise LowbitError(f"solver {sname} returned an allocation over the {n} budget "
                              f"({totals[n]:.9g} > {b:.9g})")
    return Allocation(layers=table.layers, choices=tuple(table.choices[c] for c in assignment),
                      assignment=tuple(int(c) for c in assignment), totals=totals, budgets=bud,
                      objective_name=objective, objective=totals[objective], status=status,
                      solver=sname, solve_time_s=time.perf_counter() - t0, method=method,
                      extra=dict(extra or {}))
