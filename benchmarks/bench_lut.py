"""LUT Tensor Core and T-MAC figures against their papers (issue 5).

Targets (FIDELITY.md; T-MAC numbers confirmed in microsoft/T-MAC docs/profiling_data.md):

1. Table precompute overhead on BitNet-3B's ternary linear layers, unfused vs fused:
   16.5% / 24.4% -> 2.6% / 2.5% (LUT Tensor Core, ISCA 2025), each within 5 points.
   Our reading of the two columns: the two end-to-end settings, (batch 1, seq 2048) and
   (batch 1024, one decode token each).
2. BitNet-3B end to end on the A100-like presets, INT8 MAC tensor core vs LUT Tensor Core:
   latency ratio within 15% of 67.06/42.49 (batch 1, seq 2048) and 21.70/11.41 (batch 1024).
3. T-MAC single-thread decode tokens/s on the M2-class preset: ratios among BitNet-3B,
   Llama-2-7B W2 and W4 within 25% of 22.08 / 16.68 / 8.97.
4. LUT latency linear in weight bits 1-4 on compute-bound layers.

Table 2 (the held figure) goes through the library's real path, `hwsim.evaluate_workload`
(zoo workload `bitnet-3b`, the mapper's split/tiling search, hwsim.memory's traffic and
double-buffered timeline), exactly what `lowbit simulate` runs. Table 2r is the bench's own
per-layer roofline, kept as a cross-check: per layer, rows split evenly over the presets'
SM-like clusters, cycles = max(core compute cycles, DRAM bytes / DRAM bytes per cycle)
(no overlap between layers). Tables 1 and 3 use the same roofline. Assumptions are printed
with the tables.

Run: .venv/bin/python benchmarks/bench_lut.py [--markdown]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time
import typing
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]

from lowbit.hwsim.cores import family_module
from lowbit.hwsim.cores.base import Dataflow
from lowbit.hwsim.energy import EnergyTable
from lowbit.kernels_ref.formats import Format

PRESETS = ROOT / "hwsim" / "presets"

# decoder shapes from the models' public config.json: hidden, intermediate, layers, heads, vocab
MODELS = {
    "bitnet-3b": (3200, 8640, 26, 32, 32002),     # 1bitLLM/bitnet_b1_58-3B
    "llama-2-7b": (4096, 11008, 32, 32, 32000),   # meta-llama/Llama-2-7b-hf
}
# paper and peer figures with their sources: tests/data/lut_tmac/ (paper_figures.json, NOTES.md)
_FIG = json.loads((ROOT / "tests" / "data" / "lut_tmac" / "paper_figures.json").read_text())
_PRE = _FIG["lut_tensor_core"]["precompute_overhead_percent"]
PAPER_PRECOMPUTE = {(k, fused): _PRE[f"{k}_{'fused' if fused else 'unfused'}"]
                    for k in ("b1s2048", "b1024") for fused in (False, True)}
PAPER_E2E = {k: (v["int8_tc"], v["lut_tc"]) for k, v in _FIG["lut_tensor_core"]["bitnet_3b_latency_ms"].items()}
TMAC_M2 = _FIG["tmac"]["m2_ultra_1thread_tokens_per_s"]


def load_preset(name: str) -> tuple[dict[str, Any], Any]:
    """(raw YAML, core Model). Uses hwsim.spec when it exists, else builds the family Spec
    from the `core:` mapping by its dataclass fields (enums and tuples converted)."""
    raw = yaml.safe_load((PRESETS / f"{name}.yaml").read_text())
    try:
        from lowbit.hwsim import spec as spec_mod  # type: ignore[attr-defined]
        loader = getattr(spec_mod, "load_preset", None) or getattr(spec_mod, "load_accelerator", None)
        if loader is not None:
            accel = loader(PRESETS / f"{name}.yaml")
            return raw, family_module(raw["core"]["family"]).Model(accel.core)
    except ImportError:
        pass
    mod = family_module(raw["core"]["family"])
    return raw, mod.Model(build_spec(mod.Spec, raw["core"]))


def build_spec(cls: type, core: dict[str, Any]) -> Any:
    hints = typing.get_type_hints(cls)
    kw: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in core:
            continue
        v, t = core[f.name], hints[f.name]
        if isinstance(t, type) and issubclass(t, __import__("enum").Enum):
            v = t(v)
        elif typing.get_origin(t) is tuple:
            (inner, *_rest) = typing.get_args(t)
            v = tuple(inner(x) if isinstance(inner, type) and issubclass(inner, __import__("enum").Enum) else x
                      for x in v)
        kw[f.name] = v
    return cls(**kw)


def linear_shapes(model: str) -> list[tuple[str, int, int]]:
    h, f, _, _, _ = MODELS[model]
    return [("q", h, h), ("k", h, h), ("v", h, h), ("o", h, h), ("gate", h, f), ("up", h, f), ("down", f, h)]


# ---------------------------------------------------------------- 1. precompute overhead
SETTINGS = {"b1s2048": 2048, "b1024": 1024}  # M rows of every linear layer


def precompute_fraction(lut: Any, clusters: int, rows: int, fused: bool) -> float:
    """Share of precompute in (precompute + lookups) over BitNet-3B's ternary linears."""
    w, a = Format.parse("ternary"), Format.parse("int8")
    m = math.ceil(rows / clusters)
    pre = look = 0
    for _, k, n in linear_shapes("bitnet-3b"):
        p, lk = lut.split_cycles(m, k, n, w, a, fused=fused)
        pre, look = pre + int(p), look + int(lk)
    return 100.0 * pre / (pre + look)


