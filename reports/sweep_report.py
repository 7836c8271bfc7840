"""Report of a co-design sweep store (`lowbit sweep --db FILE`): figures, tables, CSV/JSON.

Reads the rows of a `search.store.ResultStore` (point = design, base, params, model;
result = totals, per-layer lists and uniform-precision references, see `lowbit sweep`)
and draws, per model:

- the design-space scatter: latency against energy of every feasible design, coloured
  by area, points non-dominated in (latency, energy, area, quality) ringed;
- Pareto fronts of quality loss against latency, energy and memory: one front per
  ``base`` design (non-dominated over that base's designs), uniform int8/int4/... points
  marked (for each base and format, the design where that uniform choice costs least);
- for the *chosen point* (see `pick_point`): the per-layer allocation, the energy per
  layer and component, and a per-layer roofline (ops = 2 x MACs).

Rows whose status is not "ok" (infeasible, invalid) are counted and listed, never
plotted. Every row, flattened, goes to ``<prefix>rows.csv`` / ``.json``.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from lowbit.kernels_ref.errors import InvalidSpecError
from lowbit.reports import plots
from lowbit.reports.bundle import Section, safe_name, write_report
from lowbit.reports.explorer import explorer_section, format_mix, preset_summary
from lowbit.reports.units import component_label, design_label, eng, param_text
from lowbit.search.pareto import non_dominated

__all__ = [
    "CHOSEN_WHY",
    "chosen_points",
    "flatten_row",
    "load_store",
    "non_dominated_mask",
    "pick_point",
    "report_from_store",
    "sweep_sections",
]

Row = tuple[str, dict[str, Any], dict[str, Any]]

#: (result key, label, display scale) of each cost plotted against quality.
_COSTS = (("latency_s", "latency (ms)", 1e3), ("energy_j", "energy (mJ)", 1e3),
          ("memory_bytes", "weight memory (MB)", 1e-6))
_TOP = 15          # rows of the top-designs table per model
_LISTED = 50       # infeasible / invalid rows listed in the page (all are in the CSV)
_OK = ("optimal", "feasible")
#: why `pick_point` chose its point, in the words a heading uses.
CHOSEN_WHY = ("the balanced choice: of the designs no other beats in latency, energy, area and "
              "quality at once, the one nearest the ideal corner")


# ----------------------------------------------------------------------------- loading
def load_store(db_path: str | Path) -> tuple[dict[str, Any], list[Row]]:
    """(meta, rows) of a sweep store; InvalidSpecError if missing, not a store, or empty."""
    from lowbit.search.store import ResultStore  # reports sit above search

    p = Path(db_path)
    if not p.exists():
        raise InvalidSpecError(f"report: {p}: no such file")
    if p.is_dir():
        raise InvalidSpecError(f"report: {p}: is a directory, not a sweep store")
    with open(p, "rb") as fh:
        head = fh.read(16)
    if head != b"SQLite format 3\x00":
        raise InvalidSpecError(f"report: {p}: not a SQLite sweep store (no SQLite header)")
    try:  # read-only probe first: opening a ResultStore would add its tables to a foreign file
        probe = sqlite3.connect(f"{p.resolve().as_uri()}?mode=ro", uri=True)
        try:
            tables = {r[0] for r in probe.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        finally:
            probe.close()
    except sqlite3.DatabaseError as exc:
        raise InvalidSpecError(f"report: {p}: not a usable SQLite file ({exc})") from None
    if not {"points", "meta"} <= tables:
        raise InvalidSpecError(f"report: {p}: SQLite file without lowbit's points/meta tables "
                               f"(has {', '.join(sorted(tables)) or 'no tables'})")
    with ResultStore(p) as st:
        meta, rows = st.meta(), list(st.rows())
    if not rows:
        raise InvalidSpecError(f"report: {p}: the sweep store holds no results")
    for key, point, result in rows:
        if not isinstance(point, dict) or not isinstance(result, dict) or "status" not in result:
            raise InvalidSpecError(f"report: {p}: row {key!r} has no result status")
        if result["status"] == "ok":
            missing = [k for k in ("latency_s", "energy_j", "quality") if k not in result]
            if missing:
                raise InvalidSpecError(f"report: {p}: row {key!r} (status ok) lacks {', '.join(missing)}")
    return meta, rows


# ----------------------------------------------------------------------------- selection
#: Rows no other row dominates (every column minimised): search.pareto's definition.
non_dominated_mask = non_dominated


_PICK_KEYS = ("latency_s", "energy_j", "quality")


def pick_point(results: Sequence[Mapping[str, Any]]) -> int:
    """Index of the chosen ("knee") point among ok results: among those non-dominated in
    (latency, energy, area, quality), the one nearest the ideal corner when latency,
    energy and quality are each scaled to [0, 1] over all the given results (Euclidean
    distance; ties go to the lower latency, then the lower index)."""
    if not results:
        raise InvalidSpecError("pick_point: no feasible results to choose from")
    a = np.array([[float(r[k]) for k in _PICK_KEYS] for r in results])
    area = np.array([[float(r.get("area_mm2", 0.0))] for r in results])
    nd = non_dominated_mask(np.hstack([a, area]))
    lo, hi = a.min(0), a.max(0)
    span = np.where(hi > lo, hi - lo, 1.0)
    dist = np.sqrt((((a - lo) / span) ** 2).sum(1))
    dist[~nd] = np.inf
    order = np.lexsort((np.arange(len(a)), a[:, 0], dist))
    return int(order[0])


# ----------------------------------------------------------------------------- tables
def _num(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def flatten_row(key: str, point: Mapping[str, Any], result: Mapping[str, Any]) -> dict[str, Any]:
    """One flat dict per stored row: point fields, params.*, scalar result fields,
    uniform.<fmt>.<metric>, lists joined by ';' (per-layer energy summed per component)."""
    out: dict[str, Any] = {"key": key, "status": result.get("status"), "message": result.get("message", "")}
    for k, v in point.items():
        if k == "params" and isinstance(v, Mapping):
            for pk, pv in v.items():
                out[f"params.{pk}"] = _num(pv)
        else:
            out[k] = _num(v) if not isinstance(v, (list, dict)) else str(v)
    for k, v in result.items():
        if k == "uniform" and isinstance(v, Mapping):
            for fmt, tot in v.items():
                for mk, mv in (tot or {}).items():
                    out[f"uniform.{fmt}.{mk}"] = _num(mv)
        elif k == "layer_energy_j" and isinstance(v, Mapping):
            for comp, vals in v.items():
                out[f"energy_j.{comp}"] = float(np.sum(vals))
        elif isinstance(v, Mapping):  # e.g. minimum, budget: {metric: value}
            for mk, mv in v.items():
                out[f"{k}.{mk}"] = _num(mv) if not isinstance(mv, (list, dict)) else str(mv)
        elif isinstance(v, list):
            out[k] = ";".join(str(x) for x in v)
        else:
            out[k] = _num(v)
    return out


def chosen_points(rows: Sequence[Row]) -> dict[str, tuple[str, str]]:
    """model -> (store key of its chosen point, why): `pick_point` over its ok rows."""
    by_model: dict[str, list[Row]] = {}
    for row in rows:
        if row[2].get("status") == "ok":
            by_model.setdefault(str(row[1].get("model", "")) or "model", []).append(row)
    return {m: (rs[pick_point([r for _, _, r in rs])][0], CHOSEN_WHY) for m, rs in by_model.items()}


def _params_text(point: Mapping[str, Any], r: Mapping[str, Any]) -> str:
    """The swept parameter values, or a preset's resolved ones (family, array, clock...)."""
    params = point.get("params") or {}
    if params:
        return param_text(params)
    items = preset_summary(str(point.get("base", "")))
    if not items:
        return f"{r.get('family', '')}, clock {eng(r.get('freq_hz'), 'Hz')}" if r.get("freq_hz") else ""
    return ", ".join(f"clock {eng(v, 'Hz')}" if k == "freq_hz" else f"{v:g} nm" if k == "node_nm"
                     else f"{k} {v}" for k, v in items)


