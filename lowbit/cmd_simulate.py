"""`lowbit simulate`: per-layer cycles and energy of a zoo model on an accelerator,
or SCALE-Sim's own cfg/topology files in its compute-cycle convention."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from lowbit.kernels_ref.errors import InvalidSpecError

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "simulate", help="cycles and energy of a model on an accelerator (or SCALE-Sim files)",
        description="Per-layer cycles (compute, stall), utilisation and energy breakdown of a zoo model "
                    "on a hardware preset or YAML spec; or SCALE-Sim cfg + topology files.")
    p.add_argument("--hw", help="hardware preset name or YAML file (see hwsim/presets)")
    p.add_argument("--model", help="zoo model name (lowbit models)")
    p.add_argument("--phase", choices=("prefill", "decode", "inference", "generate"),
                   help="phase (default: the model's); generate = prefill of --prompt tokens, then "
                        "--generate decode steps")
    p.add_argument("--prompt", type=int, default=None, help="prompt tokens of --phase generate (default 256)")
    p.add_argument("--generate", type=int, default=None,
                   help="generated tokens of --phase generate (default 20)")
    p.add_argument("--seq", type=int, default=None, help="sequence length (prefill) / context (decode)")
    p.add_argument("--batch", type=int, default=1, help="batch size")
    p.add_argument("--weights", default="int8", help="weight format for every layer (default int8)")
    p.add_argument("--acts", default=None, help="activation format (default: the spec's)")
    p.add_argument("--objective", choices=("latency", "energy", "edp"), default="latency",
                   help="what the mapper minimises per layer")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="JSON output")
    out.add_argument("--csv", action="store_true", help="CSV output")
    p.add_argument("--scalesim-cfg", help="SCALE-Sim scale.cfg (with --topology)")
    p.add_argument("--topology", help="SCALE-Sim topology CSV (with --scalesim-cfg)")
    p.add_argument("--gemm", action="store_true", help="the topology is SCALE-Sim's GEMM format (name, M, N, K)")
    p.set_defaults(func=run)


def _positive(name: str, v: int | None) -> None:
    if v is not None and v < 1:
        raise InvalidSpecError(f"simulate: --{name} must be positive, got {v}")


def _scalesim(args: argparse.Namespace) -> int:
    if not (args.scalesim_cfg and args.topology):
        raise InvalidSpecError("simulate: --scalesim-cfg and --topology go together")
    if args.hw or args.model:
        raise InvalidSpecError("simulate: give either --hw/--model or --scalesim-cfg/--topology, not both")
    from lowbit.hwsim.scalesim_io import simulate_files

    rows = simulate_files(args.scalesim_cfg, args.topology, gemm=args.gemm)
    if args.json:
        print(json.dumps({"scalesim_cfg": args.scalesim_cfg, "topology": args.topology, "layers": rows,
                          "total": {"compute_cycles": sum(r["compute_cycles"] for r in rows)}}, indent=2))
        return 0
    if args.csv:
        print("name,m,k,n,compute_cycles")
        for r in rows:
            print(f"{r['name']},{r['m']},{r['k']},{r['n']},{r['compute_cycles']}")
        return 0
    print(f"{'layer':<24} {'M':>9} {'K':>7} {'N':>7} {'compute_cycles':>15}")
    for r in rows:
        print(f"{r['name']:<24} {r['m']:>9} {r['k']:>7} {r['n']:>7} {r['compute_cycles']:>15}")
    print(f"{'total':<24} {'':>9} {'':>7} {'':>7} {sum(r['compute_cycles'] for r in rows):>15}")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.scalesim_cfg or args.topology:
        return _scalesim(args)
    if not args.hw or not args.model:
        raise InvalidSpecError("simulate: --hw and --model are required (or --scalesim-cfg/--topology)")
    _positive("seq", args.seq)
    _positive("batch", args.batch)
    from lowbit import hwsim
    from lowbit.hwsim.spec import load_accelerator
    from lowbit.kernels_ref.formats import Format
    from lowbit.models import zoo

    accel = load_accelerator(args.hw)
    w = Format.parse(args.weights)
    a = Format.parse(args.acts) if args.acts else None
    if (args.prompt is not None or args.generate is not None) and args.phase != "generate":
        raise InvalidSpecError("simulate: --prompt/--generate go with --phase generate")
    if args.prompt is not None and args.seq is not None:
        raise InvalidSpecError("simulate: give --prompt or --seq for the prompt length, not both")
    _positive("prompt", args.prompt)
    _positive("generate", args.generate)
    seq = args.prompt if args.prompt is not None else args.seq
    extra = {"generate": args.generate} if args.phase == "generate" else {}
    wl = zoo.get(args.model, phase=args.phase, seq_len=seq, batch=args.batch, **extra)
    res = hwsim.evaluate_workload(wl, w, accel, act_fmt=a, objective=args.objective)
    if args.json:
        d = res.to_dict()
        d["hardware"], d["model"] = accel.name, wl.name
        json.dump(d, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    if args.csv:
        sys.stdout.write(res.to_csv())
        return 0
    comps = sorted({k for c in res.layers for k in c.energy_j})
    print(f"{wl.name} ({wl.phase.value}, seq {wl.seq_len}, batch {wl.batch}) on {accel.name}: "
          f"weights {w}, activations {a or accel.default_act_format}")
    head = f"{'layer':<28} {'cycles':>13} {'compute':>13} {'stall':>13} {'util':>6} {'energy_uJ':>11}  " + \
        " ".join(f"{c:>9}" for c in comps)
    print(head)
    for c in res.layers:
        print(f"{c.name:<28} {c.cycles:>13} {c.compute_cycles:>13} {c.stall_cycles:>13} "
              f"{c.utilization:>6.1%} {c.total_energy_j * 1e6:>11.3f}  "
              + " ".join(f"{c.energy_j.get(k, 0.0) * 1e6:>9.3f}" for k in comps)
              + (f"  [{c.ran_as}]" if c.ran_as else ""))
    bd = res.energy_breakdown_j
    print(f"{'total':<28} {res.total_cycles:>13.0f} {res.total_compute_cycles:>13} {res.total_stall_cycles:>13} "
          f"{'':>6} {res.total_energy_j * 1e6:>11.3f}  " + " ".join(f"{bd.get(k, 0.0) * 1e6:>9.3f}" for k in comps))
    print(f"latency {res.latency_s * 1e3:.3f} ms at {accel.freq_hz / 1e9:g} GHz; energy {res.total_energy_j:.4g} J "
          f"(per-component columns in uJ)")
    return 0
