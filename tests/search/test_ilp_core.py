"""search.ilp_core: the restricted-subset exact method equals one MIP over every variable."""

from __future__ import annotations

import numpy as np
import pulp
import pytest
from lowbit.search.ilp_core import solve_core


def _solver(left: float | None) -> pulp.LpSolver:
    return pulp.HiGHS(msg=False, gapRel=0.0, gapAbs=0.0, timeLimit=left, threads=1)


def _full_mip(obj: np.ndarray, A: np.ndarray, rhs: np.ndarray, gi: np.ndarray, G: int) -> float:
    """Reference: one MIP with every variable (the formulation ilp.solve used before)."""
    prob = pulp.LpProblem("ref", pulp.LpMinimize)
    xs = [prob.add_variable(f"x{k}", 0, 1, pulp.LpBinary) for k in range(obj.size)]
    prob.setObjective(pulp.lpSum(float(obj[k]) * xs[k] for k in range(obj.size)))
    for g in range(G):
        prob.addConstraint(pulp.lpSum(xs[k] for k in np.flatnonzero(gi == g)) == 1)
    for b in range(A.shape[0]):
        prob.addConstraint(pulp.lpSum(float(A[b, k]) * xs[k] for k in range(obj.size)) <= float(rhs[b]))
    prob.solve(_solver(None))
    if prob.sol_status == pulp.LpSolutionInfeasible or prob.status == pulp.LpStatusInfeasible:
        return np.inf
    assert prob.sol_status == pulp.LpSolutionOptimal
    return float(sum(obj[k] for k in range(obj.size) if (xs[k].varValue or 0) > 0.5))


def _instance(rng: np.random.Generator, G: int, C: int, B: int, tight: float):
    gi = np.repeat(np.arange(G), C)
    bits = np.tile(np.arange(1, C + 1), G).astype(float)
    size = rng.uniform(0.1, 1.0, G)[gi]
    obj = size * rng.lognormal(0, 1, G)[gi] * np.exp2(-2 * bits) * rng.uniform(0.9, 1.1, gi.size)
    A = np.stack([size * bits ** (1 + 0.3 * b) * rng.uniform(0.8, 1.2, gi.size) for b in range(B)])
    obj -= np.minimum.reduceat(obj, np.arange(0, gi.size, C))[gi]
    A -= np.minimum.reduceat(A, np.arange(0, gi.size, C), axis=1)[:, gi]
    # Shifted like ilp.solve: the cheapest choice of every group costs 0 in every row.
    rhs = tight * A.reshape(B, G, C).max(axis=2).sum(axis=1)
    return obj, A, rhs, gi


@pytest.mark.slow  # > 2 s; the slow lane (make test) runs it
@pytest.mark.parametrize("seed", range(12))
def test_restricted_core_equals_the_full_mip(seed: int) -> None:
    rng = np.random.default_rng(seed)
    G, C, B = int(rng.integers(20, 80)), int(rng.integers(2, 7)), 1 + seed % 3
    obj, A, rhs, gi = _instance(rng, G, C, B, tight=float(rng.uniform(0.05, 0.6)))
    ref = _full_mip(obj, A, rhs, gi, G)
    for first_extra in (1, 5, 10**9):  # tiny first subsets force the enlarge / grow rounds
        r = solve_core(obj, A, rhs, gi, G, _solver, first_extra=first_extra)
        if not np.isfinite(ref):
            assert r.status == "infeasible"
            continue
        assert r.status == "optimal"
        assert (gi[r.pick] == np.arange(G)).all()
        assert (A[:, r.pick].sum(axis=1) <= rhs * (1 + 1e-9) + 1e-12).all()
        assert float(obj[r.pick].sum()) == pytest.approx(ref, rel=1e-9, abs=1e-12)
        assert r.lp_bound <= ref + 1e-9


def test_small_first_subset_needs_more_rounds_and_stays_exact() -> None:
    rng = np.random.default_rng(7)
    obj, A, rhs, gi = _instance(rng, 200, 8, 3, tight=0.3)
    ref = _full_mip(obj, A, rhs, gi, 200)
    r = solve_core(obj, A, rhs, gi, 200, _solver, first_extra=1)
    assert r.rounds >= 2 and r.status == "optimal"
    assert float(obj[r.pick].sum()) == pytest.approx(ref, rel=1e-9)
    # The MIP HiGHS saw holds only the groups in doubt, far fewer than all 1600 variables.
    assert 0 < r.mip_vars < 1600


def test_infeasible_budget_is_reported() -> None:
    gi = np.array([0, 0, 1, 1])
    obj = np.array([0.0, 1.0, 0.0, 1.0])
    A = np.array([[1.0, 0.0, 1.0, 0.0]])  # the cheapest objective choice costs budget
    r = solve_core(obj, A, np.array([-0.5]), gi, 2, _solver)
    assert r.status == "infeasible"
    r = solve_core(obj, A, np.array([1.0]), gi, 2, _solver)
    assert r.status == "optimal" and float(obj[r.pick].sum()) == 1.0


@pytest.mark.parametrize("seed", range(4))
def test_interior_point_multipliers_stay_exact(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Large programs take their LP multipliers from HiGHS' interior point method; forced here on
    small ones, the optimum still equals the full MIP (any multipliers give a valid proof)."""
    import lowbit.search.ilp_core as core

    monkeypatch.setattr(core, "_IPM_FROM_VARS", 0)
    rng = np.random.default_rng(50 + seed)
    G, C, B = int(rng.integers(20, 80)), int(rng.integers(2, 7)), 1 + seed % 3
    obj, A, rhs, gi = _instance(rng, G, C, B, tight=float(rng.uniform(0.05, 0.6)))
    ref = _full_mip(obj, A, rhs, gi, G)
    for first_extra in (1, None):
        r = solve_core(obj, A, rhs, gi, G, _solver, first_extra=first_extra)
        if not np.isfinite(ref):
            assert r.status == "infeasible"
            continue
        assert r.status == "optimal"
        assert float(obj[r.pick].sum()) == pytest.approx(ref, rel=1e-9, abs=1e-12)


def test_a_row_that_cannot_bind_is_left_out_and_the_other_still_holds() -> None:
    rng = np.random.default_rng(3)
    obj, A, rhs, gi = _instance(rng, 60, 4, 2, tight=0.2)
    rhs = rhs.copy()
    rhs[1] = 10.0 * A[1].reshape(60, 4).max(axis=1).sum()  # row 1 never binds
    ref = _full_mip(obj, A, rhs, gi, 60)
    r = solve_core(obj, A, rhs, gi, 60, _solver, first_extra=1)
    assert r.status == "optimal" and float(obj[r.pick].sum()) == pytest.approx(ref, rel=1e-9)
    assert A[0, r.pick].sum() <= rhs[0] * (1 + 1e-9)
