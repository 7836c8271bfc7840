"""Epsilon-constraint Pareto sweep: quality (objective) against one swept cost.

The swept budget runs over `points` values evenly spaced between the smallest
achievable total of that cost and its total at the unconstrained optimum of the
objective; every point is one exact ILP (other budgets stay in force). The
non-dominated set is reported together with the uniform-precision allocations
for reference.

Output (`out_dir`): ``pareto.csv`` is appended one row per point as it is solved
(kind, budget, status, objective, every metric total, per-layer choices joined by
';'), and ``pareto.json`` is rewritten after each point. Running again with the
same directory skips the budgets already in the CSV (resumable).
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from lowbit.kernels_ref.errors import InfeasibleBudgetError, InvalidSpecError
from lowbit.kernels_ref.progress import progress
from lowbit.search.costs import SENSITIVITY, CostTable
from lowbit.search.ilp import solve as _ilp_solve

__all__ = ["ParetoPoint", "non_dominated", "nondominated_ranks", "sweep"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ParetoPoint:
    kind: str                     # "ilp" or "uniform:<choice>"
    budget: float | None          # swept budget (None for uniform points)
    status: str
    objective: float
    totals: Mapping[str, float]
    choices: tuple[str, ...]
    dominated: bool = False

    def row(self, metric_names: tuple[str, ...]) -> dict[str, Any]:
        r: dict[str, Any] = {"kind": self.kind, "budget": "" if self.budget is None else repr(self.budget),
                             "status": self.status, "objective": repr(self.objective),
                             "dominated": int(self.dominated)}
        for n in metric_names:
            r[n] = repr(self.totals[n])
        r["choices"] = ";".join(self.choices)
        return r


def non_dominated(points: Any) -> np.ndarray:
    """Mask of the rows of `points` [n, k] (every column minimised, e.g. (cost, objective))
    that no other row dominates (<= in all, < in one)."""
    a = np.asarray(points, dtype=np.float64)
    if a.size == 0:
        return np.zeros(0, dtype=bool)
    if a.ndim != 2:
        raise InvalidSpecError(f"non_dominated: expected a 2-D array of points, got shape {a.shape}")
    le = (a[:, None, :] <= a[None, :, :]).all(-1)  # le[i, j]: i no worse than j everywhere
    lt = (a[:, None, :] < a[None, :, :]).any(-1)
    return ~(le & lt).any(axis=0)


def nondominated_ranks(points: Any) -> np.ndarray:
    """Non-domination rank of every row (0: the front, 1: the front once 0 is removed, ...)."""
    a = np.asarray(points, dtype=np.float64)
    ranks = np.full(len(a), -1)
    remaining = np.arange(len(a))
    r = 0
    while remaining.size:
        front = non_dominated(a[remaining])
        ranks[remaining[front]] = r
        remaining = remaining[~front]
        r += 1
    return ranks


def _read_done(csv_path: Path) -> dict[str, dict[str, str]]:
    if not csv_path.exists():
        return {}
    with open(csv_path, newline="", encoding="utf-8") as fh:
        return {f"{r['kind']}|{r['budget']}": r for r in csv.DictReader(fh)}


def sweep(table: CostTable, swept: str, *, points: int = 30,
          budgets: Mapping[str, float | str] | None = None, objective: str = SENSITIVITY,
          out_dir: str | Path | None = None, time_limit_s: float | None = None,
          quiet: bool = False, solve_fn: Callable[..., Any] | None = None) -> list[ParetoPoint]:
    """Solve `points` ILPs with the `swept` budget from its minimum up to its value at the
    unconstrained optimum; returns every point (ILP then uniform) with `dominated` marked.
    `solve_fn(table, budgets, objective=, time_limit_s=)` solves each point (default
    `ilp.solve`; `joint.solve_joint` of a joint table with activation ties)."""
    solve = _ilp_solve if solve_fn is None else solve_fn
    swept, objective = table.key(swept), table.key(objective)
    if swept == objective:
        raise InvalidSpecError(f"pareto: the swept budget {swept!r} cannot also be the objective")
    if points < 2:
        raise InvalidSpecError(f"pareto: need at least 2 points, got {points}")
    table.metric(swept)
    other = {table.key(n): table.resolve_budget(n, v) for n, v in (budgets or {}).items()
             if table.key(n) != swept}
    names = table.metric_names
    lo = table.min_totals([swept])[swept]
    free = solve(table, other, objective=objective, time_limit_s=time_limit_s)
    hi = free.totals[swept]
    grid = np.linspace(lo, hi, points) if hi > lo else np.array([lo])
    csv_path = json_path = None
    done: dict[str, dict[str, str]] = {}
    if out_dir is not None:
        od = Path(out_dir)
        od.mkdir(parents=True, exist_ok=True)
        csv_path, json_path = od / "pareto.csv", od / "pareto.json"
        done = _read_done(csv_path)
    fields = ["kind", "budget", "status", "objective", "dominated", *names, "choices"]
    results: list[ParetoPoint] = []

    def from_row(r: dict[str, str]) -> ParetoPoint:
        return ParetoPoint(kind=r["kind"], budget=float(r["budget"]) if r["budget"] else None,
                           status=r["status"], objective=float(r["objective"]),
                           totals={n: float(r[n]) for n in names},
                           choices=tuple(r["choices"].split(";")) if r["choices"] else ())

    def emit(p: ParetoPoint) -> None:
        results.append(p)
        if csv_path is None:
            return
        new = not csv_path.exists()
        with open(csv_path, "a", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=fields)
            if new:
                w.writeheader()
            w.writerow(p.row(names))
            fh.flush()
            os.fsync(fh.fileno())
        _write_json(json_path, table, swept, objective, results)

    todo: list[tuple[str, float | None, str | None]] = [("ilp", float(b), None) for b in grid]
    todo += [(f"uniform:{c}", None, c) for c in table.choices]
    bar = progress(len(todo), f"pareto {table.model or ''} {swept}".replace("  ", " "), quiet=quiet)
    for kind, b, label in todo:
        bar.update(1)
        key = f"{kind}|{'' if b is None else repr(b)}"
        if key in done:
            results.append(from_row(done[key]))
            continue
        if label is None:
            try:
                a = solve(table, {**other, swept: b}, objective=objective, time_limit_s=time_limit_s)
            except InfeasibleBudgetError as exc:
                log.info("pareto: %s <= %.6g infeasible with the other budgets: %s", swept, b, exc)
                emit(ParetoPoint(kind, b, "infeasible", float("nan"), {n: float("nan") for n in names}, ()))
                continue
            emit(ParetoPoint(kind, b, a.status, a.objective, a.totals, a.choices))
        else:
            asg = table.uniform(label)
            tot = table.totals(asg)
            ok = all(tot[n] <= v * (1 + 1e-9) for n, v in other.items())
            emit(ParetoPoint(kind, None, "feasible" if ok else "over-budget", tot[objective], tot,
                             tuple(table.choices[c] for c in asg)))
    bar.close()
    valid = [i for i, p in enumerate(results) if p.status in ("optimal", "feasible")]
    mask = non_dominated([(results[i].totals[swept], results[i].objective) for i in valid]) if valid else []
    out = list(results)
    for i, m in zip(valid, mask):
        p = out[i]
        out[i] = ParetoPoint(p.kind, p.budget, p.status, p.objective, p.totals, p.choices, not bool(m))
    if csv_path is not None:
        # Rewrite once at the end with the dominance flags (rows are already safe on disk).
        tmp = csv_path.with_suffix(".csv.tmp")
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=fields)
            w.writeheader()
            for p in out:
                w.writerow(p.row(names))
        os.replace(tmp, csv_path)
        _write_json(json_path, table, swept, objective, out)
    return out


def _write_json(path: Path | None, table: CostTable, swept: str, objective: str,
                pts: list[ParetoPoint]) -> None:
    if path is None:
        return
    doc = {"model": table.model, "hardware": table.hardware, "swept": swept, "objective": objective,
           "layers": list(table.layers),
           "points": [{"kind": p.kind, "budget": p.budget, "status": p.status,
                       "objective": None if math.isnan(p.objective) else p.objective,
                       "dominated": p.dominated,
                       "totals": {k: (None if math.isnan(v) else v) for k, v in p.totals.items()},
                       "choices": list(p.choices)} for p in pts]}
    tmp = path.with_suffix(".json.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(doc, fh)
    os.replace(tmp, path)
