"""Derive `lut-tc-a100-like`'s `units` (LUT units per SM) from an area model: Yosys synthesis.

    .venv/bin/python benchmarks/lut_tc_units_derivation.py [--write]

Synthesises, with Yosys (Debian `yosys`) mapped onto Nangate 45 nm X1 cells
(hwsim/rtl_src/nangate45_x1_area.lib, areas from NangateOpenCellLibrary_typical.lib):
- one A100-style INT8 tensor-core unit: `mac_dot` PM 8, PN 4, K 16 (an 8x4x16 INT8 MMA per cycle,
  512 INT8 MACs, int32 accumulators, operands registered), the unit `mac-tc-equal-area` has 4 of;
- one LUT Tensor Core unit of the preset's geometry: `lut_tile_area` TM 2, TN 64, TK 4, TB 8
  (M2 N64 K4, INT8 tables in flip-flops, 128 lookup lanes, int32 shift-add accumulators).
Neither has an FP path or table precompute (the preset fuses precompute into the previous
operator). units = floor(4 x area(INT8 unit) / area(LUT unit)): how many whole LUT units fit in the
area of the SM's 4 INT8 tensor-core units. `--write` stores the result in
tests/data/lut_tmac/units_derivation.json (what tests/hwsim/test_lut_e2e.py holds the preset to).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import time
from pathlib import Path

from lowbit.hwsim import rtl

OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "lut_tmac" / "units_derivation.json"
DESIGNS = {
    "int8_tc_unit": ("mac_dot", ("area_units.sv",), {"PM": 8, "PN": 4, "K": 16, "AB": 8, "WB": 8}, False),
    "lut_unit": ("lut_tile_area", ("lut_unit.sv", "area_units.sv"), {"TM": 2, "TN": 64, "TK": 4, "TB": 8}, True),
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help=f"store the result in {OUT.name}")
    args = ap.parse_args()
    got = {}
    for name, (top, sources, params, flatten) in DESIGNS.items():
        t0 = time.perf_counter()
        cells = rtl.synth_cells(top, sources, params, liberty=rtl.AREA_LIBERTY, flatten=flatten)
        got[name] = {"top": top, "params": params, "area_um2": cells.pop("area_um2"),
                     "cells": cells, "synth_s": round(time.perf_counter() - t0, 1)}
        print(f"{name}: {top} {params}: {got[name]['area_um2']:.1f} um^2, {cells['total']} cells, "
              f"{got[name]['synth_s']} s", flush=True)
    ratio = got["int8_tc_unit"]["area_um2"] / got["lut_unit"]["area_um2"]
    units = math.floor(4 * ratio)
    print(f"INT8 unit / LUT unit area: {ratio:.4f}; units per SM = floor(4 x {ratio:.4f}) = {units}")
    if args.write:
        version = subprocess.run(["yosys", "-V"], capture_output=True, text=True, check=True).stdout.strip()
        OUT.write_text(json.dumps({
            "_source": "benchmarks/lut_tc_units_derivation.py --write (this file's command); Yosys synthesis "
                       "of hwsim/rtl_src/area_units.sv mapped onto hwsim/rtl_src/nangate45_x1_area.lib",
            "yosys": version, "designs": got, "area_ratio_int8_unit_to_lut_unit": round(ratio, 4),
            "int8_units_per_sm": 4, "lut_units_per_sm": units}, indent=1) + "\n")
        print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
