"""SCALE-Sim 3.0.0's report files from its own cfg/topology inputs, through the
SCALE-Sim-compatible memory mode (`hwsim.scalesim_mem`).

`run_files(cfg, topology, gemm)` simulates every layer; `write_reports(run, out_dir)` writes
COMPUTE_REPORT.csv, BANDWIDTH_REPORT.csv and DETAILED_ACCESS_REPORT.csv with SCALE-Sim's
headers and row layout (`simulator.generate_reports`: `LayerID, v1, v2, ...,` with each value
as Python's `str`, cycles of the access report as floats the way SCALE-Sim prints them).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lowbit.hwsim.scalesim_io import (
    ScaleSimConfig,
    ScaleSimLayer,
    check_layer_size,
    read_config,
    read_topology,
    simulate_files,
)
from lowbit.hwsim.scalesim_mem import LayerReport, simulate_layer
from lowbit.kernels_ref.errors import InvalidSpecError

__all__ = ["BANDWIDTH_HEADER", "COMPUTE_HEADER", "DETAIL_HEADER", "ScaleSimRun", "layer_rows", "run_files",
           "write_reports"]

COMPUTE_HEADER = ("LayerID, Total Cycles (incl. prefetch), Total Cycles, Stall Cycles, Overall Util %, "
                  "Mapping Efficiency %, Compute Util %,")
BANDWIDTH_HEADER = ("LayerID, Avg IFMAP SRAM BW, Avg FILTER SRAM BW, Avg OFMAP SRAM BW, "
                    "Avg IFMAP DRAM BW, Avg FILTER DRAM BW, Avg OFMAP DRAM BW,")
DETAIL_HEADER = ("LayerID, "
                 "SRAM IFMAP Start Cycle, SRAM IFMAP Stop Cycle, SRAM IFMAP Reads, "
                 "SRAM Filter Start Cycle, SRAM Filter Stop Cycle, SRAM Filter Reads, "
                 "SRAM OFMAP Start Cycle, SRAM OFMAP Stop Cycle, SRAM OFMAP Writes, "
                 "DRAM IFMAP Start Cycle, DRAM IFMAP Stop Cycle, DRAM IFMAP Reads, "
                 "DRAM Filter Start Cycle, DRAM Filter Stop Cycle, DRAM Filter Reads, "
                 "DRAM OFMAP Start Cycle, DRAM OFMAP Stop Cycle, DRAM OFMAP Writes,")


@dataclass(frozen=True)
class ScaleSimRun:
    """A cfg, its topology's layers (depthwise split) and one report per layer."""

    cfg: ScaleSimConfig
    layers: tuple[ScaleSimLayer, ...]
    reports: tuple[LayerReport, ...]

    @property
    def total_cycles(self) -> int:
        return sum(r.total_cycles for r in self.reports)

    @property
    def total_cycles_incl_prefetch(self) -> int:
        return sum(r.total_cycles_incl_prefetch for r in self.reports)

    @property
    def stall_cycles(self) -> int:
        return sum(r.stall_cycles for r in self.reports)


def run_files(cfg_path: str | Path, topology_path: str | Path, gemm: bool = False) -> ScaleSimRun:
    """Every layer of a SCALE-Sim topology under a cfg, SCALE-Sim-exact (memory stalls included)."""
    cfg = read_config(cfg_path)
    layers = tuple(read_topology(topology_path, gemm=gemm))
    for layer in layers:
        check_layer_size(topology_path, layer)
    return ScaleSimRun(cfg, layers, tuple(simulate_layer(layer, cfg) for layer in layers))


def _line(lid: int, values: list[object]) -> str:
    return f"{lid}, " + ", ".join(str(v) for v in values) + ",\n"


def write_reports(run: ScaleSimRun, out_dir: str | Path) -> list[Path]:
    """Write the three SCALE-Sim report CSVs into `out_dir` (created); returns their paths."""
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidSpecError(f"{out}: cannot create the report folder: {exc.strerror or exc}") from None
    files = []
    for name, header, rows in (
            ("COMPUTE_REPORT.csv", COMPUTE_HEADER, [r.compute_row() for r in run.reports]),
            ("BANDWIDTH_REPORT.csv", BANDWIDTH_HEADER, [r.bandwidth_row() for r in run.reports]),
            ("DETAILED_ACCESS_REPORT.csv", DETAIL_HEADER, [r.detail_row() for r in run.reports])):
        path = out / name
        text = header + "\n" + "".join(_line(i, row) for i, row in enumerate(rows))
        try:
            path.write_text(text)
        except OSError as exc:
            raise InvalidSpecError(f"{path}: cannot write: {exc.strerror or exc}") from None
        files.append(path)
    return files


def layer_rows(cfg_path: str | Path, topology_path: str | Path,
               gemm: bool = False) -> tuple[list[dict[str, Any]], ScaleSimRun]:
    """`scalesim_io.simulate_files`'s rows (compute_cycles: the stall-free part) with SCALE-Sim's
    memory-mode columns added: total_cycles (incl. stalls), stall_cycles,
    total_cycles_incl_prefetch, overall_util_pct, compute_util_pct, and SCALE-Sim's
    mapping_efficiency_pct; plus the run for `write_reports`."""
    run = run_files(cfg_path, topology_path, gemm=gemm)
    rows = simulate_files(cfg_path, topology_path, gemm=gemm)
    for row, rep in zip(rows, run.reports):
        row.update(total_cycles=rep.total_cycles, stall_cycles=rep.stall_cycles,
                   total_cycles_incl_prefetch=rep.total_cycles_incl_prefetch,
                   overall_util_pct=rep.overall_util_pct, compute_util_pct=rep.compute_util_pct,
                   mapping_efficiency_pct=rep.mapping_efficiency_pct,
                   dram_reads=rep.ifmap_dram_reads + rep.filter_dram_reads,
                   dram_writes=rep.ofmap_dram_writes)
    return rows, run