def evaluate_unfused_share() -> dict[str, float]:
    """Unfused precompute share of BitNet-3B's linears' compute through hwsim.evaluate_workload."""
    from lowbit.hwsim.spec import load_accelerator
    from lowbit.models import zoo

    from lowbit import hwsim

    fused = load_accelerator("lut-tc-a100-like")
    unfused = fused.with_changes(**{"core.fused_precompute": False})
    out = {}
    for key, (phase, seq, batch) in E2E_SETTINGS.items():
        wl = zoo.get("bitnet-3b", phase=phase, seq_len=seq, batch=batch)
        lin = [sum(c.compute_cycles for c in hwsim.evaluate_workload(wl, "ternary", a, act_fmt="int8").layers
                   if layer_group(c.name) == "linear" and not c.name.endswith("attn_context"))
               for a in (fused, unfused)]
        out[key] = 100.0 * (1 - lin[0] / lin[1])
    return out


# ---------------------------------------------------------------- 2. end to end
def e2e_ms(raw: dict[str, Any], core: Any, mac: Any, rows: int, ctx: int, lut: bool) -> dict[str, float]:
    """BitNet-3B forward latency (ms) for `rows` tokens attending over `ctx` positions."""
    h, _f, layers, heads, vocab = MODELS["bitnet-3b"]
    clusters, freq = raw["num_cores"], float(raw["freq_hz"])
    bw = float(raw["dram"]["bandwidth_bytes_per_cycle"])
    i8, f16, tern = Format.parse("int8"), Format.parse("fp16"), Format.parse("ternary")
    m = math.ceil(rows / clusters)
    lin = 0.0
    for _, k, n in linear_shapes("bitnet-3b"):
        if lut:  # tables built by the cluster owning the rows; lookups spread over all clusters
            pre, _ = core.split_cycles(m, k, n, tern, i8)
            _, look = core.split_cycles(rows, k, n, tern, i8)
            comp = int(pre) + int(look) / clusters
            in_bytes = rows * math.ceil(k / 4) * 8  # INT8 tables (8 entries per 4 activations)
            w_bytes = k * n * 2 / 8
        else:
            comp = core.compute(rows, k, n, i8, i8, Dataflow.NONE).cycles / clusters
            in_bytes = rows * k
            w_bytes = k * n
        lin += max(comp, (w_bytes + in_bytes + rows * n * 2) / bw)
    # attention: FP16 on the MAC path in both designs, fused FlashAttention-style (scores stay
    # on chip: DRAM moves Q, K, V, O only), causal (the masked half skipped when rows == ctx)
    d = h // heads
    causal = 0.5 if rows == ctx and rows > 1 else 1.0
    comp = causal * sum(mac.compute(mm, kk, nn, f16, f16, Dataflow.NONE, heads).cycles
                        for mm, kk, nn in ((rows, d, ctx), (rows, ctx, d))) / clusters
    att = max(comp, heads * 2 * (rows * d + ctx * d) * 2 / bw)
    head = max(mac.compute(rows, h, vocab, i8, i8, Dataflow.NONE).cycles / clusters,
               (h * vocab + rows * (h + 2 * vocab)) / bw)
    cycles = layers * (lin + att) + head
    return {"ms": 1e3 * cycles / freq, "linear_ms": 1e3 * layers * lin / freq,
            "attention_ms": 1e3 * layers * att / freq, "lm_head_ms": 1e3 * head / freq}


