"""BitMoD vs bitmod_sim's own output: speedups over ANT and OliVe, cycles and energy per model.

Peer: bitmod_sim (abdelfattah-lab/BitMoD-HPCA-25) run here, stored in tests/data/bitmod_sim/
(README there has the commands). lowbit: `hwsim.evaluate_workload` on the `bitmod*` presets
(bitmod_sim's arrays, dot-product width, PE latency, 8-bit KV on BitMoD, 16-bit on ANT/OliVe,
`memory: {whole_layer_refetch: true}`) with models.zoo workloads (prefill 256 tokens, decode one
token at context 256, batch 1, fp16 activations; embeddings and lm_head included). Weight
formats carry bitmod_sim's exact bits per weight: BitMoD int4g128_spow2 / int3g128_spow2
(4.0625 / 3.0625), ANT int5 (Yi-6B int5g64 = 5.25, Llama-2-13B int4), OliVe int4 (Llama-3-8B
int4g32 = 4.5). Targets (issue 17): per-model speedups within 10%, means within 3%; energy
totals within 15%, DRAM and on-chip within 20%.

Run: .venv/bin/python benchmarks/bench_bitmod.py [--markdown]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "bitmod_sim"
SETUP = json.loads((DATA / "setup.json").read_text())  # models, phases, presets, format mapping
MODELS = tuple(SETUP["models"])
PHASES = tuple(SETUP["phases"])
PRESETS = SETUP["presets"]
FORMATS = SETUP["formats"]


def peer(arch: str, phase: str) -> dict:
    return json.loads((DATA / f"{arch}-{phase}.json").read_text())["models"]


def lowbit(arch: str, phase: str, model: str):
    from lowbit.hwsim import evaluate_workload
    from lowbit.hwsim.spec import load_accelerator
    from lowbit.models import zoo

    accel = load_accelerator(PRESETS[arch] + ("" if phase == "prefill" else "-decode"))
    fmt = FORMATS[arch][phase] if arch == "bitmod" else FORMATS[arch][model]
    return evaluate_workload(zoo.get(model, phase=phase, seq_len=256, batch=1), fmt, accel)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--markdown", action="store_true", help="(the tables are always markdown)")
    ap.parse_args()
    t0 = time.perf_counter()
    res = {(a, ph, m): lowbit(a, ph, m) for a in PRESETS for ph in PHASES for m in MODELS}
    wall = time.perf_counter() - t0
    gold = {(a, ph): peer(a, ph) for a in PRESETS for ph in PHASES}
    print("speedup of BitMoD, lowbit / bitmod_sim (error)")
    print("| model | phase | over ANT | over OliVe |")
    print("|---|---|---:|---:|")
    means = {b: ([], []) for b in ("ant", "olive")}
    for m in MODELS:
        cells = []
        for ph in PHASES:
            row = []
            for base in ("ant", "olive"):
                lo = res[(base, ph, m)].total_cycles / res[("bitmod", ph, m)].total_cycles
                pe = gold[(base, ph)][m]["cycles"]["total"] / gold[("bitmod", ph)][m]["cycles"]["total"]
                means[base][0].append(lo)
                means[base][1].append(pe)
                row.append(f"{lo:.3f} / {pe:.3f} ({(lo / pe - 1) * 100:+.2f}%)")
            cells.append(f"| {m} | {ph} | {row[0]} | {row[1]} |")
        print("\n".join(cells))
    for base, (lo, pe) in means.items():
        a, b = sum(lo) / len(lo), sum(pe) / len(pe)
        print(f"mean over {base}: lowbit {a:.4f}, bitmod_sim {b:.4f} ({(a / b - 1) * 100:+.2f}%)")
    print("\ncycles and energy per model and phase, lowbit / bitmod_sim (BitMoD presets)")
    print("| model | phase | cycles | total J | DRAM J | on-chip J |")
    print("|---|---|---:|---:|---:|---:|")
    for ph in PHASES:
        for m in MODELS:
            r, g = res[("bitmod", ph, m)], gold[("bitmod", ph)][m]
            bd = r.energy_breakdown_j
            dram = bd.get("dram", 0.0)
            on = r.total_energy_j - dram - bd.get("leakage", 0.0)
            gd = g["energy_uj"]["dram"] / 1e6
            gt = g["printed"]["energy_uj_onchip_total"][1] / 1e6
            go = g["printed"]["energy_uj_onchip_total"][0] / 1e6
            tot = on + dram
            print(f"| {m} | {ph} | {r.total_cycles / g['cycles']['total']:.4f} | {tot:.4g} / {gt:.4g} "
                  f"({(tot / gt - 1) * 100:+.0f}%) | {dram:.4g} / {gd:.4g} ({(dram / gd - 1) * 100:+.0f}%) | "
                  f"{on:.4g} / {go:.4g} ({(on / go - 1) * 100:+.0f}%) |")
    print(f"\nlowbit: {len(res)} workload evaluations in {wall:.2f} s")


if __name__ == "__main__":
    main()
