"""Joint search over a hardware design space and per-layer formats.

A *design space* (YAML, validated like accelerator specs) names one or more
hardware blocks — a base preset plus ranges or choices for any `Accelerator`
field reachable by `Accelerator.with_changes` (``core.rows``, ``num_cores``,
``buffers.<name>.size_bytes``, ``dram.bandwidth_bytes_per_cycle``, ``freq_hz``,
``node_nm``, ``core.bits_per_cycle_a``, ...) — and the models to run on them::

    name: demo
    seed: 0
    strategy: grid            # grid | random | evolutionary
    samples: 64               # random / evolutionary: designs to evaluate
    population: 16            # evolutionary
    objectives: [latency, energy, area, quality]
    formats: [int2, int4, int8]
    budgets: {latency: 0.7x}  # inner ILP; "x" = of the design's own all-widest-format total
    workload: {phase: prefill, seq_len: 128, batch: 1}
    models:
      - resnet-18
      - {name: minilm-l6, formats: [int4, int6, int8]}
    hardware:
      - base: stripes
        params:
          core.rows: [64, 128, 256]
          freq_hz: {range: [5.0e8, 1.0e9], num: 3}
          buffers.ubuf.size_bytes: {values: [262144, 1048576]}

Every (design, model) *point* gets an inner ILP over the model's per-layer
formats (`search.ilp.solve`, minimise the objective — quality loss by default —
under the budgets) and is priced through `hwsim.evaluate`. Results are a pure
function of the point, so they do not depend on the executor, the order, or on
resuming.

Speed: points are grouped by *structure* (every field but the clock). Cycles,
traffic and dynamic energy do not depend on the clock (bandwidths are per
cycle); only leakage (W x seconds) does. Every point is therefore priced at a
canonical 1 GHz and its leakage rescaled by 1 GHz / f — the same arithmetic for
every point, grouped or not — so one structure's layer costs are computed once
per worker (hwsim's own cache), and the inner ILP is cached per identical
(objective, budgeted-metric, budget) table.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from lowbit.kernels_ref.errors import InfeasibleBudgetError, InvalidSpecError, LowbitError
from lowbit.search.costs import parse_quantity
from lowbit.search.pareto import nondominated_ranks

__all__ = [
    "DesignSpace",
    "HardwareBlock",
    "ModelSpec",
    "Point",
    "SweepSummary",
    "design_table",
    "evaluate_group",
    "load_space",
    "model_contexts",
    "parse_space",
    "run_sweep",
]

log = logging.getLogger(__name__)

F0_HZ = 1.0e9  # canonical clock every point is priced at (see module docstring)
STRATEGIES = ("grid", "random", "evolutionary")
OBJECTIVES = ("latency", "energy", "area", "quality", "memory")
_TOP_KEYS = ("name", "seed", "strategy", "samples", "population", "objectives", "formats", "act_formats",
             "budgets", "objective", "workload", "models", "hardware")
_WORKLOAD_KEYS = ("phase", "seq_len", "batch", "context_len")
_MODEL_KEYS = ("name", "formats", "sensitivity", *_WORKLOAD_KEYS)
_PARAM_KEYS = ("values", "range", "step", "num", "log")


# ----------------------------------------------------------------------------- types
@dataclass(frozen=True)
class HardwareBlock:
    base: str
    params: tuple[tuple[str, tuple[Any, ...]], ...]   # (dotted key, candidate values)

    @property
    def size(self) -> int:
        return math.prod(len(v) for _, v in self.params) if self.params else 1


@dataclass(frozen=True)
class ModelSpec:
    name: str
    formats: tuple[str, ...]
    sensitivity: str | None = None
    workload: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class DesignSpace:
    name: str
    hardware: tuple[HardwareBlock, ...]
    models: tuple[ModelSpec, ...]
    budgets: tuple[tuple[str, Any], ...] = ()
    objective: str = "sensitivity"
    objectives: tuple[str, ...] = ("latency", "energy", "area", "quality")
    act_formats: tuple[str, ...] = ()
    strategy: str = "grid"
    samples: int = 64
    population: int = 16
    seed: int = 0
    source: str = "<dict>"
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def num_designs(self) -> int:
        return sum(b.size for b in self.hardware)

    def design(self, block: int, idx: Sequence[int]) -> dict[str, Any]:
        b = self.hardware[block]
        return {k: vals[i] for (k, vals), i in zip(b.params, idx)}

    def context(self) -> dict[str, Any]:
        """What besides the design and the model decides a point's result (goes into its key)."""
        return {"budgets": dict(self.budgets), "objective": self.objective, "act_formats": list(self.act_formats)}


@dataclass(frozen=True)
class Point:
    """One (design, model) evaluation; plain data, picklable."""

    key: str
    design: str                 # "b<block>:<i>,<j>,..." (stable id)
    base: str
    params: tuple[tuple[str, Any], ...]
    model: str

    def as_dict(self) -> dict[str, Any]:
        return {"design": self.design, "base": self.base, "params": dict(self.params), "model": self.model}


