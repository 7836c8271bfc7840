"""One HTML report from any mix of lowbit results (what `lowbit report` runs).

Each input is one of:
- a sweep store (SQLite, `lowbit sweep --db FILE`)  -> `reports.sweep_report`;
- a `lowbit pareto -o DIR` directory, or its pareto.json  -> `reports.pareto_report`
  (all Pareto inputs are overlaid together);
- an alloc.json from `lowbit allocate -o FILE`  -> per-layer allocation and costs.

Everything goes into one directory: index.html (figures embedded), the PNGs, and a
CSV + JSON per data table (file names prefixed per input when there are several).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lowbit.kernels_ref.errors import InvalidSpecError, LowbitError
from lowbit.reports import plots
from lowbit.reports.bundle import Section, read_json, write_report

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
    for i, ly in enumerate(layers):
        if not isinstance(ly, dict) or "name" not in ly or "format" not in ly:
            raise InvalidSpecError(f"report: {p}: layer {i} lacks name/format")
        weight_bits(str(ly["format"]))
    return doc


def alloc_sections(path: str | Path, out_dir: str | Path, prefix: str = ""
                   ) -> tuple[list[Section], dict[str, list[dict[str, Any]]]]:
    """Allocation chart, per-layer energy (when priced by hwsim) and the layer table."""
    p = Path(path)
    doc = load_alloc(p)
    layers = doc["layers"]
    out = Path(out_dir)
    names = [str(ly["name"]) for ly in layers]
    fmts = [str(ly["format"]) for ly in layers]
    what = " on ".join(x for x in (doc.get("model"), doc.get("hardware")) if x) or p.stem
    stem = f"{prefix}{p.stem}"
    figs = [plots.allocation_chart(names, [weight_bits(f) for f in fmts], out / f"{stem}_allocation.png",
                                   formats=fmts, title=f"{what}: per-layer formats")]
    caps = ["Weight bits chosen for each layer (bar colour = format)."]
    en = [ly.get("energy_j") for ly in layers]
    if all(isinstance(v, (int, float)) for v in en):
        figs.append(plots.energy_breakdown_chart(names, {"total": en}, out / f"{stem}_energy.png",
                                                 title=f"{what}: energy per layer"))
        caps.append("Energy of each layer in its chosen format (alloc.json holds totals, "
                    "not components).")
    totals = doc.get("totals") or {}
    budgets = doc.get("budgets") or {}
    text = (f"{p}: status {doc.get('status', '?')}, {doc.get('objective_name', 'objective')} "
            f"{doc.get('objective', float('nan')):.6g} ({doc.get('method', '?')}). Totals: "
            + ", ".join(f"{k} {v:.6g}" for k, v in totals.items() if isinstance(v, (int, float)))
            + (". Budgets: " + ", ".join(f"{k} <= {v:.6g}" for k, v in budgets.items()) if budgets else "")
            + ".")
    rows = []
    for ly in layers:
        r = {"layer": ly["name"], "format": ly["format"], "sensitivity": ly.get("sensitivity")}
        r.update({k: v for k, v in (ly.get("costs") or {}).items()})
        rows.append(r)
    return ([Section(f"Allocation: {what}", text=text, figures=figs, captions=caps, table=rows)],
            {f"{stem}_layers": rows})


def build_report(inputs: Sequence[str | Path], out_dir: str | Path, title: str = "") -> Path:
    """Classify every input, draw its figures into `out_dir`, write index.html; return its path."""
    if not inputs:
        raise InvalidSpecError("report: give at least one result (sweep store, pareto dir, alloc.json)")
    from lowbit.reports.pareto_report import load_pareto
    from lowbit.reports.sweep_report import load_store, sweep_sections

    kinds = [(Path(i), classify(i)) for i in inputs]
    for p, kind in kinds:  # every input read and checked before anything is written
        {"sweep": load_store, "pareto": load_pareto, "alloc": load_alloc}[kind](p)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sections: list[Section] = []
    data: dict[str, list[dict[str, Any]]] = {}
    many = len(kinds) > 1
    for n, (p, kind) in enumerate(kinds):
        prefix = f"{n + 1}_" if many else ""
        if kind == "sweep":
            s, d = sweep_sections(p, out, prefix)
        elif kind == "alloc":
            s, d = alloc_sections(p, out, prefix)
        else:
            continue
        sections += s
        data.update(d)
    pareto = [p for p, k in kinds if k == "pareto"]
    if pareto:
        from lowbit.reports.pareto_report import pareto_sections

        s, d = pareto_sections(pareto, out)
        sections += s
        data.update(d)
    return write_report(out, title or "lowbit report: " + ", ".join(p.name for p, _ in kinds),
                        sections, data)
