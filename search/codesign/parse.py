"""The design-space YAML: parse and validate it into a `DesignSpace`.

Every error is one `InvalidSpecError` naming the file and the key (``space.yaml:
hardware[0].params.core.rows: value -2: ...``); every hardware candidate value is checked
to make a valid accelerator on its own before any point is evaluated.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from lowbit.kernels_ref.errors import InvalidSpecError, LowbitError
from lowbit.kernels_ref.loaders import short
from lowbit.search.codesign.space import (
    OBJECTIVES,
    DesignSpace,
    HardwareBlock,
    ModelSpec,
    is_number,
    is_relative,
    seconds,
)
from lowbit.search.codesign.strategies import STRATEGIES
from lowbit.search.costs import parse_quantity

__all__ = ["load_space", "parse_space", "with_workload"]

_TOP_KEYS = ("name", "seed", "strategy", "samples", "population", "objectives", "formats", "act_formats",
             "budgets", "objective", "workload", "models", "hardware", "max_points")

#: Bounds on a space, checked before any candidate is built (each candidate value is validated
#: by building an Accelerator, ~2 ms here, so the total number of values bounds that work):
#: values of one parameter; candidate values over all parameters; (design, model) points of an
#: exhaustive strategy (`max_points` in the file raises or lowers it); designs of a sampling one.
PARAM_VALUES_MAX = 1000
CANDIDATES_MAX = 5000
POINTS_MAX_DEFAULT = 1_000_000
DESIGNS_MAX_SAMPLED = 2**62
SEED_MAX = 2**63 - 1
_WORKLOAD_KEYS = ("phase", "seq_len", "batch", "context_len", "generate")
_MODEL_KEYS = ("name", "formats", "sensitivity", *_WORKLOAD_KEYS)
_PARAM_KEYS = ("values", "range", "step", "num", "log")


def _err(where: str, key: str, msg: str) -> InvalidSpecError:
    # a key built from user input (a mapping key with a newline, a 10 kB name) is quoted short,
    # so the error stays one line
    key = key if key.isprintable() and len(key) <= 80 else short(key)
    return InvalidSpecError(f"{where}: {key}: {msg}")


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
            if not (isinstance(rng, list) and len(rng) == 2 and all(is_number(x) for x in rng)):
                raise _err(where, f"{key}.range", f"must be [low, high] numbers, got {rng!r}")
            lo, hi = rng
            if lo > hi:
                raise _err(where, f"{key}.range", f"low {lo} is above high {hi}")
            if ("step" in spec) == ("num" in spec):
                raise _err(where, key, "a range needs exactly one of 'step' or 'num'")
            integral = isinstance(lo, int) and isinstance(hi, int)
            if "step" in spec:
                st = spec["step"]
                if not is_number(st) or st <= 0:
                    raise _err(where, f"{key}.step", f"must be a positive number, got {st!r}")
                if spec.get("log"):
                    raise _err(where, f"{key}.log", "goes with 'num', not 'step'")
                n = math.floor((hi - lo) / st + 1e-9) + 1
                if n > PARAM_VALUES_MAX:
                    raise _err(where, key, f"range gives {n} values; at most {PARAM_VALUES_MAX} per "
                                           "parameter")
                vals = [lo + i * st for i in range(n)]
                integral = integral and isinstance(st, int)
            else:
                n = spec["num"]
                if not isinstance(n, int) or isinstance(n, bool) or n < 1:
                    raise _err(where, f"{key}.num", f"must be a positive integer, got {short(n, 30)}")
                if n > PARAM_VALUES_MAX:
                    raise _err(where, f"{key}.num", f"{short(n, 30)} values; at most {PARAM_VALUES_MAX} "
                                                    "per parameter")
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
    if len(vals) > PARAM_VALUES_MAX:
        raise _err(where, key, f"{len(vals)} values; at most {PARAM_VALUES_MAX} per parameter")
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
            if x not in ("prefill", "decode", "inference", "generate"):
                raise _err(where, f"{key}.{k}", f"must be prefill, decode, inference or generate, got {x!r}")
        elif not isinstance(x, int) or isinstance(x, bool) or x < 1:
            raise _err(where, f"{key}.{k}", f"must be a positive integer, got {x!r}")
        out.append((k, x))
    return tuple(out)


def _check_generate(where: str, key: str, wl: Mapping[str, Any]) -> None:
    """`generate` (decode steps) goes with phase generate, whose prompt is `seq_len`."""
    if "generate" in wl and wl.get("phase") != "generate":
        raise _err(where, f"{key}.generate", "goes with phase: generate (prefill of seq_len tokens, "
                                              "then `generate` decode steps)")
    if wl.get("phase") == "generate" and "context_len" in wl:
        raise _err(where, f"{key}.context_len", "phase generate takes seq_len (the prompt) and generate")


def with_workload(space: DesignSpace, **workload: Any) -> DesignSpace:
    """`space` with these workload keys (phase, seq_len, batch, generate; None = keep) set for
    every model, as the command line overrides them; checked like the file's."""
    given = {k: v for k, v in workload.items() if v is not None}
    if not given:
        return space
    where = f"{space.source} (command line)"
    new = dict(_workload(where, "workload", given))
    models = []
    for m in space.models:
        wl = dict(m.workload)
        if new.get("phase") not in (None, "generate"):
            wl.pop("generate", None)
        if new.get("phase") == "generate":
            wl.pop("context_len", None)
        wl.update(new)
        _check_generate(where, m.name, wl)
        models.append(replace(m, workload=tuple(sorted(wl.items()))))
    return replace(space, models=tuple(models))


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
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= SEED_MAX:
        raise _err(where, "seed", f"must be an integer in [0, 2**63 - 1], got {short(seed, 30)}")
    max_points = pos_int("max_points", POINTS_MAX_DEFAULT)
    strategy = d.get("strategy", "grid")
    if not isinstance(strategy, str) or strategy not in STRATEGIES:
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
        if not (is_number(v) or isinstance(v, str)):
            raise _err(where, f"budgets.{k}", f"must be a number, a quantity or a fraction like 0.7x or 0.5r, "
                                              f"got {v!r}")
        if isinstance(v, str) and not is_relative(v):
            try:
                seconds(v) if k == "latency" else parse_quantity(v, f"budgets.{k}")
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
        _check_generate(where, key, wl)
        models.append(ModelSpec(mname, fm, sens, tuple(sorted(wl.items()))))
    if len({m.name for m in models}) != len(models):
        raise _err(where, "models", "a model is listed twice")
    if act_formats:
        for i, m in enumerate(models):
            _check_act_terms(where, f"models[{i}]", m, act_formats)

    hw_raw = d["hardware"]
    if not isinstance(hw_raw, list) or not hw_raw:
        raise _err(where, "hardware", "must be a non-empty list of {base, params} blocks")
    blocks = []
    entries = []  # (key, base accelerator, [(param key, values)]): sized before any is validated
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
                raise _err(where, f"{key}.params", f"keys must be strings, got {short(pk, 40)}")
            params.append((pk, _param_values(where, f"{key}.params.{pk}", pv)))
        entries.append((key, base, accel, params))
    _check_size(where, entries, len(models), strategy, max_points)
    for key, base, accel, raw_params in entries:
        params = []
        for pk, vals in raw_params:
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
    return space