# ----------------------------------------------------------------------------- parsing
def _err(where: str, key: str, msg: str) -> InvalidSpecError:
    return InvalidSpecError(f"{where}: {key}: {msg}")


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _param_values(where: str, key: str, spec: Any) -> tuple[Any, ...]:
    if isinstance(spec, list):
        vals: list[Any] = spec
    elif isinstance(spec, Mapping):
        unknown = set(spec) - set(_PARAM_KEYS)
        if unknown:
            raise _err(where, f"{key}.{min(unknown)}", f"unknown key (known: {', '.join(_PARAM_KEYS)})")
        if "values" in spec:
            if set(spec) != {"values"}:
                raise _err(where, key, "give either 'values' or 'range', not both")
            vals = spec["values"]
            if not isinstance(vals, list):
                raise _err(where, f"{key}.values", f"must be a list, got {type(vals).__name__}")
        elif "range" in spec:
            rng = spec["range"]
            if not (isinstance(rng, list) and len(rng) == 2 and all(_is_num(x) for x in rng)):
                raise _err(where, f"{key}.range", f"must be [low, high] numbers, got {rng!r}")
            lo, hi = rng
            if lo > hi:
                raise _err(where, f"{key}.range", f"low {lo} is above high {hi}")
            if ("step" in spec) == ("num" in spec):
                raise _err(where, key, "a range needs exactly one of 'step' or 'num'")
            integral = isinstance(lo, int) and isinstance(hi, int)
            if "step" in spec:
                st = spec["step"]
                if not _is_num(st) or st <= 0:
                    raise _err(where, f"{key}.step", f"must be a positive number, got {st!r}")
                if spec.get("log"):
                    raise _err(where, f"{key}.log", "goes with 'num', not 'step'")
                n = math.floor((hi - lo) / st + 1e-9) + 1
                if n > 100000:
                    raise _err(where, key, f"range gives {n} values; at most 100000")
                vals = [lo + i * st for i in range(n)]
                integral = integral and isinstance(st, int)
            else:
                n = spec["num"]
                if not isinstance(n, int) or isinstance(n, bool) or n < 1:
                    raise _err(where, f"{key}.num", f"must be a positive integer, got {n!r}")
                if spec.get("log"):
                    if lo <= 0:
                        raise _err(where, f"{key}.range", "a log range needs low > 0")
                    arr = np.geomspace(lo, hi, n) if n > 1 else np.array([lo])
                else:
                    arr = np.linspace(lo, hi, n) if n > 1 else np.array([lo])
                vals = [float(x) for x in arr]
            if integral:
                vals = sorted(dict.fromkeys(round(v) for v in vals))
        else:
            raise _err(where, key, "needs 'values' or 'range'")
    elif isinstance(spec, (str, int, float, bool)):
        vals = [spec]
    else:
        raise _err(where, key, f"must be a list of values or a mapping with values/range, got {type(spec).__name__}")
    if not vals:
        raise _err(where, key, "has no values")
    for v in vals:
        if isinstance(v, (dict, list)) or v is None:
            raise _err(where, key, f"values must be scalars, got {v!r}")
    return tuple(dict.fromkeys(vals))


def _formats(where: str, key: str, v: Any) -> tuple[str, ...]:
    from lowbit.kernels_ref.formats import Format

    if not isinstance(v, list) or not v or not all(isinstance(x, str) for x in v):
        raise _err(where, key, f"must be a non-empty list of format names, got {v!r}")
    for x in v:
        try:
            Format.parse(x)
        except LowbitError as exc:
            raise _err(where, key, str(exc)) from None
    if len(set(v)) != len(v):
        raise _err(where, key, f"formats repeat: {v}")
    return tuple(v)


def _workload(where: str, key: str, v: Any) -> tuple[tuple[str, Any], ...]:
    if v is None:
        return ()
    if not isinstance(v, Mapping):
        raise _err(where, key, f"must be a mapping, got {type(v).__name__}")
    out = []
    for k, x in v.items():
        if k not in _WORKLOAD_KEYS:
            raise _err(where, f"{key}.{k}", f"unknown key (known: {', '.join(_WORKLOAD_KEYS)})")
        if k == "phase":
            if x not in ("prefill", "decode", "inference"):
                raise _err(where, f"{key}.{k}", f"must be prefill or decode, got {x!r}")
        elif not isinstance(x, int) or isinstance(x, bool) or x < 1:
            raise _err(where, f"{key}.{k}", f"must be a positive integer, got {x!r}")
        out.append((k, x))
    return tuple(out)


def _entry(where: str, key: str, raw: Any, main: str, allowed: Sequence[str], what: str) -> Mapping[str, Any]:
    """A list entry given as a bare string (its `main` value) or as a mapping of `allowed` keys."""
    m = {main: raw} if isinstance(raw, str) else raw
    if not isinstance(m, Mapping) or main not in m:
        raise _err(where, key, f"must be {what} or a mapping with {main!r}")
    for k in m:
        if k not in allowed:
            raise _err(where, f"{key}.{k}", f"unknown key (known: {', '.join(allowed)})")
    return m


