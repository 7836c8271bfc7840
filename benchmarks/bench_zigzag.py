"""lowbit vs ZigZag (zigzag-dse) on the same conv layer and GEMM, same machine, one run.

    python3 -m venv benchmarks/.venv-zigzag
    benchmarks/.venv-zigzag/bin/pip install zigzag-dse six
    .venv/bin/python benchmarks/bench_zigzag.py

ZigZag runs in its own interpreter on its bundled `tpu_like` hardware and mapping
(32 x 32 MAC array, K (filters) x C (input channels) unrolled, weights held in a
per-PE register file: weight stationary; 2 MiB SRAM for inputs/outputs, 64-bit DRAM
port), with its LOMA temporal-mapping search, optimising latency; the timer wraps
`get_hardware_performance_zigzag` (imports excluded). lowbit is given the same
machine as an `hwsim.spec.Accelerator` (below) and timed two ways:

- `Model.compute`: the stall-free compute cycles of the WS systolic array
  (SCALE-Sim fold convention, without the -1);
- `hwsim.evaluate`: mapping search + memory timeline (fill, double-buffered
  tiles, drain), i.e. the figure comparable to ZigZag's latency.

Cycles printed side by side: ZigZag's ideal cycles (MACs / 1024), its latency
(`latency_total2`, including data on/off-loading) and lowbit's; the explanation
of the gap is in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

from lowbit.hwsim.cores.base import Dataflow
from lowbit.hwsim.cores.mac_array import Model
from lowbit.kernels_ref.formats import Format
from lowbit.models.ir import ConvGeometry, Layer

ZIGZAG_PY = ROOT / "benchmarks" / ".venv-zigzag" / "bin" / "python"
WORK = ROOT / "benchmarks" / "_work" / "bench_zigzag"

# ZigZag workload YAML (its 3.x schema): the ResNet-18 conv2 3x3 layer (56x56 out, 64->64)
# and a BERT-base FFN-like GEMM (M=128 tokens, K=768, N=512).
WORKLOADS = {
    "resnet18_conv2_3x3": ("""- id: 0
  name: resnet18_conv2_3x3
  operator_type: Conv
  equation: O[b][k][oy][ox]+=W[k][c][fy][fx]*I[b][c][iy][ix]
  dimension_relations: [ix=1*ox+1*fx, iy=1*oy+1*fy]
  loop_dims: [B, K, C, OY, OX, FY, FX]
  loop_sizes: [1, 64, 64, 56, 56, 3, 3]
  operand_precision: {W: 8, I: 8, O: 16, O_final: 8}
  operand_source: {I: 0}
""", Layer.conv2d("resnet18_conv2_3x3", ConvGeometry(64, 64, 58, 58, 3, 3))),
    "bert_ffn_gemm": ("""- id: 0
  name: bert_ffn_gemm
  operator_type: Gemm
  equation: O[b][k]+=W[k][c]*I[b][c]
  loop_dims: [B, K, C]
  loop_sizes: [128, 512, 768]
  operand_precision: {W: 8, I: 8, O: 16, O_final: 8}
  operand_source: {I: 0}
""", Layer.linear("bert_ffn_gemm", 128, 768, 512)),
}

# lowbit's description of ZigZag's tpu_like.yaml: sizes in bytes (ZigZag's are bits),
# bandwidths in bytes/cycle (ZigZag's ports: bits/cycle).
TPU_LIKE = {
    "name": "zigzag-tpu-like",
    "freq_hz": 1.0e9,
    "node_nm": 28,
    "num_cores": 1,
    "default_act_format": "int8",
    "core": {"family": "mac_array", "style": "systolic", "rows": 32, "cols": 32, "dataflows": ["ws"],
             "precisions": ["int8"], "rates": [1.0], "accumulator_bits": 32, "scalesim_mode": False},
    "buffers": [
        # rf_128B: 1024 bits per PE, 8 bits/cycle per PE, one per each of the 1024 PEs
        {"name": "w_rf", "operands": ["weight"], "size_bytes": 131072, "bandwidth_bytes_per_cycle": 1024,
         "banks": 1024, "double_buffered": False},
        # sram_2MB: 16777216 bits for I1 (inputs) and O; ports up to 2048 bits/cycle
        {"name": "sram", "operands": ["input", "output"], "size_bytes": 2097152,
         "bandwidth_bytes_per_cycle": 256, "banks": 1, "double_buffered": True},
    ],
    # dram: one 64-bit read/write port
    "dram": {"bandwidth_bytes_per_cycle": 8, "energy_j_per_byte": None},
}

DRIVER = r"""
import contextlib, io, json, logging, os, sys, time
logging.disable(logging.CRITICAL)
from zigzag.api import get_hardware_performance_zigzag
import zigzag
base = os.path.join(os.path.dirname(zigzag.__file__), "inputs")
wl, out = sys.argv[1], sys.argv[2]
with contextlib.redirect_stdout(io.StringIO()):
    t0 = time.perf_counter()
    energy, latency, cmes = get_hardware_performance_zigzag(
        wl, os.path.join(base, "hardware", "tpu_like.yaml"), os.path.join(base, "mapping", "tpu_like.yaml"),
        opt="latency", dump_folder=out, loma_show_progress_bar=False)
    secs = time.perf_counter() - t0
