"""search: cost tables, exact per-layer format allocation, Pareto sweeps, baselines, sweeps."""

from lowbit.search.costs import CostTable
from lowbit.search.ilp import Allocation, solve

__all__ = ["Allocation", "CostTable", "solve"]