def parse_space(d: Any, where: str = "<dict>") -> DesignSpace:
    """Validate a design-space mapping; every error names the file and the key."""
    from lowbit.hwsim.spec import load_accelerator

    if not isinstance(d, Mapping):
        raise InvalidSpecError(f"{where}: a design space must be a mapping, got {type(d).__name__}")
    for k in d:
        if k not in _TOP_KEYS:
            raise _err(where, str(k), f"unknown key (known: {', '.join(_TOP_KEYS)})")
    for k in ("name", "models", "hardware"):
        if k not in d:
            raise _err(where, k, "missing")
    name = d["name"]
    if not isinstance(name, str) or not name:
        raise _err(where, "name", f"must be a non-empty string, got {name!r}")

    def pos_int(k: str, default: int) -> int:
        v = d.get(k, default)
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise _err(where, k, f"must be a positive integer, got {v!r}")
        return v

    seed = d.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise _err(where, "seed", f"must be a non-negative integer, got {seed!r}")
    strategy = d.get("strategy", "grid")
    if strategy not in STRATEGIES:
        raise _err(where, "strategy", f"unknown strategy {strategy!r} (known: {', '.join(STRATEGIES)})")
    objectives = d.get("objectives", ["latency", "energy", "area", "quality"])
    if not isinstance(objectives, list) or not objectives or any(o not in OBJECTIVES for o in objectives):
        raise _err(where, "objectives", f"must be a list drawn from {', '.join(OBJECTIVES)}, got {objectives!r}")
    formats = _formats(where, "formats", d["formats"]) if "formats" in d else None
    act_formats = _formats(where, "act_formats", d["act_formats"]) if "act_formats" in d else ()
    budgets = d.get("budgets", {})
    if not isinstance(budgets, Mapping):
        raise _err(where, "budgets", f"must be a mapping name: value, got {type(budgets).__name__}")
    for k, v in budgets.items():
        if k not in ("latency", "energy", "memory", "bops", "sensitivity"):
            raise _err(where, f"budgets.{k}", "unknown metric (known: latency, energy, memory, bops, sensitivity)")
        if not (_is_num(v) or isinstance(v, str)):
            raise _err(where, f"budgets.{k}", f"must be a number, a quantity or a fraction like 0.7x or 0.5r, "
                                              f"got {v!r}")
        if isinstance(v, str) and not _relative(v):
            try:
                _seconds(v) if k == "latency" else parse_quantity(v, f"budgets.{k}")
            except InvalidSpecError as exc:
                raise _err(where, f"budgets.{k}", str(exc)) from None
    objective = d.get("objective", "sensitivity")
    if objective not in ("sensitivity", "latency", "energy", "memory", "bops"):
        raise _err(where, "objective", f"unknown metric {objective!r}")
    wl_default = _workload(where, "workload", d.get("workload"))

    models_raw = d["models"]
    if not isinstance(models_raw, list) or not models_raw:
        raise _err(where, "models", "must be a non-empty list")
    models: list[ModelSpec] = []
    from lowbit.models import zoo

    for i, raw in enumerate(models_raw):
        key = f"models[{i}]"
        m = _entry(where, key, raw, "name", _MODEL_KEYS, "a model name")
        mname = m["name"]
        if not isinstance(mname, str):
            raise _err(where, f"{key}.name", f"must be a model name, got {mname!r}")
        if mname.lower() not in ("digits", "digits-cnn"):
            try:
                zoo.canonical(mname)
            except LowbitError as exc:
                raise _err(where, f"{key}.name", str(exc)) from None
        fm = _formats(where, f"{key}.formats", m["formats"]) if "formats" in m else formats
        if fm is None:
            raise _err(where, f"{key}.formats", "missing (and no top-level formats)")
        sens = m.get("sensitivity")
        if sens is not None and not isinstance(sens, str):
            raise _err(where, f"{key}.sensitivity", f"must be a file path, got {sens!r}")
        wl = dict(wl_default)
        wl.update(dict(_workload(where, key, {k: v for k, v in m.items() if k in _WORKLOAD_KEYS})))
        models.append(ModelSpec(mname, fm, sens, tuple(sorted(wl.items()))))
    if len({m.name for m in models}) != len(models):
        raise _err(where, "models", "a model is listed twice")

    hw_raw = d["hardware"]
    if not isinstance(hw_raw, list) or not hw_raw:
        raise _err(where, "hardware", "must be a non-empty list of {base, params} blocks")
    blocks = []
    for i, raw in enumerate(hw_raw):
        key = f"hardware[{i}]"
        b = _entry(where, key, raw, "base", ("base", "params"), "a preset name")
        base = b["base"]
        if not isinstance(base, str):
            raise _err(where, f"{key}.base", f"must be a preset name or a YAML path, got {base!r}")
        if base.endswith((".yaml", ".yml")) and where != "<dict>" and not Path(base).is_absolute():
            rel = Path(where).parent / base
            base = str(rel) if rel.is_file() else base
        try:
            accel = load_accelerator(base)
        except LowbitError as exc:
            raise _err(where, f"{key}.base", str(exc)) from None
        params_raw = b.get("params", {}) or {}
        if not isinstance(params_raw, Mapping):
            raise _err(where, f"{key}.params", "must be a mapping of Accelerator keys to values")
        params = []
        for pk, pv in params_raw.items():
            if not isinstance(pk, str):
                raise _err(where, f"{key}.params", f"keys must be strings, got {pk!r}")
            vals = _param_values(where, f"{key}.params.{pk}", pv)
            for v in vals:  # every candidate must make a valid spec on its own
                try:
                    accel.with_changes(**{pk: v})
                except LowbitError as exc:
                    msg = str(exc).split(": ", 1)[-1] if "with_changes" in str(exc) else str(exc)
                    raise _err(where, f"{key}.params.{pk}", f"value {v!r}: {msg}") from None
            params.append((pk, vals))
        blocks.append(HardwareBlock(base, tuple(params)))
    space = DesignSpace(name=name, hardware=tuple(blocks), models=tuple(models),
                        budgets=tuple(budgets.items()), objective=objective, objectives=tuple(objectives),
                        act_formats=act_formats, strategy=strategy, samples=pos_int("samples", 64),
                        population=pos_int("population", 16), seed=seed, source=where, raw=dict(d))
    if space.num_designs > 10**9:
        raise _err(where, "hardware", f"{space.num_designs} designs; at most 1e9")
    return space


