"""The worker: price one (design, model) point and solve its inner ILP.

A point's layer costs come from the one pricing path, `PricedGrid.price` then
`CostTable.from_priced` (what `CostTable.from_hwsim` does), on the point's canonical
accelerator. Cycles, traffic and dynamic energy do not depend on the clock (bandwidths
are per cycle); only leakage (W x seconds) does. Every point is therefore priced at a
canonical `F0_HZ` = 1 GHz and its leakage rescaled by F0_HZ / f, the same arithmetic for
every point, so one structure (design without its clock) is priced once for all its
clocks and the inner ILP is solved once per identical (objective, budgeted metrics,
budgets) table.

Those reuses live in a `SweepCaches` passed in (bounded LRUs, no module-level state);
`evaluate_group` makes a fresh one for its task when given none. A point's result never
depends on what the caches hold.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import numpy as np
from lowbit.kernels_ref.errors import InfeasibleBudgetError, InvalidSpecError, LowbitError
from lowbit.search.codesign.space import Point, is_number, is_relative, seconds
from lowbit.search.costs import CostTable, PricedGrid

__all__ = ["F0_HZ", "LRU", "ModelCtx", "SweepCaches", "design_table", "evaluate_group", "evaluate_point"]

F0_HZ = 1.0e9  # canonical clock every point is priced at (see module docstring)
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
    model, priced structures, inner-ILP results (or their infeasibility) by table hash."""

    accels: LRU[tuple[Any, ...], Any] = field(default_factory=lambda: LRU(4096))
    workloads: LRU[tuple[Any, ...], Any] = field(default_factory=lambda: LRU(64))
    priced: LRU[tuple[Any, ...], _Priced] = field(default_factory=lambda: LRU(64))
    ilp: LRU[str, Any] = field(default_factory=lambda: LRU(4096))


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


@dataclass
class _Priced:
    """One structure (design without its clock) x model, priced at F0_HZ; shared by its clock variants."""

    accel: Any                      # canonical Accelerator (freq F0_HZ)
    wl: Any
    labels: tuple[str, ...]
    names: list[str]                # weight layers (the ILP's rows)
    table: CostTable                # at F0 (energy includes leakage at F0)
    dyn: np.ndarray                 # [L, C] energy without leakage
    leak: np.ndarray                # [L, C] leakage energy at F0
    grid: tuple[tuple[Any, ...], ...]  # LayerCost per weight layer and choice
    other: dict[str, Any]           # LayerCost of layers without weights (run at the act format)
    tied: dict[str, tuple[int, tuple[Any, ...]]]  # layer reusing a weight layer's weights ->
    #                                   (that layer's row, LayerCost per choice); in `table`'s rows
    area_mm2: float
    peak_macs_per_cycle: float
    peak_by_format: dict[str, float]   # peak MACs/cycle of each choice (and of the act format)


def _accel(base: str, params: tuple[tuple[str, Any], ...], caches: SweepCaches) -> Any:
    from lowbit.hwsim.spec import load_accelerator

    key = (base, params)
    a = caches.accels.get(key)
    if a is None:  # the base preset is read once (a YAML parse costs ~10 ms), then varied per point
        a = caches.accels.put(key, _accel(base, (), caches).with_changes(**dict(params)) if params
                              else load_accelerator(base))
    return a


def _workload_of(ctx: ModelCtx, caches: SweepCaches) -> Any:
    from lowbit.models import zoo

    key = (ctx.name, ctx.workload)
    wl = caches.workloads.get(key)
    return wl if wl is not None else caches.workloads.put(key, zoo.get(ctx.name, **dict(ctx.workload)))


def _solve_cached(table: CostTable, budgets: Mapping[str, float], objective: str, caches: SweepCaches) -> Any:
    from lowbit.search.ilp import solve

    h = hashlib.sha1()
    for n in dict.fromkeys([objective, *budgets]):
        h.update(n.encode())
        h.update(np.ascontiguousarray(table.metric(n)).tobytes())
    h.update(np.ascontiguousarray(table.allowed).tobytes())
    h.update(repr(table.ties).encode())
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


