"""Figures and report sections from `lowbit pareto -o DIR` outputs (DIR/pareto.json).

One figure per swept cost: the objective (quality loss) against that cost, the
non-dominated ILP points of each input drawn as a staircase front, the uniform
precision points of each input as open squares. Several inputs sweeping the same
cost are overlaid in one figure (e.g. one model on several hardware presets).

Units: tables built by hwsim (`CostTable.from_hwsim`, i.e. a `hardware` is named)
hold latency in cycles of that hardware's clock, energy in joules (shown in mJ)
and weight memory in bytes (shown in MB); costs from a file are shown as they are.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lowbit.kernels_ref.errors import InvalidSpecError
from lowbit.reports import plots
from lowbit.reports.bundle import Section, read_json, safe_name, write_report
from lowbit.reports.explorer import format_mix

__all__ = ["load_pareto", "pareto_figures", "pareto_report", "pareto_sections"]

_OK = ("optimal", "feasible")
#: swept metric -> (display scale, unit) for hwsim-built tables.
_HW_UNITS = {"latency": (1.0, "cycles"), "energy": (1e3, "mJ"), "memory": (1e-6, "MB")}
_HWSIM_COSTS = {"latency", "energy", "memory", "bops", "sensitivity"}


def load_pareto(path: str | Path) -> dict[str, Any]:
    """The pareto.json of a `lowbit pareto -o DIR` directory (or the file itself), with
    ``_source`` set to the path; InvalidSpecError when missing or malformed."""
    p = Path(path)
    f = p / "pareto.json" if p.is_dir() else p
    if not p.exists():
        raise InvalidSpecError(f"report: {p}: no such file or directory")
    if not f.exists():
        raise InvalidSpecError(f"report: {p}: directory without pareto.json "
                               "(expected the output of `lowbit pareto -o DIR`)")
    doc = read_json(f)
    if not isinstance(doc, dict) or not isinstance(doc.get("points"), list) or "swept" not in doc:
        raise InvalidSpecError(f"report: {f}: not a pareto.json (needs 'swept' and 'points')")
    if not doc["points"]:
        raise InvalidSpecError(f"report: {f}: holds no points")
    for i, pt in enumerate(doc["points"]):
        if not isinstance(pt, dict) or not {"kind", "status", "totals"} <= set(pt):
            raise InvalidSpecError(f"report: {f}: point {i} lacks kind/status/totals")
    doc["_source"] = str(f)
    return doc


def _name(doc: dict[str, Any]) -> str:
    model, hw = doc.get("model") or "", doc.get("hardware") or ""
    if model and hw:
        return f"{model} on {hw}"
    return model or hw or Path(doc["_source"]).parent.name


def _from_hwsim(doc: dict[str, Any]) -> bool:
    """True when the points carry exactly the costs `CostTable.from_hwsim` makes (pareto.json
    does not record the table's source; a cost file with other names keeps its own units)."""
    names = {k for pt in doc["points"] for k in pt["totals"]}
    return bool(doc.get("hardware")) and names == _HWSIM_COSTS


#: SI-suffixed cost names (house rule: unit in the name) -> (display scale, unit).
_SI_SUFFIXES = (("_s", 1e3, "ms"), ("_j", 1e3, "mJ"), ("_bytes", 1e-6, "MB"))


def _display_name(metric: str) -> str:
    """The cost's name without its SI unit suffix ("latency_s" -> "latency")."""
    for suffix, _scale, _unit in _SI_SUFFIXES:
        if metric.endswith(suffix) and len(metric) > len(suffix):
            return metric[: -len(suffix)]
    return metric


def _unit(docs: Sequence[dict[str, Any]], metric: str) -> tuple[float, str]:
    for suffix, scale, unit in _SI_SUFFIXES:
        if metric.endswith(suffix) and len(metric) > len(suffix):
            return scale, unit
    if metric in _HW_UNITS and all(_from_hwsim(d) for d in docs):
        scale, unit = _HW_UNITS[metric]
        if unit == "cycles":
            big = max((abs(float(pt["totals"].get(metric) or 0.0)) for d in docs for pt in d["points"]
                       if _finite(pt["totals"].get(metric))), default=0.0)
            if big >= 1e6:
                return 1e-6, "million cycles"
        return scale, unit
    return 1.0, ""


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


def pareto_figures(paths: Sequence[str | Path | dict[str, Any]], out_dir: str | Path,
                   prefix: str = "", formats: Sequence[str] = ()) -> tuple[list[Path], list[str]]:
    """Draw ``<prefix>pareto_<swept>.png`` in `out_dir` for the given inputs (dirs, files or
    loaded docs), one figure per (swept cost, objective); returns (paths, captions)."""
    docs = [d if isinstance(d, dict) else load_pareto(d) for d in paths]
    out = Path(out_dir)
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for d in docs:
        groups.setdefault((str(d["swept"]), str(d.get("objective") or "sensitivity")), []).append(d)
    figs: list[Path] = []
    caps: list[str] = []
    for (swept, objective), ds in groups.items():
        scale, unit = _unit(ds, swept)
        names: list[str] = []
        for d in ds:  # unique legend names
            n = _name(d)
            names.append(n if n not in names else f"{n} ({Path(d['_source']).parent.name})")
        fronts: dict[str, list[tuple[float, float]]] = {}
        uniform: dict[str, dict[str, tuple[float, float]]] = {}
        for n, d in zip(names, ds):
            front, uni = [], {}
            for pt in d["points"]:
                x, y = pt["totals"].get(swept), pt.get("objective")
                if pt["status"] not in _OK and pt["status"] != "over-budget":
                    continue
                if not (_finite(x) and _finite(y)):
                    continue
                if pt["kind"] == "ilp" and pt["status"] in _OK and not pt.get("dominated"):
                    front.append((float(x) * scale, float(y)))
                elif str(pt["kind"]).startswith("uniform:"):
                    lab = str(pt["kind"]).split(":", 1)[1]
                    if pt["status"] == "over-budget":
                        lab += " (over budget)"
                    uni[lab] = (float(x) * scale, float(y))
            fronts[n] = sorted(set(front))
            if uni:
                uniform[n] = uni
        shown = _display_name(swept)
        xlabel = f"{shown} ({unit})" if unit else swept
        ylabel = "quality loss (sum of sensitivity)" if objective == "sensitivity" else objective
        path = out / f"{prefix}pareto_{safe_name(swept)}" \
                     f"{'' if objective == 'sensitivity' else '_' + safe_name(objective)}.png"
        figs.append(plots.pareto_plot(fronts, path, xlabel=xlabel, ylabel=ylabel,
                                      uniform=uniform or None, front_suffix="ILP front",
                                      title=f"{ylabel.split(' (')[0]} vs {shown}",
                                      file_formats=formats))
        cap = (f"{ylabel} against {shown}: the non-dominated exact-ILP allocations of "
               f"{', '.join(names)} as a staircase; squares: every layer in one format.")
        if "cycles" in unit and len({d.get('hardware') for d in ds}) > 1:
            cap += " Latency is in cycles of each design's own clock."
        caps.append(cap)
    return figs, caps


#: what a hwsim-built table's cost names mean, as SI-suffixed names (units.column reads them).
_HW_KEYS = {"latency": "latency_cycles", "energy": "energy_j", "memory": "memory_bytes"}


def _si_key(doc: dict[str, Any], name: str) -> str:
    """A cost's name with its unit: hwsim-built tables' 'latency' is cycles, 'energy' joules,
    'memory' bytes; names from a cost file are kept (their unit is unknown)."""
    return _HW_KEYS.get(name, name) if _from_hwsim(doc) else name


def _budget_key(doc: dict[str, Any]) -> str:
    """'budget_s' for a swept 'latency_s' (so the column reads 'budget (s)'), else 'budget'."""
    swept = _si_key(doc, str(doc["swept"]))
    for suffix in ("_s", "_j", "_bytes", "_cycles"):
        if swept.endswith(suffix) and len(swept) > len(suffix):
            return f"budget{suffix}"
    return "budget"


def pareto_sections(paths: Sequence[str | Path | dict[str, Any]], out_dir: str | Path,
                    prefix: str = "", formats: Sequence[str] = ()
                    ) -> tuple[list[Section], dict[str, list[dict[str, Any]]]]:
    """Sections (figures + the non-dominated points) and the ``<prefix>pareto_points`` table."""
    docs = [d if isinstance(d, dict) else load_pareto(d) for d in paths]
    figs, caps = pareto_figures(docs, out_dir, prefix, formats)
    rows: list[dict[str, Any]] = []
    front_rows: list[dict[str, Any]] = []
    for d in docs:
        for pt in d["points"]:
            r = {"source": d["_source"], "model": d.get("model") or "", "hardware": d.get("hardware") or "",
                 "swept": d["swept"], "kind": pt["kind"], "budget": pt.get("budget"),
                 "status": pt["status"], "objective": pt.get("objective"),
                 "dominated": bool(pt.get("dominated"))}
            r.update({k: v for k, v in pt["totals"].items()})
            r["choices"] = ";".join(pt.get("choices") or [])
            rows.append(r)
            if pt["kind"] == "ilp" and pt["status"] in _OK and not pt.get("dominated"):
                fr = {"model": r["model"], "hardware": r["hardware"],
                      _budget_key(d): pt.get("budget"), "status": pt["status"],
                      "quality loss" if r["objective"] is not None and
                      (d.get("objective") or "sensitivity") == "sensitivity" else "objective":
                      pt.get("objective")}
                fr.update({_si_key(d, k): v for k, v in pt["totals"].items() if k != "sensitivity"})
                fr["formats"] = format_mix(pt.get("choices") or [])
                front_rows.append(fr)
    text = (f"{len(docs)} Pareto sweep(s): " + "; ".join(
        f"{_name(d)}, {d.get('objective') or 'sensitivity'} vs {d['swept']}, {len(d['points'])} points "
        f"({d['_source']})" for d in docs) + ".")
    models = sorted({str(d.get("model") or "") for d in docs} - {""}) or ["results"]
    hws = ", ".join(dict.fromkeys(str(d.get("hardware") or Path(d["_source"]).parent.name)
                                  for d in docs))
    swept = ", ".join(dict.fromkeys(_display_name(str(d["swept"])) for d in docs))
    what = ", ".join(models)
    sections = [Section(f"{what}: quality loss vs {swept} — exact-ILP fronts over {swept} budgets "
                        f"on {hws}", text=text, figures=figs, captions=caps),
                Section(f"{what}: the non-dominated ILP allocations, one per budget, on {hws}",
                        table=front_rows)]
    return sections, {f"{prefix}pareto_points": rows}


def pareto_report(paths: Sequence[str | Path], out_dir: str | Path) -> Path:
    """index.html with the overlaid fronts, plus the PNGs and pareto_points.csv/json."""
    sections, data = pareto_sections(paths, out_dir)
    return write_report(out_dir, "lowbit Pareto report", sections, data)