def load_space(path: str | Path) -> DesignSpace:
    from lowbit.hwsim.spec import load_yaml

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidSpecError(f"{p}: design space file not found") from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise InvalidSpecError(f"{p}: cannot read design space ({exc})") from None
    try:
        d = load_yaml(text)
    except LowbitError as exc:
        raise InvalidSpecError(f"{p}: {exc}") from None
    return parse_space(d, str(p))


# ----------------------------------------------------------------------------- points
def _key(space: DesignSpace, base: str, params: Mapping[str, Any], model: ModelSpec) -> str:
    doc = {"base": base, "params": dict(params), "model": model.name, "formats": list(model.formats),
           "sensitivity": model.sensitivity, "workload": dict(model.workload), **space.context()}
    return hashlib.sha1(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:20]


def points_for(space: DesignSpace, designs: Sequence[tuple[int, tuple[int, ...]]]) -> list[Point]:
    out = []
    for block, idx in designs:
        b = space.hardware[block]
        params = space.design(block, idx)
        did = f"b{block}:" + ",".join(map(str, idx))
        for m in space.models:
            out.append(Point(_key(space, b.base, params, m), did, b.base, tuple(params.items()), m.name))
    return out


def _all_designs(space: DesignSpace) -> list[tuple[int, tuple[int, ...]]]:
    out = []
    for bi, b in enumerate(space.hardware):
        for idx in itertools.product(*[range(len(v)) for _, v in b.params]):
            out.append((bi, tuple(idx)))
    return out


def _random_designs(space: DesignSpace, n: int, rng: np.random.Generator,
                    exclude: set[tuple[int, tuple[int, ...]]] = frozenset()) -> list[tuple[int, tuple[int, ...]]]:  # type: ignore[assignment]
    total = space.num_designs
    want = min(n, total - len(exclude))
    picked: dict[tuple[int, tuple[int, ...]], None] = {}
    sizes = np.array([b.size for b in space.hardware], dtype=np.float64)
    tries = 0
    while len(picked) < want and tries < 50 * want + 100:
        tries += 1
        bi = int(rng.choice(len(sizes), p=sizes / sizes.sum()))
        idx = tuple(int(rng.integers(len(v))) for _, v in space.hardware[bi].params)
        d = (bi, idx)
        if d not in exclude:
            picked.setdefault(d, None)
    return list(picked)


# ----------------------------------------------------------------------------- evaluation (workers)
_ILP_CACHE: dict[str, Any] = {}


@dataclass(frozen=True)
class _ModelCtx:
    """What a worker needs about a model: its workload arguments and its quality table."""

    name: str
    formats: tuple[str, ...]
    workload: tuple[tuple[str, Any], ...]
    q_layers: tuple[str, ...]
    q_values: tuple[tuple[float, ...], ...]
    fixed: tuple[tuple[str, str], ...]
    ties: tuple[tuple[str, ...], ...]

    def quality(self) -> Any:
        from lowbit.models.quality import Quality

        return Quality(self.name, self.q_layers, self.formats, np.array(self.q_values), self.fixed, self.ties)


_WL_CACHE: dict[tuple[str, tuple[tuple[str, Any], ...]], Any] = {}


