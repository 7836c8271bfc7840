"""BitMoD headline: speedup over ANT and OliVe (average of prefill and decode), six LLMs.

Target (Chen et al., HPCA 2025; FIDELITY.md): 1.69x over ANT and 1.48x over OliVe, each
within 10%. Configs as in abdelfattah-lab/BitMoD-HPCA-25 `bitmod_sim/test_{bitmod,ant,olive}.py`:

    arrays prefill / decode: BitMoD 32x32 / 64x16 (dp 4, PE latency ceil(floor(bits)/2)),
    ANT 32x32 / 64x16, OliVe 36x32 / 72x16 (dp 1, latency 1); FP16 activations and KV;
    weight bits BitMoD 4.0625 / 3.0625, ANT 5,5,5.25,5,4,5, OliVe 4,4,4,4,4,4.5 over
    OPT-1.3B, Phi-2, Yi-6B, Llama-2-7B, Llama-2-13B, Llama-3-8B; context 256, batch 1;
    SRAM 512 KB weights + 512 KB inputs; DRAM 256 bits/cycle.

Two columns per model:

- "peer formula": bitmod_sim's cycle rule re-implemented here (accelerator.py: per layer
  max(compute tiles x PE latency, DRAM bits / 256) with its re-fetch rule when both
  weights and inputs exceed 512 KB; attention QK^T and AV at 16-bit KV, PE latency 8 on
  the bit-serial PE as in pe_array.py), on decoder shapes from the models' public
  config.json values. bitmod_sim itself needs shape pickles and CACTI, not runnable here.
- "lowbit": `hwsim.evaluate_workload` on the `bitmod*` presets with models.zoo workloads
  (when hwsim.evaluate and the zoo are available): the bit_serial core, hwsim.memory and
  the mapper. Weight formats: BitMoD int4g128 (prefill) / int3g128 (decode); ANT and OliVe
  per-channel int at an integer width (ANT Yi-6B 5.25 -> int5, OliVe Llama-3-8B 4.5 -> int4:
  kernels_ref.formats has no fractional widths).

Run: .venv/bin/python benchmarks/bench_bitmod.py [--markdown]
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

MODELS = ("opt-1.3b", "phi-2", "yi-6b", "llama-2-7b", "llama-2-13b", "llama-3-8b")
PAPER = {"ant": 1.69, "olive": 1.48}
# public config.json values: layers, hidden, intermediate, heads, kv heads, FFN style
CONFIGS = {
    "opt-1.3b": (24, 2048, 8192, 32, 32, "fc"),
    "phi-2": (32, 2560, 10240, 32, 32, "fc"),
    "yi-6b": (32, 4096, 11008, 32, 4, "glu"),
    "llama-2-7b": (32, 4096, 11008, 32, 32, "glu"),
    "llama-2-13b": (40, 5120, 13824, 40, 40, "glu"),
    "llama-3-8b": (32, 4096, 14336, 32, 8, "glu"),
}
W_BITS = {  # bitmod_sim test_*.py
    "bitmod": {"prefill": 4.0625, "decode": 3.0625},
    "ant": dict(zip(MODELS, (5, 5, 5.25, 5, 4, 5))),
    "olive": dict(zip(MODELS, (4, 4, 4, 4, 4, 4.5))),
}
ARRAYS = {  # (rows, cols, dp) prefill / decode
    "bitmod": {"prefill": (32, 32, 4), "decode": (64, 16, 4)},
    "ant": {"prefill": (32, 32, 1), "decode": (64, 16, 1)},
    "olive": {"prefill": (36, 32, 1), "decode": (72, 16, 1)},
}
CONTEXT = 256
SRAM_BYTES = 512 * 1024
DRAM_BITS_PER_CYCLE = 256


def _peer_layers(model: str, tokens: int) -> list[tuple[int, int, int, bool]]:
    """(K, N, tokens, is_attention) GEMMs of one forward step, bitmod_sim style."""
    layers, h, f, heads, kv, ffn = CONFIGS[model]
    hd = h // heads
    share = heads // kv
    one = [(h, h, tokens, False), (h, kv * hd, tokens, False), (h, kv * hd, tokens, False), (h, h, tokens, False)]
    one += ([(h, f, tokens, False)] * 2 + [(f, h, tokens, False)]) if ffn == "glu" else \
        [(h, f, tokens, False), (f, h, tokens, False)]
    one += [(hd, CONTEXT, tokens * share, True), (CONTEXT, hd, tokens * share, True)] * kv
    return one * layers


def peer_cycles(model: str, arch: str, phase: str) -> float:
    rows, cols, dp = ARRAYS[arch][phase]
    wbits = W_BITS[arch][phase] if arch == "bitmod" else W_BITS[arch][model]
    tokens = CONTEXT if phase == "prefill" else 1
    total = 0.0
    for k, n, t, attn in _peer_layers(model, tokens):
        bits = 16 if attn else wbits
        if arch == "bitmod":
            lat = math.ceil(math.floor(bits) / 2)
        else:
            lat = 1
        comp = math.ceil(k / dp) * math.ceil(n / rows) * math.ceil(t / cols) * lat
        w = math.ceil(k * bits / 8) * n
        i = math.ceil(k * 16 / 8) * t
        o = math.ceil(n * 16 / 8) * t
        if w > SRAM_BYTES and i > SRAM_BYTES:
            refetch_w, refetch_i = math.ceil(i / SRAM_BYTES), math.ceil(w / SRAM_BYTES)
            if refetch_w * w + i < refetch_i * i + w:
                w *= refetch_w
            else:
                i *= refetch_i
        total += max(comp, (w + i + o) * 8 / DRAM_BITS_PER_CYCLE)
    return total


def _lowbit_formats(arch: str, model: str, phase: str) -> str:
    if arch == "bitmod":
        return "int4g128" if phase == "prefill" else "int3g128"
    bits = W_BITS[arch][model]
    return f"int{round(bits) if arch == 'ant' else int(bits)}"


def lowbit_cycles(model: str, arch: str, phase: str) -> float | None:
    """Total cycles from hwsim.evaluate_workload, or None when the API or zoo is missing."""
    try:
        from lowbit.hwsim import spec as hwspec
        from lowbit.models import zoo

        from lowbit import hwsim
        evaluate_workload = hwsim.evaluate_workload
    except (ImportError, AttributeError):
        return None
    get = next((getattr(zoo, n) for n in ("get", "load", "build", "workload") if callable(getattr(zoo, n, None))),
               None)
    loader = next((getattr(hwspec, n) for n in ("load_preset", "load_accelerator", "load")
                   if callable(getattr(hwspec, n, None))), None)
    if get is None or loader is None:
        return None
    preset = {"bitmod": "bitmod", "ant": "bitmod-ant", "olive": "bitmod-olive"}[arch]
    if phase == "decode":
        preset += "-decode"
    accel = loader(preset)
    wl = get(model, phase=phase, seq_len=CONTEXT, batch=1)
    res = evaluate_workload(wl, _lowbit_formats(arch, model, phase), accel)
    total = getattr(res, "total_cycles", None)
    if total is None:
        total = sum(c.cycles for c in getattr(res, "layers", res))
    return float(total)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args()
    t0 = time.perf_counter()
    rows = []
    for model in MODELS:
        r = {"model": model}
        for src, fn in (("peer", peer_cycles), ("lowbit", lowbit_cycles)):
            c = {(arch, ph): fn(model, arch, ph) for arch in ARRAYS for ph in ("prefill", "decode")}
            if any(v is None for v in c.values()):
                continue
            for base in ("ant", "olive"):
                p = c[(base, "prefill")] / c[("bitmod", "prefill")]
                d = c[(base, "decode")] / c[("bitmod", "decode")]
                r[(src, base)] = (p, d, (p + d) / 2)
        rows.append(r)
    for src in ("peer", "lowbit"):
        if not all((src, "ant") in r for r in rows):
            print(f"\n{src}: not available (needs hwsim.evaluate_workload and models.zoo)")
            continue
        print(f"\n{src}: BitMoD speedup (prefill / decode / average)")
        if args.markdown:
            print("| model | over ANT: prefill | decode | avg | over OliVe: prefill | decode | avg |")
            print("|---|---:|---:|---:|---:|---:|---:|")
        means = {}
        for base in ("ant", "olive"):
            means[base] = sum(r[(src, base)][2] for r in rows) / len(rows)
        for r in rows:
            a, o = r[(src, "ant")], r[(src, "olive")]
            if args.markdown:
                print(f"| {r['model']} | {a[0]:.2f} | {a[1]:.2f} | {a[2]:.2f} | {o[0]:.2f} | {o[1]:.2f} | {o[2]:.2f} |")
            else:
                print(f"{r['model']:12s} ANT {a[0]:.2f}/{a[1]:.2f}/{a[2]:.2f}  OliVe {o[0]:.2f}/{o[1]:.2f}/{o[2]:.2f}")
        for base in ("ant", "olive"):
            err = means[base] / PAPER[base] - 1
            print(f"mean over {base}: {means[base]:.3f} (paper {PAPER[base]:.2f}, {err * 100:+.1f}%)")
    print(f"\nwall time {time.perf_counter() - t0:.2f} s")


if __name__ == "__main__":
    main()
