"""Issue 15 acceptance table: the new zoo models' parameters, MACs and simulated latency, and
BitMoD attention cycles at 8-bit KV against bitmod_sim.

Table 1, one row per zoo model added by issue 15 (diffusion UNets/DiT and their denoising
pipelines, super-resolution, segmentation, dense / MoE / long-context LLMs), each at its
default input (`zoo.get(name)`: the zoo's default resolution, steps, phase and sequence):
parameters (`zoo.total_params_with_aux`: weights plus biases/norms), MACs (`total_macs`), and
latency on `a100-like`, `bitmod` and `lut-tc-a100-like` from the call `lowbit simulate --hw
... --model NAME` makes (`hwsim.evaluate_workload(wl, int8, accel)`: int8 weights, each
design's default activation and KV formats, mapper objective latency). One row is checked
against the CLI itself (`--check-cli`).

Table 2: BitMoD attention (every attn_score / attn_context layer, Q.K^T and P.V) on the
`bitmod` presets, whose default_kv_format is int8 (bitmod_sim's `test_bitmod.py` sets
kv_prec = 8, /work/shared/FIDELITY.md), in cycles = max(compute, DRAM) summed over layers,
against bitmod_sim's own per-layer output (tests/data/bitmod_sim/bitmod-{prefill,decode}.json,
commit e445a5f; README there has the commands). Prefill 256 tokens, decode one token at
context 256, batch 1.

Run: .venv/bin/python benchmarks/bench_zoo_table.py [--models a,b] [--skip-pipelines] [--check-cli]
"""

from __future__ import annotations

import argparse
import io
import json
import time
from contextlib import redirect_stdout
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "bitmod_sim"
HW = ("a100-like", "bitmod", "lut-tc-a100-like")
BACKBONES = ("sd15-unet", "sdxl-unet", "sdxl-turbo-unet", "dit-xl-2", "ldm4-lsun-beds")
PIPELINES = ("sd15-denoise", "sdxl-denoise", "sdxl-turbo-denoise", "dit-xl-2-denoise", "ldm4-lsun-beds-denoise")
VISION = ("edsr-baseline-x2", "edsr-baseline-x4", "edsr-x2", "edsr-x4", "swinir-x2", "swinir-x4",
          "deeplabv3-resnet50")
LLMS = ("mistral-7b", "qwen2.5-7b", "llama-3.1-70b", "mixtral-8x7b", "qwen1.5-moe-a2.7b")


def _si(v: float, unit: str) -> str:
    for d, p in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, ""), (1e-3, "m"), (1e-6, "µ")):
        if abs(v) >= d:
            return f"{v / d:.4g} {p}{unit}"
    return f"{v:.3g} {unit}"


def _input(wl) -> str:
    m = dict(wl.meta)
    if wl.phase.value in ("prefill", "decode", "generate") and m.get("kv_layers"):
        return f"{wl.phase.value} {wl.seq_len} tok"
    side = m.get("image_size")
    steps = m.get("steps")
    return (f"{side}x{side}" if side else wl.phase.value) + (f", {steps} steps" if steps else "")


def zoo_rows(names: list[str]) -> list[dict]:
    from lowbit.hwsim import evaluate_workload
    from lowbit.hwsim.spec import load_accelerator
    from lowbit.models import zoo

    accels = [load_accelerator(h) for h in HW]
    rows = []
    for name in names:
        t0 = time.perf_counter()
        wl = zoo.get(name)
        t1 = time.perf_counter()
        lat = {a.name: evaluate_workload(wl, "int8", a).latency_s for a in accels}
        rows.append({"model": name, "input": _input(wl), "params": zoo.total_params_with_aux(wl),
                     "macs": wl.total_macs, "layers": len(wl.layers), "latency_s": lat,
                     "build_s": t1 - t0, "simulate_s": time.perf_counter() - t1})
        print(f"  {name}: built in {t1 - t0:.1f} s, 3 designs in {rows[-1]['simulate_s']:.1f} s", flush=True)
    return rows