def _workload_of(ctx: _ModelCtx) -> Any:
    key = (ctx.name, ctx.workload)
    if key not in _WL_CACHE:
        from lowbit.search.costs import digits_workload

        if ctx.name.lower() in ("digits", "digits-cnn"):
            _WL_CACHE[key] = digits_workload()
        else:
            from lowbit.models import zoo

            _WL_CACHE[key] = zoo.get(ctx.name, **dict(ctx.workload))
    return _WL_CACHE[key]


def _solve_cached(table: Any, budgets: Mapping[str, float], objective: str) -> Any:
    from lowbit.search.ilp import solve

    h = hashlib.sha1()
    for n in dict.fromkeys([objective, *budgets]):
        h.update(n.encode())
        h.update(np.ascontiguousarray(table.metric(n)).tobytes())
    h.update(np.ascontiguousarray(table.allowed).tobytes())
    h.update(repr(table.ties).encode())
    h.update(json.dumps({k: float(v) for k, v in budgets.items()}, sort_keys=True).encode())
    key = h.hexdigest()
    hit = _ILP_CACHE.get(key)
    if hit is not None:
        if isinstance(hit, Exception):
            raise hit
        return hit
    try:
        alloc = solve(table, budgets, objective=objective)
    except InfeasibleBudgetError as exc:
        _ILP_CACHE[key] = exc
        raise
    _ILP_CACHE[key] = alloc
    return alloc


@dataclass
class _Priced:
    """One structure (design without its clock) x model, priced at F0_HZ; shared by its clock variants."""

    accel: Any                      # canonical Accelerator (freq F0_HZ)
    wl: Any
    labels: tuple[str, ...]
    names: list[str]                # weight layers (the ILP's rows)
    table: Any                      # CostTable at F0 (energy includes leakage at F0)
    dyn: np.ndarray                 # [L, C] energy without leakage
    leak: np.ndarray                # [L, C] leakage energy at F0
    grid: list[list[Any]]           # LayerCost per weight layer and choice
    other: dict[str, Any]           # LayerCost of layers without weights (run at the act format)
    area_mm2: float
    peak_macs_per_cycle: float
    peak_by_format: dict[str, float]   # peak MACs/cycle of each choice (and of the act format)


_ACCEL_CACHE: dict[tuple[Any, ...], Any] = {}
_PRICED_CACHE: OrderedDict[tuple[Any, ...], _Priced] = OrderedDict()
_PRICED_MAX = 64


def _accel(base: str, params: tuple[tuple[str, Any], ...]) -> Any:
    from lowbit.hwsim.spec import load_accelerator

    key = (base, params)
    a = _ACCEL_CACHE.get(key)
    if a is None:
        if len(_ACCEL_CACHE) > 4096:
            _ACCEL_CACHE.clear()
        a = _ACCEL_CACHE[key] = (load_accelerator(base).with_changes(**dict(params)) if params
                                 else load_accelerator(base))
    return a


def _priced(p: Point, ctx: _ModelCtx, act_formats: tuple[str, ...]) -> _Priced:
    from lowbit.search.costs import CostTable, choice_pairs, price_grid, weight_bytes

    from lowbit import hwsim

    struct = tuple((k, v) for k, v in p.params if k != "freq_hz")
    key = (p.base, struct, ctx, act_formats)
    hit = _PRICED_CACHE.get(key)
    if hit is not None:
        _PRICED_CACHE.move_to_end(key)
        return hit
    canon = _accel(p.base, (*struct, ("freq_hz", F0_HZ)))
    wl = _workload_of(ctx)
    pairs, labels = choice_pairs(ctx.formats, act_formats)
    weight_layers = [ly for ly in wl.layers if ly.weight_params > 0]
    names = [ly.name for ly in weight_layers]
    grid = price_grid(weight_layers, pairs, canon)
    cyc = np.array([[float(lc.cycles) for lc in row] for row in grid])
    leak = np.array([[lc.energy_j.get("leakage", 0.0) for lc in row] for row in grid])
    dyn = np.array([[sum(v for k, v in lc.energy_j.items() if k != "leakage") for lc in row] for row in grid])
    mem = np.array([[weight_bytes(ly, w) for w, _a in pairs] for ly in weight_layers])
    other = {ly.name: hwsim.evaluate(ly, canon.act_format, canon) for ly in wl.layers if ly.weight_params == 0}
    sens_w, held, ties = ctx.quality().for_layers(names, where="quality table")
    sens = np.repeat(sens_w, max(len(act_formats), 1), axis=1)  # choices are weight-major (w, a) pairs
    allowed = np.ones(sens.shape, dtype=bool)
    for n, f in held.items():
        allowed[names.index(n)] = [str(w) == f for w, _a in pairs]
    table = CostTable(layers=tuple(names), choices=labels, sensitivity=sens,
                      costs={"latency": cyc, "energy": dyn + leak, "memory": mem}, ties=tuple(ties), allowed=allowed,
                      model=ctx.name, hardware=canon.name)
    core = canon.model()
    by_fmt = {lab: float(core.peak_macs_per_cycle(w, a or canon.act_format) * canon.num_cores)
              for lab, (w, a) in zip(labels, pairs)}
    by_fmt[str(canon.act_format)] = float(core.peak_macs_per_cycle(canon.act_format, canon.act_format)
                                          * canon.num_cores)
    peak_fmt = max((w for w, _a in pairs), key=lambda f: f.bits_per_weight)
    out = _Priced(canon, wl, labels, names, table, dyn, leak, grid, other, float(canon.area_mm2()),
                  float(core.peak_macs_per_cycle(peak_fmt, canon.act_format) * canon.num_cores), by_fmt)
    _PRICED_CACHE[key] = out
    if len(_PRICED_CACHE) > _PRICED_MAX:
        _PRICED_CACHE.popitem(last=False)
    return out


