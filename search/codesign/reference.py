"""The sweep's reference pricing path: the worker as it was before its fast path.

Every (layer, choice) of a point's structure is priced by its own `hwsim.evaluate` call, the
layers without weights likewise, and every point's result is assembled alone from its
LayerCosts. `worker` (the fast path: each distinct layer shape priced once, a structure's
clock-free result parts built once per allocation and rescaled per clock) is held equal to
this point for point (tests/search/test_sweep_fastpath.py), and `benchmarks/bench_sweep.py
--ab` times the two in one process. Selected by `SweepCaches(reference=True)`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from lowbit.kernels_ref.errors import InfeasibleBudgetError, InvalidSpecError
from lowbit.search.codesign.caches import (
    F0_HZ,
    ModelCtx,
    SweepCaches,
    accel_of,
    energy_at,
    infeasible_result,
    solve_cached,
    workload_of,
)
from lowbit.search.codesign.space import Point, is_number, is_relative, seconds
from lowbit.search.costs import CostTable, PricedGrid, choice_pairs

__all__ = ["reference_point"]


@dataclass
class _Priced:
    """One structure (design without its clock) x model, priced at F0_HZ; shared by its clock variants."""

    accel: Any
    wl: Any
    labels: tuple[str, ...]
    names: list[str]
    table: CostTable
    dyn: np.ndarray
    leak: np.ndarray
    grid: tuple[tuple[Any, ...], ...]
    other: dict[str, Any]
    tied: dict[str, tuple[int, tuple[Any, ...]]]
    area_mm2: float
    peak_macs_per_cycle: float
    peak_by_format: dict[str, float]


def _grid_one_by_one(wl: Any, formats: Any, accel: Any, act_formats: Any) -> PricedGrid:
    """`PricedGrid.price` with one `hwsim.evaluate` call per (layer, choice)."""
    from lowbit import hwsim

    pairs, labels = choice_pairs(formats, act_formats)
    layers = tuple(ly for ly in wl.layers if ly.weight_params > 0)
    if not layers:
        raise InvalidSpecError(f"workload {wl.name!r}: no layers with weights to allocate")

    def grid(lys: Any) -> tuple[tuple[Any, ...], ...]:
        return tuple(tuple(hwsim.evaluate(ly, w, accel, act_fmt=a) for w, a in pairs) for ly in lys)

    row = {ly.name: i for i, ly in enumerate(layers)}
    shared = [ly for ly in wl.layers if ly.weight_params == 0 and ly.has_weights and ly.tied_to in row]
    tied = tuple((row[ly.tied_to], ly, r) for ly, r in zip(shared, grid(shared)))
    return PricedGrid(wl, accel, layers, tuple(pairs), labels, grid(layers), tied)


def _priced(p: Point, ctx: ModelCtx, act_formats: tuple[str, ...], caches: SweepCaches) -> _Priced:
    from lowbit import hwsim

    struct = tuple((k, v) for k, v in p.params if k != "freq_hz")
    key = ("reference", p.base, struct, ctx, act_formats)
    hit = caches.priced.get(key)
    if hit is not None:
        return hit
    canon = accel_of(p.base, (*struct, ("freq_hz", F0_HZ)), caches)
    wl = workload_of(ctx, caches)
    pg = _grid_one_by_one(wl, ctx.formats, canon, act_formats)
    names = [ly.name for ly in pg.layers]
    if tuple(act_formats) != ctx.act_formats:
        raise InvalidSpecError(f"quality table of {ctx.name}: built for activation formats "
                               f"{list(ctx.act_formats)}, the sweep asks for {list(act_formats)}")
    sens, held, ties = ctx.quality().for_layers(names, where="quality table")
    table = CostTable.from_priced(pg, sensitivity=sens, ties=ties, fixed=held)
    leak = np.array([[lc.energy_j.get("leakage", 0.0) for lc in row] for row in pg.grid])
    dyn = np.array([[sum(v for k, v in lc.energy_j.items() if k != "leakage") for lc in row] for row in pg.grid])
    for owner, _ly, row in pg.tied:
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


def reference_point(p: Point, ctx: ModelCtx, space_ctx: Mapping[str, Any], caches: SweepCaches) -> dict[str, Any]:
    """One point's result by the reference path (raises LowbitError for a bad design)."""
    from lowbit.kernels_ref.formats import Format
    from lowbit.mapper import workload_cycles

    freq = float(dict(p.params).get("freq_hz", accel_of(p.base, (), caches).freq_hz))
    pr = _priced(p, ctx, tuple(space_ctx["act_formats"]), caches)
    scale = F0_HZ / freq
    table = pr.table if scale == 1.0 else pr.table.with_costs(
        latency_s=pr.table.metric("cycles") / freq, energy_j=pr.dyn + pr.leak * scale)
    budgets: dict[str, float] = {}
    for n, v in space_ctx["budgets"].items():
        if n == "latency" and not is_relative(v):
            budgets["cycles"] = (float(v) if is_number(v) else seconds(str(v))) * freq
        else:
            key = "cycles" if n == "latency" else table.key(n)
            budgets[key] = table.resolve_budget(key, v, "budgets")
    objective = "cycles" if space_ctx["objective"] == "latency" else table.key(space_ctx["objective"])
    base = {"hardware": pr.accel.name, "family": pr.accel.core_family.value, "freq_hz": freq,
            "area_mm2": pr.area_mm2, "choices_available": list(pr.labels)}
    try:
        alloc = solve_cached(table, budgets, objective, caches)
    except InfeasibleBudgetError as exc:
        return infeasible_result(exc, budgets, freq, base)
    chosen = {n: (i, c) for i, (n, c) in enumerate(zip(pr.names, alloc.assignment))}
    rows: list[tuple[str, str, Any]] = []
    for ly in pr.wl.layers:
        if ly.name in chosen:
            i, c = chosen[ly.name]
            rows.append((ly.name, pr.labels[c], pr.grid[i][c]))
        elif ly.name in pr.tied:
            owner, costs = pr.tied[ly.name]
            c = alloc.assignment[owner]
            rows.append((ly.name, pr.labels[c], costs[c]))
        else:
            rows.append((ly.name, str(pr.accel.act_format), pr.other[ly.name]))
    energies = [energy_at(lc.energy_j, scale) for _, _, lc in rows]
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
