"""`lowbit allocate` and `lowbit pareto`: per-layer format allocation from a cost file or hwsim.

Two sources of a CostTable:
- ``--costs FILE``: the JSON shape of `search.costs` (costs measured elsewhere, in that file's
  own units);
- ``--hw PRESET --model MODEL --formats int2,int4,int8``: every (layer, format) priced once by
  hwsim, in SI units: latency_s (seconds at the design's clock; cycles beside it), energy_j,
  memory_bytes, bops. MODEL is a zoo name, a HF config.json, an .onnx, a workload file or
  file.py:factory. Sensitivity from ``--sensitivity FILE`` (CSV/JSON,
  `models.sensitivity.load`), ``builtin`` (only the formats its source covers: resnet-18's
  HAWQ-V3 table is int4/int8, any other format an error naming them), ``builtin-fit`` (resnet-18's
  other INT widths by a per-layer geometric fit), or ``measured`` / ``hessian`` / ``proxy``, which need
  real weights: a torch module file (calibration inputs from its factory) or a zoo model
  lowbit trains (digits); zoo LLMs have no weights here, so they need a FILE - that is an
  error, not a guess.

Budgets: a plain number in the metric's unit, a quantity with a unit that matches the metric
(--latency 2ms, --energy 5mJ, --memory 4MB), "0.6x" (of the all-int8 total; "0.6x:int4" of
another uniform one) or "0.5r" (half way from the smallest achievable total to all-int8).
On an hwsim table --latency/--energy/--memory budget latency_s/energy_j/memory_bytes.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from lowbit.argtypes import BATCH_MAX, POINTS_MAX, SEQ_MAX, bounded_float, bounded_int
from lowbit.kernels_ref.errors import InvalidSpecError

__all__ = ["alloc_document", "dumps_alloc", "load_table", "register"]

_SHORTCUTS = ("latency", "energy", "memory", "bops")


class _Default(str):
    """A flag's default value, told apart from the same text given on the command line."""


_DEFAULT_FORMATS = _Default("int2,int3,int4,int8")


def _add_source_args(p: argparse.ArgumentParser) -> None:
    src = p.add_argument_group("cost source (one of)")
    src.add_argument("--costs", metavar="FILE", help="cost table JSON (layers, choices, sensitivity, costs, ...)")
    src.add_argument("--hw", metavar="PRESET", help="accelerator preset name or YAML path")
    src.add_argument("--model", metavar="MODEL",
                     help="zoo name, HF config.json, .onnx, workload YAML/JSON or file.py:factory (with --hw)")
    src.add_argument("--formats", metavar="LIST", default=_DEFAULT_FORMATS,
                     help=f"comma-separated weight formats to choose from (with --hw; default {_DEFAULT_FORMATS})")
    src.add_argument("--act-formats", metavar="LIST", default=None,
                     help="choose activation formats jointly from this list (with --hw)")
    src.add_argument("--sensitivity", metavar="FILE|builtin|builtin-fit|measured|hessian|proxy", default=None,
                     help="per-(layer, format) quality loss (with --hw); builtin covers only what its source "
                          "does (resnet-18: HAWQ-V3's int4/int8), builtin-fit adds resnet-18's other INT "
                          "widths by a per-layer geometric fit; measured/hessian/proxy need "
                          "real weights (file.py:factory or digits)")
    src.add_argument("--cache-dir", default=None, metavar="DIR",
                     help="sensitivity cache directory (default ~/.cache/lowbit/sensitivity)")
    src.add_argument("--phase", default=None,
                     help="workload phase for zoo transformers (prefill/decode/generate; default: the model's own)")
    src.add_argument("--seq-len", "--prompt", dest="seq_len", type=bounded_int(1, SEQ_MAX, "--seq-len"),
                     default=None, metavar="N",
                     help="sequence length for zoo transformers; with --phase generate, the prompt length "
                          "(default: the zoo's)")
    src.add_argument("--generate", type=bounded_int(1, SEQ_MAX, "--generate"), default=None, metavar="G",
                     help="decode steps of --phase generate (default 20)")
    src.add_argument("--batch", type=bounded_int(1, BATCH_MAX, "--batch"), default=1, help="batch size")
    src.add_argument("--memory-scope", choices=("weights", "weights+kv"), default="weights",
                     help="what memory_bytes counts: the weights (default), or the weights plus the KV "
                          "cache at the model's final context x --batch (decoder LLMs; charged to the "
                          "k_proj/v_proj rows, or with --kv-formats to each attention in the KV format "
                          "it chooses)")
    src.add_argument("--kv", metavar="FORMAT", default=None,
                     help="KV-cache format of --memory-scope weights+kv (default: the design's "
                          "default_kv_format, else its activation format; not with --kv-formats)")
    b = p.add_argument_group("budgets (a number, a quantity with unit: 2ms 5mJ 4MB, or '0.6x' of all-int8)")
    b.add_argument("--budget", action="append", default=[], metavar="NAME=VALUE",
                   help="budget on any cost of the table (repeatable), e.g. size=7.5, latency=2ms or latency=0.6x")
    for n, eg in zip(_SHORTCUTS, ("2ms", "5mJ", "4MB", "1e9")):
        b.add_argument(f"--{n}", metavar="VALUE", default=None,
                       help=f"same as --budget {n}=VALUE (e.g. {eg} or 0.6x)")
    b.add_argument("--quality", metavar="[NAME=]VALUE", action="append", default=[],
                   help="budget on total sensitivity (use with --objective latency/energy/...); "
                        "NAME=VALUE bounds a --quality-terms metric's raw total (repeatable)")
    p.add_argument("--objective", default="sensitivity", help="metric to minimise (default: sensitivity)")
    p.add_argument("--time-limit", type=bounded_float(0, 604800, "--time-limit", lo_open=True), default=None, metavar="S",
                   help="solver time limit; the incumbent is then reported as 'feasible'")


