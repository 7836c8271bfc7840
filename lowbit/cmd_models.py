"""`lowbit models`: list the zoo, show one model's layers.

    lowbit models list
    lowbit models show NAME [--phase prefill|decode|inference] [--seq N] [--context N] [--batch N] [--json]
    lowbit models show --config path/config.json [...]
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from lowbit.argtypes import BATCH_MAX, SEQ_MAX, bounded_int
from lowbit.kernels_ref.errors import InvalidSpecError
from lowbit.tables import table

if TYPE_CHECKING:  # the zoo is imported by the handlers, not by `lowbit --help`
    from lowbit.models.ir import Workload

__all__ = ["register"]


def _list(args: argparse.Namespace) -> int:
    from lowbit.models import zoo

    names = zoo.list_models()
    if args.json:
        sys.stdout.write(json.dumps(names) + "\n")
        return 0
    rows = [(n, zoo.default_phase(n).value) for n in names]
    sys.stdout.write(table(rows, ("model", "default phase"), set()) + "\n")
    return 0


def _workload(args: argparse.Namespace) -> Workload:
    from lowbit.models.workload_io import resolve_model

    for flag, v in (("--seq", args.seq), ("--batch", args.batch), ("--context", args.context)):
        if v is not None and v < 1:
            raise InvalidSpecError(f"{flag} must be a positive integer, got {v}")
    if args.config is not None and args.name is not None:
        raise InvalidSpecError("give either a model NAME or --config, not both")
    ref = args.config if args.config is not None else args.name
    if ref is None:
        from lowbit.models import zoo

        raise InvalidSpecError("models show needs a model (a zoo name, config.json, .onnx, workload "
                               f"YAML/JSON or file.py:factory; zoo: {', '.join(zoo.list_models())})")
    batch = 1 if args.batch is None else args.batch
    if args.config is not None:  # explicitly a HF config, whatever its file name
        from lowbit.models.importers import from_hf_config

        return from_hf_config(args.config, phase=args.phase, seq_len=args.seq, batch=batch,
                              context_len=args.context)
    return resolve_model(ref, phase=args.phase, seq_len=args.seq, batch=batch,
                         context_len=args.context)


def _show(args: argparse.Namespace) -> int:
    from lowbit.models import zoo
    from lowbit.models.workload_io import workload_to_dict

    wl = _workload(args)
    out = workload_to_dict(wl)  # the workload file schema: `--model` reads it back
    if args.json:
        sys.stdout.write(json.dumps(out) + "\n")
        return 0
    rows = [(l.name, l.op.value, f"{l.m:,}", f"{l.k:,}", f"{l.n:,}", f"{l.batch:,}", f"{l.weight_params:,}",
             f"{l.macs:,}") for l in wl.layers]
    sys.stdout.write(table(rows, ("layer", "op", "M", "K", "N", "batch", "weight params", "MACs"),
                            {2, 3, 4, 5, 6, 7}) + "\n")
    extra = zoo.aux_params(wl)
    ctx = dict(wl.meta).get("context_len", 0)
    shape = f"batch {wl.batch}" + (f", context {ctx}" if ctx else (f", seq {wl.seq_len}" if wl.seq_len else ""))
    sys.stdout.write(f"\n{wl.name} ({wl.phase.value}, {shape}): {len(wl.layers)} layers, "
                     f"{wl.total_params:,} weight params"
                     + (f" (+{extra:,} biases/norms = {wl.total_params + extra:,})" if extra else "")
                     + f", {wl.total_macs:,} MACs ({wl.total_macs / 1e9:.3f} GMAC)\n")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("models", help="model zoo: list, show")
    sub = p.add_subparsers(dest="models_command", metavar="SUBCOMMAND")
    pl = sub.add_parser("list", help="list zoo models")
    pl.add_argument("--json", action="store_true", help="print a JSON list")
    pl.set_defaults(func=_list)
    ps = sub.add_parser("show", help="per-layer GEMM view of a model")
    ps.add_argument("name", nargs="?", help="zoo name (`lowbit models list`), HF config.json, .onnx, "
                    "workload YAML/JSON, or file.py:factory")
    ps.add_argument("--config", help="a Hugging Face style config.json instead of a zoo name")
    ps.add_argument("--phase", choices=("prefill", "decode", "inference"), help="default: the model's own")
    ps.add_argument("--seq", type=bounded_int(1, SEQ_MAX, "--seq"), help="tokens per sequence (prefill) or context length (decode)")
    ps.add_argument("--context", type=bounded_int(1, SEQ_MAX, "--context"), help="decode context length (default: --seq, else 2048)")
    ps.add_argument("--batch", type=bounded_int(1, BATCH_MAX, "--batch"), help="sequences or images (default 1)")
    ps.add_argument("--json", action="store_true", help="print one JSON object")
    ps.set_defaults(func=_show)

    def _help(_args: argparse.Namespace) -> int:
        p.print_help()
        return 2

    p.set_defaults(func=_help)