def _priced(p: Point, ctx: ModelCtx, act_formats: tuple[str, ...], caches: SweepCaches) -> _Priced:
    from lowbit import hwsim

    struct = tuple((k, v) for k, v in p.params if k != "freq_hz")
    key = (p.base, struct, ctx, act_formats)
    hit = caches.priced.get(key)
    if hit is not None:
        return hit
    canon = _accel(p.base, (*struct, ("freq_hz", F0_HZ)), caches)
    wl = _workload_of(ctx, caches)
    pg = PricedGrid.price(wl, ctx.formats, canon, act_formats=act_formats)
    names = [ly.name for ly in pg.layers]
    if tuple(act_formats) != ctx.act_formats:  # the table's columns must be this space's choices
        raise InvalidSpecError(f"quality table of {ctx.name}: built for activation formats "
                               f"{list(ctx.act_formats)}, the sweep asks for {list(act_formats)}")
    # [layer, choice], weight-major (W, A) pairs with act_formats: each pair's own value
    sens, held, ties = ctx.quality().for_layers(names, where="quality table")
    table = CostTable.from_priced(pg, sensitivity=sens, ties=ties, fixed=held)
    leak = np.array([[lc.energy_j.get("leakage", 0.0) for lc in row] for row in pg.grid])
    dyn = np.array([[sum(v for k, v in lc.energy_j.items() if k != "leakage") for lc in row] for row in pg.grid])
    for owner, _ly, row in pg.tied:  # folded into the owner's row, as in the table
        leak[owner] += [lc.energy_j.get("leakage", 0.0) for lc in row]
        dyn[owner] += [sum(v for k, v in lc.energy_j.items() if k != "leakage") for lc in row]
    tied = {ly.name: (owner, row) for owner, ly, row in pg.tied}
    other = {ly.name: hwsim.evaluate(ly, canon.act_format, canon) for ly in wl.layers
             if ly.weight_params == 0 and ly.name not in tied}
    core = canon.model()
    by_fmt = {lab: float(core.peak_macs_per_cycle(w, a or canon.act_format) * canon.num_cores)
              for lab, (w, a) in zip(pg.labels, pg.pairs)}
    by_fmt[str(canon.act_format)] = float(core.peak_macs_per_cycle(canon.act_format, canon.act_format)
                                          * canon.num_cores)
    peak_fmt = max((w for w, _a in pg.pairs), key=lambda f: f.bits_per_weight)
    return caches.priced.put(key, _Priced(
        canon, wl, pg.labels, names, table, dyn, leak, pg.grid, other, tied, float(canon.area_mm2()),
        float(core.peak_macs_per_cycle(peak_fmt, canon.act_format) * canon.num_cores), by_fmt))


def design_table(base: str, params: Mapping[str, Any], ctx: ModelCtx, act_formats: Sequence[str] = (),
                 caches: SweepCaches | None = None) -> CostTable:
    """The CostTable of one (design, model) in SI units with the unit in the name —
    ``latency_s``, ``energy_j``, ``memory_bytes`` (weight-layer totals; seconds at the design's
    own clock) — for Pareto sweeps of a chosen design."""
    caches = caches if caches is not None else SweepCaches()
    p = Point("", "", base, tuple(params.items()), ctx.name)
    pr = _priced(p, ctx, tuple(act_formats), caches)
    freq = float(params.get("freq_hz", _accel(base, (), caches).freq_hz))
    t = pr.table
    return CostTable(layers=t.layers, choices=t.choices, sensitivity=t.sensitivity,
                     costs={"latency_s": t.metric("cycles") / freq,
                            "energy_j": pr.dyn + pr.leak * (F0_HZ / freq),
                            "memory_bytes": t.metric("memory_bytes")},
                     ties=t.ties, allowed=t.allowed, model=ctx.name,
                     hardware=_accel(base, tuple(params.items()), caches).name)


def _energy(e: Mapping[str, float], scale: float) -> dict[str, float]:
    """A layer's energy by component at clock F0_HZ / scale (only leakage depends on the clock)."""
    return {k: (v * scale if k == "leakage" else v) for k, v in e.items()}


