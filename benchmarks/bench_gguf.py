"""lowbit formats vs llama.cpp's reference (gguf.quants) and torch's int4 CPU kernel (issue 16, item 6).

For each lowbit format with a GGUF counterpart, on the same fp32 weights [N=256, K=4096]
(standard normal, seed 0):
- layout: lowbit's codes/scales packed in GGUF blocks (kernels_ref.gguf_blocks), dequantised
  by gguf.quants vs lowbit's dequantize (max abs difference);
- reverse: gguf.quants.quantize bytes read by lowbit vs gguf's dequantize;
- quantisers: lowbit's quantiser vs ggml's on the same weights (max abs difference of the
  dequantised values) and each one's RMS error to the weights.
Then torch._weight_int4pack_mm_for_cpu vs lowbit's int4 kernels (M=8, int8-valued x).

    .venv/bin/python benchmarks/bench_gguf.py [--write]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from gguf import GGMLQuantizationType as T
from gguf import quants as GQ
from lowbit.kernels_ref.formats import Format
from lowbit.kernels_ref.gguf_blocks import from_gguf, to_gguf
from lowbit.kernels_ref.gguf_types import GGUF_COUNTERPARTS
from lowbit.kernels_ref.quant import dequantize, quantize
from lowbit.kernels_ref.wholemodel import kernel_for

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
SECTION = "## GGUF and torch int4 reference equality (issue 16, item 6; helper J)"
NOTES = [
    "Layout: lowbit codes+scales in GGUF block bytes, dequantised by `gguf.quants` (gguf 0.19.0)",
    "vs `quant.dequantize`. Reverse: bytes from `gguf.quants.quantize` read by lowbit. The",
    "quantisers differ by rule (kernels_ref/gguf_types.py; tests/kernels_ref/test_gguf_reference.py",
    "tests each rule exactly): the last three columns compare them on the same weights.",
]


def gguf_rows(n: int = 256, k: int = 4096) -> list[str]:
    w = np.random.default_rng(0).standard_normal((n, k)).astype(np.float32)
    out = [("| lowbit format | GGUF type | layout max abs diff | reverse max abs diff | "
           "lowbit vs ggml quantiser max abs diff | RMS err lowbit | RMS err ggml |"), "|---|---|---|---|---|---|---|"]
    for fmt, gt in sorted(GGUF_COUNTERPARTS.items()):
        qt = quantize(torch.from_numpy(w).t(), fmt, axis=0)
        ours = dequantize(qt).t().numpy()
        rows, _ = to_gguf(qt)
        lay = float(np.abs(GQ.dequantize(rows, getattr(T, gt)).astype(np.float64) - ours).max())
        data = GQ.quantize(w, getattr(T, gt))
        theirs = GQ.dequantize(data, getattr(T, gt)).astype(np.float64)
        rev = float(np.abs(dequantize(from_gguf(data, gt, k, n)).t().numpy() - theirs).max())
        q = float(np.abs(ours - theirs).max())
        e1, e2 = (float(np.sqrt(((v - w) ** 2).mean())) for v in (ours, theirs))
        out.append(f"| {fmt} | {gt} | {lay:.3g} | {rev:.3g} | {q:.4g} | {e1:.4g} | {e2:.4g} |")
    return out


def torch_rows(m: int = 8, k: int = 4096, n: int = 256) -> list[str]:
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    w = torch.randn(n, k, generator=g)
    x = torch.randint(-127, 128, (m, k), generator=g)
    out = ["| lowbit format | torch op | max abs diff | max rel diff |", "|---|---|---|---|"]
    for name in ("int4g32", "int4g64", "int4g128", "int4g32_spow2", "int4g128_spow2"):
        fmt = Format.parse(name)
        group = fmt.group_size
        qt = quantize(w.t(), fmt, axis=0)
        packed = torch._convert_weight_to_int4pack_for_cpu((qt.codes.t() + 8).to(torch.int32).contiguous(), 2)
        sz = torch.stack([qt.scales.float(), torch.zeros(qt.scales.shape)], dim=2).contiguous()
        yt = torch._weight_int4pack_mm_for_cpu(x.float(), packed, group, sz).double()
        kern = kernel_for(fmt)
        y = torch.zeros(m, n, dtype=torch.float64)
        for gi in range(k // group):
            sl = slice(gi * group, (gi + 1) * group)
            y += kern.fn(x[:, sl].contiguous(), qt.codes[sl].contiguous(), fmt,
                         Format.parse("int8")).double() * qt.scales[gi].double()
        d = float((yt - y).abs().max())
        out.append(f"| {name} | `_weight_int4pack_mm_for_cpu` (fp32 x) vs `{kern.name}` | {d:.3g} | "
                   f"{d / float(y.abs().max()):.3g} |")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--write", action="store_true", help="write this section of benchmarks/RESULTS.md")
    args = ap.parse_args()
    lines = [*gguf_rows(), "", "torch int4 weight-only CPU kernel, M=8 K=4096 N=256, x int8-valued fp32:", "",
             *torch_rows()]
    print("\n".join(lines))
    if args.write:
        body = [SECTION, "", "Command: `.venv/bin/python benchmarks/bench_gguf.py --write`", "", *NOTES, "",
                *lines, ""]
        text = RESULTS.read_text() if RESULTS.exists() else ""
        start = text.find(SECTION)
        if start < 0:
            new = text.rstrip("\n") + "\n\n" + "\n".join(body)
        else:
            nxt = text.find("\n## ", start + len(SECTION))
            tail = text[nxt + 1:] if nxt >= 0 else ""
            new = text[:start] + "\n".join(body) + ("\n" + tail if tail else "")
        RESULTS.write_text(new)


if __name__ == "__main__":
    main()
