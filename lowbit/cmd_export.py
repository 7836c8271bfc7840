"""`lowbit export`: carry an allocation to a deployment toolchain.

    lowbit export alloc.json --to gguf-types [-o types.txt] [--skip-unmapped]
    lowbit export alloc.json --to torch -o model_q.pt [--seed N]

`alloc.json` is the document `lowbit allocate -o` writes (zoo layer names; the
rule to module and GGUF tensor names is `lowbit.models.naming`).

gguf-types: one llama.cpp tensor-type override per line, `NAME=TYPE`, NAME an
anchored regex of the GGUF tensor (`^blk\\.0\\.attn_q\\.weight$=Q4_0`), for
`llama-quantize --tensor-type-file types.txt` (or each line as `--tensor-type`).
Only formats with the same storage and dequantisation in GGUF are written
(`lowbit.kernels_ref.gguf_types`: int8g32=Q8_0, int4g32=Q4_0, ternaryg256=TQ2_0,
fp4g32_spow2=MXFP4, fp16=F16, bf16=BF16). A layer whose format has no counterpart,
or that has no GGUF tensor, is an error naming it (exit 2), never a substitute;
`--skip-unmapped` leaves such layers out (llama-quantize then gives them its own
default type) and lists them on stderr.

torch: a quantised copy of the model's state dict (`kernels_ref.export_torch`),
loadable with `torch.load(FILE, weights_only=True)`; for the models lowbit holds
weights for (digits, minilm).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

from lowbit.argtypes import SEED_MAX, bounded_int
from lowbit.kernels_ref.errors import InvalidSpecError, UnsupportedFormatError

__all__ = ["gguf_overrides", "register"]

_TARGETS = ("gguf-types", "torch")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("export", help="write an allocation as llama.cpp tensor types or a quantised state dict",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("allocation", metavar="ALLOC", help="alloc.json written by `lowbit allocate -o`")
    p.add_argument("--to", required=True, choices=_TARGETS, help="target: gguf-types or torch")
    p.add_argument("-o", "--output", metavar="FILE", default=None,
                   help="output file (gguf-types: default stdout; torch: required)")
    p.add_argument("--skip-unmapped", action="store_true",
                   help="gguf-types: leave out layers without a GGUF counterpart (listed on stderr)")
    p.add_argument("--seed", type=bounded_int(0, SEED_MAX, "--seed"), default=0,
                   help="torch: training seed of the digits CNN (default 0, as allocate's sensitivity)")
    p.set_defaults(func=run)


def _document(path: str) -> dict[str, Any]:
    from lowbit.kernels_ref.loaders import load_yaml, read_text

    doc = load_yaml(read_text(path, "allocation file"), f"allocation file {path}")
    if not isinstance(doc, dict) or not isinstance(doc.get("layers"), list) or not isinstance(doc.get("model"), str):
        raise InvalidSpecError(f"allocation file {path}: expected the document `lowbit allocate -o` writes "
                               "(with 'model' and a 'layers' list)")
    return doc


def gguf_overrides(doc: dict[str, Any], skip_unmapped: bool = False
                   ) -> tuple[list[tuple[str, str]], list[tuple[str, str, str]]]:
    """([(GGUF tensor regex, GGUF type)], [(layer, format, why) left out]) for an allocation
    document. Unmapped layers raise UnsupportedFormatError unless `skip_unmapped`."""
    from lowbit.kernels_ref.gguf_types import gguf_type
    from lowbit.models import naming

    model = doc["model"]
    lines: list[tuple[str, str]] = []
    left: list[tuple[str, str, str]] = []
    for i, ly in enumerate(doc["layers"]):
        if not isinstance(ly, dict) or not isinstance(ly.get("name"), str) or not isinstance(ly.get("format"), str):
            raise InvalidSpecError(f"allocation: layers[{i}] needs string 'name' and 'format'")
        name, ftext = ly["name"], ly["format"]
        wfmt = ftext.partition("/")[0]
        tensor = naming.gguf_name(model, name)
        if tensor is None:  # incl. attention MATMULs ("kv:K/A": a KV cache format, no weight tensor)
            left.append((name, ftext, "llama.cpp has no tensor for this layer"))
            continue
        gtype = gguf_type(wfmt)
        if gtype is None:
            left.append((name, ftext, f"{wfmt} has no GGUF counterpart (same storage and dequantisation)"))
        else:
            lines.append((f"^{re.escape(tensor + '.weight')}$", gtype))
    if left and not skip_unmapped:
        shown = "; ".join(f"{n} ({f}): {why}" for n, f, why in left[:5])
        more = f"; and {len(left) - 5} more" if len(left) > 5 else ""
        raise UnsupportedFormatError(f"no GGUF type for {len(left)} layer(s): {shown}{more} "
                                     "(--skip-unmapped leaves them to llama-quantize's default)")
    return lines, left


def _to_torch(args: argparse.Namespace, doc: dict[str, Any]) -> int:
    import torch

    from lowbit.cmd_verify import MODEL_NAMES, load_allocation, load_named_model
    from lowbit.kernels_ref.errors import UnsupportedFormatError as _U
    from lowbit.kernels_ref.export_torch import quantized_state_dict
    from lowbit.kernels_ref.formats import Format
    from lowbit.models import zoo

    if not args.output:
        raise InvalidSpecError("--to torch needs -o FILE")
    key = zoo.canonical(doc["model"])
    known = {zoo.canonical(m): m for m in MODEL_NAMES}
    if key not in known:
        raise InvalidSpecError(f"--to torch: lowbit holds no weights for {doc['model']!r} "
                               f"(known: {', '.join(MODEL_NAMES)})")
    alloc = load_allocation(args.allocation, known[key])
    model, _, _ = load_named_model(known[key], args.seed)
    try:
        fmts = {m: Format.parse(f) for m, f in alloc.items()}
    except _U as exc:
        raise UnsupportedFormatError(f"allocation file {args.allocation}: {exc}") from None
    blob = quantized_state_dict(model, fmts, name=key)
    torch.save(blob, args.output)
    sys.stdout.write(f"wrote {args.output}: {len(blob['quantised'])} quantised weights, "
                     f"{len(blob['tensors'])} other tensors (torch.load(..., weights_only=True))\n")
    return 0


def run(args: argparse.Namespace) -> int:
    doc = _document(args.allocation)
    if args.to == "torch":
        return _to_torch(args, doc)
    lines, left = gguf_overrides(doc, args.skip_unmapped)
    text = "".join(f"{t}={g}\n" for t, g in lines)
    for name, fmt, why in left:
        sys.stderr.write(f"lowbit export: left out {name} ({fmt}): {why}\n")
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        sys.stderr.write(f"wrote {len(lines)} overrides to {args.output}: "
                         f"llama-quantize --tensor-type-file {args.output} IN.gguf OUT.gguf TYPE\n")
    else:
        sys.stdout.write(text)
    return 0