def _add_joint_args(p: argparse.ArgumentParser, quality_terms: bool) -> None:
    j = p.add_argument_group("joint choices (search.joint_model; exact ILP, with --hw and --model)")
    j.add_argument("--kv-formats", metavar="LIST", default=None,
                   help="attention MATMULs choose (activation, KV) from --act-formats x this list; with "
                        "--memory-scope weights+kv the memory budget counts each attention's cache in the "
                        "KV format it chooses")
    j.add_argument("--tie-residual-acts", action="store_true",
                   help="every layer reading the residual stream (q/k/v, fc1/gate/up) shares one "
                        "activation format")
    j.add_argument("--quality-terms", metavar="FILE", default=None,
                   help='JSON {"metrics": {NAME: {layers, formats, values}}}: more quality metrics '
                        "per layer (e.g. MixDQ content vs quality); minimise one with --objective NAME, "
                        "bound others with --quality NAME=VALUE" if quality_terms else
                        "allocate only (lowbit allocate --quality-terms): pareto refuses it")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("allocate", help="choose a format per layer under budgets (exact ILP)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_source_args(p)
    _add_joint_args(p, quality_terms=True)
    p.add_argument("--method", default="ilp",
                   help="ilp (default, exact), greedy, lagrangian, or uniform:CHOICE")
    p.add_argument("-o", "--output", metavar="FILE", help="write alloc.json here (else print a table)")
    p.set_defaults(func=_cmd_allocate)
    q = subparsers.add_parser("pareto", help="epsilon-constraint Pareto sweep of quality vs one cost",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_source_args(q)
    _add_joint_args(q, quality_terms=False)
    q.add_argument("--sweep", required=True, metavar="NAME", help="cost to sweep (latency, energy, memory, ...)")
    q.add_argument("--points", type=bounded_int(2, POINTS_MAX, "--points"), default=30,
                   help=f"number of budget points (default 30, at most {POINTS_MAX})")
    q.add_argument("-o", "--output", required=True, metavar="DIR",
                   help="directory for pareto.csv / pareto.json and the figure pareto_<NAME>.png")
    q.set_defaults(func=_cmd_pareto)


def _budgets(args: argparse.Namespace) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in args.budget:
        if "=" not in item:
            raise InvalidSpecError(f"--budget {item!r}: expected NAME=VALUE")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    for n in _SHORTCUTS:
        v = getattr(args, n)
        if v is not None:
            out[n] = v
    for q in args.quality:
        name, sep, v = q.rpartition("=")
        out[name.strip() if sep else "sensitivity"] = v.strip()
    return out


def _split(text: str | None) -> list[str]:
    return [s.strip() for s in (text or "").split(",") if s.strip()]


def load_table(args: argparse.Namespace) -> Any:
    """Build the CostTable the arguments describe."""
    from lowbit.search.costs import CostTable

    if args.costs:
        if args.hw or args.model:
            raise InvalidSpecError("give either --costs or --hw/--model, not both")
        if args.memory_scope != "weights" or args.kv:
            raise InvalidSpecError("--memory-scope weights+kv / --kv need --hw and --model (the KV "
                                   "cache comes from the model), not --costs")
        table = CostTable.from_json(args.costs)
        given = [f"{flag} {v}" for flag, v in (("--formats", args.formats), ("--act-formats", args.act_formats),
                                                ("--sensitivity", args.sensitivity))
                 if v is not None and not isinstance(v, _Default)]
        if given:  # a costs file brings its own choices and sensitivity: the flags would be ignored
            raise InvalidSpecError(f"{args.costs} covers choices {', '.join(table.choices)} with its own "
                                   f"sensitivity; {' and '.join(given)} apply only with --hw/--model")
        return table
    if not (args.hw and args.model):
        raise InvalidSpecError("need --costs FILE, or --hw PRESET with --model NAME")
    from lowbit.search.model_tables import table_for_model

    table = table_for_model(args.model, args.hw, _split(args.formats), act_formats=_split(args.act_formats) or None,
                            sensitivity=args.sensitivity, phase=args.phase, seq_len=args.seq_len,
                            batch=args.batch, generate=args.generate, cache_dir=args.cache_dir)
    from lowbit.search.memory_scope import scope_model_table

    table, args.kv_cache = scope_model_table(table, args.memory_scope, args.model, args.hw, kv_fmt=args.kv,
                                             phase=args.phase, seq_len=args.seq_len, batch=args.batch,
                                             generate=args.generate)
    return table


def _num(v: float) -> float | None:
    return None if v is None or (isinstance(v, float) and not math.isfinite(v)) else float(v)


def dumps_alloc(doc: dict[str, Any]) -> str:
    """alloc.json text: indented, one layer per line. Each layer goes through json's C encoder
    (an indented dump is pure Python: 4 s for 100,000 layers, this 0.5 s)."""
    mark = "\x00layers\x00"
    text = json.dumps({**doc, "layers": mark}, indent=1)
    quoted = json.dumps(mark)
    if text.count(quoted) != 1:  # pragma: no cover - a NUL-bearing name elsewhere in the document
        return json.dumps(doc, indent=1) + "\n"
    rows = ",\n  ".join(json.dumps(ly) for ly in doc["layers"])
    return text.replace(quoted, f"[\n  {rows}\n ]" if rows else "[]") + "\n"


def alloc_document(table: Any, alloc: Any) -> dict[str, Any]:
    """alloc.json: model, hardware, status, objective, layers[...], totals, budgets. Per layer
    the SI keys latency_s, cycles, energy_j, memory_bytes (null when the table has no such
    cost: a costs file keeps its own names and units, under `costs`)."""
    import numpy as np

    rows = np.arange(table.num_layers)
    asg = np.asarray(alloc.assignment)

    def col(name: str) -> list[float | None]:
        if name in table.costs:
            return [float(v) for v in table.costs[name][rows, asg]]
        return [None] * table.num_layers

    lat, cyc, en, wb = col("latency_s"), col("cycles"), col("energy_j"), col("memory_bytes")
    sens = table.sensitivity[rows, asg]
    layers = []
    for i, name in enumerate(table.layers):
        layers.append({"name": name, "format": alloc.choices[i], "latency_s": lat[i], "cycles": cyc[i],
                       "energy_j": en[i], "memory_bytes": wb[i], "sensitivity": float(sens[i]),
                       "costs": {n: float(a[i, asg[i]]) for n, a in table.costs.items()}})
    return {"model": table.model, "hardware": table.hardware, "status": alloc.status,
            "objective": float(alloc.objective), "objective_name": alloc.objective_name,
            "method": alloc.method, "solver": alloc.solver, "layers": layers,
            "totals": {k: _num(v) for k, v in alloc.totals.items()},
            "budgets": {k: float(v) for k, v in alloc.budgets.items()}}


def _add_energy_components(args: argparse.Namespace, doc: dict[str, Any]) -> None:
    """Each layer's `energy_components_j`: hwsim's LayerCost.energy_j of that layer in its
    chosen format (the same `hwsim.evaluate` call the table was priced with, so the components
    add up to the layer's energy_j), for `lowbit report`'s breakdown by component."""
    from lowbit import hwsim
    from lowbit.hwsim.spec import load_accelerator
    from lowbit.search.joint import parse_choice, table_rows
    from lowbit.search.model_tables import workload_for

    accel = load_accelerator(args.hw)
    wl = workload_for(args.model, phase=args.phase, seq_len=args.seq_len, batch=args.batch,
                      generate=args.generate)
    # the layers each row stands for: those reusing its weights, the decode steps of a MATMUL
    members = {row.name: ms for row, ms in table_rows(wl, matmuls=True)}
    for ly in doc["layers"]:
        ch = parse_choice(ly["format"])  # W, W/A or a MATMUL's kv:K/A
        kv = {"kv_fmt": ch.kv} if ch.kv else {}
        comps: dict[str, float] = {}
        for layer in members[ly["name"]]:
            for k, v in hwsim.evaluate(layer, ch.kv or ch.weight, accel, act_fmt=ch.act, **kv).energy_j.items():
                comps[k] = comps.get(k, 0.0) + float(v)
        ly["energy_components_j"] = dict(sorted(comps.items()))


def _print_table(doc: dict[str, Any]) -> None:
    """One row per layer, TOTAL and BUDGET rows; SI costs in engineering units with the unit in
    the header (latency (s) 1.43 ms), a costs file's own names as plain numbers."""
    from lowbit.reports.units import cell, column
    from lowbit.tables import table

    costs = list(doc["layers"][0]["costs"]) if doc["layers"] else []
    head = ["layer", "format", "sensitivity", *(column(c).label for c in costs)]

    def fmt(c: str, v: Any) -> str:
        return "" if v is None else cell(c, v) if column(c).unit else f"{v:.6g}"

    rows = [[ly["name"], ly["format"], f"{ly['sensitivity']:.6g}", *(fmt(c, ly["costs"][c]) for c in costs)]
            for ly in doc["layers"]]
    rows.append(["TOTAL", "", f"{doc['totals']['sensitivity']:.6g}", *(fmt(c, doc["totals"][c]) for c in costs)])
    if doc["budgets"]:
        rows.append(["BUDGET", "", *(fmt(c, doc["budgets"][c]) if c in doc["budgets"] else ""
                                     for c in ["sensitivity", *costs])])
    out = sys.stdout
    obj = doc["objective_name"]
    out.write(f"model {doc['model'] or '-'}  hardware {doc['hardware'] or '-'}  status {doc['status']}  "
              f"{obj} {fmt(obj, doc['objective'])}  ({doc['method']})\n")
    out.write(table(rows, head, right=range(2, len(head))) + "\n")


def _summary(doc: dict[str, Any]) -> str:
    """One line of totals for `allocate -o`: what the file holds."""
    from lowbit.reports.units import cell

    t = doc["totals"]
    parts = [f"{k.removesuffix('_s').removesuffix('_j').removesuffix('_bytes')} {cell(k, t[k])}"
             for k in ("latency_s", "energy_j", "memory_bytes") if t.get(k) is not None]
    parts.append(f"sensitivity {t['sensitivity']:.6g}")
    return ", ".join(parts)


def _cmd_allocate(args: argparse.Namespace) -> int:
    from lowbit.search import baselines
    from lowbit.search.ilp import solve

    joint = bool(args.kv_formats or args.tie_residual_acts or args.quality_terms)
    table = None if joint else load_table(args)
    bud = _budgets(args) or None
    m = args.method
    if table is None:
        table, alloc = _joint_allocate(args, bud)
    elif m == "ilp":
        alloc = solve(table, bud, objective=args.objective, time_limit_s=args.time_limit)
    elif m == "greedy":
        alloc = baselines.greedy(table, bud, objective=args.objective)
    elif m == "lagrangian":
        alloc = baselines.lagrangian(table, bud, objective=args.objective)
    elif m.startswith("uniform:"):
        alloc = baselines.uniform(table, m.split(":", 1)[1], bud, objective=args.objective)
    else:
        raise InvalidSpecError(f"--method {m!r}: expected ilp, greedy, lagrangian or uniform:CHOICE")
    doc = alloc_document(table, alloc)
    if getattr(args, "kv_cache", None) is not None:  # memory_bytes includes the KV cache
        doc.update(memory_scope=args.memory_scope, kv_cache=args.kv_cache.to_dict())
    if args.hw and args.model:
        _add_energy_components(args, doc)
    if args.output:
        Path(args.output).write_text(dumps_alloc(doc), encoding="utf-8")
        sys.stdout.write(f"wrote {args.output}: {len(doc['layers'])} layers, status {doc['status']} "
                         f"({doc['method']}); {_summary(doc)}\n")
    else:
        _print_table(doc)
    if "kv_cache" in doc:
        from lowbit.search.memory_scope import describe

        sys.stdout.write(describe(args.kv_cache) + "\n")
    return 0


def _joint_table(args: argparse.Namespace) -> Any:
    """--kv-formats / --tie-residual-acts / --quality-terms: search.joint_model's table, its
    memory_bytes scoped by --memory-scope (args.kv_cache: the KV cache it counts, or None)."""
    from lowbit.search import joint_model as J

    if args.costs or not (args.hw and args.model):
        raise InvalidSpecError("--kv-formats, --tie-residual-acts and --quality-terms need --hw and --model")
    jt = J.joint_table_for_model(args.model, args.hw, _split(args.formats), _split(args.act_formats) or None,
                                 _split(args.kv_formats) or None, sensitivity=args.sensitivity,
                                 residual_ties=args.tie_residual_acts, phase=args.phase, seq_len=args.seq_len,
                                 batch=args.batch, generate=args.generate, cache_dir=args.cache_dir)
    jt, args.kv_cache = J.scope_memory(jt, args.memory_scope, args.model, args.hw, kv_fmt=args.kv,
                                       phase=args.phase, seq_len=args.seq_len, batch=args.batch,
                                       generate=args.generate)
    return jt


def _joint_allocate(args: argparse.Namespace, bud: dict[str, str] | None) -> tuple[Any, Any]:
    """The joint table's exact ILP (`joint_model.solve_model`)."""
    from lowbit.search import joint_model as J

    if args.method != "ilp":
        raise InvalidSpecError("joint choices are solved by the exact ILP: drop --method")
    table, alloc = J.solve_model(_joint_table(args), bud, objective=args.objective,
                                 quality_terms_file=args.quality_terms, time_limit_s=args.time_limit)
    args.kv_cache = J.allocated_kv(args.kv_cache, table, alloc)
    return table, alloc


def _cmd_pareto(args: argparse.Namespace) -> int:
    from lowbit.search.pareto import sweep

    solve_fn = None
    if args.quality_terms:
        raise InvalidSpecError("--quality-terms is allocate-only (lowbit allocate --quality-terms FILE "
                               "--quality NAME=BOUND); pareto takes --kv-formats and --tie-residual-acts")
    if args.kv_formats or args.tie_residual_acts:  # the joint table, each point its exact ILP
        from lowbit.search.joint import solve_joint

        jt = _joint_table(args)
        table = jt.table

        def solve_fn(_table: Any, budgets: Any, **kw: Any) -> Any:
            return solve_joint(jt, budgets, **kw)
    else:
        table = load_table(args)
    if getattr(args, "kv_cache", None) is not None:
        from lowbit.search.memory_scope import describe

        sys.stdout.write(describe(args.kv_cache) + "\n")
    pts = sweep(table, args.sweep, points=args.points, budgets=_budgets(args), objective=args.objective,
                out_dir=args.output, time_limit_s=args.time_limit, solve_fn=solve_fn)
    front = [p for p in pts if p.status in ("optimal", "feasible") and not p.dominated]
    sys.stdout.write(f"{len(pts)} points ({len(front)} non-dominated) written to "
                     f"{Path(args.output) / 'pareto.csv'} and pareto.json\n")
    from lowbit.reports.pareto_report import pareto_figures

    figs, _ = pareto_figures([args.output], args.output)
    sys.stdout.write("figure: " + ", ".join(str(f) for f in figs) + "\n")
    return 0