def _design_row(point: Mapping[str, Any], r: Mapping[str, Any], key: str = "") -> dict[str, Any]:
    """One design for the page: readable id, SI-named costs (the page adds the units), the
    format mix, the parameters (a preset's resolved ones) and the store key (the hash)."""
    return {"design": design_label(str(point.get("base", "")), point.get("params") or {}),
            "family": r.get("family", ""),
            "latency_s": r["latency_s"], "energy_j": r["energy_j"], "area_mm2": r.get("area_mm2"),
            "quality loss": r["quality"], "memory_bytes": r.get("memory_bytes"),
            "formats": format_mix(r.get("choices") or [], r.get("has_weights")),
            "parameters": _params_text(point, r), "design id": point.get("design", ""),
            "store key": key}


def _doc_front(docs: Sequence[Mapping[str, Any]], model: str, hardware: str, key: str,
               scale: float) -> tuple[list[tuple[float, float]], dict[str, tuple[float, float]]]:
    """The exact-ILP allocations of the Pareto input for (model, hardware), non-dominated in
    (cost `key`, quality), and its uniform points; ([], {}) when there is no such input."""
    for d in docs:
        if str(d.get("model") or "") != model or str(d.get("hardware") or "") != hardware:
            continue
        pts, uni = [], {}
        for pt in d["points"]:
            c, q = (pt.get("totals") or {}).get(key), pt.get("objective")
            if not (isinstance(c, (int, float)) and isinstance(q, (int, float))):
                continue
            if pt["kind"] == "ilp" and pt["status"] in _OK:
                pts.append((float(c) * scale, float(q)))
            elif str(pt["kind"]).startswith("uniform:") and pt["status"] in _OK:
                uni[str(pt["kind"]).split(":", 1)[1]] = (float(c) * scale, float(q))
        if pts:
            a = np.array(pts)
            front = sorted({tuple(map(float, x)) for x in a[non_dominated_mask(a)]})
            return front, uni  # type: ignore[return-value]
    return [], {}


