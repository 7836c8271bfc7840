"""hwsim: accelerator specs, energy tables, memory model, core families, and the cost API.

`hwsim.evaluate` / `hwsim.evaluate_workload` live in `hwsim.evaluate` (the one module that
imports `mapper`, inside its functions, so that `mapper` can import hwsim's primitives
without a cycle). The names below are functions and classes, not submodules.
"""

from __future__ import annotations

from lowbit.hwsim.evaluate import LayerCost, WorkloadCost, evaluate, evaluate_workload
from lowbit.hwsim.spec import Accelerator, accelerator, list_presets, load_accelerator

__all__ = [
           "Accelerator",
           "LayerCost",
           "WorkloadCost",
           "accelerator",
           "evaluate",
           "evaluate_workload",
           "list_presets",
           "load_accelerator",
]
