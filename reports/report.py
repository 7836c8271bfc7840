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

import html
import logging
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from lowbit.kernels_ref.errors import InvalidSpecError, LowbitError
from lowbit.kernels_ref.loaders import short
from lowbit.reports import plots
from lowbit.reports.bundle import Section, read_json, safe_name, write_report
from lowbit.reports.explorer import format_mix
from lowbit.reports.units import cell, column, component_label

__all__ = ["GROUPS", "PER_LAYER_LIMIT", "alloc_sections", "build_report", "classify", "load_alloc",
           "split_choice", "weight_bits"]

log = logging.getLogger(__name__)

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


def split_choice(label: str) -> tuple[str, str, str]:
    """(weight, activation, KV) formats of a choice label, "" where it has none: "int4" ->
    weight only, "int4/int8" -> weight and activation, an attention's "kv:int4/int8" -> KV
    int4 with activation int8 (`search.joint.parse_choice`'s labels)."""
    head, _, act = label.partition("/")
    return ("", act, head[3:]) if head.startswith("kv:") else (head, act, "")


def weight_bits(label: str) -> float:
    """Nominal bits of a choice label's stored operand: the weight format ("int4", "int4g128",
    "int4/int8", "fp4_e2m1"), or the K/V cache format of an attention's "kv:K/A" choice."""
    from lowbit.kernels_ref.formats import Format

    w, _a, kv = split_choice(label)
    w = w or kv
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
        where = f"layers[{i}]"
        _numbers(p, where, {k: v for k, v in ly.items() if k in ("latency_cycles", "energy_j",
                                                                 "weight_bytes")})
        _numbers(p, f"{where}.sensitivity", {"": ly.get("sensitivity", 0.0)}, signed=True)
        for k in ("costs", "energy_components_j"):
            if k in ly:
                _numbers(p, f"{where}.{k}", ly[k], allow_none=False)
    for f in {ly["format"] for ly in layers}:  # each format's width readable, once per format
        weight_bits(f)
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


#: An allocation with more layers than this is reported in aggregate: its figures show runs of
#: consecutive layers (at most `GROUPS` bars) and its page table one row per format; the
#: per-layer table is written beside index.html as CSV and JSON only. At 500 layers one bar per
#: layer is already a 100-inch-wide figure, and the page renders in about 10 s on one core.
PER_LAYER_LIMIT = 500
GROUPS = 100


def _group_edges(n: int, groups: int = GROUPS) -> np.ndarray:
    """Start of each run of consecutive layers (and `n` last): at most `groups` near-equal runs."""
    return np.unique(np.linspace(0, n, min(groups, n) + 1).round().astype(np.int64))


