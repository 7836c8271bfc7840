"""`lowbit rtl check FAMILY`: run one core family's SystemVerilog array under Verilator
against kernels_ref, its cycle-stepped simulator and its fast model; print the table.

    lowbit rtl check systolic [--rows R --cols C --dataflow os,ws,is --cases N --seed S]
    lowbit rtl check bit_serial [--rows R --cols C --lanes L --serial activations,both
                                 --bits-per-cycle B --weights int4 --activations int8]
    lowbit rtl check binary [--rows TM --cols TN --lanes UNITS --tile-k 32|64 --weights int2 ...]
    lowbit rtl check lut [--rows TM --cols TN --lanes UNITS --tile-k K --weights int2 ...]
    lowbit rtl check bitfusion [--rows K-units --cols N-units --weights int4 --activations int8]

Exit 0 when every case agrees, 1 on any mismatch, 2 on bad arguments or a missing
`verilator` (Debian package `verilator`).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from lowbit.kernels_ref.errors import InvalidSpecError

__all__ = ["register", "run_check"]


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("rtl", help="cross-check a core family's RTL under Verilator",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="rtl_command", metavar="SUBCOMMAND", parser_class=type(p))
    c = sub.add_parser("check", help="RTL vs kernels_ref, stepped simulator and fast model")
    c.add_argument("family", help="systolic, bit_serial, binary, lut or bitfusion")
    c.add_argument("--rows", type=int, default=4, help="array rows (1..16, default 4)")
    c.add_argument("--cols", type=int, default=4, help="array columns (1..16, default 4)")
    c.add_argument("--lanes", type=int, default=4,
                   help="bit_serial: lanes per PE; binary / lut: units (default 4)")
    c.add_argument("--tile-k", type=int, default=None,
                   help="binary: tile K bits (32 or 64, default 32); lut: table group K (2..8, default 4)")
    c.add_argument("--cases", type=int, default=8, help="random GEMMs per configuration (default 8)")
    c.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    c.add_argument("--weights", default="int8", help="weight format (default int8)")
    c.add_argument("--activations", default="int8", help="activation format (default int8)")
    c.add_argument("--dataflow", default=None, help="systolic: comma-separated os,ws,is (default all)")
    c.add_argument("--serial", default=None, help="bit_serial: comma-separated activations,weights,both")
    c.add_argument("--bits-per-cycle", type=int, default=1, help="bit_serial: serial bits per cycle")
    c.add_argument("--scalesim", action="store_true", help="systolic: SCALE-Sim cycle convention")
    c.add_argument("--cache-dir", default=None, help="Verilator build cache (default ~/.cache/lowbit/rtl)")
    c.set_defaults(func=run_check)
    p.set_defaults(func=lambda _args: (p.print_help(), 2)[1])


def run_check(args: argparse.Namespace) -> int:
    from lowbit.hwsim.cores.base import Dataflow
    from lowbit.hwsim.rtl_check import agreement, format_table

    dataflows = None
    if args.dataflow:
        try:
            dataflows = tuple(Dataflow(d.strip()) for d in args.dataflow.split(","))
        except ValueError:
            raise InvalidSpecError(f"rtl check: --dataflow takes os, ws, is; got {args.dataflow!r}") from None
        bad = [d.value for d in dataflows if d not in (Dataflow.OUTPUT_STATIONARY, Dataflow.WEIGHT_STATIONARY,
                                                       Dataflow.INPUT_STATIONARY)]
        if bad:
            raise InvalidSpecError(f"rtl check: --dataflow takes os, ws, is; got {bad}")
    serial = tuple(s.strip() for s in args.serial.split(",")) if args.serial else None
    if not 1 <= args.bits_per_cycle <= 8:
        raise InvalidSpecError(f"rtl check: --bits-per-cycle must be in [1, 8], got {args.bits_per_cycle}")
    rows = agreement(args.family, args.rows, args.cols, lanes=args.lanes, cases=args.cases, seed=args.seed,
                     weights=args.weights, activations=args.activations, dataflows=dataflows,
                     serial=serial, bits_per_cycle=args.bits_per_cycle, scalesim_mode=args.scalesim,
                     tile_k=args.tile_k,
                     cache_dir=Path(args.cache_dir) if args.cache_dir else None)
    print(format_table(rows))
    bad = sum(r.output_mismatches + r.cycle_mismatches + r.model_mismatches for r in rows)
    return 1 if bad else 0
