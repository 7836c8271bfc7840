"""The joint allocation of one model on one accelerator, as `lowbit allocate` runs it with
``--kv-formats``, ``--tie-residual-acts`` or ``--quality-terms``.

`joint_table_for_model` prices the workload's layers with `joint.build_joint`. Layers with
weights choose (W, A) and, with KV formats, the attention MATMULs choose (A, KV). The costs
are renamed to SI units, as `model_tables.table_for_model` does: ``latency_s`` (cycles at
the design's clock), ``cycles``, ``energy_j``, ``memory_bytes`` (weights),
``kv_memory_bytes`` (the K/V operands at their format), ``total_memory_bytes`` (both) and
``bops``. The sensitivity comes from `pair_terms`. A FILE gives columns ``W`` / ``act:A`` /
``kv:K`` / full labels. ``builtin`` / ``measured`` take the weight terms of
`models.quality` plus activation and KV terms measured on the digits CNN or MiniLM. Layers
the quality source holds at one format (MiniLM's embeddings and pooler) keep that format
at the widest activation format.

`scope_memory` applies ``--memory-scope weights+kv``: ``memory_bytes`` becomes
``total_memory_bytes``, the weights plus the KV cache at the model's final context x batch
(`joint.build_joint`), so ``--memory``, relative budgets, a Pareto sweep of memory and the
smallest achievable value of an unmeetable budget all count the cache. With ``--kv-formats``
each attention row's cache is in the KV format it chooses; without, the cache is in one
format (``--kv``, else the design's default) charged to the k_proj/v_proj rows, as
`memory_scope.scoped_table` does for a plain table.

`quality_terms` reads ``--quality-terms FILE``: several quality metrics per (layer,
choice), for example MixDQ's content and quality terms. The JSON shape is
``{"metrics": {"content": {"layers": [...], "formats": [...], "values": [[...]]}, ...}}``,
with the same column names as a sensitivity file. Each metric becomes a cost of the table
(`joint.with_quality_terms`), so one can be minimised (``--objective content``) under
bounds on the others (``--quality quality=0.2``). A bound is on the metric's raw total:
`raw_bound` turns it into the bound on the stored, row-shifted cost.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from lowbit.kernels_ref.errors import InvalidSpecError
from lowbit.search.joint import (
    JointTable,
    build_joint,
    compose_sensitivity,
    parse_choice,
    with_quality_terms,
)
from lowbit.search.pair_terms import measured_terms, split_file

__all__ = ["SI_NAMES", "allocated_kv", "joint_table_for_model", "quality_terms", "raw_bound", "scope_memory",
           "solve_model"]

#: build_joint's cost names -> the SI names of an hwsim table.
SI_NAMES = {"energy": "energy_j", "memory": "memory_bytes", "kv_memory": "kv_memory_bytes",
            "total_memory": "total_memory_bytes", "bops": "bops"}


def _widest(formats: Sequence[str]) -> str:
    from lowbit.kernels_ref.formats import Format

    return max(formats, key=lambda f: (Format.parse(str(f)).bits_per_weight, str(f)))


def _si(jt: JointTable, freq_hz: float) -> JointTable:
    c = jt.table.costs
    costs = {"latency_s": c["latency"] / float(freq_hz), "cycles": c["latency"].copy(),
             **{SI_NAMES[k]: c[k] for k in SI_NAMES}}
    return replace(jt, table=replace(jt.table, costs=costs))


def _hold(jt: JointTable, held: Mapping[str, str], act: str) -> JointTable:
    t = jt.table
    allowed = t.allowed.copy()
    for n, w in held.items():
        if n in t.layers:
            i = t.layers.index(n)
            allowed[i] = False
            allowed[i, t.choice_index(f"{w}/{act}", f"held layer {n}")] = True
    return replace(jt, table=replace(t, allowed=allowed))


def joint_table_for_model(model: str, hw: str, formats: Sequence[str], act_formats: Sequence[str] | None,
                          kv_formats: Sequence[str] | None = None, *, sensitivity: str | None,
                          residual_ties: bool = False, phase: str | None = None, seq_len: int | None = None,
                          batch: int = 1, generate: int | None = None,
                          cache_dir: str | Path | None = None) -> JointTable:
    """The joint table of the module docstring, sensitivity filled."""
    from lowbit.hwsim.spec import load_accelerator
    from lowbit.models import quality as Q
    from lowbit.models import sensitivity as S
    from lowbit.search.model_tables import SENSITIVITY_SOURCES, workload_for

    if sensitivity is None:
        raise InvalidSpecError("--sensitivity is required with --hw: a FILE (CSV/JSON), "
                               + ", ".join(repr(s) for s in SENSITIVITY_SOURCES))
    accel = load_accelerator(hw)
    wl = workload_for(model, phase=phase, seq_len=seq_len, batch=batch, generate=generate)
    afs = [str(a) for a in (act_formats or [accel.default_act_format])]
    kfs = [str(k) for k in (kv_formats or [])]
    jt = build_joint(wl, accel, list(formats), afs, kfs or None, residual_ties=residual_ties)
    jt = _si(jt, accel.freq_hz)
    names = jt.table.layers
    if sensitivity not in SENSITIVITY_SOURCES:
        w, a, k, p = split_file(S.load(sensitivity))
        return compose_sensitivity(jt, weight=w, act=a, kv=k, pairs=p)
    if sensitivity == "proxy" or sensitivity == "hessian":
        raise InvalidSpecError(f"--sensitivity {sensitivity}: joint choices need measured activation terms; "
                               "use measured/builtin (digits, minilm-l6) or a FILE with 'act:A' columns")
    wnames = [n for n, kind in zip(names, jt.kinds) if kind == "weight"]
    q = Q.for_model(model, list(formats), cache_dir=cache_dir, method=sensitivity)
    sens_w, held, _ties = q.for_layers(wnames, where=f"--sensitivity {sensitivity}")
    weight = {(n, str(f)): float(sens_w[i, j]) for i, n in enumerate(wnames) for j, f in enumerate(formats)}
    live = [n for n in names if n not in held]
    act, kv, _src = measured_terms(model, live, afs, kfs, sensitivity, cache_dir)
    act.update({(n, f): 0.0 for n in held for f in afs})
    jt = _hold(jt, held, _widest(afs))
    return compose_sensitivity(jt, weight=weight, act=act, kv=kv)


def scope_memory(jt: JointTable, scope: str, model: str, hw: str, *, kv_fmt: str | None = None,
                 phase: str | None = None, seq_len: int | None = None, batch: int = 1,
                 generate: int | None = None) -> tuple[JointTable, Any]:
    """(table, KV cache or None) for ``--memory-scope`` on a joint table (module docstring).
    The cache is a `memory_scope.KVCache`; when each attention chooses its format its bytes
    are NaN until an allocation fixes them (`allocated_kv`)."""
    from lowbit.hwsim.evaluate import kv_format
    from lowbit.hwsim.spec import load_accelerator
    from lowbit.search.memory_scope import KVCache, counts_kv, kv_cache_rows
    from lowbit.search.model_tables import workload_for

    if not counts_kv(scope, kv_fmt):
        return jt, None
    t = jt.table
    chosen = "matmul" in jt.kinds
    if chosen and kv_fmt is not None:
        raise InvalidSpecError(f"--kv {kv_fmt} fixes one KV-cache format, while --kv-formats lets each attention "
                               "choose its own: drop one (--kv-formats K for a single format)")
    wl = workload_for(model, phase=phase, seq_len=seq_len, batch=batch, generate=generate)
    accel = load_accelerator(hw)
    kv = kv_cache_rows(wl, kv_format(accel, accel.act_format, kv_fmt))  # no cache: an error naming it
    c = t.costs
    if chosen:
        formats = sorted({str(parse_choice(t.choices[j]).kv) for j in np.flatnonzero(t.allowed.any(axis=0))
                          if t.choices[j].startswith("kv:")})
        kv = KVCache(f"chosen per attention from {','.join(formats)}", float("nan"), float("nan"), {},
                     kv.context, kv.batch, charged_to="attention rows (kv_memory_bytes)")
        kvm = c["kv_memory_bytes"]
    else:
        add = np.zeros(t.num_layers)
        for r, b in kv.rows.items():
            add[t.layer_index(r, "--memory-scope weights+kv")] += b
        kvm = c["kv_memory_bytes"] + add[:, None] * t.allowed
    total = c["memory_bytes"] + kvm
    return replace(jt, table=t.with_costs(kv_memory_bytes=kvm, total_memory_bytes=total, memory_bytes=total)), kv


def allocated_kv(kv: Any, table: Any, alloc: Any) -> Any:
    """The KV cache of `scope_memory` with the bytes and mean bits per element of `alloc`'s
    choices filled in (unchanged for a cache in one fixed format)."""
    if kv is None or np.isfinite(kv.total_bytes):
        return kv
    from lowbit.kernels_ref.formats import Format

    rows: dict[str, float] = {}
    elems = 0.0
    for i, (n, a) in enumerate(zip(table.layers, alloc.assignment)):
        ch = parse_choice(table.choices[a])
        b = float(table.costs["kv_memory_bytes"][i, a])
        if ch.kv is not None and b > 0:
            rows[n] = b
            elems += b * 8.0 / Format.parse(ch.kv).bits_per_weight
    total = float(sum(rows.values()))
    return replace(kv, total_bytes=total, rows=rows, bits_per_elem=total * 8.0 / elems if elems else float("nan"))


def quality_terms(path: str | Path, jt: JointTable) -> tuple[JointTable, dict[str, float]]:
    """Add the metrics of a ``--quality-terms`` FILE as costs (module docstring); returns the
    table and each metric's offset (see `raw_bound`)."""
    from lowbit.kernels_ref.loaders import load_json, read_text
    from lowbit.models.sensitivity import SensitivityTable

    d = load_json(read_text(path, "quality terms"), str(path))
    if not isinstance(d, dict) or set(d) != {"metrics"} or not isinstance(d["metrics"], dict):
        raise InvalidSpecError(f"{path}: expected {{\"metrics\": {{NAME: {{layers, formats, values}}}}}}")
    taken = set(jt.table.metric_names)
    arrays: dict[str, np.ndarray] = {}
    for name, tab in d["metrics"].items():
        if name in taken:
            raise InvalidSpecError(f"{path}: metric {name!r} clashes with a cost of the table")
        if not isinstance(tab, dict) or set(tab) != {"layers", "formats", "values"}:
            raise InvalidSpecError(f"{path}: metrics.{name}: needs exactly layers, formats, values")
        st = SensitivityTable(tuple(map(str, tab["layers"])), tuple(map(str, tab["formats"])), tab["values"])
        w, a, k, p = split_file(st)
        try:
            arrays[name] = compose_sensitivity(jt, weight=w, act=a, kv=k, pairs=p).table.sensitivity
        except InvalidSpecError as exc:
            raise InvalidSpecError(f"{path}: metrics.{name}: {exc}") from None
    if len(arrays) < 1:
        raise InvalidSpecError(f"{path}: no metrics")
    return with_quality_terms(jt, arrays)