# ----------------------------------------------------------------------------- figures
def _group_label(point: Mapping[str, Any], r: Mapping[str, Any]) -> str:
    return str(point.get("base") or r.get("family") or r.get("hardware") or "design")


def _model_sections(model: str, ok: list[Row], bad: list[Row], out: Path, prefix: str,
                    docs: Sequence[Mapping[str, Any]] = (),
                    formats: Sequence[str] = ()) -> list[Section]:
    stem = f"{prefix}{safe_name(model)}"
    sections: list[Section] = []
    if not ok:
        sections.append(Section(f"{model}: no feasible design",
                                text=f"All {len(bad)} design points were infeasible or invalid "
                                     f"(listed below); nothing to plot."))
        return sections
    res = [r for _, _, r in ok]
    pts = [p for _, p, _ in ok]
    lat = np.array([r["latency_s"] for r in res]) * 1e3
    en = np.array([r["energy_j"] for r in res]) * 1e3
    area = np.array([float(r.get("area_mm2", np.nan)) for r in res])
    qual = np.array([float(r["quality"]) for r in res])
    nd4 = non_dominated_mask(np.column_stack([lat, en, np.nan_to_num(area), qual]))
    figs, caps = [], []
    has_area = bool(np.isfinite(area).all())
    figs.append(plots.design_space_scatter(
        lat, en, out / f"{stem}_design_space.png", color=area if has_area else qual,
        clabel="area (mm²)" if has_area else "quality loss", xlabel="latency (ms)",
        ylabel="energy (mJ)", front=[int(i) for i in np.flatnonzero(nd4)],
        front_label="non-dominated (latency, energy, area, quality)",
        groups=[_group_label(p, r) for p, r in zip(pts, res)],
        title=f"{model}: {len(res)} feasible designs", file_formats=formats))
    caps.append(f"{model}: every feasible design point, latency against energy, marker = base "
                f"design, colour = "
                f"{'area' if has_area else 'quality loss'}; ringed: the {int(nd4.sum())} points "
                f"no other point beats in latency, energy, area and quality at once.")
    groups: dict[str, list[int]] = {}
    for i, (p, r) in enumerate(zip(pts, res)):
        groups.setdefault(_group_label(p, r), []).append(i)
    for key, label, scale in _COSTS:
        if not all(r.get(key) is not None for r in res):
            continue
        cost = np.array([float(r[key]) for r in res]) * scale
        fronts: dict[str, list[tuple[float, float]]] = {}
        uniform: dict[str, dict[str, tuple[float, float]]] = {}
        ilp: list[str] = []
        for g, idx in groups.items():
            ii = np.array(idx)
            if len(idx) == 1:  # one design: its exact-ILP front over budgets, when given
                hw = str(res[idx[0]].get("hardware", ""))
                f, u = _doc_front(docs, model, hw, key, scale)
                if f:
                    name = f"{g}: ILP front over budgets"
                    fronts[name], ilp = f, [*ilp, g]
                    if u:
                        uniform[name] = u
                    continue
            m = non_dominated_mask(np.column_stack([cost[ii], qual[ii]]))
            name = f"{g}: front of its {len(idx)} designs" if len(idx) > 1 else f"{g}: one design"
            fronts[name] = sorted({(float(cost[i]), float(qual[i])) for i in ii[m]})
            best: dict[str, tuple[float, float]] = {}
            for i in idx:
                for fmt, tot in (res[i].get("uniform") or {}).items():
                    if tot and tot.get(key) is not None and tot.get("quality") is not None:
                        c = float(tot[key]) * scale
                        if fmt not in best or c < best[fmt][0]:
                            best[fmt] = (c, float(tot["quality"]))
            if best:
                uniform[name] = best
        short = label.split(" (")[0]
        figs.append(plots.pareto_plot(fronts, out / f"{stem}_pareto_{key.split('_')[0]}.png",
                                      xlabel=label, uniform=uniform or None, front_suffix="",
                                      title=f"{model}: quality loss vs {short}",
                                      file_formats=formats))
        cap = (f"{model}: quality loss against {short}, one front per base design (each "
               f"non-dominated over that base's swept designs); squares: uniform precision "
               f"on the design of that base where it costs least.")
        if ilp:
            cap += (f" {', '.join(ilp)}: a single design each, so the line is the exact-ILP "
                    "allocations of its Pareto input, one per budget, and its squares that "
                    "input's uniform points.")
        singles = [g for g, idx in groups.items() if len(idx) == 1 and g not in ilp]
        if singles:
            cap += (f" {', '.join(singles)}: a single design each and no Pareto input, so one "
                    "point; `lowbit pareto --hw NAME -o DIR` and DIR given to `lowbit report` "
                    "draw its front over budgets.")
        caps.append(cap)
    sections.append(Section(f"{model}: the {len(res)} feasible designs — latency, energy, area and "
                            "quality traded off", figures=figs, captions=caps,
                            text=f"{len(res)} feasible, {len(bad)} infeasible or invalid design points."))
    # Chosen point.
    k = pick_point(res)
    p, r = pts[k], res[k]
    name = design_label(str(p.get("base") or _group_label(p, r)), p.get("params") or {})
    figs, caps = [], []
    layers = list(r.get("layers") or [])
    if layers and r.get("bits") and r.get("choices"):
        # layers without weights (activation x activation products) have no format to allocate
        keep = [i for i, w in enumerate(r.get("has_weights") or [True] * len(layers)) if w]
        figs.append(plots.allocation_chart([layers[i] for i in keep], [r["bits"][i] for i in keep],
                                           out / f"{stem}_allocation.png",
                                           formats=[r["choices"][i] for i in keep],
                                           title=f"{model} on {name}: per-layer formats",
                                           file_formats=formats))
        caps.append("Weight bits chosen for each weight layer (bar colour = format) at the chosen point.")
    if layers and r.get("layer_energy_j"):
        split = {component_label(c): v for c, v in r["layer_energy_j"].items()}
        figs.append(plots.energy_breakdown_chart(layers, split,
                                                 out / f"{stem}_energy.png",
                                                 title=f"{model} on {name}: energy per layer",
                                                 file_formats=formats))
        caps.append("Energy of each layer at the chosen point, stacked by component (hwsim's "
                    "per-layer energy of the allocation, as the sweep stored it).")
    macs = np.asarray(r.get("layer_macs") or [], dtype=float)
    dram = np.asarray(r.get("layer_dram_bytes") or [], dtype=float)
    llat = np.asarray(r.get("layer_latency_s") or [], dtype=float)
    if (len(macs) and len(macs) == len(dram) == len(llat) and r.get("peak_macs_per_s")
            and r.get("dram_bytes_per_s")):
        keep = (dram > 0) & (llat > 0) & (macs > 0)
        if keep.any():
            ops = 2.0 * macs[keep]
            choices = list(r.get("choices") or [])
            fmts = [c for c, kk in zip(choices, keep) if kk] if len(choices) == len(keep) else None
            by_fmt = r.get("peak_macs_per_s_by_format")
            if isinstance(by_fmt, Mapping) and fmts and set(fmts) <= set(by_fmt):
                peak: float | dict[str, float] = {f: 2.0 * float(by_fmt[f])
                                                  for f in sorted(set(fmts), key=fmts.index)}
                roof_txt = "one compute roof per format in use (peak_macs_per_s_by_format)"
            else:
                peak = 2.0 * float(r["peak_macs_per_s"])
                roof_txt = ("one compute roof, the design's reported peak_macs_per_s; on a "
                            "bit-serial core a narrower format runs faster than that peak, so "
                            "its layers may sit above this roof")
            figs.append(plots.roofline_chart(
                ops / dram[keep], ops / llat[keep], out / f"{stem}_roofline.png",
                peak_ops_per_s=peak, bandwidth_bytes_per_s=float(r["dram_bytes_per_s"]),
                labels=[lay for lay, kk in zip(layers, keep) if kk] if layers else None,
                groups=fmts, title=f"{model} on {name}: roofline per layer", file_formats=formats))
            caps.append("Each layer's achieved ops/s (ops = 2 x MACs, over its latency) against "
                        "its ops per DRAM byte, coloured by format; the slanted roof is the DRAM "
                        f"bandwidth, the flat one {roof_txt}"
                        + ("" if keep.all() else f"; {int((~keep).sum())} layers without DRAM "
                           "traffic or MACs left out") + ".")
    tot = (f"latency {eng(r['latency_s'], 's')}, energy {eng(r['energy_j'], 'J')}, "
           f"quality loss {r['quality']:.4g}")
    if r.get("area_mm2") is not None:
        tot += f", area {r['area_mm2']:.4g} mm²"
    sections.append(Section(
        f"{model}: chosen design {name} — balanced: non-dominated, nearest the ideal corner",
        figures=figs, captions=caps,
        text=(f"Why this design: {CHOSEN_WHY}, with latency, energy and quality each scaled to "
              f"[0, 1] over the feasible designs. {tot}."),
        table=[_design_row(p, r, ok[k][0])]))
    # Top designs: the non-dominated ones, nearest the ideal corner first.
    a = np.column_stack([lat, en, qual])
    lo, span = a.min(0), np.where(np.ptp(a, 0) > 0, np.ptp(a, 0), 1.0)
    dist = np.sqrt((((a - lo) / span) ** 2).sum(1))
    order = [int(i) for i in np.lexsort((lat, dist)) if nd4[i]][:_TOP]
    sections.append(Section(f"{model}: the {len(order)} non-dominated designs nearest the ideal "
                            "corner",
                            text=(f"The {len(order)} of {int(nd4.sum())} non-dominated designs "
                                  "nearest the ideal corner (same scaling as the chosen point)."),
                            table=[_design_row(pts[i], res[i], ok[i][0]) for i in order]))
    return sections


