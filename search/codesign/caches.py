"""What a sweep worker reuses between points, and the helpers both pricing paths share.

`SweepCaches` holds bounded LRUs (no module-level state): accelerators by (base, params),
workloads by model, priced structures, inner-program results by table hash. `ModelCtx` is
what a worker needs about a model. Every point is priced at the canonical clock `F0_HZ`
(see `worker`), so `energy_at` rescales a layer's leakage to the point's clock. A point's
result never depends on what the caches hold.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import numpy as np
from lowbit.kernels_ref.errors import InfeasibleBudgetError
from lowbit.search.costs import CostTable

__all__ = ["F0_HZ", "LRU", "ModelCtx", "SweepCaches", "accel_of", "energy_at", "solve_cached", "workload_of"]

F0_HZ = 1.0e9  # canonical clock every point is priced at (see `worker`)
K = TypeVar("K")
V = TypeVar("V")


class LRU(Generic[K, V]):
    """A dict that keeps its `maxsize` most recently used entries."""

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError(f"LRU maxsize must be >= 1, got {maxsize}")
        self.maxsize = maxsize
        self._d: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        v = self._d.get(key)
        if v is not None:
            self._d.move_to_end(key)
        return v

    def put(self, key: K, value: V) -> V:
        self._d[key] = value
        self._d.move_to_end(key)
        while len(self._d) > self.maxsize:
            self._d.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._d)


@dataclass
class SweepCaches:
    """What a worker reuses between points: accelerators by (base, params), workloads by
    model, priced structures, inner-ILP results (or their infeasibility) by table hash,
    and model-level arrays that no design changes (weight bytes, quality rows) by model.

    `reference=True` prices every point by the reference path (`codesign.reference`: one
    `hwsim.evaluate` per layer and choice, each point's result assembled alone), which the
    tests hold the fast path equal to and `benchmarks/bench_sweep.py --ab` times against it."""

    accels: LRU[tuple[Any, ...], Any] = field(default_factory=lambda: LRU(4096))
    workloads: LRU[tuple[Any, ...], Any] = field(default_factory=lambda: LRU(64))
    priced: LRU[tuple[Any, ...], Any] = field(default_factory=lambda: LRU(64))
    ilp: LRU[str, Any] = field(default_factory=lambda: LRU(4096))
    models: LRU[tuple[Any, ...], Any] = field(default_factory=lambda: LRU(64))
    reference: bool = False


@dataclass(frozen=True)
class ModelCtx:
    """What a worker needs about a model: its workload arguments and its quality table.

    With `act_formats` the table's columns are the (weight, activation) choices, weight-major
    (``W/A`` labels), each pair's own value (`search.pair_terms`: measured activation terms or a
    file's ``act:A`` / ``W/A`` columns), never a weight value repeated; without, the weight
    formats."""

    name: str
    formats: tuple[str, ...]
    workload: tuple[tuple[str, Any], ...]
    q_layers: tuple[str, ...]
    q_values: tuple[tuple[float, ...], ...]
    fixed: tuple[tuple[str, str], ...]
    ties: tuple[tuple[str, ...], ...]
    act_formats: tuple[str, ...] = ()
    source: str = ""

    def quality(self) -> Any:
        from lowbit.models.quality import Quality
        from lowbit.search.costs import choice_label

        cols = (tuple(choice_label(w, a) for w in self.formats for a in self.act_formats)
                if self.act_formats else self.formats)
        return Quality(self.name, self.q_layers, cols, np.array(self.q_values), self.fixed, self.ties)


def accel_of(base: str, params: tuple[tuple[str, Any], ...], caches: SweepCaches) -> Any:
    """The accelerator `base` with `params` changed, built once per (base, params)."""
    from lowbit.hwsim.spec import load_accelerator

    key = (base, params)
    a = caches.accels.get(key)
    if a is None:  # the base preset is read once (a YAML parse costs ~10 ms), then varied per point
        a = caches.accels.put(key, accel_of(base, (), caches).with_changes(**dict(params)) if params
                              else load_accelerator(base))
    return a


def workload_of(ctx: ModelCtx, caches: SweepCaches) -> Any:
    from lowbit.models import zoo

    key = (ctx.name, ctx.workload)
    wl = caches.workloads.get(key)
    return wl if wl is not None else caches.workloads.put(key, zoo.get(ctx.name, **dict(ctx.workload)))


def solve_cached(table: CostTable, budgets: Mapping[str, float], objective: str, caches: SweepCaches,
                 hashes: dict[tuple[str, ...], Any] | None = None) -> Any:
    """`search.ilp.solve(..., method="auto")`, once per identical (objective and budgeted
    metrics, allowed set, ties, budgets); an infeasibility is cached and raised again.
    `hashes` (the caller's, for this very table) keeps the hash of the table's part of the key
    per metric names, so the clocks of one structure hash their table once."""
    from lowbit.search.ilp import solve

    names = tuple(dict.fromkeys([objective, *budgets]))
    part = hashes.get(names) if hashes is not None else None
    if part is None:
        part = hashlib.sha1()
        for n in names:
            part.update(n.encode())
            part.update(np.ascontiguousarray(table.metric(n)).tobytes())
        part.update(np.ascontiguousarray(table.allowed).tobytes())
        part.update(repr(table.ties).encode())
        if hashes is not None:
            hashes[names] = part
    h = part.copy()
    h.update(json.dumps({k: float(v) for k, v in budgets.items()}, sort_keys=True).encode())
    key = h.hexdigest()
    hit = caches.ilp.get(key)
    if hit is not None:
        if isinstance(hit, Exception):
            raise hit
        return hit
    try:
        alloc = solve(table, budgets, objective=objective, method="auto")  # one budget: search.mckp
    except InfeasibleBudgetError as exc:
        caches.ilp.put(key, exc)
        raise
    return caches.ilp.put(key, alloc)


def energy_at(e: Mapping[str, float], scale: float) -> dict[str, float]:
    """A layer's energy by component at clock F0_HZ / scale (only leakage depends on the clock)."""
    return {k: (v * scale if k == "leakage" else v) for k, v in e.items()}


def infeasible_result(exc: InfeasibleBudgetError, budgets: Mapping[str, float], freq: float,
                      base: Mapping[str, Any]) -> dict[str, Any]:
    """A sweep point's result when its budgets cannot be met: each budget asked and the smallest
    achievable value, cycles reported as seconds at the point's clock `freq`."""
    def sec(k: str, v: float) -> tuple[str, float]:
        return ("latency_s", v / freq) if k == "cycles" else (k, v)

    mins = dict(sec(k, v) for k, v in (exc.minimums or {}).items())
    asked = dict(sec(k, v) for k, v in budgets.items())
    msg = "; ".join(f"{k} <= {asked[k]:.6g} (smallest achievable {mins[k]:.6g})" for k in asked if k in mins)
    return {"status": "infeasible", "message": f"budget cannot be met on this design: {msg}",
            "minimum": mins, "budget": asked, **base}