def alloc_sections(path: str | Path, out_dir: str | Path, prefix: str = "",
                   formats: Sequence[str] = (), doc: Mapping[str, Any] | None = None,
                   max_layers: int = PER_LAYER_LIMIT,
                   ) -> tuple[list[Section], dict[str, list[dict[str, Any]]]]:
    """Allocation chart, per-layer energy by component (hwsim's LayerCost.energy_j of each
    layer in its chosen format, `energy_components_j`; the total alone for cost-file
    allocations) and the layer table. Over `max_layers` layers the figures aggregate runs of
    consecutive layers, the page's table holds one row per format, and the per-layer table is
    in the CSV/JSON beside the page (said in the section). `doc` is the already loaded file."""
    p = Path(path)
    doc = load_alloc(p) if doc is None else doc
    layers = doc["layers"]
    n = len(layers)
    big = n > max_layers
    out = Path(out_dir)
    names = [str(ly["name"]) for ly in layers]
    fmts = [str(ly["format"]) for ly in layers]
    what = " on ".join(x for x in (doc.get("model"), doc.get("hardware")) if x) or p.stem
    stem = f"{prefix}{p.stem}"
    uniq, inv = np.unique(np.asarray(fmts, dtype=object).astype(str), return_inverse=True)
    ubits = np.array([weight_bits(str(f)) for f in uniq], dtype=float)
    edges = _group_edges(n) if big else np.arange(n + 1)
    group = np.repeat(np.arange(len(edges) - 1), np.diff(edges))  # layer -> its run
    glabels = names if not big else [f"{a}–{b - 1}" if b - a > 1 else f"{a}"
                                     for a, b in zip(edges[:-1].tolist(), edges[1:].tolist())]
    runs = f"runs of about {n // (len(edges) - 1)} consecutive layers (layer indices as in " \
           f"{stem}_layers.csv)"

    def by_group(v: np.ndarray) -> list[float]:
        return np.bincount(group, weights=v, minlength=len(edges) - 1).tolist() if big \
            else v.tolist()

    parts = [split_choice(f) for f in fmts]
    has_kv = any(kv for _w, _a, kv in parts)
    if not big:
        figs = [plots.allocation_chart(names, ubits[inv].tolist(), out / f"{stem}_allocation.png",
                                       formats=fmts, title=f"{what}: per-layer formats",
                                       ylabel="weight bits (attention: K/V bits)" if has_kv else "weight bits",
                                       file_formats=formats)]
        caps = ["Weight bits chosen for each layer (bar colour = format)"
                + ("; an attention's bar is its K/V cache format, kv:K/A (K/V in K, queries and "
                   "scores in A)." if has_kv else ".")]
    else:
        order = np.lexsort((uniq, ubits))  # narrowest format at the bottom
        mix = {str(uniq[j]): by_group((inv == j).astype(float)) for j in order}
        figs = [plots.format_mix_chart(glabels, mix, out / f"{stem}_allocation.png",
                                       title=f"{what}: formats along the network ({n} layers)",
                                       xlabel="layer indices", file_formats=formats)]
        caps = [f"Layers in each format, over {runs}."]
    en = [ly.get("energy_j") for ly in layers]
    comps = [ly.get("energy_components_j") for ly in layers]
    per = "per run of layers" if big else "per layer"
    if all(isinstance(c, dict) and c for c in comps):
        keys = sorted({k for c in comps for k in c})
        mat = np.array([[float(c.get(k, 0.0)) for k in keys] for c in comps], dtype=float)
        split = {component_label(k): by_group(mat[:, j]) for j, k in enumerate(keys)}
        figs.append(plots.energy_breakdown_chart(glabels, split, out / f"{stem}_energy.png",
                                                 title=f"{what}: energy {per} by component",
                                                 file_formats=formats))
        caps.append(("Energy of each layer in its chosen format" if not big else
                     f"Energy of the layers in their chosen formats, summed over {runs}")
                    + f", stacked by component ({', '.join(split)}): hwsim's own costs of each "
                    "layer of this allocation.")
    elif all(isinstance(v, (int, float)) for v in en):
        figs.append(plots.energy_breakdown_chart(glabels, {"total": by_group(np.asarray(en, float))},
                                                 out / f"{stem}_energy.png",
                                                 title=f"{what}: energy {per}",
                                                 file_formats=formats))
        caps.append(("Energy of each layer in its chosen format" if not big else
                     f"Energy of the layers in their chosen formats, summed over {runs}")
                    + ": this alloc.json comes from a cost file, which holds totals, not "
                    "components.")
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
    kvc = doc.get("kv_cache")
    if doc.get("memory_scope") == "weights+kv" and isinstance(kvc, dict):  # allocate --memory-scope
        text += (f" memory_bytes counts the weights and the KV cache ({kvc.get('format')}, "
                 f"{cell('memory_bytes', kvc.get('bytes'))} at context {kvc.get('context')} x batch "
                 f"{kvc.get('batch')}).") if isinstance(kvc.get("bytes"), (int, float)) else ""
    rows = []
    joint = any(a or kv for _w, a, kv in parts)  # W/A or kv:K/A choices: each part its own column
    for ly, (w, a, kv) in zip(layers, parts):
        r = {"layer": ly["name"], "format": ly["format"]}
        if joint:
            r.update({"weight": w, "activation": a, "kv": kv})
        r["sensitivity"] = ly.get("sensitivity")
        r.update({key(k): v for k, v in (ly.get("costs") or {}).items()})
        rows.append(r)
    data = {f"{stem}_layers": rows}
    table: list[dict[str, Any]] = rows
    note = ""
    if big:
        table = _format_summary(rows, uniq, inv, ubits)
        data[f"{stem}_formats"] = table
        csv_name = html.escape(f"{stem}_layers.csv")
        note = (f'<p class="lb-note">This allocation has {n} layers, over the per-layer limit of '
                f"{max_layers} (<code>lowbit report --max-layers</code>): the figures show runs "
                "of consecutive layers and the table one row per format. Every layer is in "
                f'<a href="{csv_name}">{csv_name}</a> (and '
                f'<a href="{html.escape(f"{stem}_layers.json")}">JSON</a>).</p>')
    mixtext = format_mix(fmts)
    return ([Section(f"Allocation of {what}: {mixtext} — {doc.get('method', '?')} minimising "
                     f"{doc.get('objective_name', 'the objective')}"
                     + (" under " + ", ".join(budgets) + " budget" if budgets else ""),
                     text=text, figures=figs, captions=caps, table=table, html=note)],
            data)


def _format_summary(rows: Sequence[Mapping[str, Any]], uniq: np.ndarray, inv: np.ndarray,
                    ubits: np.ndarray) -> list[dict[str, Any]]:
    """One row per format: its layers, their share, and the sum of every numeric column."""
    cols = [c for c in dict.fromkeys(k for r in rows for k in r) if c not in ("layer", "format")]
    count = np.bincount(inv, minlength=len(uniq))
    sums: dict[str, np.ndarray] = {}
    for c in cols:
        v = np.array([r.get(c) for r in rows], dtype=object)
        num = np.array([isinstance(x, (int, float)) and not isinstance(x, bool) for x in v])
        if num.any():
            sums[c] = np.bincount(inv[num], weights=v[num].astype(float), minlength=len(uniq))
    out = []
    for j in np.lexsort((uniq, ubits)):
        r: dict[str, Any] = {"format": str(uniq[j]), "layers": int(count[j]),
                             "share": float(count[j] / len(rows))}
        r.update({f"sum {c}": float(s[j]) for c, s in sums.items()})
        out.append(r)
    return out


def build_report(inputs: Sequence[str | Path], out_dir: str | Path, title: str = "",
                 formats: Sequence[str] = ("png",), max_layers: int = PER_LAYER_LIMIT) -> Path:
    """Classify every input, draw its figures into `out_dir` (PNG, plus SVG/PDF copies when
    `formats` names them), write index.html with the explorer first; return its path.
    An allocation over `max_layers` layers is drawn in aggregate (`alloc_sections`), said once
    in a logged warning."""
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
    if isinstance(max_layers, bool) or not isinstance(max_layers, int) or max_layers < 1:
        raise InvalidSpecError(f"report: max_layers must be a positive integer, got "
                               f"{short(max_layers, 30)}")
    big = [f"{p} has {len(d['layers'])} layers" for d, (p, k) in zip(loaded, kinds)
           if k == "alloc" and len(d["layers"]) > max_layers]
    if big:
        log.warning("%s, over the per-layer limit of %d (--max-layers): its figures show runs of "
                    "consecutive layers and its page table one row per format; every layer is in "
                    "the CSV/JSON beside index.html", "; ".join(big), max_layers)

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
            s, d = alloc_sections(p, out, prefix, formats, doc, max_layers)
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
