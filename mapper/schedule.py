"""Workload totals from per-layer costs: a sum on one core, a critical path over the graph on many.

With one core (or layers already split over all cores) layers run one after
another: the total is the sum. When `num_cores` > 1 and each layer runs on one
core, independent branches of the workload graph may overlap; the total is then
max(critical path of the DAG weighted by layer cycles, total work / num_cores)
(the longest chain cannot be shortened, and the cores cannot do more than
num_cores layers' work at once).
"""

from __future__ import annotations

from collections.abc import Mapping as TMapping

import networkx as nx
from lowbit.kernels_ref.errors import InvalidSpecError
from lowbit.models.ir import Workload

__all__ = ["critical_path_cycles", "sequential_cycles", "workload_cycles"]


def sequential_cycles(cycles: TMapping[str, float]) -> float:
    return float(sum(cycles.values()))


def critical_path_cycles(workload: Workload, cycles: TMapping[str, float]) -> float:
    """Longest path through the workload graph, each node weighted by its cycles."""
    g = workload.graph
    missing = [n for n in g.nodes if n not in cycles]
    if missing:
        raise InvalidSpecError(f"schedule: no cycles for layer {missing[0]!r} of {workload.name}")
    if not nx.is_directed_acyclic_graph(g):
        raise InvalidSpecError(f"schedule: workload {workload.name} graph has a cycle")
    finish: dict[str, float] = {}
    for node in nx.topological_sort(g):
        start = max((finish[p] for p in g.predecessors(node)), default=0.0)
        finish[node] = start + float(cycles[node])
    return max(finish.values(), default=0.0)


def workload_cycles(workload: Workload, cycles: TMapping[str, float], num_cores: int = 1) -> float:
    if num_cores < 1:
        raise InvalidSpecError(f"schedule: num_cores must be >= 1, got {num_cores}")
    total = sequential_cycles(cycles)
    if num_cores == 1:
        return total
    return max(critical_path_cycles(workload, cycles), total / num_cores)