E2E_SETTINGS = {"b1s2048": ("prefill", 2048, 1), "b1024": ("decode", 1, 1024)}  # (phase, seq, batch)
E2E_BASELINES = ("mac-tc-equal-area", "a100-like")  # INT8 tensor-core presets (identical INT8 cores)


def pipeline_costs(phase: str, seq: int, batch: int, base_hw: str = "mac-tc-equal-area") -> tuple[Any, Any]:
    """(INT8 TC W8A8, LUT ternary x int8) `WorkloadCost`s of BitNet-3B through hwsim.evaluate_workload."""
    from lowbit.hwsim.spec import load_accelerator
    from lowbit.models import zoo

    from lowbit import hwsim

    wl = zoo.get("bitnet-3b", phase=phase, seq_len=seq, batch=batch)
    base = hwsim.evaluate_workload(wl, "int8", load_accelerator(base_hw), act_fmt="int8")
    lut = hwsim.evaluate_workload(wl, "ternary", load_accelerator("lut-tc-a100-like"), act_fmt="int8")
    return base, lut


def pipeline_ms(phase: str, seq: int, batch: int, base_hw: str = "mac-tc-equal-area") -> tuple[float, float]:
    """(INT8 TC W8A8, LUT ternary x int8) latency in ms through hwsim.evaluate_workload."""
    base, lut = pipeline_costs(phase, seq, batch, base_hw)
    return 1e3 * base.latency_s, 1e3 * lut.latency_s


def layer_group(name: str) -> str:
    """Group of a zoo transformer layer name: linear, attention, lm_head or embedding."""
    leaf = name.rsplit(".", 1)[-1]
    if leaf.startswith("attn_"):
        return "attention"
    if leaf in ("lm_head", "embed_tokens"):
        return leaf
    return "linear"


def breakdown(cost: Any) -> dict[str, tuple[int, int, int]]:
    """Group -> (cycles, compute cycles, stall cycles) summed over a WorkloadCost's layers."""
    out: dict[str, list[int]] = {}
    for c in cost.layers:
        g = out.setdefault(layer_group(c.name), [0, 0, 0])
        g[0] += c.cycles
        g[1] += c.compute_cycles
        g[2] += c.stall_cycles
    return {k: (v[0], v[1], v[2]) for k, v in out.items()}


# ---------------------------------------------------------------- 3. T-MAC decode
TMAC_CASES = {"bitnet-3b": ("bitnet-3b", "ternary", 4), "llama-2-7b-w2": ("llama-2-7b", "int2", 2),
              "llama-2-7b-w4": ("llama-2-7b", "int4", 2)}  # (shapes, weights, lm_head bytes/param)


def tmac_tokens_per_s(raw: dict[str, Any], core: Any, case: str, ctx: int = 128) -> float:
    """Single-thread decode tokens/s: per linear max(compute, weight stream); the fp lm_head
    streams (BitNet-3B's checkpoint is fp32, Llama-2's fp16); attention over `ctx` in fp16."""
    model, wname, head_bytes = TMAC_CASES[case]
    h, _f, layers, _heads, vocab = MODELS[model]
    freq, bw = float(raw["freq_hz"]), float(raw["dram"]["bandwidth_bytes_per_cycle"])
    w, a = Format.parse(wname), Format.parse("fp16")
    plane_bits = 2 if wname == "ternary" else w.bits
    t = 0.0
    for _, k, n in linear_shapes(model):
        comp = core.compute(1, k, n, w, a, Dataflow.NONE).cycles
        t += max(comp, k * n * plane_bits / 8 / bw)
    t += 2 * ctx * h * 2 / bw  # KV cache read per layer (fp16 K and V)
    t *= layers
    t += vocab * h * head_bytes / bw
    return freq / t


def tmac_pipeline_tps(ctx: int = 128) -> dict[str, float]:
    """Decode tokens/s of the three T-MAC cases through hwsim.evaluate_workload."""
    from lowbit.hwsim.spec import load_accelerator
    from lowbit.models import zoo

    from lowbit import hwsim

    accel = load_accelerator("tmac-m2-neon")
    out = {}
    for case, (model, wname, _) in TMAC_CASES.items():
        wl = zoo.get(model, phase="decode", seq_len=ctx, batch=1)
        fmts = {layer.name: ("fp16" if layer.name == "lm_head" else wname) for layer in wl.layers
                if layer.op.value != "matmul"}
        out[case] = 1.0 / hwsim.evaluate_workload(wl, fmts, accel, act_fmt="fp16").latency_s
    return out