def check_cli(name: str, row: dict) -> None:
    """The table's latencies are what `lowbit simulate --hw A --hw B --hw C --model NAME --json` prints."""
    from lowbit.cli import main

    buf = io.StringIO()
    with redirect_stdout(buf):
        rc = main(["simulate", *(x for h in HW for x in ("--hw", h)), "--model", name, "--json"])
    assert rc == 0
    got = {d["hardware"]: d["latency_s"] for d in json.loads(buf.getvalue())["designs"]}
    assert got == row["latency_s"], (got, row["latency_s"])
    print(f"  lowbit simulate --model {name}: same latencies as the table", flush=True)


def attention_rows() -> list[dict]:
    from lowbit.hwsim import evaluate_workload
    from lowbit.hwsim.spec import load_accelerator
    from lowbit.models import zoo

    setup = json.loads((DATA / "setup.json").read_text())
    out = []
    for phase in setup["phases"]:
        gold = json.loads((DATA / f"bitmod-{phase}.json").read_text())["models"]
        accel = load_accelerator(setup["presets"]["bitmod"] + ("" if phase == "prefill" else "-decode"))
        fmt = setup["formats"]["bitmod"][phase]
        for model in setup["models"]:
            g = gold[model]
            peer = [r for r in g["layers"] if r[0].endswith(("attn_qk", "attn_v"))]
            res = evaluate_workload(zoo.get(model, phase=phase, seq_len=256, batch=1), fmt, accel)
            ours = [c for c in res.layers if c.name.endswith(("attn_score", "attn_context"))]
            assert len(ours) == len(peer), (model, phase, len(ours), len(peer))
            out.append({"model": model, "phase": phase, "kv_prec": g["args"]["kv_prec"],
                        "kv_fmt": str(accel.kv_format), "layers": len(ours),
                        "peer_compute": sum(r[1] for r in peer), "peer_total": sum(max(r[1], r[2]) for r in peer),
                        "ours_compute": sum(c.compute_cycles for c in ours),
                        "ours_total": sum(c.cycles for c in ours)})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=None, help="comma-separated subset of table 1")
    ap.add_argument("--skip-pipelines", action="store_true", help="leave out the <name>-denoise pipelines")
    ap.add_argument("--check-cli", action="store_true", help="hold one row to `lowbit simulate --json`")
    args = ap.parse_args()
    names = (args.models.split(",") if args.models else
             [*BACKBONES, *(() if args.skip_pipelines else PIPELINES), *VISION, *LLMS])
    t0 = time.perf_counter()
    rows = zoo_rows(names)
    if args.check_cli:
        check_cli(rows[0]["model"], rows[0])
    att = attention_rows()
    print(f"\n(wall {time.perf_counter() - t0:.0f} s)\n")
    print("| model | default input | parameters | MACs | " + " | ".join(f"{h} latency" for h in HW) + " |")
    print("|---|---|---:|---:|" + "---:|" * len(HW))
    for r in rows:
        print(f"| {r['model']} | {r['input']} | {_si(r['params'], '')} | {_si(r['macs'], '')} | "
              + " | ".join(_si(r["latency_s"][h], "s") for h in HW) + " |")
    print("\nBitMoD attention (attn_score + attn_context, all layers) on the bitmod presets, cycles")
    print("| model | phase | KV (bitmod_sim kv_prec / lowbit) | bitmod_sim total | lowbit total | ratio "
          "| bitmod_sim compute | lowbit compute |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for a in att:
        print(f"| {a['model']} | {a['phase']} | {a['kv_prec']} / {a['kv_fmt']} | {a['peer_total']:,} | "
              f"{a['ours_total']:,} | {a['ours_total'] / a['peer_total']:.4f} | {a['peer_compute']:,} | "
              f"{a['ours_compute']:,} |")
    tot_p, tot_o = sum(a["peer_total"] for a in att), sum(a["ours_total"] for a in att)
    print(f"\nall attention layers, 6 models x 2 phases: lowbit {tot_o:,} / bitmod_sim {tot_p:,} cycles "
          f"= {tot_o / tot_p:.4f}")


if __name__ == "__main__":
    main()
