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

The parts:

- `space`: the types (`DesignSpace`, `HardwareBlock`, `ModelSpec`, `Point`) and point keys;
- `parse`: the YAML parser and validator (`parse_space`, `load_space`);
- `strategies`: grid / random / evolutionary (NSGA-II), a registry `STRATEGIES`;
- `worker`: prices a point through `CostTable.from_priced` at a canonical clock and solves
  its inner ILP (`evaluate_group`, `design_table`), with explicit bounded `SweepCaches`
  (`caches`); `reference` is the one-call-per-(layer, choice) path it is held equal to;
- `driver`: quality tables, grouping by structure, executors, the store (`run_sweep`).
"""

from lowbit.search.codesign.driver import SweepSummary, model_contexts, run_points, run_sweep
from lowbit.search.codesign.parse import load_space, parse_space
from lowbit.search.codesign.space import DesignSpace, HardwareBlock, ModelSpec, Point, points_for
from lowbit.search.codesign.strategies import STRATEGIES
from lowbit.search.codesign.worker import (
    F0_HZ,
    ModelCtx,
    SweepCaches,
    design_table,
    evaluate_group,
    evaluate_point,
)

__all__ = [
    "F0_HZ",
    "STRATEGIES",
    "DesignSpace",
    "HardwareBlock",
    "ModelCtx",
    "ModelSpec",
    "Point",
    "SweepCaches",
    "SweepSummary",
    "design_table",
    "evaluate_group",
    "evaluate_point",
    "load_space",
    "model_contexts",
    "parse_space",
    "points_for",
    "run_points",
    "run_sweep",
]
