"""What a finished sweep found, as data: status counts, why points were infeasible (the most
frequent unmet budget and the smallest value any design achieves for it) and the best designs
per objective. `lowbit sweep` prints it; the numbers are SI (latency_s, energy_j, ...)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["OBJECTIVE_KEYS", "Best", "SweepFindings", "Unmet", "summarize"]

#: objective name in a design space -> result key (SI, unit in the name)
OBJECTIVE_KEYS = {"latency": "latency_s", "energy": "energy_j", "quality": "quality",
                  "memory": "memory_bytes", "area": "area_mm2"}


@dataclass(frozen=True)
class Unmet:
    """A budget that could not be met: on how many points, the budget asked, the smallest value
    achieved on any design and that design."""

    metric: str          # result key: latency_s, energy_j, memory_bytes, sensitivity, bops
    points: int
    budget: float        # the budget of the point achieving `smallest` (relative budgets differ per design)
    smallest: float
    design: str
    model: str


@dataclass(frozen=True)
class Best:
    objective: str       # result key
    model: str
    value: float
    design: str


@dataclass
class SweepFindings:
    counts: Counter[str] = field(default_factory=Counter)      # status -> points
    unmet: list[Unmet] = field(default_factory=list)           # most frequent first
    invalid: list[tuple[str, int]] = field(default_factory=list)  # (message, points), most frequent first
    best: list[Best] = field(default_factory=list)


def _design(point: dict[str, Any], result: dict[str, Any]) -> str:
    params = point.get("params") or {}
    text = " ".join(f"{k}={v}" for k, v in params.items())
    return f"{result.get('hardware') or point.get('base', '?')}" + (f" {text}" if text else "")


def summarize(rows: Iterable[tuple[Any, dict[str, Any], dict[str, Any]]],
              objectives: Sequence[str]) -> SweepFindings:
    """Findings over store rows (key, point, result) of one sweep."""
    f = SweepFindings()
    unmet_n: Counter[str] = Counter()
    unmet_min: dict[str, tuple[float, float, str, str]] = {}
    invalid: Counter[str] = Counter()
    best: dict[tuple[str, str], tuple[float, str]] = {}
    keys = [OBJECTIVE_KEYS.get(o, o) for o in objectives]
    for _key, point, r in rows:
        st = str(r.get("status", "?"))
        f.counts[st] += 1
        model = str(point.get("model", "?"))
        if st == "infeasible":
            mins, asked = r.get("minimum") or {}, r.get("budget") or {}
            for k, b in asked.items():
                if k in mins and mins[k] > b * (1 + 1e-9):
                    unmet_n[k] += 1
                    if k not in unmet_min or mins[k] < unmet_min[k][0]:
                        unmet_min[k] = (float(mins[k]), float(b), _design(point, r), model)
        elif st == "invalid":
            invalid[str(r.get("message", "?")).split(";")[0][:200]] += 1
        elif st == "ok":
            for k in keys:
                v = r.get(k)
                if isinstance(v, (int, float)) and (k, model) not in best or \
                        isinstance(v, (int, float)) and v < best[(k, model)][0]:
                    best[(k, model)] = (float(v), _design(point, r))
    f.unmet = [Unmet(k, n, unmet_min[k][1], unmet_min[k][0], unmet_min[k][2], unmet_min[k][3])
               for k, n in unmet_n.most_common()]
    f.invalid = invalid.most_common()
    f.best = [Best(k, m, v, d) for (k, m), (v, d) in sorted(best.items(), key=lambda kv: (kv[0][1], keys.index(kv[0][0])))]
    return f