def design_table(base: str, params: Mapping[str, Any], ctx: _ModelCtx, act_formats: Sequence[str] = ()) -> Any:
    """The CostTable of one (design, model) in SI units with the unit in the name —
    ``latency_s``, ``energy_j``, ``memory_bytes`` (weight-layer totals; seconds at the design's
    own clock) — for Pareto sweeps of a chosen design."""
    p = Point("", "", base, tuple(params.items()), ctx.name)
    pr = _priced(p, ctx, tuple(act_formats))
    freq = float(params.get("freq_hz", _accel(base, ()).freq_hz))
    t = pr.table
    from lowbit.search.costs import CostTable

    return CostTable(layers=t.layers, choices=t.choices, sensitivity=t.sensitivity,
                     costs={"latency_s": t.metric("latency") / freq,
                            "energy_j": pr.dyn + pr.leak * (F0_HZ / freq),
                            "memory_bytes": t.metric("memory")},
                     ties=t.ties, allowed=t.allowed, model=ctx.name, hardware=_accel(base, tuple(params.items())).name)


def _energy(e: Mapping[str, float], scale: float) -> dict[str, float]:
    """A layer's energy by component at clock F0_HZ / scale (only leakage depends on the clock)."""
    return {k: (v * scale if k == "leakage" else v) for k, v in e.items()}


