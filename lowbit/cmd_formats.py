"""`lowbit formats`: list the canonical number formats, show one format."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from lowbit.kernels_ref.errors import InvalidSpecError
from lowbit.tables import table

if TYPE_CHECKING:
    from lowbit.kernels_ref.formats import Format

__all__ = ["register"]


def _row(name: str, fmt: Format, notes: str) -> tuple[str, ...]:
    return (name, fmt.kind.value, str(fmt.bits), f"{fmt.bits_per_weight:g}", fmt.granularity.value, notes)


def _list(args: argparse.Namespace) -> int:
    from lowbit.kernels_ref.formats import list_formats

    infos = list_formats()
    if args.json:
        out = [{"name": i.name, "kind": i.fmt.kind.value, "bits": i.fmt.bits,
                "bits_per_weight": i.fmt.bits_per_weight, "granularity": i.fmt.granularity.value,
                "notes": i.notes} for i in infos]
        sys.stdout.write(json.dumps(out, indent=1) + "\n")
        return 0
    rows = [_row(i.name, i.fmt, i.notes) for i in infos]
    sys.stdout.write(table(rows, ("name", "kind", "bits", "bits/weight", "granularity", "notes")) + "\n")
    sys.stdout.write("Every INT/UINT width 1-16 parses too: int1 .. int16, uint1 .. uint16 "
                     "(e.g. `lowbit formats show int9`).\n"
                     "Suffixes: g<N> group of N along K, t per-tensor, _sfp32/_spow2 scale format.\n")
    return 0


def _show(args: argparse.Namespace) -> int:
    from lowbit.kernels_ref.formats import Format, Granularity

    fmt = Format.parse(args.name)
    if args.k is not None and args.k < 1:
        raise InvalidSpecError(f"--k must be positive, got {args.k}")
    if args.n < 1:
        raise InvalidSpecError(f"--n must be positive, got {args.n}")
    rows = [("format", str(fmt)), ("kind", fmt.kind.value), ("bits", str(fmt.bits)),
            ("granularity", fmt.granularity.value),
            ("scale", fmt.scale.value if fmt.scale else "none"),
            ("bits/weight", f"{fmt.bits_per_weight:g}")]
    if fmt.salient is not None:
        what = "weights per group and column (int8, bitmap)" if fmt.kind.value == "pbllm" else \
            "input channels per group (int4; K-bit channel mask per matrix)"
        rows.append(("salient", f"{fmt.salient_count} of {fmt.group_size} {what}"))
    if fmt.variant == "i2_s":
        rows.append(("layout", "bitnet.cpp I2_S: 128-element blocks of 32 bytes, fp32 scale in a 32-byte tail"))
    if args.k is not None:
        if fmt.granularity is Granularity.GROUP and args.k % (fmt.group_size or 1):
            raise InvalidSpecError(f"group size {fmt.group_size} of {fmt} does not divide K={args.k}")
        bits = fmt.storage_bits(args.k, args.n)
        rows.append((f"storage of {args.k}x{args.n}", f"{bits / 8:.0f} bytes ({bits / (args.k * args.n):.4f} bits/weight)"))
    sys.stdout.write(table(rows, ("field", "value")) + "\n")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("formats", help="number formats: list, show")
    sub = p.add_subparsers(dest="formats_command", metavar="SUBCOMMAND")
    pl = sub.add_parser("list", help="table of the canonical formats")
    pl.add_argument("--json", action="store_true", help="print JSON instead of a table")
    pl.set_defaults(func=_list)
    ps = sub.add_parser("show", help="one format's fields and storage")
    ps.add_argument("name", help="format string, e.g. int4g128")
    ps.add_argument("--k", type=int, default=None, help="reduction dimension K, to size a K x N weight")
    ps.add_argument("--n", type=int, default=1, help="output dimension N (default 1)")
    ps.set_defaults(func=_show)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])
