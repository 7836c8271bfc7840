"""Binary tensor cores against ABQ-LLM's kernel-level speedups (issue 6).

Target (FIDELITY.md, ABQ-LLM, bytedance/ABQ-LLM): on an A100-class GPU, a WxAy GEMM run as
x*y one-bit GEMMs on binary tensor cores is

- about 4x faster than CUTLASS W8A8 for W2A8 on 4096x11008-type weights,
- about 2-3.7x faster than W4A4 for W2A2,

and lowbit's ratios on the A100-like presets should be within 30% of those. The per-shape
numbers live only in the README's figure (`fig/kernel_speed.png`, an image); the search
tools reach the README text and the paper's abstract, not the figure's values, so the
reference here is FIDELITY.md's reading of that figure: 4.0 for every W2A8 row (read for
4096x11008-type shapes; applied to 4096x4096 too) and the range 2.0-3.7 for W2A2 (a row is
met when it lies within 30% of the range: 1.40-4.81).

Every figure goes through the real hwsim path: `hwsim.evaluate.evaluate` on a
`models.ir.Layer.linear` (M tokens, K = 4096 in, N out), with the mapper's search (split of
the layer over the 108 SMs, tiling, loop order) and `hwsim.memory`'s DRAM/SMEM timeline.

- W2A8 / W2A2: preset `btc-a100-like` (binary_tensor_core: 4 units x m8n8k128 per 2 cycles
  per SM = A100's 4992 INT1 TOPS; 2x8 = 16 or 2x2 = 4 planes).
- W8A8 / W4A4: preset `a100-like` (mac_array tensor core at the INT8 624 / INT4 1248 TOPS
  rates).

At M = 1-8 these GEMMs are memory-bound on both designs (weights dominate DRAM traffic), so
the ratio is set by weight bytes: 2-bit weights move 4x fewer bytes than 8-bit and 2x fewer
than 4-bit. The table prints the DRAM bits per weight the model charged (weights only) to
show the 2-bit weights really cost 2 bits (+ the N padding of the 108-SM split).

Run: .venv/bin/python benchmarks/bench_binary.py [--markdown] [--update-results]
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

from lowbit.hwsim.evaluate import LayerCost, evaluate
from lowbit.hwsim.spec import Accelerator, load_accelerator
from lowbit.kernels_ref.formats import Format
from lowbit.models.ir import Layer

RESULTS = ROOT / "benchmarks" / "RESULTS.md"
SECTION = "## Binary tensor cores (issue 6): ABQ-LLM kernel ratios"
TOL = 0.30
K_IN = 4096
SHAPES = ((4096, 4096), (4096, 11008))  # (K, N): LLaMA-7B attention and MLP weights
BATCHES = (1, 4, 8)
# (name, btc weight, btc act, baseline weight, baseline act, reported low, reported high)
# FIDELITY.md / ABQ-LLM README fig/kernel_speed.png: W2A8 ~4x over CUTLASS W8A8 on
# 4096x11008-type shapes; W2A2 about 2-3.7x over W4A4.
PAIRS = (
    ("W2A8 vs W8A8", "int2", "int8", "int8", "int8", 4.0, 4.0),
    ("W2A2 vs W4A4", "int2", "int2", "int4", "int4", 2.0, 3.7),
)


@dataclass(frozen=True)
class Row:
    pair: str
    k: int
    n: int
    m: int
    btc: LayerCost
    base: LayerCost
    w_bits_btc: float
    w_bits_base: float
    lo: float
    hi: float

    @property
    def ratio(self) -> float:
        return self.base.cycles / self.btc.cycles

    @property
    def compute_ratio(self) -> float:
        return self.base.compute_cycles / self.btc.compute_cycles

    @property
    def reported(self) -> str:
        return f"{self.lo:g}" if self.lo == self.hi else f"{self.lo:g}-{self.hi:g}"

    @property
    def error(self) -> float:
        """Relative error to the reported value (0 inside a reported range)."""
        if self.ratio < self.lo:
            return self.ratio / self.lo - 1.0
        if self.ratio > self.hi:
            return self.ratio / self.hi - 1.0
        return 0.0

    @property
    def met(self) -> bool:
        return abs(self.error) <= TOL


def weight_dram_bits(cost: LayerCost, layer: Layer, w: str, a: str) -> float:
    """DRAM bits per weight the model charged: all DRAM bytes minus the input read once and
    the output written once (both at the activation width), over K x N weights."""
    ab = Format.parse(a).bits_per_weight
    other = (layer.m * layer.k + layer.m * layer.n) * ab / 8.0
    return (cost.dram_bytes - other) * 8.0 / (layer.k * layer.n)


def measure(btc: Accelerator, base: Accelerator) -> list[Row]:
    rows = []
    for pair, bw, ba, qw, qa, lo, hi in PAIRS:
        for k, n in SHAPES:
            for m in BATCHES:
                layer = Layer.linear(f"linear_{k}x{n}", m, k, n)
                c_btc = evaluate(layer, bw, btc, act_fmt=ba)
                c_base = evaluate(layer, qw, base, act_fmt=qa)
                rows.append(Row(pair, k, n, m, c_btc, c_base, weight_dram_bits(c_btc, layer, bw, ba),
                                weight_dram_bits(c_base, layer, qw, qa), lo, hi))
    return rows


def compute_bound_rows(btc: Accelerator, base: Accelerator) -> list[tuple[str, int, float, float]]:
    """Informational: the same pairs at M = 4096 (compute-bound), where planes cost compute."""
    out = []
    for pair, bw, ba, qw, qa, _lo, _hi in PAIRS:
        layer = Layer.linear("linear_4096x11008", 4096, K_IN, 11008)
        c_btc = evaluate(layer, bw, btc, act_fmt=ba)
        c_base = evaluate(layer, qw, base, act_fmt=qa)
        out.append((pair, 4096, c_base.cycles / c_btc.cycles, c_btc.utilization))
    return out


def h100_rows(m_values: tuple[int, ...] = BATCHES) -> list[tuple[int, int, float]]:
    """Informational: W2A8 on btc-h100-like vs W8A8 on h100-like (INT8 tensor core)."""
    btc, base = load_accelerator("btc-h100-like"), load_accelerator("h100-like")
    out = []
    for k, n in SHAPES:
        for m in m_values:
            layer = Layer.linear("l", m, k, n)
            out.append((n, m, evaluate(layer, "int8", base, act_fmt="int8").cycles
                        / evaluate(layer, "int2", btc, act_fmt="int8").cycles))
    return out


def table(rows: list[Row], md: bool) -> list[str]:
    head = ["pair", "K x N", "M", "BTC cycles (compute+stall)", "baseline cycles (compute+stall)",
            "ratio lowbit", "ratio reported", "rel. error", "met (30%)", "compute-only ratio",
            "DRAM bits/weight BTC / base"]
    lines = []
    if md:
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    else:
        lines.append("  ".join(head))
    for r in rows:
        cells = [r.pair, f"{r.k}x{r.n}", str(r.m),
                 f"{r.btc.cycles} ({r.btc.compute_cycles}+{r.btc.stall_cycles})",
                 f"{r.base.cycles} ({r.base.compute_cycles}+{r.base.stall_cycles})",
                 f"{r.ratio:.3f}", r.reported, f"{100 * r.error:+.1f}%", "met" if r.met else "NOT met",
                 f"{r.compute_ratio:.3f}", f"{r.w_bits_btc:.3f} / {r.w_bits_base:.3f}"]
        lines.append(("| " + " | ".join(cells) + " |") if md else "  ".join(cells))
    return lines


def run(md: bool) -> tuple[list[str], bool]:
    t0 = time.perf_counter()
    btc, base = load_accelerator("btc-a100-like"), load_accelerator("a100-like")
    rows = measure(btc, base)
    cb = compute_bound_rows(btc, base)
    h1 = h100_rows()
    dt = time.perf_counter() - t0
    out = table(rows, md)
    ok = all(r.met for r in rows)
    n_met = sum(r.met for r in rows)
    out.append("")
    out.append(f"{n_met}/{len(rows)} rows within 30% of the reported ratio "
               f"(largest |error| {100 * max(abs(r.error) for r in rows):.1f}%); {dt:.2f} s.")
    gm = math.sqrt(PAIRS[1][5] * PAIRS[1][6])
    w22 = [r.ratio for r in rows if r.pair.startswith("W2A2")]
    out.append(f"W2A2 vs W4A4 against the range's geometric mean {gm:.2f}: "
               f"{100 * (min(w22) / gm - 1):+.1f}% to {100 * (max(w22) / gm - 1):+.1f}%.")
    out.append("")
    out.append("Informational, compute-bound (M = 4096, K x N = 4096x11008; not an ABQ-LLM target):")
    for pair, m, ratio, util in cb:
        out.append(f"- {pair}, M={m}: ratio {ratio:.3f} (BTC utilisation {util:.2f})")
    out.append("")
    out.append("Informational, H100 (btc-h100-like W2A8 vs h100-like INT8 W8A8; binary MMA rate "
               "ASSUMED equal per SM to A100's, see the preset):")
    out.append("- " + ", ".join(f"N={n} M={m}: {r:.3f}" for n, m, r in h1))
    return out, ok


def update_results(lines: list[str], command: str) -> None:
    """Replace (or append) this bench's section of RESULTS.md; other sections untouched."""
    body = [SECTION, "", f"Command: `{command}`", "", *NOTES, "", *lines, ""]
    text = RESULTS.read_text() if RESULTS.exists() else ""
    start = text.find(SECTION)
    if start < 0:
        new = text.rstrip("\n") + "\n\n" + "\n".join(body)
    else:
        nxt = text.find("\n## ", start + len(SECTION))
        tail = text[nxt + 1:] if nxt >= 0 else ""
        new = text[:start] + "\n".join(body) + ("\n" + tail if tail else "")
    RESULTS.write_text(new)


