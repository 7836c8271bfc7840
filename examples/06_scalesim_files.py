"""SCALE-Sim files in, a comparison out.

Runs SCALE-Sim's own inputs (a `scale.cfg` per array and a topology CSV) through lowbit
(`lowbit.hwsim.scalesim_io.simulate_files`, SCALE-Sim's cycle convention), compares the
arrays layer by layer (compute cycles, mapping efficiency, speed-up over the first cfg), and,
where SCALE-Sim 3.0's own numbers for the same files are at hand
(tests/data/scalesim_golden.json), puts them beside lowbit's.
Writes OUT/comparison.csv and prints the table.

    python examples/06_scalesim_files.py --out /tmp/ex6 \
        [--cfg tests/data/scalesim/a32x32_ws.cfg --cfg tests/data/scalesim/a32x32_os.cfg ...] \
        [--topology tests/data/scalesim/conv_layers.csv]
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

from lowbit.hwsim.scalesim_io import simulate_files

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
CFGS = [DATA / "scalesim" / f"{n}.cfg" for n in ("a32x32_ws", "a32x32_os", "a32x32_is")]


def _golden() -> dict[tuple[str, str, str], int]:
    p = DATA / "scalesim_golden.json"
    if not p.is_file():
        return {}
    rows = json.loads(p.read_text(encoding="utf-8"))["layers"]
    return {(Path(r["cfg"]).name, Path(r["topology"]).name, r["layer"]): int(r["total_cycles"])
            for r in rows if not r["gemm"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="examples-out/06_scalesim", help="output directory")
    ap.add_argument("--cfg", action="append", default=None, help="a SCALE-Sim .cfg (repeatable)")
    ap.add_argument("--topology", default=str(DATA / "scalesim" / "conv_layers.csv"),
                    help="a SCALE-Sim conv topology CSV")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cfgs = [Path(c) for c in (args.cfg or CFGS)]
    golden = _golden()

    runs = {c.name: simulate_files(c, args.topology) for c in cfgs}
    first = runs[cfgs[0].name]
    rows = []
    for cfg, layers in runs.items():
        for ly, ref in zip(layers, first):
            g = golden.get((cfg, Path(args.topology).name, ly["name"]))
            rows.append({"cfg": cfg, "layer": ly["name"], "dataflow": ly["dataflow"],
                         "array": f"{ly['array_rows']}x{ly['array_cols']}",
                         "compute_cycles": ly["compute_cycles"],
                         "mapping_efficiency_pct": round(ly["mapping_efficiency_pct"], 2),
                         "speedup_vs_first": round(ref["compute_cycles"] / ly["compute_cycles"], 3),
                         "scalesim_cycles": "" if g is None else g,
                         "matches_scalesim": "" if g is None else g == ly["compute_cycles"]})
    head = list(rows[0])
    print("  ".join(f"{h:>14s}" for h in head))
    for r in rows:
        print("  ".join(f"{r[h]!s:>14s}" for h in head))
    with open(out / "comparison.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=head)
        w.writeheader()
        w.writerows(rows)
    print(f"wrote {out / 'comparison.csv'}")


if __name__ == "__main__":
    main()
