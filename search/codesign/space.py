"""Design-space types: hardware blocks, models, the space, and the points a sweep evaluates.

A *point* is one (design, model) pair; its key hashes everything that decides its result
(the design, the model and its formats, the budgets and objective), so a store row is a
pure function of its key.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lowbit.kernels_ref.errors import InvalidSpecError

__all__ = [
    "OBJECTIVES",
    "Design",
    "DesignSpace",
    "HardwareBlock",
    "ModelSpec",
    "Point",
    "is_number",
    "is_relative",
    "points_for",
    "seconds",
]

#: Sweep objectives: what a design is judged by across its models.
OBJECTIVES = ("latency", "energy", "area", "quality", "memory")

#: A design: (hardware block index, index into each parameter's candidate values).
Design = tuple[int, tuple[int, ...]]


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


def _key(space: DesignSpace, base: str, params: Mapping[str, Any], model: ModelSpec) -> str:
    doc = {"space": space.name, "base": base, "params": dict(params), "model": model.name,
           "formats": list(model.formats),
           "sensitivity": model.sensitivity, "workload": dict(model.workload), **space.context()}
    return hashlib.sha1(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:20]


def points_for(space: DesignSpace, designs: Sequence[Design]) -> list[Point]:
    """The points of `designs`, design-major: one per (design, model) in the space's model order."""
    out = []
    for block, idx in designs:
        b = space.hardware[block]
        params = space.design(block, idx)
        did = f"b{block}:" + ",".join(map(str, idx))
        for m in space.models:
            out.append(Point(_key(space, b.base, params, m), did, b.base, tuple(params.items()), m.name))
    return out


def is_number(v: Any) -> bool:
    """A finite int or float (not a bool)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def is_relative(v: Any) -> bool:
    """A budget relative to the design's own totals: "0.7x", "0.5r", "0.6x:int4"."""
    return isinstance(v, str) and v.strip().lower().split(":")[0].endswith(("x", "r"))


def seconds(s: str) -> float:
    """A latency budget given as a time ("2ms", "150us", "1s") in seconds."""
    t = s.strip().lower()
    for unit, mul in (("ms", 1e-3), ("us", 1e-6), ("ns", 1e-9), ("s", 1.0)):
        if t.endswith(unit):
            try:
                return float(t[: -len(unit)]) * mul
            except ValueError:
                break
    raise InvalidSpecError(f"budgets.latency: {s!r} is neither a fraction like 0.7x / 0.5r nor a time like 2ms")
