"""The exact core of `search.ilp`: a multiple-choice knapsack solved on a proven-sufficient subset.

Problem (already shifted and scaled by `ilp.solve`): variables ``k`` with group ``gi[k]`` (sorted,
every group has at least one), objective ``obj[k] >= 0``, budget rows ``A[b, k] >= 0`` with
right-hand sides ``rhs[b] >= 0``; pick exactly one variable per group, minimise the objective.

Method (exact, not a heuristic):

1. The LP relaxation (HiGHS dual simplex through scipy) gives budget multipliers
   ``lam >= 0``. For any ``lam >= 0`` the Lagrangian bound
   ``L = sum_g min_k (obj + lam.A)[k] - lam.rhs`` is below every feasible allocation, and an
   allocation x satisfies ``obj(x) >= L + sum_g d[g, x_g]`` where ``d`` is the penalty of a
   choice over its group's best ``obj + lam.A``. (Weak duality: it holds for any ``lam``; the LP
   only makes it tight.)
2. Solve the MIP restricted to choices with ``d <= delta``. If its optimum ``z`` satisfies
   ``z <= L + delta`` (less a rounding margin), every choice left out (``d > delta``) could only
   lead to allocations worse than ``z``: ``z`` is the optimum of the whole problem. Otherwise
   enlarge ``delta`` to ``z - L`` (or grow it when the subset is infeasible) and solve again; the
   last round is at worst the whole problem.
3. Groups left with one choice are constants (moved into the right-hand sides), so the MIP
   HiGHS sees is only the few groups whose choice is in doubt.

A MIP round that stops on the time limit gives a feasible incumbent, reported as such. The
caller checks ``sol_status == LpSolutionOptimal`` semantics through `CoreResult.status`.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pulp
import scipy.sparse as sp
from lowbit.kernels_ref.errors import LowbitError
from scipy.optimize import linprog

__all__ = ["CoreResult", "solve_core"]

#: LP relaxations with at least this many variables go to HiGHS' interior point method.
_IPM_FROM_VARS = 20_000
#: The first restricted MIP admits this many choices beyond each group's best at most (more
#: rounds follow only when the first cannot prove its optimum; a 100,000-group program needs
#: a few hundred, and 12,500 cost HiGHS ~6 s more).
_FIRST_EXTRA_MAX = 1024


@dataclass(frozen=True)
class CoreResult:
    """Chosen variable per group and how it was proven."""

    pick: np.ndarray        # [G] index into the variable arrays
    status: str             # "optimal" | "feasible" | "infeasible"
    rounds: int             # restricted MIPs solved
    mip_vars: int           # variables in the last MIP (groups in doubt only)
    lp_bound: float         # Lagrangian lower bound, scaled units


def _lp_multipliers(obj: np.ndarray, A: np.ndarray, rhs: np.ndarray, gi: np.ndarray,
                    G: int) -> tuple[np.ndarray, bool]:
    """Budget multipliers from the LP relaxation; (lam, lp_infeasible)."""
    nvar = obj.size
    eq = sp.csr_matrix((np.ones(nvar), (gi, np.arange(nvar))), shape=(G, nvar))
    # Dual simplex is quickest on small programs; from ~20k variables HiGHS' interior point
    # (with crossover) is several times faster (200k variables: 0.9 s against 4-6 s). Either
    # gives valid multipliers: the proof in `solve_core` holds for any lam >= 0.
    method = "highs-ipm" if nvar >= _IPM_FROM_VARS else "highs-ds"
    r = linprog(obj, A_ub=A, b_ub=rhs, A_eq=eq, b_eq=np.ones(G), bounds=(0.0, 1.0), method=method)
    if r.status == 2:
        return np.zeros(A.shape[0]), True
    if r.status != 0 or r.ineqlin is None:  # no multipliers: lam = 0 is still a valid bound
        return np.zeros(A.shape[0]), False
    return np.maximum(-np.asarray(r.ineqlin.marginals, dtype=np.float64), 0.0), False


def solution_status(prob: pulp.LpProblem) -> str | None:
    """"optimal" only on a proven optimum (`sol_status`: a time limit still reports
    LpStatusOptimal), "feasible" on an integer-feasible incumbent, "infeasible", or None when
    the solver returned nothing usable."""
    if prob.status == pulp.LpStatusInfeasible or prob.sol_status == pulp.LpSolutionInfeasible:
        return "infeasible"
    if prob.sol_status == pulp.LpSolutionOptimal:
        return "optimal"
    if prob.sol_status == pulp.LpSolutionIntegerFeasible:
        return "feasible"
    return None


def _restricted_mip(sel: np.ndarray, obj: np.ndarray, A: np.ndarray, rhs: np.ndarray,
                    gi: np.ndarray, G: int, starts: np.ndarray,
                    make_solver: Callable[[float | None], pulp.LpSolver],
                    time_left: float | None) -> tuple[np.ndarray | None, str, int]:
    """Optimum over the selected variables: (pick per group or None, status, MIP vars)."""
    counts = np.add.reduceat(sel.astype(np.int64), starts)
    single = counts == 1
    k_single = np.flatnonzero(sel & single[gi])
    pick = np.full(G, -1, dtype=np.int64)
    pick[gi[k_single]] = k_single
    used = A[:, k_single].sum(axis=1) if A.shape[0] else np.zeros(0)
    res_rhs = rhs - used
    tol = 1e-9 * np.maximum(1.0, np.abs(rhs))
    if (res_rhs < -tol).any():
        return None, "infeasible", 0
    kv = np.flatnonzero(sel & ~single[gi])
    if kv.size == 0:
        return pick, "optimal", 0
    # The MIP HiGHS sees is shifted by each group's cheapest selected choice and scaled by its
    # own largest coefficient, per row and for the objective (an exact change of units: the
    # pick is the same; HiGHS closes a zero gap far sooner on O(1) coefficients, 0.5 s against
    # 1.3 s on a 65-group knapsack); rows no selection can violate are left out.
    g_of = gi[kv]
    bounds = np.flatnonzero(np.r_[True, g_of[1:] != g_of[:-1], True])
    first = bounds[:-1]
    member = np.repeat(np.arange(first.size), np.diff(bounds))

    def shifted(v: np.ndarray) -> tuple[np.ndarray, float, float, float]:
        """(v less its group minimum, scaled; sum of the minima; sum of the spreads; scale)"""
        lo = np.minimum.reduceat(v, first)
        out = v - lo[member]
        scale = float(out.max()) if out.size else 0.0
        scale = scale if scale > 0 else 1.0
        return out / scale, float(lo.sum()), float(np.maximum.reduceat(out, first).sum()), scale

    prob = pulp.LpProblem("alloc", pulp.LpMinimize)
    xs = [prob.add_variable(f"x{k}", 0, 1, pulp.LpBinary) for k in range(kv.size)]
    o2 = shifted(obj[kv])[0]
    prob.setObjective(pulp.LpAffineExpression([(xs[j], float(v)) for j, v in enumerate(o2) if v != 0.0]))
    for s, e in itertools.pairwise(bounds):
        prob.addConstraint(pulp.LpConstraint(
            pulp.LpAffineExpression([(xs[j], 1.0) for j in range(s, e)]),
            sense=pulp.LpConstraintEQ, rhs=1.0), name=f"g{g_of[s]}")
    for b in range(A.shape[0]):
        row, base, spread, scale = shifted(A[b, kv])
        room = res_rhs[b] - base
        if room < -tol[b]:
            return None, "infeasible", kv.size
        if spread <= room:  # even every group's dearest choice fits: the row cannot bind
            continue
        nz = np.flatnonzero(row)
        prob.addConstraint(pulp.LpConstraint(
            pulp.LpAffineExpression([(xs[j], float(row[j])) for j in nz]),
            sense=pulp.LpConstraintLE, rhs=float(max(room, 0.0)) / scale), name=f"b{b}")
    prob.solve(make_solver(time_left))
    status = solution_status(prob)
    if status == "infeasible":
        return None, "infeasible", kv.size
    if status is None:
        raise LowbitError(f"solver found no allocation (status "
                          f"{pulp.LpStatus.get(prob.status, prob.status)}"
                          f"{f', time limit {time_left:.3g} s left' if time_left else ''})")
    vals = np.fromiter((v.varValue or 0.0 for v in xs), dtype=np.float64, count=kv.size)
    on = kv[vals > 0.5]
    cnt = np.bincount(gi[on], minlength=G)
    doubt = np.zeros(G, dtype=bool)
    doubt[g_of] = True
    if (cnt[doubt] != 1).any() or cnt[~doubt].any():
        raise LowbitError("solver returned a solution that is not one-hot")
    pick[gi[on]] = on
    return pick, status, kv.size


def solve_core(obj: np.ndarray, A: np.ndarray, rhs: np.ndarray, gi: np.ndarray, G: int,
               make_solver: Callable[[float | None], pulp.LpSolver],
               time_limit_s: float | None = None, first_extra: int | None = None) -> CoreResult:
    """Exact minimum of ``obj`` over one variable per group under ``A x <= rhs`` (see module)."""
    t0 = time.perf_counter()
    obj = np.asarray(obj, dtype=np.float64)
    A = np.asarray(A, dtype=np.float64).reshape(-1, obj.size)
    rhs = np.asarray(rhs, dtype=np.float64)
    starts = np.searchsorted(gi, np.arange(G))
    if A.shape[0]:
        lam, lp_infeasible = _lp_multipliers(obj, A, rhs, gi, G)
        if lp_infeasible:
            return CoreResult(np.zeros(0, dtype=np.int64), "infeasible", 0, 0, np.inf)
    else:
        lam = np.zeros(0)
    pen = obj + lam @ A
    gmin = np.minimum.reduceat(pen, starts)
    d = pen - gmin[gi]
    bound = float(gmin.sum() - lam @ rhs)
    # Rounding margin for the proof: the sums involved are of O(G) numbers of O(1) (scaled rows),
    # and HiGHS accepts rows violated by its feasibility tolerance (1e-7) times lam.
    margin = 1e-9 * max(1.0, abs(bound), float(np.abs(pen).sum()) / max(G, 1)) \
        + 1e-6 * float(lam.sum())
    pos = np.sort(d[d > 0])
    extra = min(max(64, G // 8), _FIRST_EXTRA_MAX) if first_extra is None else first_extra
    delta = float(pos[min(extra, pos.size) - 1]) if pos.size else 0.0
    rounds = 0
    while True:
        full = pos.size == 0 or delta >= pos[-1]
        sel = d <= delta
        left = None if time_limit_s is None else max(time_limit_s - (time.perf_counter() - t0), 0.01)
        pick, status, nv = _restricted_mip(sel, obj, A, rhs, gi, G, starts, make_solver, left)
        rounds += 1
        if pick is None:
            if full:
                return CoreResult(np.zeros(0, dtype=np.int64), "infeasible", rounds, nv, bound)
            extra *= 4
            delta = float(pos[min(extra, pos.size) - 1])
            continue
        if full:
            return CoreResult(pick, status, rounds, nv, bound)
        z = float(obj[pick].sum())
        if status != "optimal":
            return CoreResult(pick, "feasible", rounds, nv, bound)
        if z <= bound + delta - margin:
            return CoreResult(pick, "optimal", rounds, nv, bound)
        delta = max(z - bound + margin, float(np.nextafter(delta, np.inf)))
