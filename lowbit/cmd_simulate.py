"""`lowbit simulate`: per-layer cycles and energy of a zoo model on an accelerator,
or SCALE-Sim's own cfg/topology files, SCALE-Sim-exact (its memory stalls and report files)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from lowbit.argtypes import BATCH_MAX, SEQ_MAX, bounded_int
from lowbit.kernels_ref.errors import InvalidSpecError

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "simulate", help="cycles and energy of a model on an accelerator (or SCALE-Sim files)",
        description="Per-layer cycles (compute, stall), utilisation, energy breakdown and mapping of a "
                    "model on a hardware preset or YAML spec; or SCALE-Sim cfg + topology files. "
                    "A mapping such as '32x32x16 mnk ws' reads: tile_m x tile_k x tile_n, the loop "
                    "order from outer to inner, and the dataflow (ws/os/is, or none); 'on 4 cores "
                    "(n)' when a layer is split over cores along that dimension. On the Bit Fusion "
                    "presets, '4x576x32 (b1 2x2) bknwh ws': the m tile is b images of oh x ow output "
                    "pixels, and the order runs over the Bit Fusion simulator's five loops b (images), "
                    "w and h (output width, height), k (input channels), n (output channels).")
    p.add_argument("--hw", action="append", default=[], metavar="PRESET|FILE",
                   help="hardware preset (`lowbit presets list`) or spec YAML path; repeat it to "
                        "compare designs in one table (speed-up over the first)")
    p.add_argument("--model", help="zoo name, HF config.json, .onnx, workload YAML/JSON, or "
                                   "file.py:factory (see `lowbit models show`)")
    p.add_argument("--phase", choices=("prefill", "decode", "inference", "generate"),
                   help="phase (default: the model's); generate = prefill of --prompt tokens, then "
                        "--generate decode steps")
    p.add_argument("--prompt", type=bounded_int(1, SEQ_MAX, "--prompt"), default=None, help="prompt tokens of --phase generate (default 256)")
    p.add_argument("--generate", type=bounded_int(0, SEQ_MAX, "--generate"), default=None,
                   help="generated tokens of --phase generate (default 20)")
    p.add_argument("--seq", type=bounded_int(1, SEQ_MAX, "--seq"), default=None, help="sequence length (prefill) / context (decode)")
    p.add_argument("--batch", type=bounded_int(1, BATCH_MAX, "--batch"), default=1, help="batch size")
    p.add_argument("--weights", default="int8", help="weight format for every layer (default int8)")
    p.add_argument("--acts", default=None, help="activation format (default: the spec's)")
    p.add_argument("--kv", default=None, metavar="FORMAT",
                   help="KV-cache format: K and V of the attention matmuls, e.g. int8, int4 "
                        "(default: the spec's default_kv_format, else the activation format)")
    p.add_argument("--objective", choices=("latency", "energy", "edp"), default="latency",
                   help="what the mapper minimises per layer")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="JSON output")
    out.add_argument("--csv", action="store_true", help="CSV output")
    p.add_argument("--scalesim-cfg", help="SCALE-Sim scale.cfg (with --topology)")
    p.add_argument("--topology", help="SCALE-Sim topology CSV (with --scalesim-cfg)")
    p.add_argument("--gemm", action="store_true", help="the topology is SCALE-Sim's GEMM format (name, M, N, K)")
    p.add_argument("-o", "--out-dir", help="with --scalesim-cfg: write SCALE-Sim's COMPUTE_REPORT.csv, "
                   "BANDWIDTH_REPORT.csv and DETAILED_ACCESS_REPORT.csv into this folder")
    p.set_defaults(func=run)


def _positive(name: str, v: int | None) -> None:
    if v is not None and v < 1:
        raise InvalidSpecError(f"simulate: --{name} must be positive, got {v}")


def _scalesim(args: argparse.Namespace) -> int:
    if not (args.scalesim_cfg and args.topology):
        raise InvalidSpecError("simulate: --scalesim-cfg and --topology go together")
    if args.hw or args.model:
        raise InvalidSpecError("simulate: give either --hw/--model or --scalesim-cfg/--topology, not both")
    from lowbit.hwsim.scalesim_reports import layer_rows, write_reports

    rows, ss_run = layer_rows(args.scalesim_cfg, args.topology, gemm=args.gemm)
    if args.out_dir:
        for path in write_reports(ss_run, args.out_dir):
            print(f"wrote {path}", file=sys.stderr)
    keys = ("compute_cycles", "stall_cycles", "total_cycles", "total_cycles_incl_prefetch")
    busy = sum(r["compute_cycles"] for r in rows)
    # whole-run utilisation and mapping efficiency: the layers' values weighted by compute cycles
    whole = {k: (sum(r[k] * r["compute_cycles"] for r in rows) / busy if busy else 0.0)
             for k in ("compute_util_pct", "mapping_efficiency_pct")}
    if args.json:
        print(json.dumps({"scalesim_cfg": args.scalesim_cfg, "topology": args.topology, "layers": rows,
                          "total": {**{k: sum(r[k] for r in rows) for k in keys}, **whole}}, indent=2))
        return 0
    if args.csv:
        print("name,m,k,n,compute_cycles,stall_cycles,total_cycles,total_cycles_incl_prefetch,"
              "compute_util_pct,mapping_efficiency_pct")
        for r in rows:
            print(f"{r['name']},{r['m']},{r['k']},{r['n']},{r['compute_cycles']},{r['stall_cycles']},"
                  f"{r['total_cycles']},{r['total_cycles_incl_prefetch']},{r['compute_util_pct']:.4f},"
                  f"{r['mapping_efficiency_pct']:.4f}")
        return 0
    print(f"{'layer':<24} {'M':>9} {'K':>7} {'N':>7} {'compute':>11} {'stall':>11} {'total':>11} "
          f"{'incl.prefetch':>13} {'util%':>6} {'map.eff%':>8}")
    for r in rows:
        print(f"{r['name']:<24} {r['m']:>9} {r['k']:>7} {r['n']:>7} {r['compute_cycles']:>11} "
              f"{r['stall_cycles']:>11} {r['total_cycles']:>11} {r['total_cycles_incl_prefetch']:>13} "
              f"{r['compute_util_pct']:>6.2f} {r['mapping_efficiency_pct']:>8.2f}")
    tot = {k: sum(r[k] for r in rows) for k in keys}
    print(f"{'total':<24} {'':>9} {'':>7} {'':>7} {tot['compute_cycles']:>11} {tot['stall_cycles']:>11} "
          f"{tot['total_cycles']:>11} {tot['total_cycles_incl_prefetch']:>13} "
          f"{whole['compute_util_pct']:>6.2f} {whole['mapping_efficiency_pct']:>8.2f}")
    print("total = SCALE-Sim's Total Cycles (compute + memory stalls, its double-buffered SRAM model); "
          "util% = its Compute Util %; map.eff% = its Mapping Efficiency % (total row: weighted by "
          "compute cycles)")
    return 0


def _workload(args: argparse.Namespace) -> Any:
    from lowbit.models.workload_io import resolve_model

    if (args.prompt is not None or args.generate is not None) and args.phase != "generate":
        raise InvalidSpecError("simulate: --prompt/--generate go with --phase generate")
    if args.prompt is not None and args.seq is not None:
        raise InvalidSpecError("simulate: give --prompt or --seq for the prompt length, not both")
    _positive("prompt", args.prompt)
    _positive("generate", args.generate)
    seq = args.prompt if args.prompt is not None else args.seq
    extra = {"generate": args.generate} if args.phase == "generate" else {}
    return resolve_model(args.model, phase=args.phase, seq_len=seq, batch=args.batch, **extra)


def _shape(wl: Any) -> str:
    ctx = dict(wl.meta).get("context_len", 0)
    extra = f", context {ctx}" if ctx else (f", seq {wl.seq_len}" if wl.seq_len else "")
    return f"{wl.phase.value}, batch {wl.batch}{extra}"


def _summary(res: Any, accel: Any) -> dict[str, Any]:
    cyc = float(res.total_cycles)
    busy = sum(float(c.cycles) for c in res.layers)
    return {"hardware": accel.name, "latency_s": res.latency_s, "cycles": cyc,
            "freq_hz": accel.freq_hz, "energy_j": res.total_energy_j,
            "dram_energy_j": res.energy_breakdown_j.get("dram", 0.0),
            "stall_share": (float(res.total_stall_cycles) / busy) if busy else 0.0,
            "utilization": (sum(c.utilization * float(c.cycles) for c in res.layers) / busy)
            if busy else 0.0,
            "area_mm2": accel.area_mm2()}


def _compare(args: argparse.Namespace, wl: Any, accels: list[Any], w: Any, a: Any, kv: Any = None) -> int:
    """One row per design: latency, energy, stall share, utilisation, area, speed-up."""
    from lowbit import hwsim
    from lowbit.tables import eng, table

    rows = [_summary(hwsim.evaluate_workload(wl, w, acc, act_fmt=a, objective=args.objective, kv_fmt=kv), acc)
            for acc in accels]
    for r in rows:
        r["speedup"] = rows[0]["latency_s"] / r["latency_s"] if r["latency_s"] else float("inf")
    if args.json:
        json.dump({"model": wl.name, "weights": str(w), "designs": rows}, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    keys = list(rows[0])
    if args.csv:
        sys.stdout.write(",".join(keys) + "\n")
        for r in rows:
            sys.stdout.write(",".join(repr(r[k]) if isinstance(r[k], float) else str(r[k])
                                      for k in keys) + "\n")
        return 0
    print(f"{wl.name} ({_shape(wl)}): weights {w}, activations {a or 'each spec default'}")
    cells = [(r["hardware"], eng(r["latency_s"], "s"), f"{r['cycles']:,.0f}", eng(r["freq_hz"], "Hz"),
              eng(r["energy_j"], "J"), f"{r['stall_share']:.1%}", f"{r['utilization']:.1%}",
              f"{r['area_mm2']:.3g}", f"{r['speedup']:.2f}x") for r in rows]
    print(table(cells, ("design", "latency", "cycles", "clock", "energy", "memory stall",
                        "utilisation", "area mm2", f"speed-up vs {rows[0]['hardware']}"),
                right={1, 2, 3, 4, 5, 6, 7, 8}))
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

    accels = [load_accelerator(h) for h in args.hw]
    w = Format.parse(args.weights)
    a = Format.parse(args.acts) if args.acts else None
    kv = Format.parse(args.kv) if args.kv else None
    wl = _workload(args)
    if len(accels) > 1:
        return _compare(args, wl, accels, w, a, kv)
    accel = accels[0]
    res = hwsim.evaluate_workload(wl, w, accel, act_fmt=a, objective=args.objective, kv_fmt=kv)
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
    print(f"{wl.name} ({_shape(wl)}) on {accel.name}: "
          f"weights {w}, activations {a or accel.default_act_format}"
          + (f", KV cache {kv or accel.default_kv_format}" if kv or accel.default_kv_format else ""))
    head = f"{'layer':<28} {'cycles':>13} {'compute':>13} {'stall':>13} {'util':>6} {'energy_uJ':>11}  " + \
        " ".join(f"{c:>9}" for c in comps) + "  mapping"
    print(head)
    for c in res.layers:
        print(f"{c.name:<28} {c.cycles:>13} {c.compute_cycles:>13} {c.stall_cycles:>13} "
              f"{c.utilization:>6.1%} {c.total_energy_j * 1e6:>11.3f}  "
              + " ".join(f"{c.energy_j.get(k, 0.0) * 1e6:>9.3f}" for k in comps)
              + f"  {c.mapping}" + (f"  [{c.ran_as}]" if c.ran_as else ""))
    bd = res.energy_breakdown_j
    print(f"{'total':<28} {res.total_cycles:>13.0f} {res.total_compute_cycles:>13} {res.total_stall_cycles:>13} "
          f"{'':>6} {res.total_energy_j * 1e6:>11.3f}  " + " ".join(f"{bd.get(k, 0.0) * 1e6:>9.3f}" for k in comps))
    print(f"latency {res.latency_s * 1e3:.3f} ms at {accel.freq_hz / 1e9:g} GHz; energy {res.total_energy_j:.4g} J "
          f"(per-component columns in uJ); mapping = tile_m x tile_k x tile_n, loop order "
          f"(outer to inner), dataflow")
    return 0
