"""Explore an accelerator design from a script.

Start from the `tpu-like` preset, change the array size and the weight buffer with
`Accelerator.with_changes` (every variant is validated like a YAML file), and price
ResNet-18 at int8 and int4 weights on each variant with `evaluate_workload`.
Writes OUT/designs.csv: one row per (design, weight format) with latency in seconds,
energy in joules, memory stall share, utilisation and area.

    python examples/01_explore_design.py --out /tmp/ex1
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from lowbit.hwsim import evaluate_workload
from lowbit.hwsim.spec import load_accelerator
from lowbit.models import zoo


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="examples-out/01_explore_design", help="output directory")
    out = Path(ap.parse_args().out)
    out.mkdir(parents=True, exist_ok=True)

    base = load_accelerator("tpu-like")
    wl = zoo.get("resnet-18")
    variants = {
        "tpu-like": base,
        "64x64 array": base.with_changes(**{"core.rows": 64, "core.cols": 64}),
        "32x32 array": base.with_changes(**{"core.rows": 32, "core.cols": 32}),
        "half the clock": base.with_changes(freq_hz=base.freq_hz / 2),
    }
    rows = []
    for label, accel in variants.items():
        for fmt in ("int8", "int4"):
            cost = evaluate_workload(wl, fmt, accel, act_fmt="int8")
            stall = cost.total_stall_cycles / max(cost.total_cycles, 1)
            rows.append({"design": label, "weights": fmt, "latency_s": cost.latency_s,
                         "energy_j": cost.total_energy_j, "stall_share": round(stall, 4),
                         "utilization": round(sum(r.utilization * r.cycles for r in cost.layers)
                                              / max(cost.total_cycles, 1), 4),
                         "area_mm2": round(accel.area_mm2(), 3)})
            print(f"{label:16s} {fmt:5s} {cost.latency_s * 1e3:9.3f} ms "
                  f"{cost.total_energy_j * 1e3:9.3f} mJ  stall {stall:6.1%}")
    path = out / "designs.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
