"""mapper: where a layer's work goes on the chip (tiling, loop order, dataflow) and graph scheduling."""

from lowbit.mapper.schedule import critical_path_cycles, sequential_cycles, workload_cycles
from lowbit.mapper.tiling import OBJECTIVES, Mapping, layer_gemm, price_mapping, search

__all__ = [
           "OBJECTIVES",
           "Mapping",
           "critical_path_cycles",
           "layer_gemm",
           "price_mapping",
           "search",
           "sequential_cycles",
           "workload_cycles",
]
