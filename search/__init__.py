"""search: cost tables, exact per-layer format allocation, Pareto sweeps, baselines, sweeps."""

from search.costs import CostTable
from search.ilp import Allocation, solve

__all__ = ["Allocation", "CostTable", "solve"]