def _check_act_terms(where: str, key: str, m: ModelSpec, act_formats: Sequence[str]) -> None:
    """With `act_formats`, a model's quality source must give each (W, A) choice its own value
    (`search.pair_terms`): a weight value is never repeated across activation formats."""
    from lowbit.models import zoo
    from lowbit.search.pair_terms import file_has_act_terms, models_with_act_terms

    have = models_with_act_terms()
    if m.sensitivity is None:
        if zoo.canonical(m.name) in have:
            return
        raise _err(where, f"{key}.sensitivity",
                   f"act_formats is given, but the built-in quality of {m.name!r} has weight terms only "
                   f"(no activation terms); lowbit measures activation terms for {', '.join(have)}; for "
                   f"{m.name!r} give a sensitivity file with 'act:A' or 'W/A' columns (a weight value is "
                   f"never repeated across activation formats)")
    from lowbit.models import sensitivity as S

    try:
        st = S.load(m.sensitivity)
    except LowbitError as exc:
        raise _err(where, f"{key}.sensitivity", str(exc)) from None
    if not file_has_act_terms(st, m.formats, act_formats):
        raise _err(where, f"{key}.sensitivity",
                   f"act_formats is given, but {m.sensitivity} has no 'act:A' or 'W/A' columns for every "
                   f"activation format ({', '.join(act_formats)}) of {m.name!r}; add them, or use the "
                   f"built-in measured terms of {', '.join(have)} (a weight value is never repeated across "
                   f"activation formats)")


def _check_size(where: str, entries: Sequence[Any], n_models: int, strategy: str, max_points: int) -> None:
    """Refuse a space whose size is over its bound, before building any candidate."""
    n_cand = sum(len(v) for *_, params in entries for _, v in params)
    if n_cand > CANDIDATES_MAX:
        raise _err(where, "hardware", f"{n_cand} candidate parameter values in all; at most "
                                      f"{CANDIDATES_MAX} (each is validated as an accelerator)")
    designs = sum(math.prod(len(v) for _, v in params) for *_, params in entries)
    if strategy == "grid":
        if designs * n_models > max_points:
            raise _err(where, "hardware", f"grid of {designs} designs x {n_models} models = "
                                          f"{designs * n_models} points, over the limit max_points = "
                                          f"{max_points} (raise max_points, or use a sampling strategy)")
    elif designs > DESIGNS_MAX_SAMPLED:
        raise _err(where, "hardware", f"{designs} designs; a sampled space holds at most 2**62")


def load_space(path: str | Path) -> DesignSpace:
    from lowbit.kernels_ref.loaders import load_yaml, read_text

    p = Path(path)
    return parse_space(load_yaml(read_text(p, "design space"), str(p)), str(p))