def _price_point(p: Point, ctx: ModelCtx, space_ctx: Mapping[str, Any], caches: SweepCaches) -> dict[str, Any]:
    from lowbit.kernels_ref.formats import Format
    from lowbit.mapper import workload_cycles

    freq = float(dict(p.params).get("freq_hz", _accel(p.base, (), caches).freq_hz))
    pr = _priced(p, ctx, tuple(space_ctx["act_formats"]), caches)
    scale = F0_HZ / freq
    table = pr.table if scale == 1.0 else pr.table.with_costs(
        latency_s=pr.table.metric("cycles") / freq, energy_j=pr.dyn + pr.leak * scale)
    # The inner ILP budgets latency in cycles (clock-free, so one table serves every clock).
    budgets: dict[str, float] = {}
    for n, v in space_ctx["budgets"].items():
        if n == "latency" and not is_relative(v):
            budgets["cycles"] = (float(v) if is_number(v) else seconds(str(v))) * freq  # seconds -> cycles
        else:
            key = "cycles" if n == "latency" else table.key(n)
            budgets[key] = table.resolve_budget(key, v, "budgets")
    objective = "cycles" if space_ctx["objective"] == "latency" else table.key(space_ctx["objective"])
    base = {"hardware": pr.accel.name, "family": pr.accel.core_family.value, "freq_hz": freq,
            "area_mm2": pr.area_mm2, "choices_available": list(pr.labels)}
    try:
        alloc = _solve_cached(table, budgets, objective, caches)
    except InfeasibleBudgetError as exc:
        def sec(k: str, v: float) -> tuple[str, float]:
            return ("latency_s", v / freq) if k == "cycles" else (k, v)

        mins = dict(sec(k, v) for k, v in (exc.minimums or {}).items())
        asked = dict(sec(k, v) for k, v in budgets.items())
        msg = "; ".join(f"{k} <= {asked[k]:.6g} (smallest achievable {mins[k]:.6g})" for k in asked if k in mins)
        return {"status": "infeasible", "message": f"budget cannot be met on this design: {msg}",
                "minimum": mins, "budget": asked, **base}
    chosen = {n: (i, c) for i, (n, c) in enumerate(zip(pr.names, alloc.assignment))}
    rows: list[tuple[str, str, Any]] = []
    for ly in pr.wl.layers:
        if ly.name in chosen:
            i, c = chosen[ly.name]
            rows.append((ly.name, pr.labels[c], pr.grid[i][c]))
        elif ly.name in pr.tied:  # runs in the format of the layer whose weights it reuses
            owner, costs = pr.tied[ly.name]
            c = alloc.assignment[owner]
            rows.append((ly.name, pr.labels[c], costs[c]))
        else:
            rows.append((ly.name, str(pr.accel.act_format), pr.other[ly.name]))
    energies = [_energy(lc.energy_j, scale) for _, _, lc in rows]
    total_cycles = float(workload_cycles(pr.wl, {n: float(lc.cycles) for n, _, lc in rows}, 1))
    other_cyc = float(sum(lc.cycles for n, _, lc in rows if n not in chosen and n not in pr.tied))
    other_en = float(sum(sum(e.values()) for (n, _, _), e in zip(rows, energies)
                         if n not in chosen and n not in pr.tied))
    uniform = {}
    for lab in pr.labels:
        t = table.totals(table.uniform(lab))
        uniform[lab] = {"latency_s": (t["cycles"] + other_cyc) / freq, "energy_j": t["energy_j"] + other_en,
                        "quality": t["sensitivity"], "memory_bytes": t["memory_bytes"]}
    comps = sorted({k for e in energies for k in e})
    return {
        "status": "ok", **base,
        "cycles": total_cycles, "latency_s": total_cycles / freq,
        "energy_j": float(sum(sum(e.values()) for e in energies)),
        "quality": float(alloc.totals["sensitivity"]), "memory_bytes": float(alloc.totals["memory_bytes"]),
        "ilp_status": alloc.status,
        "layers": [n for n, _, _ in rows], "choices": [c for _, c, _ in rows],
        "bits": [Format.parse(c.split("/")[0]).bits_per_weight for _, c, _ in rows],
        "layer_latency_s": [lc.cycles / freq for _, _, lc in rows],
        "layer_energy_j": {k: [e.get(k, 0.0) for e in energies] for k in comps},
        "layer_macs": [int(lc.macs) for _, _, lc in rows],
        "layer_dram_bytes": [float(lc.dram_bytes) for _, _, lc in rows],
        "has_weights": [n in chosen for n, _, _ in rows],
        "peak_macs_per_s": pr.peak_macs_per_cycle * freq,
        "peak_macs_per_s_by_format": {f: v * freq for f, v in pr.peak_by_format.items()},
        "dram_bytes_per_s": float(pr.accel.dram.bandwidth_bytes_per_cycle * freq),
        "uniform": uniform,
    }


def evaluate_point(p: Point, ctx: ModelCtx, space_ctx: Mapping[str, Any],
                   caches: SweepCaches | None = None) -> dict[str, Any]:
    """Result of one point; bad designs and formats the core cannot run become status 'invalid'."""
    try:
        return _price_point(p, ctx, space_ctx, caches if caches is not None else SweepCaches())
    except LowbitError as exc:
        return {"status": "invalid", "message": str(exc)}


def evaluate_group(task: tuple[list[Point], Mapping[str, ModelCtx], Mapping[str, Any]],
                   caches: SweepCaches | None = None) -> list[dict[str, Any]]:
    """Worker entry: a group of points sharing structure (see module docstring), with the
    caches given (the driver's, shared by the tasks of one chunk) or fresh ones."""
    pts, ctxs, space_ctx = task
    c = caches if caches is not None else SweepCaches()
    return [evaluate_point(p, ctxs[p.model], space_ctx, c) for p in pts]