def run(markdown: bool) -> int:
    t0 = time.perf_counter()
    lraw, lut = load_preset("lut-tc-a100-like")
    mraw, mac = load_preset("mac-tc-equal-area")
    out: list[str] = []
    out.append("### 1. Table precompute overhead, BitNet-3B ternary linears (lut-tc-a100-like)")
    out.append("| setting | unfused lowbit | unfused paper | fused lowbit | fused paper |")
    out.append("|---|---|---|---|---|")
    worst = 0.0
    for key, rows in SETTINGS.items():
        un = precompute_fraction(lut, lraw["num_cores"], rows, False)
        fu = precompute_fraction(lut, lraw["num_cores"], rows, True)
        worst = max(worst, abs(un - PAPER_PRECOMPUTE[(key, False)]), abs(fu - PAPER_PRECOMPUTE[(key, True)]))
        out.append(f"| {key} (M={rows}) | {un:.1f}% | {PAPER_PRECOMPUTE[(key, False)]}% | {fu:.1f}% | "
                   f"{PAPER_PRECOMPUTE[(key, True)]}% |")
    out.append(f"\nlargest gap {worst:.1f} points (target <= 5)\n")
    out.append("Unfused share through `hwsim.evaluate_workload` (1 - fused / unfused linear compute; "
               "launch_cycles fitted on b1s2048, b1024 held out): " + ", ".join(
                   f"{k} {v:.1f}% (paper {PAPER_PRECOMPUTE[(k, False)]}%)" for k, v in evaluate_unfused_share().items())
               + "\n")

    out.append("### 2. BitNet-3B end to end through `hwsim.evaluate_workload`, INT8 tensor core vs LUT "
               "(lut-tc-a100-like)")
    out.append("| setting | INT8 TC preset | INT8 TC ms | LUT ms | ratio lowbit | ratio paper | error |")
    out.append("|---|---|---|---|---|---|---|")
    parts = []
    for key, (phase, seq, batch) in E2E_SETTINGS.items():
        pb, pl = PAPER_E2E[key]
        for base_hw in E2E_BASELINES:
            bc, lc = pipeline_costs(phase, seq, batch, base_hw)
            ratio = bc.latency_s / lc.latency_s
            out.append(f"| {key} ({phase}, seq {seq}, batch {batch}) | {base_hw} | {1e3 * bc.latency_s:.2f} | "
                       f"{1e3 * lc.latency_s:.2f} | {ratio:.3f} | {pb / pl:.3f} | "
                       f"{100 * (ratio / (pb / pl) - 1):+.1f}% |")
            if base_hw != E2E_BASELINES[0]:
                continue
            for label, cost in (("INT8 TC", bc), ("LUT", lc)):
                f = cost.freq_hz / 1e3
                grp = ", ".join(f"{g} {cy / f:.2f} ms (stall {st / f:.2f})"
                                for g, (cy, _co, st) in breakdown(cost).items())
                parts.append(f"{key} {label}: {grp}")
    out.append("\n" + "\n".join(f"- {p}" for p in parts) + "\n")
    sens = {ctx: pipeline_ms("decode", ctx, 1024) for ctx in (1, 8, 128, 512)}
    out.append("Batch 1024 by decode context (the paper's KV length is not known to us; none is held as its setting), "
               "mac-tc-equal-area vs lut-tc-a100-like, batch 1024: " + ", ".join(
                   f"context {ctx}: {b:.2f} / {lt:.2f} ms = {b / lt:.3f}" for ctx, (b, lt) in sens.items()) + "\n")

    out.append("### 2r. Cross-check: the bench's own per-layer roofline (mac-tc-equal-area vs lut-tc-a100-like)")
    out.append("| setting | INT8 TC ms | LUT ms | ratio lowbit | ratio paper | error |")
    out.append("|---|---|---|---|---|---|")
    parts = []
    for key, (rows, ctx) in {"b1s2048": (2048, 2048), "b1024": (1024, 1)}.items():
        base = e2e_ms(mraw, mac, mac, rows, ctx, lut=False)
        new = e2e_ms(lraw, lut, mac, rows, ctx, lut=True)
        ratio = base["ms"] / new["ms"]
        pb, pl = PAPER_E2E[key]
        out.append(f"| {key} | {base['ms']:.2f} | {new['ms']:.2f} | {ratio:.3f} | {pb / pl:.3f} | "
                   f"{100 * (ratio / (pb / pl) - 1):+.1f}% |")
        parts.append(f"{key}: INT8 TC linear {base['linear_ms']:.2f} / attention {base['attention_ms']:.2f} / "
                     f"lm_head {base['lm_head_ms']:.2f} ms; LUT linear {new['linear_ms']:.2f} / attention "
                     f"{new['attention_ms']:.2f} / lm_head {new['lm_head_ms']:.2f} ms")
    out.append("\n" + "\n".join(f"- {p}" for p in parts) + "\n")

    out.append("### 3. T-MAC single-thread decode tokens/s (tmac-m2-neon; paper: M2-Ultra, 1 thread)")
    traw, tcore = load_preset("tmac-m2-neon")
    tps = {c: tmac_tokens_per_s(traw, tcore, c) for c in TMAC_CASES}
    out.append("| model | lowbit tok/s | T-MAC tok/s |")
    out.append("|---|---|---|")
    for c, v in tps.items():
        out.append(f"| {c} | {v:.2f} | {TMAC_M2[c]} |")
    out.append("| ratio | lowbit | T-MAC | error |")
    out.append("|---|---|---|---|")
    for x, y in (("bitnet-3b", "llama-2-7b-w2"), ("llama-2-7b-w2", "llama-2-7b-w4"), ("bitnet-3b", "llama-2-7b-w4")):
        r, p = tps[x] / tps[y], TMAC_M2[x] / TMAC_M2[y]
        out.append(f"| {x} / {y} | {r:.3f} | {p:.3f} | {100 * (r / p - 1):+.1f}% |")
    out.append("\nThrough `hwsim.evaluate_workload` (the held figure; zoo decode, context 128, lm_head fp16 "
               "for all three: kernels_ref.formats has no fp32 weight format). DRAM bandwidth fitted on "
               "llama-2-7b-w4 only; the others are held out:")
    pipe = tmac_pipeline_tps()
    out.append("| model | role | lowbit tok/s | T-MAC tok/s | error |\n|---|---|---|---|---|")
    for c, v in pipe.items():
        role = "fit" if c == "llama-2-7b-w4" else "held out"
        out.append(f"| {c} | {role} | {v:.2f} | {TMAC_M2[c]} | {100 * (v / TMAC_M2[c] - 1):+.1f}% |")
    out.append(f"\nratios: {pipe['bitnet-3b'] / pipe['llama-2-7b-w2']:.3f} (T-MAC "
               f"{TMAC_M2['bitnet-3b'] / TMAC_M2['llama-2-7b-w2']:.3f}), "
               f"{pipe['llama-2-7b-w2'] / pipe['llama-2-7b-w4']:.3f} (T-MAC "
               f"{TMAC_M2['llama-2-7b-w2'] / TMAC_M2['llama-2-7b-w4']:.3f})")
    araw, acore = load_preset("tmac-avx2")
    out.append("\ntmac-avx2 (no published single-core target used): " + ", ".join(
        f"{c} {tmac_tokens_per_s(araw, acore, c):.2f} tok/s" for c in TMAC_CASES))

    out.append("\n### 4. LUT cycles vs weight bits (lut-tc-a100-like LUT units, side MMA path off, one cluster, "
               "M=19 K=3200 N=8640)")
    lut_only = type(lut)(dataclasses.replace(lut.spec, mac_int8_macs_per_cycle=0, mac_fp16_macs_per_cycle=0))
    cyc = [lut_only.compute(19, 3200, 8640, Format.parse(f"int{b}"), Format.parse("int8"), Dataflow.NONE).cycles
           for b in (1, 2, 3, 4)]
    out.append("| bits | 1 | 2 | 3 | 4 |\n|---|---|---|---|---|\n| cycles | " + " | ".join(map(str, cyc)) + " |")
    out.append("\n### 5. Compute energy (core actions only, hwsim.energy at 7 nm), BitNet-3B up-proj, M=2048")
    table = EnergyTable.for_node(7)
    i8 = Format.parse("int8")
    e_mac = table.price_all(mac.compute(2048, 3200, 8640, i8, i8, Dataflow.NONE).actions)
    e_lut = table.price_all(lut.compute(2048, 3200, 8640, Format.parse("ternary"), i8, Dataflow.NONE).actions)
    out.append(f"INT8 tensor core W8A8 {1e3 * float(e_mac):.2f} mJ, LUT tensor core ternary x int8 "
               f"{1e3 * float(e_lut):.2f} mJ, ratio {float(e_mac) / float(e_lut):.2f}x")
    out.append(f"\nbench wall time {time.perf_counter() - t0:.2f} s")
    text = "\n".join(out)
    print(text if markdown else text.replace("|---", "").replace("---|", ""))
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--markdown", action="store_true")
    return run(ap.parse_args().markdown)


if __name__ == "__main__":
    raise SystemExit(main())
