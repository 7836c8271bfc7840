"""Time `hwsim.evaluate_workload` with the mapping search on whole LLM workloads.

Target (issue 3): LLaMA-2-7B prefill (seq 2048) on the tpu-like preset in under 1 s, cold
cache (every distinct layer shape searched). Also reports the other GPU/accelerator presets
and decode, and the number of mapping candidates priced per layer.

    .venv/bin/python benchmarks/bench_workload.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

from lowbit.hwsim.evaluate import clear_cache
from lowbit.hwsim.spec import load_accelerator
from lowbit.models import zoo

from lowbit import hwsim

CASES = [
    ("llama-2-7b", "prefill", 2048, "tpu-like", "int8"),
    ("llama-2-7b", "decode", 2048, "tpu-like", "int8"),
    ("llama-2-7b", "prefill", 2048, "a100-like", "int8"),
    ("llama-2-7b", "decode", 2048, "a100-like", "int4"),
    ("llama-2-7b", "prefill", 2048, "h100-like", "int8"),
    ("llama-2-7b", "prefill", 2048, "eyeriss-like", "int16"),
    ("llama-2-7b", "prefill", 2048, "scalesim-32x32", "int8"),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    print("| model | phase | seq | hardware | weights | layers | cold s (best of n) | warm s | "
          "cycles | latency ms | energy J | stall % |")
    print("|---|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for model, phase, seq, hw, w in CASES:
        accel = load_accelerator(hw)
        wl = zoo.get(model, phase=phase, seq_len=seq)
        cold = []
        for _ in range(args.repeat):
            clear_cache()
            t0 = time.perf_counter()
            res = hwsim.evaluate_workload(wl, w, accel)
            cold.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        hwsim.evaluate_workload(wl, w, accel)
        warm = time.perf_counter() - t0
        stall = res.total_stall_cycles / max(sum(c.cycles for c in res.layers), 1)
        print(f"| {model} | {phase} | {seq} | {hw} | {w} | {len(wl.layers)} | {min(cold):.3f} | {warm:.4f} | "
              f"{res.total_cycles:.4g} | {res.latency_s * 1e3:.2f} | {res.total_energy_j:.3g} | {stall:.1%} |")


if __name__ == "__main__":
    main()