NOTES = [
    "Presets: `btc-a100-like` (binary_tensor_core, 108 SMs x 4 units x m8n8k128 per 2 cycles =",
    "A100's 4992 INT1 TOPS at 1.41 GHz, HBM 1555 GB/s) against `a100-like` (INT8 624 / INT4 1248",
    "TOPS tensor core, same memory). Each figure is `hwsim.evaluate.evaluate` on",
    "`Layer.linear(M tokens, K=4096, N)` with the mapper's search (split over SMs, tiles, loop",
    "order) and hwsim.memory's timeline; ratio = baseline cycles / BTC cycles.",
    "",
    "Reference: FIDELITY.md's reading of ABQ-LLM's kernel figure (bytedance/ABQ-LLM README,",
    "`fig/kernel_speed.png`): W2A8 about 4x over CUTLASS W8A8 on 4096x11008-type shapes (used for",
    "both shapes here), W2A2 about 2-3.7x over W4A4 (a range: error 0 inside it). The figure is an",
    "image; the search tools reached the README text and the paper's abstract only, so no",
    "per-shape values could be read and none are confirmed beyond FIDELITY.md.",
    "",
    "Why the ratios come out as they do: at M = 1-8 both designs are memory-bound (stall >>",
    "compute in the columns below), so the ratio is the ratio of DRAM bytes, dominated by",
    "weights: 2 bits against 8 (4x) and against 4 (2x). The last column is the DRAM bits per",
    "weight the model charged (all DRAM bytes minus input and output, over K x N): 2.00 for",
    "int2 (x1.002 from padding N to 108 equal SM slices). Per-channel fp16 weight scales (N x 2",
    "bytes, 0.2% of the int2 weight bytes at K = 4096) are not counted by `Format.bits_per_weight`",
    "for per-channel formats; adding them would lower the W2A8 ratios by about 0.15%.",
    "The compute-only ratio (compute cycles alone) shows what would happen if memory were free:",
    "16 binary planes at 4992/16 = 312 TOPS against INT8's 624. W2A2 reaching the bottom of",
    "ABQ-LLM's 2-3.7x range (not its middle) is the memory-bound limit: the model's W4A4 runs at",
    "the INT4 tensor core's roofline, while ABQ-LLM's larger ratios likely reflect CUTLASS W4A4",
    "falling short of its roofline at M <= 8 (our reading; not checked against the paper).",
    "Model change made for this issue: the binary core opts into the mapper's M split",
    "(`row_split`), so activations are bit-packed once per row rather than on every SM (ABQ-LLM",
    "packs activations in one pass before its GEMM); it does not change these memory-bound rows,",
    "and makes compute-bound cycles scale as x*y planes (tests/hwsim/test_binary_presets.py).",
    "Whole model (not a target): `lowbit simulate --hw btc-a100-like --model llama-2-7b --weights",
    "int2 --acts int8` (prefill, seq 2048) gives 181.9 ms against 84.7 ms for int8/int8 on",
    "a100-like: prefill is compute-bound, where 16 planes lose to the INT8 tensor core; and the",
    "BTC preset has no FP16/INT8 side path, so attention matmuls run as 64 one-bit GEMMs (int8 x",
    "int8), which ABQ-LLM would run on the ordinary tensor cores.",
    "No device run (this task was not lent a GPU): the CUDA comparison against torch._int_mm",
    "asked for in the issue is not done.",
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--markdown", action="store_true", help="print the table as markdown")
    ap.add_argument("--update-results", action="store_true",
                    help="write this bench's section of benchmarks/RESULTS.md (markdown)")
    args = ap.parse_args()
    md = args.markdown or args.update_results
    lines, ok = run(md)
    print("\n".join(lines))
    if args.update_results:
        update_results(lines, ".venv/bin/python benchmarks/bench_binary.py --update-results")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
