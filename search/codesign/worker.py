"""The worker: price one (design, model) point and solve its inner ILP.

A point's layer costs come from the one pricing path, `PricedGrid.price` then
`CostTable.from_priced` (what `CostTable.from_hwsim` does), on the point's canonical
accelerator. Cycles, traffic and dynamic energy do not depend on the clock (bandwidths
are per cycle); only leakage (W x seconds) does. Every point is therefore priced at a
canonical `F0_HZ` = 1 GHz and its leakage rescaled by F0_HZ / f, the same arithmetic for
every point, so one structure (design without its clock) is priced once for all its
clocks and the inner ILP is solved once per identical (objective, budgeted metrics,
budgets) table.

Within a structure the fast path does only the clock's arithmetic per point: pricing goes
through `hwsim.evaluate.evaluate_grid` (each distinct layer shape of the workload priced once,
the layers without weights too), and the parts of a result that no clock changes (per-layer
choices, cycles, bytes, MACs, dynamic energy, the uniform allocations' cycles and quality)
are assembled once per (structure, allocation). Leakage, seconds and the totals that include
them are recomputed per point by the same float operations, in the same order, as the
reference path (`codesign.reference`, held equal to this one point for point in tests).

Those reuses live in a `SweepCaches` passed in (bounded LRUs, no module-level state);
`evaluate_group` makes a fresh one for its task when given none. A point's result never
depends on what the caches hold.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from lowbit.kernels_ref.errors import InfeasibleBudgetError, InvalidSpecError, LowbitError
from lowbit.mapper.fast import prefer_jit
from lowbit.search.codesign.caches import (
    F0_HZ,
    LRU,
    ModelCtx,
    SweepCaches,
    accel_of,
    infeasible_result,
    solve_cached,
    workload_of,
)
from lowbit.search.codesign.space import Point, is_number, is_relative, seconds
from lowbit.search.costs import CostTable, PricedGrid, choice_pairs, weight_bytes

__all__ = ["F0_HZ", "LRU", "ModelCtx", "SweepCaches", "design_table", "evaluate_group", "evaluate_point"]

_CLOCKED = ("latency_s", "energy_j")  # the table's metrics that depend on the clock


@dataclass
class _Rows:
    """The clock-free parts of a result for one allocation on one structure, per workload layer."""

    layers: list[str]
    choices: list[str]
    bits: list[float]
    cycles: list[int]
    macs: list[int]
    dram: list[float]
    has_weights: list[bool]
    total_cycles: float
    other_cyc: float
    other: np.ndarray               # indices of the rows of layers without weights (run at the act format)
    comps: list[str]                # energy components, sorted
    static: dict[str, list[float]]  # per component but leakage: the value of each row
    dyn: np.ndarray                 # per row: sum of its components but leakage, in dict order
    leak: np.ndarray                # per row: its leakage at F0_HZ (0.0 without)


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
    layout: list[tuple[Any, ...]]   # per workload layer: ("w", row) | ("t", owner row, costs) | ("o", cost)
    area_mm2: float
    peak_macs_per_cycle: float
    peak_by_format: dict[str, float]   # peak MACs/cycle of each choice (and of the act format)
    act_label: str
    bits_of: dict[str, float]       # bits per weight of each choice label and of the act format
    uniform: dict[str, tuple[np.ndarray, float, float, float]]  # label -> (assignment, cycles,
    #                                 quality, memory bytes) of the uniform allocation at F0
    rows: LRU[tuple[int, ...], _Rows] = field(default_factory=lambda: LRU(32))
    hashes: dict[tuple[str, ...], Any] = field(default_factory=dict)  # `solve_cached`'s, for `table`


def _model_part(ctx: ModelCtx, act_formats: tuple[str, ...], wl: Any, caches: SweepCaches) -> Any:
    """What no design changes: the quality rows of the weight layers (`Quality.for_layers`:
    sensitivity, held layers, ties) and their weight bytes [layer, choice]."""
    key = (ctx, act_formats)
    hit = caches.models.get(key)
    if hit is None:
        layers = [ly for ly in wl.layers if ly.weight_params > 0]
        pairs, _labels = choice_pairs(ctx.formats, act_formats)
        mem = np.array([[weight_bytes(ly, w) for w, _a in pairs] for ly in layers]).reshape(len(layers), len(pairs))
        hit = caches.models.put(key, (*ctx.quality().for_layers([ly.name for ly in layers],
                                                                 where="quality table"), mem))
    return hit


def _priced(p: Point, ctx: ModelCtx, act_formats: tuple[str, ...], caches: SweepCaches) -> _Priced:
    from lowbit.hwsim.evaluate import evaluate_grid
    from lowbit.kernels_ref.formats import Format

    struct = tuple((k, v) for k, v in p.params if k != "freq_hz")
    key = (p.base, struct, ctx, act_formats)
    hit = caches.priced.get(key)
    if hit is not None:
        return hit
    canon = accel_of(p.base, (*struct, ("freq_hz", F0_HZ)), caches)
    wl = workload_of(ctx, caches)
    pg = PricedGrid.price(wl, ctx.formats, canon, act_formats=act_formats)
    names = [ly.name for ly in pg.layers]
    if tuple(act_formats) != ctx.act_formats:  # the table's columns must be this space's choices
        raise InvalidSpecError(f"quality table of {ctx.name}: built for activation formats "
                               f"{list(ctx.act_formats)}, the sweep asks for {list(act_formats)}")
    # [layer, choice], weight-major (W, A) pairs with act_formats: each pair's own value
    sens, held, ties, mem = _model_part(ctx, tuple(act_formats), wl, caches)
    table = CostTable.from_priced(pg, sensitivity=sens, ties=ties, fixed=held, memory_bytes=mem)
    leak = np.array([[lc.energy_j.get("leakage", 0.0) for lc in row] for row in pg.grid])
    dyn = np.array([[sum(v for k, v in lc.energy_j.items() if k != "leakage") for lc in row] for row in pg.grid])
    for owner, _ly, row in pg.tied:  # folded into the owner's row, as in the table
        leak[owner] += [lc.energy_j.get("leakage", 0.0) for lc in row]
        dyn[owner] += [sum(v for k, v in lc.energy_j.items() if k != "leakage") for lc in row]
    tied = {ly.name: (owner, row) for owner, ly, row in pg.tied}
    others = [ly for ly in wl.layers if ly.weight_params == 0 and ly.name not in tied]
    other = dict(zip((ly.name for ly in others),
                     (r[0] for r in evaluate_grid(others, [(canon.act_format, None)], canon))))
    row_of = {n: i for i, n in enumerate(names)}
    layout: list[tuple[Any, ...]] = [
        ("w", row_of[ly.name]) if ly.name in row_of else ("t", *tied[ly.name]) if ly.name in tied
        else ("o", other[ly.name]) for ly in wl.layers]
    core = canon.model()
    by_fmt = {lab: float(core.peak_macs_per_cycle(w, a or canon.act_format) * canon.num_cores)
              for lab, (w, a) in zip(pg.labels, pg.pairs)}
    act_label = str(canon.act_format)
    by_fmt[act_label] = float(core.peak_macs_per_cycle(canon.act_format, canon.act_format) * canon.num_cores)
    peak_fmt = max((w for w, _a in pg.pairs), key=lambda f: f.bits_per_weight)
    bits_of = {lab: Format.parse(lab.split("/")[0]).bits_per_weight for lab in (*pg.labels, act_label)}
    L = table.num_layers
    uni = {}
    for lab in pg.labels:
        asg = table.uniform(lab)
        r = np.arange(L)
        uni[lab] = (asg, float(table.metric("cycles")[r, asg].sum()), float(table.sensitivity[r, asg].sum()),
                    float(table.metric("memory_bytes")[r, asg].sum()))
    return caches.priced.put(key, _Priced(
        canon, wl, pg.labels, names, table, dyn, leak, pg.grid, layout, float(canon.area_mm2()),
        float(core.peak_macs_per_cycle(peak_fmt, canon.act_format) * canon.num_cores), by_fmt,
        act_label, bits_of, uni))


def _rows(pr: _Priced, assignment: tuple[int, ...]) -> _Rows | None:
    """The clock-free parts of the result of `assignment` on `pr` (cached on it); None when a
    row's leakage is not its last energy component (then a dict's sum cannot be split in two)."""
    from lowbit.mapper import workload_cycles

    hit = pr.rows.get(assignment)
    if hit is not None:
        return hit
    rows: list[tuple[str, str, Any, bool]] = []
    for ly, lay in zip(pr.wl.layers, pr.layout):
        if lay[0] == "w":
            c = assignment[lay[1]]
            rows.append((ly.name, pr.labels[c], pr.grid[lay[1]][c], True))
        elif lay[0] == "t":  # runs in the format of the layer whose weights it reuses
            c = assignment[lay[1]]
            rows.append((ly.name, pr.labels[c], lay[2][c], False))
        else:
            rows.append((ly.name, pr.act_label, lay[1], False))
    comps = sorted({k for _, _, lc, _ in rows for k in lc.energy_j})
    static = {k: [lc.energy_j.get(k, 0.0) for _, _, lc, _ in rows] for k in comps if k != "leakage"}
    leak, dyn = [], []
    for _, _, lc, _ in rows:
        e = lc.energy_j
        if "leakage" in e and next(reversed(e)) != "leakage":  # hwsim adds it last; else no split
            return None
        leak.append(e.get("leakage", 0.0))
        dyn.append(sum(v for k, v in e.items() if k != "leakage"))
    other = np.array([i for i, lay in enumerate(pr.layout) if lay[0] == "o"], dtype=np.int64)
    total = float(workload_cycles(pr.wl, {n: float(lc.cycles) for n, _, lc, _ in rows}, 1))
    out = _Rows(
        layers=[n for n, _, _, _ in rows], choices=[c for _, c, _, _ in rows],
        bits=[pr.bits_of[c] for _, c, _, _ in rows], cycles=[lc.cycles for _, _, lc, _ in rows],
        macs=[int(lc.macs) for _, _, lc, _ in rows], dram=[float(lc.dram_bytes) for _, _, lc, _ in rows],
        has_weights=[w for _, _, _, w in rows], total_cycles=total,
        other_cyc=float(sum(rows[i][2].cycles for i in other)), other=other, comps=comps, static=static,
        dyn=np.array(dyn, dtype=np.float64), leak=np.array(leak, dtype=np.float64))
    return pr.rows.put(assignment, out)


def design_table(base: str, params: Mapping[str, Any], ctx: ModelCtx, act_formats: Sequence[str] = (),
                 caches: SweepCaches | None = None) -> CostTable:
    """The CostTable of one (design, model) in SI units with the unit in the name —
    ``latency_s``, ``energy_j``, ``memory_bytes`` (weight-layer totals; seconds at the design's
    own clock) — for Pareto sweeps of a chosen design."""
    caches = caches if caches is not None else SweepCaches()
    p = Point("", "", base, tuple(params.items()), ctx.name)
    pr = _priced(p, ctx, tuple(act_formats), caches)
    freq = float(params.get("freq_hz", accel_of(base, (), caches).freq_hz))
    t = pr.table
    return CostTable(layers=t.layers, choices=t.choices, sensitivity=t.sensitivity,
                     costs={"latency_s": t.metric("cycles") / freq,
                            "energy_j": pr.dyn + pr.leak * (F0_HZ / freq),
                            "memory_bytes": t.metric("memory_bytes")},
                     ties=t.ties, allowed=t.allowed, model=ctx.name,
                     hardware=accel_of(base, tuple(params.items()), caches).name)


def _price_point(p: Point, ctx: ModelCtx, space_ctx: Mapping[str, Any], caches: SweepCaches) -> dict[str, Any]:
    freq = float(dict(p.params).get("freq_hz", accel_of(p.base, (), caches).freq_hz))
    pr = _priced(p, ctx, tuple(space_ctx["act_formats"]), caches)
    scale = F0_HZ / freq
    t0 = pr.table
    # The inner ILP budgets latency in cycles (clock-free, so one table serves every clock).
    bkeys = {n: "cycles" if n == "latency" else t0.key(n) for n in space_ctx["budgets"]}
    objective = "cycles" if space_ctx["objective"] == "latency" else t0.key(space_ctx["objective"])
    clocked = scale != 1.0 and any(k in _CLOCKED for k in (objective, *bkeys.values()))
    # The table at the point's clock is only needed when the program reads a clocked metric.
    table = t0.with_costs(latency_s=t0.metric("cycles") / freq, energy_j=pr.dyn + pr.leak * scale) \
        if clocked else t0
    budgets: dict[str, float] = {}
    for n, v in space_ctx["budgets"].items():
        if n == "latency" and not is_relative(v):
            budgets["cycles"] = (float(v) if is_number(v) else seconds(str(v))) * freq  # seconds -> cycles
        else:
            budgets[bkeys[n]] = table.resolve_budget(bkeys[n], v, "budgets")
    base = {"hardware": pr.accel.name, "family": pr.accel.core_family.value, "freq_hz": freq,
            "area_mm2": pr.area_mm2, "choices_available": list(pr.labels)}
    try:
        alloc = solve_cached(table, budgets, objective, caches, None if clocked else pr.hashes)
    except InfeasibleBudgetError as exc:
        return infeasible_result(exc, budgets, freq, base)
    r = _rows(pr, tuple(alloc.assignment))
    if r is None:
        from lowbit.search.codesign.reference import reference_point

        return reference_point(p, ctx, space_ctx, caches)
    # per row: sum of its components with leakage (its last one) at this clock, as a dict sum would
    leak = r.leak * scale
    tot = r.dyn + leak
    other_en = float(sum(tot[r.other].tolist()))
    energy = pr.table.metric("energy_j") if scale == 1.0 else pr.dyn + pr.leak * scale
    rng = np.arange(t0.num_layers)
    uniform = {lab: {"latency_s": (cyc + r.other_cyc) / freq, "energy_j": float(energy[rng, asg].sum()) + other_en,
                     "quality": q, "memory_bytes": mem}
               for lab, (asg, cyc, q, mem) in pr.uniform.items()}
    leak_l = leak.tolist()
    return {
        "status": "ok", **base,
        "cycles": r.total_cycles, "latency_s": r.total_cycles / freq,
        "energy_j": float(sum(tot.tolist())),
        "quality": float(alloc.totals["sensitivity"]), "memory_bytes": float(alloc.totals["memory_bytes"]),
        "ilp_status": alloc.status,
        "layers": list(r.layers), "choices": list(r.choices), "bits": list(r.bits),
        "layer_latency_s": [c / freq for c in r.cycles],
        "layer_energy_j": {k: (leak_l if k == "leakage" else list(r.static[k])) for k in r.comps},
        "layer_macs": list(r.macs), "layer_dram_bytes": list(r.dram), "has_weights": list(r.has_weights),
        "peak_macs_per_s": pr.peak_macs_per_cycle * freq,
        "peak_macs_per_s_by_format": {f: v * freq for f, v in pr.peak_by_format.items()},
        "dram_bytes_per_s": float(pr.accel.dram.bandwidth_bytes_per_cycle * freq),
        "uniform": uniform,
    }


def evaluate_point(p: Point, ctx: ModelCtx, space_ctx: Mapping[str, Any],
                   caches: SweepCaches | None = None) -> dict[str, Any]:
    """Result of one point; bad designs and formats the core cannot run become status 'invalid'."""
    from lowbit.search.codesign.reference import reference_point

    c = caches if caches is not None else SweepCaches()
    try:
        return (reference_point if c.reference else _price_point)(p, ctx, space_ctx, c)
    except LowbitError as exc:
        return {"status": "invalid", "message": str(exc)}


_SETTLED: list[bool] = []


def _settle() -> None:
    """Once per process, at its first task: the mapper's compiled latency search (a sweep
    searches thousands of times; `mapper.fast.prefer_jit`), and, in a worker process of a pool
    or of dask, `gc.freeze()` of every object alive then (modules, model contexts, quality
    tables: ~500,000 in a MiniLM sweep), so that the collector's full passes scan only what the
    sweep allocates (they took ~14% of a distinct-design sweep's CPU: RESULTS.md, issue 19
    session 7). Objects made later are collected as before; the frozen ones live as long as the
    worker. The process a user runs (the serial executor, a notebook) is frozen only for the
    duration of `run_sweep` (`sweep_gc`), never here."""
    if not _SETTLED:
        _SETTLED.append(True)
        prefer_jit()
        if multiprocessing.parent_process() is not None and not gc.get_freeze_count():
            gc.freeze()


@contextlib.contextmanager
def sweep_gc() -> Iterator[None]:
    """`gc.freeze()` for the duration of a sweep in the calling process (see `_settle`), then
    `gc.unfreeze()`; nothing where something in the process froze objects already."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def evaluate_group(task: tuple[list[Point], Mapping[str, ModelCtx], Mapping[str, Any]],
                   caches: SweepCaches | None = None) -> list[dict[str, Any]]:
    """Worker entry: a group of points sharing structure (see module docstring), with the
    caches given (the driver's, shared by the tasks of one chunk) or fresh ones."""
    pts, ctxs, space_ctx = task
    c = caches if caches is not None else SweepCaches()
    _settle()
    return [evaluate_point(p, ctxs[p.model], space_ctx, c) for p in pts]