def _price_point(p: Point, ctx: _ModelCtx, space_ctx: Mapping[str, Any]) -> dict[str, Any]:
    from lowbit.kernels_ref.formats import Format
    from lowbit.mapper import workload_cycles

    freq = float(dict(p.params).get("freq_hz", _accel(p.base, ()).freq_hz))
    pr = _priced(p, ctx, tuple(space_ctx["act_formats"]))
    scale = F0_HZ / freq
    table = pr.table if scale == 1.0 else pr.table.with_costs(energy=pr.dyn + pr.leak * scale)
    budgets: dict[str, float] = {}
    for n, v in space_ctx["budgets"].items():
        if n == "latency" and not _relative(v):
            budgets[n] = (float(v) if _is_num(v) else _seconds(str(v))) * freq  # seconds -> cycles
        else:
            budgets[n] = table.resolve_budget(n, v, "budgets")
    base = {"hardware": pr.accel.name, "family": pr.accel.core_family.value, "freq_hz": freq,
            "area_mm2": pr.area_mm2, "choices_available": list(pr.labels)}
    try:
        alloc = _solve_cached(table, budgets, space_ctx["objective"])
    except InfeasibleBudgetError as exc:
        def sec(k: str, v: float) -> tuple[str, float]:
            return ("latency_s", v / freq) if k == "latency" else (k, v)

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
        else:
            rows.append((ly.name, str(pr.accel.act_format), pr.other[ly.name]))
    energies = [_energy(lc.energy_j, scale) for _, _, lc in rows]
    total_cycles = float(workload_cycles(pr.wl, {n: float(lc.cycles) for n, _, lc in rows}, 1))
    other_cyc = float(sum(lc.cycles for n, _, lc in rows if n not in chosen))
    other_en = float(sum(sum(e.values()) for (n, _, _), e in zip(rows, energies) if n not in chosen))
    uniform = {}
    for lab in pr.labels:
        t = table.totals(table.uniform(lab))
        uniform[lab] = {"latency_s": (t["latency"] + other_cyc) / freq, "energy_j": t["energy"] + other_en,
                        "quality": t["sensitivity"], "memory_bytes": t["memory"]}
    comps = sorted({k for e in energies for k in e})
    return {
        "status": "ok", **base,
        "cycles": total_cycles, "latency_s": total_cycles / freq,
        "energy_j": float(sum(sum(e.values()) for e in energies)),
        "quality": float(alloc.totals["sensitivity"]), "memory_bytes": float(alloc.totals["memory"]),
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


def _relative(v: Any) -> bool:
    """A budget relative to the design's own totals: "0.7x", "0.5r", "0.6x:int4"."""
    return isinstance(v, str) and v.strip().lower().split(":")[0].endswith(("x", "r"))


def _seconds(s: str) -> float:
    t = s.strip().lower()
    for unit, mul in (("ms", 1e-3), ("us", 1e-6), ("ns", 1e-9), ("s", 1.0)):
        if t.endswith(unit):
            try:
                return float(t[: -len(unit)]) * mul
            except ValueError:
                break
    raise InvalidSpecError(f"budgets.latency: {s!r} is neither a fraction like 0.7x / 0.5r nor a time like 2ms")


def evaluate_point(p: Point, ctx: _ModelCtx, space_ctx: Mapping[str, Any]) -> dict[str, Any]:
    """Result of one point; bad designs and formats the core cannot run become status 'invalid'."""
    try:
        return _price_point(p, ctx, space_ctx)
    except LowbitError as exc:
        return {"status": "invalid", "message": str(exc)}


def evaluate_group(task: tuple[list[Point], Mapping[str, _ModelCtx], Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Worker entry: a group of points sharing structure (see module docstring)."""
    pts, ctxs, space_ctx = task
    return [evaluate_point(p, ctxs[p.model], space_ctx) for p in pts]


# ----------------------------------------------------------------------------- driver
@dataclass
class SweepSummary:
    total: int = 0
    skipped: int = 0
    evaluated: int = 0
    ok: int = 0
    infeasible: int = 0
    invalid: int = 0
    seconds: float = 0.0

    @property
    def points_per_s(self) -> float:
        return self.evaluated / self.seconds if self.seconds > 0 else float("inf")


def model_contexts(space: DesignSpace, cache_dir: str | Path | None = None) -> dict[str, _ModelCtx]:
    """Quality tables (built once, in the calling process) and workload arguments per model."""
    from lowbit.models import quality as Q

    out = {}
    for m in space.models:
        q = Q.for_model(m.name, list(m.formats), file=m.sensitivity, cache_dir=cache_dir)
        out[m.name] = _ModelCtx(m.name, m.formats, m.workload, q.layers,
                                tuple(tuple(float(x) for x in r) for r in np.asarray(q.values)), q.fixed, q.ties)
    return out


def _structure(p: Point) -> tuple[Any, ...]:
    return (p.base, tuple((k, v) for k, v in p.params if k != "freq_hz"), p.model)


def _groups(points: Sequence[Point], max_group: int = 64) -> list[list[Point]]:
    by: dict[tuple[Any, ...], list[Point]] = {}
    for p in points:
        by.setdefault(_structure(p), []).append(p)
    out = []
    for g in by.values():
        for i in range(0, len(g), max_group):
            out.append(g[i:i + max_group])
    return out


def _space_ctx(space: DesignSpace) -> dict[str, Any]:
    return {"budgets": dict(space.budgets), "objective": space.objective, "act_formats": list(space.act_formats)}


def run_points(points: Sequence[Point], ctxs: Mapping[str, _ModelCtx], space: DesignSpace, store: Any, *,
               executor: str = "local", workers: int | None = None, scheduler: str | None = None,
               quiet: bool = False, summary: SweepSummary | None = None) -> dict[str, dict[str, Any]]:
    """Evaluate the points not yet in `store`, committing each as it completes; return all results."""
    from lowbit.search.executors import run

    s = summary if summary is not None else SweepSummary()
    done = store.done_keys(space.name)
    todo = [p for p in points if p.key not in done]
    s.total += len(points)
    s.skipped += len(points) - len(todo)
    sctx = _space_ctx(space)
    tasks = [(g, {p.model: ctxs[p.model] for p in g}, sctx) for g in _groups(todo)]

    out: dict[str, dict[str, Any]] = {}

    def sink(task: Any, results: list[dict[str, Any]]) -> None:
        for p, r in zip(task[0], results):
            if store.put(p.key, space.name, p.as_dict(), r):  # a racing sweep's row wins otherwise
                out[p.key] = r
            s.evaluated += 1
            st = r.get("status")
            s.ok += st == "ok"
            s.infeasible += st == "infeasible"
            s.invalid += st == "invalid"

    t0 = time.perf_counter()
    run(evaluate_group, tasks, executor=executor, workers=workers, scheduler=scheduler, on_result=sink,
        quiet=quiet, desc=f"sweep {space.name}", chunksize=4, unit_weight=lambda t: len(t[0]))
    s.seconds += time.perf_counter() - t0
    out.update(store.results([p.key for p in points if p.key not in out]))  # finished before this run
    return out


def _objective_vector(space: DesignSpace, results: Sequence[dict[str, Any]]) -> np.ndarray | None:
    """Per design: sum over models of log(metric) for latency/energy/quality, area once."""
    if any(r.get("status") != "ok" for r in results):
        return None
    vec = []
    for o in space.objectives:
        if o == "area":
            vec.append(math.log(max(results[0]["area_mm2"], 1e-30)))
        else:
            k = {"latency": "latency_s", "energy": "energy_j", "quality": "quality", "memory": "memory_bytes"}[o]
            vec.append(sum(math.log(max(r[k], 1e-30)) for r in results))
    return np.array(vec)


def _crowding(objs: np.ndarray, ranks: np.ndarray) -> np.ndarray:
    """NSGA-II crowding distance within each rank (boundary points infinite)."""
    out = np.zeros(len(objs))
    for r in np.unique(ranks):
        idx = np.flatnonzero(ranks == r)
        if idx.size <= 2:
            out[idx] = np.inf
            continue
        for m in range(objs.shape[1]):
            o = idx[np.argsort(objs[idx, m], kind="stable")]
            span = objs[o[-1], m] - objs[o[0], m]
            out[o[0]] = out[o[-1]] = np.inf
            if span > 0:
                out[o[1:-1]] += (objs[o[2:], m] - objs[o[:-2], m]) / span
    return out


def run_sweep(space: DesignSpace, store: Any, *, executor: str = "local", workers: int | None = None,
              scheduler: str | None = None, quiet: bool = False, cache_dir: str | Path | None = None,
              progress: Callable[[str], None] | None = None,
              contexts: Mapping[str, _ModelCtx] | None = None) -> SweepSummary:
    """Run the space's strategy, committing every point to `store` as it completes."""
    s = SweepSummary()
    ctxs = contexts if contexts is not None else model_contexts(space, cache_dir)
    store.set_meta([("space", space.raw), ("space_name", space.name),
                    ("models", [m.name for m in space.models]),
                    ("formats", sorted({f for m in space.models for f in m.formats})),
                    ("budgets", dict(space.budgets)), ("objective", space.objective),
                    ("objectives", list(space.objectives)), ("strategy", space.strategy)])
    kw = {"executor": executor, "workers": workers, "scheduler": scheduler, "quiet": quiet, "summary": s}
    rng = np.random.default_rng(space.seed)
    if space.strategy == "grid":
        run_points(points_for(space, _all_designs(space)), ctxs, space, store, **kw)
    elif space.strategy == "random":
        run_points(points_for(space, _random_designs(space, space.samples, rng)), ctxs, space, store, **kw)
    else:
        _evolve(space, ctxs, store, rng, kw, progress)
    return s


def _evolve(space: DesignSpace, ctxs: Mapping[str, _ModelCtx], store: Any, rng: np.random.Generator,
            kw: dict[str, Any], progress: Callable[[str], None] | None) -> None:
    """NSGA-II style: rank by non-domination over the space's objectives, binary tournaments,
    uniform crossover within a hardware block, one-gene mutation; `samples` designs in all."""
    seen: dict[tuple[int, tuple[int, ...]], np.ndarray | None] = {}
    pop = _random_designs(space, min(space.population, space.samples), rng)
    nmodels = len(space.models)
    gen = 0
    while True:
        new = [d for d in pop if d not in seen]
        res = run_points(points_for(space, new), ctxs, space, store, **kw)
        pts = points_for(space, new)
        for i, d in enumerate(new):
            rs = [res[p.key] for p in pts[i * nmodels:(i + 1) * nmodels]]
            seen[d] = _objective_vector(space, rs)
        if progress:
            progress(f"generation {gen}: {len(seen)} designs evaluated")
        if len(seen) >= min(space.samples, space.num_designs):
            return
        ok = [d for d in seen if seen[d] is not None]
        if not ok:
            pop = _random_designs(space, space.population, rng, exclude=set(seen))
            gen += 1
            continue
        objs = np.stack([seen[d] for d in ok])  # type: ignore[misc]
        ranks = nondominated_ranks(objs)
        crowd = _crowding(objs, ranks)
        # NSGA-II survival: the parents are the best `population` designs seen so far by
        # (non-domination rank, crowding distance), then binary tournaments among them.
        order = sorted(range(len(ok)), key=lambda i: (ranks[i], -crowd[i], i))[:space.population]
        pool = [ok[i] for i in order]
        better = {d: (int(ranks[i]), -float(crowd[i]), k) for k, (i, d) in enumerate(zip(order, pool))}
        children: dict[tuple[int, tuple[int, ...]], None] = {}
        want = min(space.population, space.samples - len(seen), space.num_designs - len(seen))
        tries = 0
        while len(children) < want and tries < 200 * want:
            tries += 1
            a, b = (min((pool[int(i)] for i in rng.integers(len(pool), size=2)), key=better.__getitem__)
                    for _ in range(2))
            child_block = a[0]
            ga = list(a[1])
            gb = list(b[1]) if b[0] == a[0] else list(a[1])
            genes = [ga[i] if rng.random() < 0.5 else gb[i] for i in range(len(ga))]
            params = space.hardware[child_block].params
            if params:  # mutate one gene: mostly a step to a neighbouring value (ranges are ordered)
                j = int(rng.integers(len(params)))
                n = len(params[j][1])
                if n > 1 and rng.random() < 0.7:
                    genes[j] = min(max(genes[j] + (1 if rng.random() < 0.5 else -1), 0), n - 1)
                else:
                    genes[j] = int(rng.integers(n))
            child = (child_block, tuple(genes))
            if child not in seen:
                children.setdefault(child, None)
        if len(children) < want:  # the neighbourhood is exhausted: fill at random
            children.update(dict.fromkeys(_random_designs(space, want - len(children), rng,
                                                          exclude=set(seen) | set(children))))
        pop = list(children)
        gen += 1