def sweep_sections(db_path: str | Path, out_dir: str | Path, prefix: str = "",
                   pareto_docs: Sequence[Mapping[str, Any]] = (), formats: Sequence[str] = ()
                   ) -> tuple[list[Section], dict[str, list[dict[str, Any]]]]:
    """Sections and data tables (``<prefix>rows``) for one sweep store; PNGs (and `formats`
    copies) go in `out_dir`. `pareto_docs` (loaded pareto.json) give a single-design base its
    exact-ILP front over budgets in the Pareto panels."""
    meta, rows = load_store(db_path)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    models: list[str] = []
    for _, p, _ in rows:
        m = str(p.get("model", "")) or "model"
        if m not in models:
            models.append(m)
    ok = [r for r in rows if r[2].get("status") == "ok"]
    bad = [r for r in rows if r[2].get("status") != "ok"]
    counts: dict[str, int] = {}
    for _, _, r in rows:
        counts[str(r.get("status"))] = counts.get(str(r.get("status")), 0) + 1
    desc = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    info = [f"store {Path(db_path).name}: {len(rows)} rows ({desc})"]
    if meta.get("space_name"):
        info.append(f"design space {meta['space_name']}")
    if meta.get("formats"):
        info.append("formats " + ", ".join(map(str, meta["formats"])))
    if meta.get("budgets"):
        info.append("budgets " + ", ".join(f"{k} <= {v}" for k, v in meta["budgets"].items()))
    if meta.get("objective"):
        info.append(f"objective: minimise {meta['objective']}")
    sections = [Section(f"Sweep {Path(db_path).name}: {len(rows)} design points over "
                        f"{len(models)} model(s)", text="; ".join(info) + ".")]
    for m in models:
        mo = [r for r in ok if (str(r[1].get("model", "")) or "model") == m]
        mb = [r for r in bad if (str(r[1].get("model", "")) or "model") == m]
        sections += _model_sections(m, mo, mb, out, prefix, pareto_docs, formats)
    if bad:
        listed = [{"model": p.get("model", ""),
                   "design": design_label(str(p.get("base", "")), p.get("params") or {}),
                   "design id": p.get("design", ""), "status": r.get("status"),
                   "message": r.get("message", "")} for _, p, r in bad[:_LISTED]]
        more = f" (first {_LISTED} listed; all in {prefix}rows.csv)" if len(bad) > _LISTED else ""
        sections.append(Section(f"Infeasible or invalid points: {len(bad)}", table=listed,
                                text=f"Not plotted{more}."))
    data = {f"{prefix}rows": [flatten_row(k, p, r) for k, p, r in rows]}
    return sections, data


def report_from_store(db_path: str | Path, out_dir: str | Path,
                      formats: Sequence[str] = ()) -> Path:
    """Write ``out_dir/index.html`` (explorer and figures embedded), the PNGs and
    rows.csv/json; return the page."""
    _meta, rows = load_store(db_path)
    sections, data = sweep_sections(db_path, out_dir, formats=formats)
    return write_report(out_dir, f"lowbit sweep report: {Path(db_path).name}",
                        [explorer_section(rows, (), chosen_points(rows)), *sections], data)