def raw_bound(name: str, value: float | str, offset: float) -> float | str:
    """A bound on metric `name`'s raw total as the bound on its stored (row-shifted) cost: a
    number shifts by the offset; "0.5r" (half way from the least to the all-int8 total) is
    shift-invariant and passes; "0.5x" is not (a fraction of a shifted total), so it is an
    error."""
    s = str(value).strip()
    try:
        return float(s) - offset
    except ValueError:
        pass
    if s.split(":", 1)[0].lower().endswith("r"):
        return s
    raise InvalidSpecError(f"--quality {name}={s}: a quality-term bound is a number (the raw total) or "
                           f"'Fr' (that fraction of the way from the least total to all-int8)")


def solve_model(jt: JointTable, budgets: Mapping[str, float | str] | None, *, objective: str = "sensitivity",
                quality_terms_file: str | Path | None = None, time_limit_s: float | None = None) -> tuple[Any, Any]:
    """(table, allocation): `joint.solve_joint` on `jt`, with the metrics of a quality-terms
    file added first. Bounds on those metrics are on their raw totals (`raw_bound`). The
    allocation's totals, budgets and objective are reported raw too: the row shift is
    added back."""
    from lowbit.search.joint import solve_joint

    offsets: dict[str, float] = {}
    if quality_terms_file is not None:
        jt, offsets = quality_terms(quality_terms_file, jt)
    bud = {k: (raw_bound(k, v, offsets[k]) if k in offsets else v) for k, v in (budgets or {}).items()}
    alloc = solve_joint(jt, bud or None, objective=objective, time_limit_s=time_limit_s)
    if offsets:
        totals = {k: v + offsets.get(k, 0.0) for k, v in alloc.totals.items()}
        alloc = replace(alloc, totals=totals, budgets={k: v + offsets.get(k, 0.0) for k, v in alloc.budgets.items()},
                        objective=totals[jt.table.key(objective)])
    return jt.table, alloc
