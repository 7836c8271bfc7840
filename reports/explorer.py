"""The interactive explorer's data: every design of a sweep and every Pareto front, as one JSON
document the page's script (``static/explorer.js``, drawn with plotly.js) reads.

Per model:

- ``designs``: every feasible swept design with its readable id (base and parameter values,
  `units.design_label`), the store key and design hash, its parameters (a preset's resolved
  ones), latency / energy / area / weight memory / quality, the per-layer format mix, the
  allocation (layers, formats, bits) and the energy of every layer by component (hwsim's
  ``LayerCost.energy_j`` keys, as the sweep stored them);
- ``fronts``: the exact-ILP allocations of each `lowbit pareto` input for that model, one
  point per budget, with its formats, and the input's uniform-precision points.

Nothing here prices anything: values are copied from the results, rounded to 5 significant
digits for size.
"""

from __future__ import annotations

import base64
import gzip
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from lowbit.reports.bundle import Section, static_text
from lowbit.reports.units import component_label, design_label, eng

__all__ = ["OBJECTIVES", "explorer_data", "explorer_html", "explorer_section", "format_mix",
           "preset_summary"]

#: (key, label, unit) of the objectives a design is scored on (all minimised).
OBJECTIVES = (("latency_s", "latency", "s"), ("energy_j", "energy", "J"),
              ("area_mm2", "area", "mm²"), ("memory_bytes", "weight memory", "B"),
              ("quality", "quality loss", ""))
_OK = ("optimal", "feasible")


def _r(v: Any) -> float | None:
    if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
        return None
    return float(f"{float(v):.5g}")


def format_mix(choices: Sequence[str], keep: Sequence[bool] | None = None) -> str:
    """'int4×12 int8×9': how many (weight) layers run in each format, narrowest count first."""
    mix: dict[str, int] = {}
    for i, c in enumerate(choices):
        if keep is None or keep[i]:
            mix[str(c)] = mix.get(str(c), 0) + 1
    return " ".join(f"{k}×{v}" for k, v in sorted(mix.items()))


def preset_summary(name: str) -> tuple[tuple[str, Any], ...]:
    """A preset's resolved parameters (family, array extents, cores, clock, node), read from
    its spec; () when `name` is no preset."""
    from lowbit.hwsim.spec import load_accelerator
    from lowbit.kernels_ref.errors import LowbitError

    try:
        acc = load_accelerator(name)
        dims = acc.model().mapping_hints().array_dims
    except (LowbitError, OSError):
        return ()
    return (("family", acc.core_family.value), ("array", "x".join(map(str, dims)) or "-"),
            ("cores", int(acc.num_cores)), ("freq_hz", float(acc.freq_hz)),
            ("node_nm", float(acc.node_nm)))


def _resolved_text(items: Sequence[tuple[str, Any]]) -> str:
    out = []
    for k, v in items:
        if k == "freq_hz":
            out.append(f"clock {eng(v, 'Hz')}")
        elif k == "node_nm":
            out.append(f"{v:g} nm")
        else:
            out.append(f"{k} {v}")
    return ", ".join(out)


def _design(key: str, p: Mapping[str, Any], r: Mapping[str, Any],
            presets: dict[str, tuple[tuple[str, Any], ...]]) -> dict[str, Any]:
    params = dict(p.get("params") or {})
    base = str(p.get("base") or r.get("hardware") or "design")
    layers = [str(x) for x in r.get("layers") or []]
    choices = [str(x) for x in r.get("choices") or []]
    has_w = list(r.get("has_weights") or [True] * len(layers))
    keep = [i for i, w in enumerate(has_w) if w and i < len(choices)]
    if not params and base not in presets:
        presets[base] = preset_summary(base)
    resolved = presets.get(base, ()) if not params else ()
    d: dict[str, Any] = {
        "id": design_label(base, params), "key": key, "design": str(p.get("design", "")),
        "base": base, "preset": not params, "hardware": str(r.get("hardware", "")),
        "family": str(r.get("family", "")),
        "params": {k: _r(v) if isinstance(v, (int, float)) else v for k, v in params.items()},
        "resolved": _resolved_text(resolved) if resolved else "",
        "mix": format_mix(choices, has_w),
        "alloc": {"layers": [layers[i] for i in keep], "formats": [choices[i] for i in keep],
                  "bits": [_r((r.get("bits") or [0] * len(layers))[i]) for i in keep]},
    }
    for k, _label, _unit in OBJECTIVES:
        d[k] = _r(r.get(k))
    uni = r.get("uniform")
    if isinstance(uni, Mapping):
        d["uniform"] = {str(f): {k: _r(v) for k, v in (t or {}).items()} for f, t in uni.items()}
    en = r.get("layer_energy_j")
    if isinstance(en, Mapping) and layers:
        d["energy"] = {"layers": layers,
                       "components": {component_label(c): [_r(x) for x in v] for c, v in en.items()
                                      if any(float(x) > 0 for x in v)}}
    return d


