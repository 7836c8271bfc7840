"""Allocate ResNet-18 for a target device under a latency budget.

Price every (layer, weight format) of ResNet-18 once on the `bitmod` preset
(`CostTable.from_hwsim`, through `table_for_model`), take HAWQ-V3's published per-layer
sensitivities (int4/int8) with int2 by the per-layer geometric fit through them
(`--sensitivity builtin-fit`), and solve the integer program: least quality loss
with the latency at most 60% of the all-int8 latency (`0.6x`). The uniform int8 and int4
allocations are printed beside it.
Writes OUT/alloc.json (the `lowbit allocate -o` document) and OUT/layers.csv.

    python examples/03_allocate_resnet18.py --out /tmp/ex3 [--hw bitmod] [--latency 0.6x]
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

from lowbit.search import baselines
from lowbit.search.ilp import solve
from lowbit.search.model_tables import table_for_model

from lowbit.cmd_allocate import alloc_document


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="examples-out/03_allocate_resnet18", help="output directory")
    ap.add_argument("--hw", default="bitmod", help="accelerator preset or YAML path")
    ap.add_argument("--latency", default="0.6x", help="latency budget (0.6x of all-int8, or seconds)")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    table = table_for_model("resnet-18", args.hw, ["int2", "int4", "int8"], sensitivity="builtin-fit")
    alloc = solve(table, {"latency_s": args.latency})  # "2ms" or "0.6x"
    print(f"ILP ({alloc.status}): quality loss {alloc.totals['sensitivity']:.4g}, "
          f"latency {alloc.totals['latency_s'] * 1e3:.6g} ms (budget {alloc.budgets['latency_s'] * 1e3:.6g} ms)")
    for u in ("int8", "int4"):
        ua = baselines.uniform(table, u, None)
        print(f"uniform {u}: quality loss {ua.totals['sensitivity']:.4g}, "
              f"latency {ua.totals['latency_s'] * 1e3:.6g} ms")
    doc = alloc_document(table, alloc)
    (out / "alloc.json").write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    with open(out / "layers.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["layer", "format", "sensitivity"])
        w.writerows([ly["name"], ly["format"], ly["sensitivity"]] for ly in doc["layers"])
    print(f"wrote {out / 'alloc.json'} and {out / 'layers.csv'}")


if __name__ == "__main__":
    main()