c = cmes[0][0]
print(json.dumps({"seconds": secs, "latency_total2": float(c.latency_total2),
                  "ideal_cycle": float(c.ideal_cycle), "ideal_temporal_cycle": float(c.ideal_temporal_cycle),
                  "onloading": float(c.data_onloading_cycle), "offloading": float(c.data_offloading_cycle),
                  "energy_pj": float(energy)}))
"""


def _median_time(fn, reps: int) -> float:
    samples = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        samples.append((time.perf_counter() - t0) / reps)
    return statistics.median(samples)


def main() -> int:
    if not ZIGZAG_PY.exists():
        print(f"missing {ZIGZAG_PY}: create the ZigZag venv first (see this file's docstring)", file=sys.stderr)
        return 2
    import importlib

    from lowbit.hwsim.spec import accelerator

    ev = importlib.import_module("lowbit.hwsim.evaluate")  # the module (hwsim.evaluate is also the function)

    accel = accelerator(**TPU_LIKE)
    # variant: the weight register file double-buffered, so weight loads may overlap compute
    accel_db = accel.with_changes(**{"buffers.w_rf.double_buffered": True})
    model = Model(accel.core)
    i8 = Format.parse("int8")
    WORK.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, (yaml_text, layer) in WORKLOADS.items():
        wl = WORK / f"{name}.yaml"
        wl.write_text(yaml_text)
        proc = subprocess.run([str(ZIGZAG_PY), "-c", DRIVER, str(wl), str(WORK / f"out_{name}")],
                              capture_output=True, text=True, check=True)
        zz = json.loads(proc.stdout.strip().splitlines()[-1])
        compute = int(model.compute(layer.m, layer.k, layer.n, i8, i8, Dataflow.WEIGHT_STATIONARY).cycles)
        t_compute = _median_time(
            lambda layer=layer: model.compute(layer.m, layer.k, layer.n, i8, i8, Dataflow.WEIGHT_STATIONARY), 2000)

        def run_eval(layer=layer):
            ev.clear_cache()
            return ev.evaluate(layer, "int8", accel, act_fmt="int8")

        cost = run_eval()
        t_eval = _median_time(run_eval, 5)
        cost_db = ev.evaluate(layer, "int8", accel_db, act_fmt="int8")
        row = {"layer": name, "macs": layer.macs, "zigzag_s": zz["seconds"],
               "zigzag_ideal_cycles": zz["ideal_cycle"], "zigzag_latency_cycles": zz["latency_total2"],
               "zigzag_onloading_cycles": zz["onloading"], "zigzag_offloading_cycles": zz["offloading"],
               "lowbit_compute_cycles": compute, "lowbit_eval_cycles": int(cost.cycles),
               "lowbit_eval_compute_cycles": int(cost.compute_cycles),
               "lowbit_eval_stall_cycles": int(cost.stall_cycles),
               "lowbit_eval_double_buffered_cycles": int(cost_db.cycles),
               "lowbit_eval_dram_bytes": float(cost.dram_bytes),
               "lowbit_compute_s": t_compute, "lowbit_eval_s": t_eval,
               "ratio_compute": zz["seconds"] / t_compute, "ratio_eval": zz["seconds"] / t_eval}
        rows.append(row)
        print(f"{name}: MACs {layer.macs}  ideal (MACs/1024) {layer.macs / 1024:.0f}")
        print(f"  ZigZag   {zz['seconds']:8.2f} s  latency {zz['latency_total2']:.0f} cycles "
              f"(ideal {zz['ideal_cycle']:.0f}, onloading {zz['onloading']:.0f}, offloading {zz['offloading']:.0f})")
        print(f"  lowbit compute  {t_compute * 1e6:9.1f} us  {compute} cycles  "
              f"({compute / zz['ideal_cycle'] - 1:+.2%} vs ZigZag ideal)  ratio {row['ratio_compute']:.0f}x")
        print(f"  lowbit evaluate {t_eval * 1e3:9.2f} ms  {cost.cycles} cycles (compute {cost.compute_cycles}, "
              f"stall {cost.stall_cycles}; {cost.cycles / zz['latency_total2'] - 1:+.2%} vs ZigZag latency)  "
              f"ratio {row['ratio_eval']:.0f}x  mapping {cost.mapping}  DRAM {cost.dram_bytes:.0f} B")
        print(f"  lowbit evaluate, weight RF double-buffered: {cost_db.cycles} cycles (compute "
              f"{cost_db.compute_cycles}, stall {cost_db.stall_cycles}; "
              f"{cost_db.cycles / zz['latency_total2'] - 1:+.2%} vs ZigZag latency)", flush=True)
    (WORK / "results.json").write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
