"""Compare three presets on LLaMA-2-7B decode.

One decode step of LLaMA-2-7B (batch 1, 2048 tokens of context) with int4 weights in groups
of 128 and fp16 activations, on a bit-serial design (`bitmod-decode`), a LUT tensor core
(`lut-tc-a100-like`) and an A100-like tensor-core GPU (`a100-like`). Decode is memory-bound:
the stall share says how much of each design's time waits on DRAM.
Writes OUT/compare.csv and OUT/compare.json (latency in seconds, energy in joules, speed-up
over the first preset).

    python examples/02_compare_presets_llama_decode.py --out /tmp/ex2
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

from lowbit.hwsim import evaluate_workload
from lowbit.hwsim.spec import load_accelerator
from lowbit.models import zoo

PRESETS = ("bitmod-decode", "lut-tc-a100-like", "a100-like")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="examples-out/02_compare_presets", help="output directory")
    ap.add_argument("--weights", default="int4g128", help="weight format (default int4g128)")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    wl = zoo.get("llama-2-7b", phase="decode", context_len=2048)
    rows = []
    for name in PRESETS:
        accel = load_accelerator(name)
        cost = evaluate_workload(wl, args.weights, accel, act_fmt="fp16")
        rows.append({"preset": name, "family": accel.core_family.value,
                     "freq_hz": accel.freq_hz, "cycles": cost.total_cycles,
                     "latency_s": cost.latency_s, "energy_j": cost.total_energy_j,
                     "stall_share": cost.total_stall_cycles / max(cost.total_cycles, 1),
                     "area_mm2": accel.area_mm2()})
    for r in rows:
        r["speedup_vs_first"] = rows[0]["latency_s"] / r["latency_s"]
        print(f"{r['preset']:18s} {r['latency_s'] * 1e3:9.3f} ms  {r['energy_j'] * 1e3:9.3f} mJ  "
              f"stall {r['stall_share']:6.1%}  x{r['speedup_vs_first']:.2f}")
    with open(out / "compare.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    (out / "compare.json").write_text(json.dumps({"model": wl.name, "phase": "decode",
                                                  "weights": args.weights, "acts": "fp16",
                                                  "designs": rows}, indent=1) + "\n",
                                      encoding="utf-8")
    print(f"wrote {out / 'compare.csv'} and {out / 'compare.json'}")


if __name__ == "__main__":
    main()
