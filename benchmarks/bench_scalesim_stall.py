"""SCALE-Sim's memory mode: lowbit (hwsim.scalesim_reports.run_files) vs scalesim 3.0.0, one run.

    .venv/bin/python benchmarks/bench_scalesim_stall.py [--quick]

Needs benchmarks/.venv-scalesim (see benchmarks/scalesim_golden.py). For each golden cfg x
topology of tests/data/scalesim_stall/, SCALE-Sim runs in its own interpreter, timed in-process
around `run_scale` (traces off), and lowbit runs in this one (median of 3 calls, reading the
files included). Prints total cycles of both (must be equal) and the wall-time ratio per layer.
Target: >= 1000x.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from lowbit.hwsim.scalesim_reports import run_files

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "scalesim_stall"
SCALESIM_PY = ROOT / "benchmarks" / ".venv-scalesim" / "bin" / "python"
WORK = ROOT / "benchmarks" / "_work" / "bench_scalesim_stall"
DRIVER = r"""
import contextlib, csv, io, json, sys, time
from scalesim.scale_sim import scalesim
cfg, topo, layout, out, gemm = sys.argv[1:6]
with contextlib.redirect_stdout(io.StringIO()):
    sim = scalesim(save_disk_space=True, verbose=False, config=cfg, topology=topo, layout=layout,
                   input_type_gemm=gemm == "1")
    t0 = time.perf_counter()
    sim.run_scale(top_path=out)
    secs = time.perf_counter() - t0
rows = list(csv.reader(open(out + "/" + sim.config.get_run_name() + "/COMPUTE_REPORT.csv")))[1:]
print(json.dumps({"seconds": secs, "total_cycles": [int(r[2]) for r in rows]}))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="conv topology of four cfgs only")
    args = ap.parse_args()
    if not SCALESIM_PY.exists():
        print(f"missing {SCALESIM_PY}", file=sys.stderr)
        return 2
    ratios, same = [], True
    print(f"{'cfg':14s} {'topology':16s} {'layers':>6s} {'scalesim s':>10s} {'lowbit ms':>9s} {'ratio':>7s} same")
    for cfg in sorted(DATA.glob("*.cfg")):
        for topo, gemm in (("conv_layers.csv", False), ("gemm_layers.csv", True)):
            if args.quick and (gemm or cfg.stem not in {"u8x16_os", "u16x8_ws", "u12x20_is", "c16x16_os"}):
                continue
            WORK.mkdir(parents=True, exist_ok=True)
            proc = subprocess.run([str(SCALESIM_PY), "-c", DRIVER, str(cfg), str(DATA / topo),
                                   str(DATA / "layout_none.csv"), str(WORK / f"{cfg.stem}_{topo}"),
                                   "1" if gemm else "0"], capture_output=True, text=True, check=True)
            ss = json.loads(proc.stdout.strip().splitlines()[-1])
            times = []
            for _ in range(3):
                t0 = time.perf_counter()
                run = run_files(cfg, DATA / topo, gemm=gemm)
                times.append(time.perf_counter() - t0)
            ours = statistics.median(times)
            ok = [r.total_cycles for r in run.reports] == ss["total_cycles"]
            same &= ok
            ratios.append(ss["seconds"] / ours)
            print(f"{cfg.stem:14s} {topo:16s} {len(run.reports):6d} {ss['seconds']:10.2f} {ours * 1e3:9.1f} "
                  f"{ratios[-1]:6.0f}x {'yes' if ok else 'NO'}", flush=True)
    print(f"\nratio SCALE-Sim / lowbit: min {min(ratios):.0f}x, median {statistics.median(ratios):.0f}x; "
          f"total cycles identical: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
