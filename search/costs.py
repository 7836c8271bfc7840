"""`CostTable`: dense [layer, choice] arrays that the allocators solve over.

A *choice* is what one layer may run as: a weight format, or a (weight,
activation) pair when activations are chosen jointly. Every metric is a float
array of shape [num_layers, num_choices]:

- ``sensitivity``: the quality loss of running that layer as that choice
  (lower is better; from `models.sensitivity` or a file);
- ``costs[name]``: any number of named costs. `from_hwsim` fills SI metrics with
  the unit in the name: ``latency_s`` (seconds at the design's clock), ``cycles``,
  ``energy_j`` (joules), ``memory_bytes`` (weight bytes) and ``bops`` (MACs x
  weight bits x activation bits), so tables of designs at different clocks compare
  in seconds. A JSON file may bring any names, in that file's own unit (HAWQ's
  ``size`` in MiB, measured GPU ``latency`` in ms, ...); a budget with a unit must
  match its metric (`search.quantities`), and the plain names ``latency``,
  ``energy``, ``memory`` mean ``latency_s``, ``energy_j``, ``memory_bytes`` on a
  table that has those (`CostTable.key`).

Structure: ``ties`` are groups of layer indices that must take the same choice
(q/k/v projections, a residual conv and its main-path conv); ``allowed`` is a
boolean [layer, choice] mask (fixed layers have one True). Within a tie group
the allowed sets are intersected on construction, so every member agrees.

JSON shape (every array is [layer][choice]; ``budgets``, ``ties``, ``fixed``,
``allowed`` optional; ties may name layers by index or by name)::

    {"layers": [...], "choices": [...], "sensitivity": [[...]],
     "costs": {"size": [[...]], "latency": [[...]]},
     "budgets": {"size": 14.6}, "ties": [[i, j]], "fixed": {"layer": "choice"},
     "allowed": {"layer": ["choice", ...]}}
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from lowbit.kernels_ref.errors import InvalidSpecError
from lowbit.kernels_ref.loaders import short
from lowbit.search.quantities import METRIC_ALIASES, check_unit, metric_unit_kind, parse_quantity

__all__ = [
    "SENSITIVITY",
    "CostTable",
    "PricedGrid",
    "check_unit",
    "choice_label",
    "choice_pairs",
    "metric_unit_kind",
    "parse_quantity",
    "price_grid",
    "weight_bytes",
]

log = logging.getLogger(__name__)

#: The metric name under which sensitivity may be budgeted or minimised.
SENSITIVITY = "sensitivity"

def choice_label(weight_fmt: str, act_fmt: str | None = None) -> str:
    """Label of a choice: "int4" for a weight format alone, "int4/int8" for a (w, a) pair."""
    return weight_fmt if act_fmt is None else f"{weight_fmt}/{act_fmt}"


def choice_pairs(formats: Sequence[Any], act_formats: Sequence[Any] | None = None
                 ) -> tuple[list[tuple[Any, Any]], tuple[str, ...]]:
    """The (weight Format, activation Format or None) choices, weight-major, and their labels."""
    from lowbit.kernels_ref.formats import Format

    def fmt(f: Any) -> Any:
        return f if isinstance(f, Format) else Format.parse(str(f))

    afs = [fmt(a) for a in act_formats] if act_formats else [None]
    pairs = [(fmt(w), a) for w in formats for a in afs]
    return pairs, tuple(choice_label(str(w), None if a is None else str(a)) for w, a in pairs)


def weight_bytes(layer: Any, fmt: Any) -> float:
    """Bytes of a layer's weights in `fmt` (storage_bits covers one K x N matrix, scales
    included; groups / heads multiply it)."""
    return float(fmt.storage_bits(layer.k, layer.n)) / 8.0 * (layer.weight_params / max(layer.k * layer.n, 1))


def price_grid(layers: Sequence[Any], pairs: Sequence[tuple[Any, Any]], accel: Any) -> list[list[Any]]:
    """`hwsim.evaluate` of every (layer, choice): LayerCost [layer][choice] (through
    `hwsim.evaluate.evaluate_grid`, which prices each distinct layer shape once)."""
    from lowbit.hwsim.evaluate import (
        evaluate_grid,  # search sits above hwsim in the dependency order
    )

    return [list(row) for row in evaluate_grid(layers, pairs, accel)]


def _ro(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a, dtype=np.float64)
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
class CostTable:
    """Dense [layer, choice] metrics plus tie groups and allowed sets. Built once, solved many times."""

    layers: tuple[str, ...]
    choices: tuple[str, ...]
    sensitivity: np.ndarray
    costs: Mapping[str, np.ndarray]
    ties: tuple[tuple[int, ...], ...] = ()
    allowed: np.ndarray | None = None
    budgets: Mapping[str, float] = field(default_factory=dict)
    model: str = ""
    hardware: str = ""
    source: str = "<memory>"

    def __post_init__(self) -> None:
        src = self.source
        L, C = len(self.layers), len(self.choices)
        if L == 0 or C == 0:
            raise InvalidSpecError(f"{src}: 'layers' and 'choices' must be non-empty")
        bad = next((i for i, n in enumerate(self.layers) if not isinstance(n, str) or not n.strip()), None)
        if bad is not None:
            raise InvalidSpecError(f"{src}: layers[{bad}]: a layer name must be a non-empty string, "
                                   f"got {short(self.layers[bad], 40)}")
        if len(set(self.layers)) != L:
            raise InvalidSpecError(f"{src}: 'layers' has duplicate names")
        if len(set(self.choices)) != C:
            raise InvalidSpecError(f"{src}: 'choices' has duplicate labels")
        object.__setattr__(self, "sensitivity", _ro(self._check(self.sensitivity, SENSITIVITY)))
        costs = {}
        for name, arr in self.costs.items():
            if name == SENSITIVITY:
                raise InvalidSpecError(f"{src}: costs: {SENSITIVITY!r} is reserved for the quality metric")
            a = self._check(arr, f"costs.{name}")
            neg = np.argwhere(a < 0)
            if neg.size:  # costs are amounts; only sensitivity (a loss delta) may be negative
                i, c = (int(x) for x in neg[0])
                raise InvalidSpecError(f"{src}: costs.{name}[{i}][{c}] (layer {short(self.layers[i], 40)}, "
                                       f"choice {self.choices[c]}): {float(a[i, c])!r} is negative; costs "
                                       f"cannot be negative ({len(neg)} negative entries)")
            costs[str(name)] = _ro(a)
        object.__setattr__(self, "costs", costs)
        allowed = np.ones((L, C), dtype=bool) if self.allowed is None else np.array(self.allowed, dtype=bool)
        if allowed.shape != (L, C):
            raise InvalidSpecError(f"{src}: 'allowed' must be [{L}][{C}], got {list(allowed.shape)}")
        # Ties: validate, merge overlapping groups (union-find), drop singletons.
        parent = list(range(L))

        def find(i: int) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        for g in self.ties:
            g = tuple(g)
            for i in g:
                if not isinstance(i, (int, np.integer)) or not 0 <= int(i) < L:
                    raise InvalidSpecError(f"{src}: 'ties' entry {list(g)} has layer index {i!r} outside 0..{L - 1}")
            for i in g[1:]:
                parent[find(int(i))] = find(int(g[0]))
        groups: dict[int, list[int]] = {}
        for i in range(L):
            groups.setdefault(find(i), []).append(i)
        ties = tuple(tuple(v) for v in groups.values() if len(v) > 1)
        for g in ties:
            inter = np.logical_and.reduce(allowed[list(g)], axis=0)
            allowed[list(g)] = inter
        empty = np.flatnonzero(~allowed.any(axis=1))
        if empty.size:
            raise InvalidSpecError(f"{src}: layer {self.layers[empty[0]]!r} has no allowed choice "
                                   f"(after intersecting the allowed sets of its tie group)")
        allowed.setflags(write=False)
        object.__setattr__(self, "ties", ties)
        object.__setattr__(self, "allowed", allowed)
        budgets = {}
        for k, v in dict(self.budgets).items():
            if k != SENSITIVITY and k not in costs:
                raise InvalidSpecError(f"{src}: budgets: {k!r} is not a cost in this table "
                                       f"(have {sorted(costs) + [SENSITIVITY]})")
            budgets[k] = v
        object.__setattr__(self, "budgets", budgets)

    def _check(self, arr: Any, key: str) -> np.ndarray:
        try:
            a = np.asarray(arr, dtype=np.float64)
        except (TypeError, ValueError):
            raise InvalidSpecError(f"{self.source}: {key!r} must be a numeric [layer][choice] array") from None
        shape = (len(self.layers), len(self.choices))
        if a.shape != shape:
            raise InvalidSpecError(f"{self.source}: {key!r} must be [{shape[0]}][{shape[1]}] "
                                   f"(layers x choices), got shape {list(a.shape)}")
        if not np.isfinite(a).all():
            i, c = (int(x) for x in np.argwhere(~np.isfinite(a))[0])
            raise InvalidSpecError(f"{self.source}: {key}[{i}][{c}]: {a[i, c]} is not a finite number")
        return a

    # ----------------------------------------------------------------- access
    @property
    def num_layers(self) -> int:
        return len(self.layers)

    @property
    def num_choices(self) -> int:
        return len(self.choices)

    @property
    def metric_names(self) -> tuple[str, ...]:
        return (SENSITIVITY, *self.costs)

    def key(self, name: str) -> str:
        """The metric a name means in this table: itself, or for a plain name (`latency`,
        `energy`, `memory`) the SI metric it stands for (`latency_s`, ...) when the table has
        that one and not the plain one; unknown names are returned as given."""
        if name == SENSITIVITY or name in self.costs:
            return name
        alias = METRIC_ALIASES.get(name)
        return alias if alias in self.costs else name

    def metric(self, name: str) -> np.ndarray:
        """The [layer, choice] array of a cost or of sensitivity (plain names resolve through
        `key`); InvalidSpecError if unknown."""
        name = self.key(name)
        if name == SENSITIVITY:
            return self.sensitivity
        try:
            return self.costs[name]
        except KeyError:
            raise InvalidSpecError(f"{self.source}: no cost named {name!r} "
                                   f"(have {', '.join(self.metric_names)})") from None

    def choice_index(self, label: str, where: str = "choice") -> int:
        try:
            return self.choices.index(label)
        except ValueError:
            raise InvalidSpecError(f"{self.source}: {where}: unknown choice {label!r} "
                                   f"(have {', '.join(self.choices)})") from None

    def layer_index(self, name: str | int, where: str = "layer") -> int:
        if isinstance(name, (int, np.integer)) and not isinstance(name, bool):
            if 0 <= int(name) < self.num_layers:
                return int(name)
            raise InvalidSpecError(f"{self.source}: {where}: layer index {name} outside 0..{self.num_layers - 1}")
        try:
            return self.layers.index(str(name))
        except ValueError:
            raise InvalidSpecError(f"{self.source}: {where}: unknown layer {name!r}") from None

    def group_of(self) -> np.ndarray:
        """Group id per layer: tied layers share an id; ids are 0..G-1 in first-appearance order."""
        gid = np.full(self.num_layers, -1, dtype=np.int64)
        for g, members in enumerate(self.ties):
            gid[list(members)] = g
        nxt = len(self.ties)
        out = np.empty_like(gid)
        remap: dict[int, int] = {}
        for i in range(self.num_layers):
            key = int(gid[i]) if gid[i] >= 0 else nxt + i
            if key not in remap:
                remap[key] = len(remap)
            out[i] = remap[key]
        return out

    def grouped(self, names: Sequence[str]) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
        """Group id per layer, each named metric summed per tie group [G, C], and the allowed
        mask per group [G, C] (members of a group share their mask)."""
        gid = self.group_of()
        G = int(gid.max()) + 1
        out = {}
        for n in names:
            a = np.zeros((G, self.num_choices))
            np.add.at(a, gid, self.metric(n))
            out[n] = a
        allowed = np.zeros((G, self.num_choices), dtype=bool)
        allowed[gid] = self.allowed
        return gid, out, allowed

    def min_totals(self, names: Sequence[str] | None = None) -> dict[str, float]:
        """Smallest achievable total of each metric alone, respecting ties and allowed sets
        (exact: the sum over tie groups of the cheapest allowed choice)."""
        names = list(self.metric_names) if names is None else list(names)
        _, grouped, allowed = self.grouped(names)
        return {n: float(np.where(allowed, grouped[n], np.inf).min(axis=1).sum()) for n in names}

    def totals(self, assignment: Sequence[int] | np.ndarray) -> dict[str, float]:
        """Sum of every metric for a per-layer choice index assignment."""
        idx = np.asarray(assignment, dtype=np.int64)
        rows = np.arange(self.num_layers)
        return {n: float(self.metric(n)[rows, idx].sum()) for n in self.metric_names}

    def uniform(self, label: str) -> np.ndarray:
        """Assignment running every layer at `label`; layers that may not take it keep their
        allowed choice of least sensitivity (fixed layers keep their fixed choice)."""
        c = self.choice_index(label, "uniform")
        out = np.where(self.allowed[:, c], c,
                       np.argmin(np.where(self.allowed, self.sensitivity, np.inf), axis=1))
        # Tie groups share the allowed mask, so members agree; nothing else to fix.
        return out.astype(np.int64)

    def resolve_budget(self, name: str, value: float | str, where: str = "budget") -> float:
        """Absolute value of a budget: a number, a quantity with unit, or "0.6x" (fraction of the
        all-int8 allocation, or of the most expensive uniform allocation when int8 is not a
        choice) or "0.6x:int4" (fraction of the named uniform allocation), or "0.5r" (that
        fraction of the way from the smallest achievable total to the all-int8 one; HAWQ-V3's
        budgets are of this kind), "0.5r:int4" likewise."""
        arr = self.metric(name)
        if isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool):
            v = float(value)
            if not math.isfinite(v):
                raise InvalidSpecError(f"{where}: {name} budget {value!r} is not finite")
            return v
        s = str(value).strip()
        base_label: str | None = None
        if ":" in s:
            s, base_label = s.split(":", 1)
        if s.lower().endswith(("x", "r")):
            kind = s[-1].lower()
            try:
                frac = float(s[:-1])
            except ValueError:
                raise InvalidSpecError(f"{where}: {name}={value!r}: bad fraction before {kind!r}") from None
            if base_label is None:
                if "int8" in self.choices:
                    base_label = "int8"
                else:
                    per = [self.totals(self.uniform(c))[self.key(name)] for c in self.choices]
                    base_label = self.choices[int(np.argmax(per))]
            base = float(arr[np.arange(self.num_layers), self.uniform(base_label)].sum())
            if kind == "x":
                return frac * base
            lo = self.min_totals([name])[name]  # "r": along the achievable range [min, base]
            return lo + frac * (base - lo)
        if base_label is not None:
            raise InvalidSpecError(f"{where}: {name}={value!r}: ':choice' only goes with a fraction like 0.6x or 0.5r")
        check_unit(s, self.key(name), where)
        return parse_quantity(s, f"{where} {self.key(name)}")

    # -------------------------------------------------------------- builders
    @classmethod
    def from_json(cls, src: str | Path | Mapping[str, Any]) -> CostTable:
        """Read the JSON shape in the module docstring from a path or an already-parsed dict."""
        if isinstance(src, Mapping):
            where, d = "<dict>", src
        else:
            from lowbit.kernels_ref.loaders import load_json, read_text

            where = str(src)
            d = load_json(read_text(src, "cost table"), where)
        if not isinstance(d, Mapping):
            raise InvalidSpecError(f"{where}: top level must be an object")
        known = {"layers", "choices", "sensitivity", "costs", "budgets", "ties", "fixed", "allowed",
                 "model", "hardware", "source", "notes"}
        for k in d:
            if k not in known:
                raise InvalidSpecError(f"{where}: unknown key {k!r} (known: {', '.join(sorted(known))})")
        for k in ("layers", "choices", "sensitivity"):
            if k not in d:
                raise InvalidSpecError(f"{where}: missing key {k!r}")
        layers, choices = d["layers"], d["choices"]
        for k, v in (("layers", layers), ("choices", choices)):
            if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                raise InvalidSpecError(f"{where}: {k!r} must be a list of strings")
        costs = d.get("costs", {})
        if not isinstance(costs, Mapping):
            raise InvalidSpecError(f"{where}: 'costs' must be an object of name -> [layer][choice] array")
        budgets_raw = d.get("budgets", {}) or {}
        if not isinstance(budgets_raw, Mapping):
            raise InvalidSpecError(f"{where}: 'budgets' must be an object of name -> value")
        L, C = len(layers), len(choices)
        allowed = np.ones((L, C), dtype=bool)

        def lidx(x: Any, key: str) -> int:
            if isinstance(x, bool):
                raise InvalidSpecError(f"{where}: {key}: {x!r} is not a layer")
            if isinstance(x, int):
                if 0 <= x < L:
                    return x
                raise InvalidSpecError(f"{where}: {key}: layer index {x} outside 0..{L - 1}")
            if isinstance(x, str) and x in layers:
                return layers.index(x)
            raise InvalidSpecError(f"{where}: {key}: unknown layer {x!r}")

        def cidx(x: Any, key: str) -> int:
            if isinstance(x, str) and x in choices:
                return choices.index(x)
            raise InvalidSpecError(f"{where}: {key}: unknown choice {x!r} (have {', '.join(choices)})")

        allowed_raw = d.get("allowed", {}) or {}
        if not isinstance(allowed_raw, Mapping):
            raise InvalidSpecError(f"{where}: 'allowed' must be an object of layer -> [choices]")
        for lay, chs in allowed_raw.items():
            i = lidx(lay, f"allowed.{lay}")
            if not isinstance(chs, list) or not chs:
                raise InvalidSpecError(f"{where}: allowed.{lay} must be a non-empty list of choices")
            row = np.zeros(C, dtype=bool)
            row[[cidx(c, f"allowed.{lay}") for c in chs]] = True
            allowed[i] &= row
        fixed_raw = d.get("fixed", {}) or {}
        if not isinstance(fixed_raw, Mapping):
            raise InvalidSpecError(f"{where}: 'fixed' must be an object of layer -> choice")
        for lay, ch in fixed_raw.items():
            i = lidx(lay, f"fixed.{lay}")
            row = np.zeros(C, dtype=bool)
            row[cidx(ch, f"fixed.{lay}")] = True
            allowed[i] &= row
        ties_raw = d.get("ties", []) or []
        if not isinstance(ties_raw, list) or not all(isinstance(g, list) for g in ties_raw):
            raise InvalidSpecError(f"{where}: 'ties' must be a list of lists of layers")
        ties = tuple(tuple(lidx(x, f"ties[{n}]") for x in g) for n, g in enumerate(ties_raw))
        budgets: dict[str, float] = {}
        for k, v in budgets_raw.items():
            if isinstance(v, bool) or not isinstance(v, (int, float, str)):
                raise InvalidSpecError(f"{where}: budgets.{k} must be a number or a string like '0.6x'")
            budgets[str(k)] = v  # resolved below, once the table exists
        table = cls(layers=tuple(layers), choices=tuple(choices), sensitivity=d["sensitivity"],
                    costs=dict(costs), ties=ties, allowed=allowed, budgets={},
                    model=str(d.get("model", "")), hardware=str(d.get("hardware", "")), source=where)
        resolved = {}
        for k, v in budgets.items():
            if k != SENSITIVITY and k not in table.costs:
                raise InvalidSpecError(f"{where}: budgets: {k!r} is not a cost in this file "
                                       f"(have {', '.join(table.metric_names)})")
            resolved[k] = table.resolve_budget(k, v, f"{where}: budgets")
        object.__setattr__(table, "budgets", resolved)
        return table

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "model": self.model, "hardware": self.hardware,
            "layers": list(self.layers), "choices": list(self.choices),
            "sensitivity": self.sensitivity.tolist(),
            "costs": {k: v.tolist() for k, v in self.costs.items()},
            "budgets": dict(self.budgets),
            "ties": [list(g) for g in self.ties],
        }
        if not self.allowed.all():
            out["allowed"] = {self.layers[i]: [self.choices[c] for c in np.flatnonzero(self.allowed[i])]
                              for i in np.flatnonzero(~self.allowed.all(axis=1))}
        return out

    def to_json(self, path: str | Path) -> None:
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(self.to_dict(), fh)

    def with_sensitivity(self, sensitivity: np.ndarray) -> CostTable:
        return replace(self, sensitivity=sensitivity)

    def with_costs(self, **arrays: np.ndarray) -> CostTable:
        """The same table with some named cost arrays replaced or added."""
        return replace(self, costs={**self.costs, **arrays})

    @classmethod
    def from_hwsim(cls, workload: Any, formats: Sequence[Any], accel: Any, *,
                   sensitivity: np.ndarray | Mapping[tuple[str, str], float] | None = None,
                   act_formats: Sequence[Any] | None = None,
                   ties: Sequence[Sequence[int | str]] = (),
                   fixed: Mapping[str, str] | None = None,
                   weight_layers_only: bool = True) -> CostTable:
        """Price every (layer, choice) once with `hwsim.evaluate` (`PricedGrid.price`) and build
        the table from those prices (`from_priced`).

        `formats` are weight formats (Format or text); with `act_formats` every (w, a) pair is
        a choice, otherwise activations use the accelerator's default. Layers without weights
        (activation x activation MATMUL) are skipped when `weight_layers_only`. `sensitivity`
        is an array [layer][choice] over the kept layers or a mapping (layer, label) -> loss;
        missing -> zeros (then only costs matter).
        """
        priced = PricedGrid.price(workload, formats, accel, act_formats=act_formats,
                                  weight_layers_only=weight_layers_only)
        return cls.from_priced(priced, sensitivity=sensitivity, ties=ties, fixed=fixed)

    @classmethod
    def from_priced(cls, priced: PricedGrid, *,
                    sensitivity: np.ndarray | Mapping[tuple[str, str], float] | None = None,
                    ties: Sequence[Sequence[int | str]] = (),
                    fixed: Mapping[str, str] | None = None,
                    memory_bytes: np.ndarray | None = None) -> CostTable:
        """The table of an already priced grid, SI with the unit in the name: ``latency_s``
        (seconds at the accelerator's clock), ``cycles``, ``energy_j`` (joules, every
        component), ``memory_bytes`` (weight bytes), ``bops``. Layers reusing another layer's
        weights (`PricedGrid.tied`) add their cycles, energy and MACs to that layer's row. `fixed` holds a layer at one choice
        label, or at a weight format (every choice with that weight format). `memory_bytes`: the
        [layer, choice] `weight_bytes` when the caller has them (they depend on the layers and
        formats only, not on the design; a sweep computes them once per model)."""
        from lowbit.kernels_ref.formats import Format

        pairs, labels, layers, grid, accel = priced.pairs, priced.labels, priced.layers, priced.grid, priced.accel
        L, C = len(layers), len(pairs)
        cyc = np.array([[float(c.cycles) for c in row] for row in grid]).reshape(L, C)
        en = np.array([[c.total_energy_j for c in row] for row in grid]).reshape(L, C)
        mem = (np.array([[weight_bytes(ly, w) for w, _a in pairs] for ly in layers]).reshape(L, C)
               if memory_bytes is None else np.asarray(memory_bytes, dtype=np.float64))
        default_act = Format.parse(str(accel.default_act_format))
        macs = np.array([float(ly.macs) for ly in layers])
        for owner, ly, row in priced.tied:  # layers reusing `owner`'s weights take its format
            cyc[owner] += [float(c.cycles) for c in row]
            en[owner] += [c.total_energy_j for c in row]
            macs[owner] += float(ly.macs)
        bits = np.array([float(w.bits) * (a if a is not None else default_act).bits for w, a in pairs])
        bops = macs[:, None] * bits[None, :]
        names = tuple(ly.name for ly in layers)
        if sensitivity is None:
            sens = np.zeros((L, C))
        elif isinstance(sensitivity, Mapping):
            sens = np.zeros((L, C))
            for i, n in enumerate(names):
                for c, lab in enumerate(labels):
                    key = (n, lab) if (n, lab) in sensitivity else (n, str(pairs[c][0]))
                    if key not in sensitivity:
                        raise InvalidSpecError(f"sensitivity: no value for layer {n!r}, choice {lab!r}")
                    sens[i, c] = float(sensitivity[key])
        else:
            sens = np.asarray(sensitivity, dtype=np.float64)
        allowed = np.ones((L, C), dtype=bool)
        for lay, ch in (fixed or {}).items():
            if lay not in names:
                raise InvalidSpecError(f"fixed: unknown layer {lay!r}")
            if ch in labels:
                row = [lab == ch for lab in labels]
            elif any(str(w) == ch for w, _a in pairs):
                row = [str(w) == ch for w, _a in pairs]
            else:
                raise InvalidSpecError(f"fixed: unknown choice {ch!r} (have {', '.join(labels)})")
            allowed[names.index(lay)] = np.array(row)
        tie_idx = tuple(tuple(names.index(x) if isinstance(x, str) else int(x) for x in g) for g in ties)
        return cls(layers=names, choices=labels, sensitivity=sens,
                   costs={"latency_s": cyc / float(accel.freq_hz), "cycles": cyc, "energy_j": en,
                          "memory_bytes": mem, "bops": bops},
                   ties=tie_idx, allowed=allowed, model=str(priced.workload.name),
                   hardware=str(accel.name), source=f"hwsim:{accel.name}")


@dataclass(frozen=True, eq=False)
class PricedGrid:
    """`hwsim.evaluate` of every (layer, choice) of a workload on one accelerator: the
    LayerCosts a `CostTable` is built from (`CostTable.from_priced`), kept for callers that
    also need the per-layer detail (cycles, energy by component, bytes)."""

    workload: Any
    accel: Any
    layers: tuple[Any, ...]                   # the priced layers (weight layers by default)
    pairs: tuple[tuple[Any, Any], ...]        # (weight Format, activation Format or None) per choice
    labels: tuple[str, ...]                   # choice labels
    grid: tuple[tuple[Any, ...], ...]         # LayerCost [layer][choice]
    # layers without weights of their own that reuse a priced layer's (`Layer.tied_to`: a tied
    # lm_head, the decode steps of phase generate): (owner row, layer, LayerCost per choice)
    tied: tuple[tuple[int, Any, tuple[Any, ...]], ...] = ()

    @classmethod
    def price(cls, workload: Any, formats: Sequence[Any], accel: Any, *,
              act_formats: Sequence[Any] | None = None, weight_layers_only: bool = True) -> PricedGrid:
        pairs, labels = choice_pairs(formats, act_formats)
        layers = tuple(ly for ly in workload.layers if not weight_layers_only or ly.weight_params > 0)
        if not layers:
            raise InvalidSpecError(f"workload {workload.name!r}: no layers with weights to allocate")
        grid = tuple(tuple(row) for row in price_grid(layers, pairs, accel))
        tied: tuple[tuple[int, Any, tuple[Any, ...]], ...] = ()
        if weight_layers_only:
            row = {ly.name: i for i, ly in enumerate(layers)}
            shared = [ly for ly in workload.layers if ly.weight_params == 0 and ly.has_weights
                      and ly.tied_to in row]
            tied = tuple((row[ly.tied_to], ly, tuple(r))
                         for ly, r in zip(shared, price_grid(shared, pairs, accel)))
        return cls(workload, accel, layers, tuple(pairs), labels, grid, tied)
