"""One HTML report from any mix of lowbit results (what `lowbit report` runs).

Each input is one of:
- a sweep store (SQLite, `lowbit sweep --db FILE`)  -> `reports.sweep_report`;
- a `lowbit pareto -o DIR` directory, or its pareto.json  -> `reports.pareto_report`
  (all Pareto inputs are overlaid together);
- an alloc.json from `lowbit allocate -o FILE`  -> per-layer allocation and costs.

Everything goes into one directory: index.html (the interactive explorer first, when there is
a sweep store or a Pareto input; then the static figures, embedded, and the tables), the PNGs
(and SVG/PDF copies with `formats`), and a CSV + JSON per data table (file names prefixed per
input when there are several). Pareto inputs are grouped per model; a sweep's single-design
base (a preset) takes the exact-ILP front of the Pareto input for the same model and hardware.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lowbit.kernels_ref.errors import InvalidSpecError, LowbitError
from lowbit.kernels_ref.loaders import short
from lowbit.reports import plots
from lowbit.reports.bundle import Section, read_json, safe_name, write_report
from lowbit.reports.explorer import format_mix
from lowbit.reports.units import cell, column, component_label

__all__ = ["alloc_sections", "build_report", "classify", "load_alloc", "weight_bits"]

_SQLITE = b"SQLite format 3\x00"


def classify(path: str | Path) -> str:
    """"sweep", "pareto" or "alloc" for one input path; InvalidSpecError otherwise."""
    p = Path(path)
    if not p.exists():
        raise InvalidSpecError(f"report: {p}: no such file or directory")
    if p.is_dir():
        if (p / "pareto.json").exists():
            return "pareto"
        raise InvalidSpecError(f"report: {p}: directory without pareto.json (expected a "
                               "`lowbit pareto -o DIR` output, a sweep store or an alloc.json)")
    with open(p, "rb") as fh:
        head = fh.read(16)
    if head == _SQLITE:
        return "sweep"
    if not head.lstrip()[:1] == b"{":
        raise InvalidSpecError(f"report: {p}: neither a sweep store (SQLite) nor a lowbit JSON "
                               "result (pareto.json / alloc.json)")
    doc = read_json(p)
    if isinstance(doc, dict) and "swept" in doc and "points" in doc:
        return "pareto"
    if isinstance(doc, dict) and isinstance(doc.get("layers"), list) and "totals" in doc:
        return "alloc"
    raise InvalidSpecError(f"report: {p}: JSON is neither a pareto.json ('swept', 'points') "
                           "nor an alloc.json ('layers', 'totals')")


def weight_bits(label: str) -> float:
    """Nominal weight bits of a choice label ("int4", "int4g128", "int4/int8", "fp4_e2m1")."""
    from lowbit.kernels_ref.formats import Format

    w = label.split("/", 1)[0]
    try:
        return float(Format.parse(w).bits)
    except (LowbitError, ValueError):
        m = re.search(r"(\d+)", w)
        if m is None:
            raise InvalidSpecError(f"report: cannot tell the weight bits of choice {label!r}") from None
        return float(m.group(1))


def load_alloc(path: str | Path) -> dict[str, Any]:
    """An alloc.json (`lowbit allocate -o FILE`), checked; InvalidSpecError when malformed."""
    p = Path(path)
    doc = read_json(p)
    layers = doc.get("layers") if isinstance(doc, dict) else None
    if not isinstance(layers, list) or not layers:
        raise InvalidSpecError(f"report: {p}: alloc.json holds no layers")
    for k in ("model", "hardware", "status", "method"):
        if doc.get(k) is not None and not isinstance(doc[k], str):
            raise InvalidSpecError(f"report: {p}: {k}: must be a string, got {short(doc[k], 30)}")
    for k in ("totals", "budgets"):
        _numbers(p, k, doc.get(k) or {}, signed=True)
    _numbers(p, "objective", {"": doc.get("objective")}, signed=True)
    for i, ly in enumerate(layers):
        if not isinstance(ly, dict) or "name" not in ly or "format" not in ly:
            raise InvalidSpecError(f"report: {p}: layer {i} lacks name/format")
        if not isinstance(ly["name"], str) or not ly["name"].strip():
            raise InvalidSpecError(f"report: {p}: layers[{i}].name: must be a non-empty string, got "
                                   f"{short(ly['name'], 30)}")
        if not isinstance(ly["format"], str):
            raise InvalidSpecError(f"report: {p}: layers[{i}].format: must be a format name, got "
                                   f"{short(ly['format'], 30)}")
        weight_bits(ly["format"])
        where = f"layers[{i}]"
        _numbers(p, where, {k: v for k, v in ly.items() if k in ("latency_cycles", "energy_j",
                                                                 "weight_bytes")})
        _numbers(p, f"{where}.sensitivity", {"": ly.get("sensitivity", 0.0)}, signed=True)
        for k in ("costs", "energy_components_j"):
            if k in ly:
                _numbers(p, f"{where}.{k}", ly[k], allow_none=False)
    return doc


def _numbers(p: Path, where: str, d: Any, signed: bool = False, allow_none: bool = True) -> None:
    """Every value of `d` a number (not a boolean); non-negative unless `signed` (a cost or an
    energy is never negative; a sensitivity, a loss delta, may be)."""
    if not isinstance(d, dict):
        raise InvalidSpecError(f"report: {p}: {where}: must be a mapping of numbers")
    for k, v in d.items():
        at = f"{where}.{k}" if k else where
        if v is None and allow_none:  # a cost the table did not have (energy of a cost-file allocation)
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise InvalidSpecError(f"report: {p}: {at}: must be a number, got {short(v, 30)}")
        if not signed and v < 0:
            raise InvalidSpecError(f"report: {p}: {at}: {v!r} is negative; costs cannot be")


def alloc_sections(path: str | Path, out_dir: str | Path, prefix: str = "",
                   formats: Sequence[str] = ()
                   ) -> tuple[list[Section], dict[str, list[dict[str, Any]]]]:
    """Allocation chart, per-layer energy by component (hwsim's LayerCost.energy_j of each
    layer in its chosen format, `energy_components_j`; the total alone for cost-file
    allocations) and the layer table."""
    p = Path(path)
    doc = load_alloc(p)
    layers = doc["layers"]
    out = Path(out_dir)
    names = [str(ly["name"]) for ly in layers]
    fmts = [str(ly["format"]) for ly in layers]
    what = " on ".join(x for x in (doc.get("model"), doc.get("hardware")) if x) or p.stem
    stem = f"{prefix}{p.stem}"
    figs = [plots.allocation_chart(names, [weight_bits(f) for f in fmts], out / f"{stem}_allocation.png",
                                   formats=fmts, title=f"{what}: per-layer formats",
                                   file_formats=formats)]
    caps = ["Weight bits chosen for each layer (bar colour = format)."]
    en = [ly.get("energy_j") for ly in layers]
    comps = [ly.get("energy_components_j") for ly in layers]
    if all(isinstance(c, dict) and c for c in comps):
        keys = sorted({k for c in comps for k in c})
        split = {component_label(k): [float(c.get(k, 0.0)) for c in comps] for k in keys}
        figs.append(plots.energy_breakdown_chart(names, split, out / f"{stem}_energy.png",
                                                 title=f"{what}: energy per layer by component",
                                                 file_formats=formats))
        caps.append("Energy of each layer in its chosen format, stacked by component "
                    f"({', '.join(split)}): hwsim's own costs of each layer of this allocation.")
    elif all(isinstance(v, (int, float)) for v in en):
        figs.append(plots.energy_breakdown_chart(names, {"total": en}, out / f"{stem}_energy.png",
                                                 title=f"{what}: energy per layer",
                                                 file_formats=formats))
        caps.append("Energy of each layer in its chosen format: this alloc.json comes from a "
                    "cost file, which holds totals, not components.")
    totals = doc.get("totals") or {}
    budgets = doc.get("budgets") or {}
    hw = bool(doc.get("hardware")) and all(isinstance(c, dict) for c in comps)

    def key(k: str) -> str:  # a hwsim-priced table's costs in their units
        return {"latency": "latency_cycles", "energy": "energy_j", "memory": "memory_bytes"}.get(k, k) \
            if hw else k

    text = (f"{p}: status {doc.get('status', '?')}, {doc.get('objective_name', 'objective')} "
            f"{doc.get('objective', float('nan')):.6g} ({doc.get('method', '?')}). Totals: "
            + ", ".join(f"{column(key(k)).label.split(' (')[0]} {cell(key(k), v)}"
                        for k, v in totals.items() if isinstance(v, (int, float)))
            + (". Budgets: " + ", ".join(f"{k} <= {cell(key(k), v)}" for k, v in budgets.items())
               if budgets else "") + ".")
    rows = []
    for ly in layers:
        r = {"layer": ly["name"], "format": ly["format"], "sensitivity": ly.get("sensitivity")}
        r.update({key(k): v for k, v in (ly.get("costs") or {}).items()})
        rows.append(r)
    mix = format_mix(fmts)
    return ([Section(f"Allocation of {what}: {mix} — {doc.get('method', '?')} minimising "
                     f"{doc.get('objective_name', 'the objective')}"
                     + (" under " + ", ".join(budgets) + " budget" if budgets else ""),
                     text=text, figures=figs, captions=caps, table=rows)],
            {f"{stem}_layers": rows})


def build_report(inputs: Sequence[str | Path], out_dir: str | Path, title: str = "",
                 formats: Sequence[str] = ("png",)) -> Path:
    """Classify every input, draw its figures into `out_dir` (PNG, plus SVG/PDF copies when
    `formats` names them), write index.html with the explorer first; return its path."""
    if not inputs:
        raise InvalidSpecError("report: give at least one result (sweep store, pareto dir, alloc.json)")
    from lowbit.reports.explorer import explorer_section
    from lowbit.reports.pareto_report import load_pareto, pareto_sections
    from lowbit.reports.sweep_report import chosen_points, load_store, sweep_sections

    formats = plots.check_formats(formats)
    kinds = [(Path(i), classify(i)) for i in inputs]
    loaded = [{"sweep": load_store, "pareto": load_pareto, "alloc": load_alloc}[kind](p)
              for p, kind in kinds]  # every input read and checked before anything is written
    docs = [d for d, (_p, k) in zip(loaded, kinds) if k == "pareto"]

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sections: list[Section] = []
    data: dict[str, list[dict[str, Any]]] = {}
    many = len(kinds) > 1
    rows: list[Any] = []
    for n, ((p, kind), doc) in enumerate(zip(kinds, loaded)):
        prefix = f"{n + 1}_" if many else ""
        if kind == "sweep":
            s, d = sweep_sections(p, out, prefix, docs, formats)
            rows += doc[1]
        elif kind == "alloc":
            s, d = alloc_sections(p, out, prefix, formats)
        else:
            continue
        sections += s
        data.update(d)
    by_model: dict[str, list[dict[str, Any]]] = {}
    for d in docs:
        by_model.setdefault(str(d.get("model") or ""), []).append(d)
    for model, ds in by_model.items():
        pre = f"{safe_name(model)}_" if len(by_model) > 1 else ""
        s, d = pareto_sections(ds, out, pre, formats)
        sections += s
        data.update(d)
    if rows or docs:
        sections.insert(0, explorer_section(rows, docs, chosen_points(rows)))
    return write_report(out, title or "lowbit report: " + ", ".join(p.name for p, _ in kinds),
                        sections, data)
