"""Judge a joint allocation against uniform ones of equal cost, on quality measured elsewhere.

`ilp_vs_uniform`: for each uniform allocation (a named per-layer assignment), solve the
joint ILP (`joint.solve_joint`, objective = the table's sensitivity) under that uniform
allocation's own total of one cost (latency by default), then ask `quality` (a callable
the caller supplies: it runs the quantised model on held-out data, e.g.
`models.minilm.held_out_distance`) for the quality of both. The sensitivity sum the ILP
minimised is reported beside, never used as the judge. Torch-free: the caller's callable
does the running.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from lowbit.search.joint import JointTable, solve_joint

__all__ = ["Comparison", "ilp_vs_uniform"]


@dataclass(frozen=True)
class Comparison:
    uniform: str
    cost: str
    cost_uniform: float
    cost_ilp: float
    quality_uniform: float     # held-out, by running the model
    quality_ilp: float
    predicted_uniform: float   # the table's sensitivity sum
    predicted_ilp: float
    choices: tuple[str, ...]   # the ILP's per-layer choices
    status: str

    @property
    def mix(self) -> dict[str, int]:
        """How many layers took each choice."""
        out: dict[str, int] = {}
        for c in self.choices:
            out[c] = out.get(c, 0) + 1
        return dict(sorted(out.items()))


def ilp_vs_uniform(jt: JointTable, uniforms: Mapping[str, Sequence[int]],
                   quality: Callable[[Sequence[str]], float], cost: str = "latency") -> list[Comparison]:
    """One `Comparison` per uniform allocation (see the module docstring)."""
    t = jt.table
    rows = np.arange(t.num_layers)
    out = []
    for name, asg in uniforms.items():
        u = np.asarray(asg, dtype=np.int64)
        budget = float(t.metric(cost)[rows, u].sum())
        a = solve_joint(jt, {cost: budget})
        uc = tuple(t.choices[c] for c in u)
        out.append(Comparison(
            uniform=name, cost=cost, cost_uniform=budget, cost_ilp=float(a.totals[t.key(cost)]),
            quality_uniform=float(quality(uc)), quality_ilp=float(quality(a.choices)),
            predicted_uniform=float(t.sensitivity[rows, u].sum()), predicted_ilp=float(a.totals["sensitivity"]),
            choices=tuple(a.choices), status=a.status))
    return out