def _nd(designs: list[dict[str, Any]]) -> None:
    """Mark each design non-dominated (True) or not in every objective it has."""
    from lowbit.search.pareto import non_dominated

    keys = [k for k, _l, _u in OBJECTIVES if all(d.get(k) is not None for d in designs)]
    if not designs or not keys:
        return
    mask = non_dominated(np.array([[float(d[k]) for k in keys] for d in designs]))
    for d, m in zip(designs, mask):
        d["nd"] = bool(m)


def _front(doc: Mapping[str, Any]) -> dict[str, Any]:
    hw = str(doc.get("hardware") or "")
    layers = [str(x) for x in doc.get("layers") or []]
    pts, uni = [], []
    for pt in doc["points"]:
        tot = pt.get("totals") or {}
        row = {"latency_s": _r(tot.get("latency_s")), "energy_j": _r(tot.get("energy_j")),
               "memory_bytes": _r(tot.get("memory_bytes")), "quality": _r(pt.get("objective")),
               "status": pt["status"]}
        if pt["kind"] == "ilp" and pt["status"] in _OK:
            row.update(budget=_r(pt.get("budget")), mix=format_mix(pt.get("choices") or []),
                       formats=list(pt.get("choices") or []), dominated=bool(pt.get("dominated")))
            pts.append(row)
        elif str(pt["kind"]).startswith("uniform:") and pt["status"] in (*_OK, "over-budget"):
            row["label"] = str(pt["kind"]).split(":", 1)[1]
            uni.append(row)
    return {"name": design_label(hw, {}) if hw else str(doc.get("_source", "pareto")),
            "hardware": hw, "swept": str(doc.get("swept")), "layers": layers,
            "resolved": _resolved_text(preset_summary(hw)) if hw else "",
            "points": pts, "uniform": uni, "source": str(doc.get("_source", ""))}


def explorer_data(rows: Sequence[tuple[str, Mapping[str, Any], Mapping[str, Any]]],
                  pareto_docs: Sequence[Mapping[str, Any]] = (),
                  chosen: Mapping[str, tuple[str, str]] | None = None) -> dict[str, Any]:
    """The explorer's JSON: per model its feasible designs and its Pareto inputs.
    `chosen[model] = (store key, why)` names the design shown first and why it was chosen."""
    models: dict[str, dict[str, Any]] = {}
    presets: dict[str, tuple[tuple[str, Any], ...]] = {}  # this call's look-ups, not kept

    def model(name: str) -> dict[str, Any]:
        return models.setdefault(name, {"name": name, "designs": [], "fronts": [], "params": []})

    for key, p, r in rows:
        if r.get("status") != "ok":
            continue
        m = model(str(p.get("model") or "model"))
        d = _design(key, p, r, presets)
        m["designs"].append(d)
        m["params"] += [k for k in d["params"] if k not in m["params"]]
    for doc in pareto_docs:
        model(str(doc.get("model") or "model"))["fronts"].append(_front(doc))
    for m in models.values():
        _nd(m["designs"])
        key, why = (chosen or {}).get(m["name"], ("", ""))
        m["chosen"], m["chosen_why"] = key, why
    return {"objectives": [{"key": k, "label": lab, "unit": u} for k, lab, u in OBJECTIVES],
            "models": list(models.values())}


def _plotly_gz_b64() -> str:
    """plotly.js (from the plotly package), gzip-compressed and base64-encoded: the page
    inflates it with the browser's DecompressionStream, so the file works offline at a
    third of plotly's size."""
    from plotly.offline import get_plotlyjs

    return base64.b64encode(gzip.compress(get_plotlyjs().encode("utf-8"), 9, mtime=0)).decode("ascii")


def explorer_html(data: Mapping[str, Any]) -> str:
    """The explorer's section: containers, the data, plotly.js (compressed) and the script."""
    payload = json.dumps(data, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
    return ('<div id="lb-explorer"><p id="lb-status">Loading the interactive explorer '
            '(needs JavaScript)…</p></div>'
            f'<script type="application/json" id="lb-data">{payload}</script>'
            f'<script type="application/octet-stream" id="lb-plotly">{_plotly_gz_b64()}</script>'
            f"<script>{static_text('explorer.js')}</script>")


def explorer_section(rows: Sequence[tuple[str, Mapping[str, Any], Mapping[str, Any]]],
                     pareto_docs: Sequence[Mapping[str, Any]] = (),
                     chosen: Mapping[str, tuple[str, str]] | None = None) -> Section:
    """The page's first section: the interactive explorer over `rows` and `pareto_docs`."""
    data = explorer_data(rows, pareto_docs, chosen)
    n = sum(len(m["designs"]) for m in data["models"])
    f = sum(len(m["fronts"]) for m in data["models"])
    return Section(
        "Explore: Pareto fronts and the design space, per model (hover a point, click it)",
        text=(f"{n} feasible swept designs and {f} exact-ILP front(s) over budgets. Each design is "
              "named by its base and parameter values (the store key, the hash, is in the tables "
              "and CSV). The static figures further down show the same results for papers."),
        html=explorer_html(data))
