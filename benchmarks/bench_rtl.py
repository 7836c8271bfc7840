"""RTL cross-check (issue 18): agreement table and Yosys cell counts at matched throughput.

    .venv/bin/python benchmarks/bench_rtl.py [--markdown] [--cases N]

Agreement: each family's SystemVerilog array under Verilator vs kernels_ref (outputs),
the cycle-stepped simulator and the fast model (cycles), random shapes and values.
Area: each array synthesised by Yosys (`synth -flatten`, generic gate library: every
$_AND_/$_XOR_/$_MUX_/$_DFF_... cell counts one) at 16 MACs per cycle, next to hwsim's
`area_mm2` at 45 nm for the same array; ratios are against the int8 MAC array.
Needs Debian `verilator` and `yosys`.
"""

from __future__ import annotations

import argparse
import time

from lowbit.hwsim.cores import bit_serial as bs
from lowbit.hwsim.cores import mac_array
from lowbit.hwsim.rtl import synth_cells
from lowbit.hwsim.rtl_check import agreement
from lowbit.kernels_ref.formats import Format


def agreement_rows(cases: int) -> list:
    rows = []
    for r, c in ((4, 3), (8, 8), (16, 16)):
        rows += agreement("systolic", r, c, cases=cases, seed=r * 100 + c)
    rows += agreement("systolic", 5, 4, cases=cases, seed=7, scalesim_mode=True)
    rows += agreement("systolic", 4, 4, cases=cases, seed=8, weights="int4", activations="uint4")
    rows += agreement("bit_serial", 2, 3, lanes=4, cases=cases, seed=1, weights="int4", activations="int8",
                      serial=("activations", "both", "weights"))
    rows += agreement("bit_serial", 4, 4, lanes=8, cases=cases, seed=2, weights="int2", activations="int8",
                      serial=("both",), bits_per_cycle=2)
    return rows


def area_rows() -> list[tuple[str, str, int, int, float, int]]:
    """(design, operands, MACs/cycle, cells, hwsim area mm^2 at 45 nm, flip-flops)."""
    out = []
    mac = mac_array.Model(mac_array.Spec(rows=4, cols=4))
    for top, files, params, name in (
            ("systolic_os", ("skew_line.sv", "systolic_os.sv"), {"R": 4, "C": 4}, "MAC systolic OS 4x4"),
            ("systolic_ws", ("skew_line.sv", "systolic_ws.sv"), {"R": 4, "C": 4}, "MAC systolic WS 4x4")):
        cells = synth_cells(top, files, params)
        out.append((name, "w<=int8, a=int8", 16, cells["total"], mac.area_mm2(45), _ffs(cells)))
    designs = (
        ("Stripes (a serial 1b/cycle, w 8b parallel)", bs.SerialOperands.ACTIVATIONS, 8, "int8", "int8"),
        ("Loom (both serial 1b/cycle)", bs.SerialOperands.BOTH, 16, "int2", "int8"),
        ("Loom (both serial 1b/cycle)", bs.SerialOperands.BOTH, 32, "int4", "int8"),
    )
    for name, ser, lanes, wn, an in designs:
        spec = bs.Spec(serial=ser, rows=4, cols=4, lanes=lanes, parallel_bits_w=8, parallel_bits_a=8)
        model = bs.Model(spec)
        per = model.peak_macs_per_cycle(Format.parse(wn), Format.parse(an))
        pm, pk, pn = spec.parallelism()
        acw = 1
        wcw = 1 if ser is bs.SerialOperands.BOTH else 8
        cells = synth_cells("bit_serial", ("bit_serial.sv",),
                            {"PM": pm, "PK": pk, "PN": pn, "ACW": acw, "WCW": wcw, "SHW": 7})
        out.append((f"{name} {pm}x{pn}x{pk} lanes", f"w={wn}, a={an}", int(per), cells["total"],
                    model.area_mm2(45), _ffs(cells)))
    return out


def _ffs(cells: dict[str, int]) -> int:
    return sum(v for k, v in cells.items() if "DFF" in k)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--cases", type=int, default=8)
    args = ap.parse_args()
    t0 = time.perf_counter()
    rows = agreement_rows(args.cases)
    t1 = time.perf_counter()
    print("| family | config | array | cases | output mismatches | cycle mismatches (stepped) "
          "| cycle mismatches (fast model) | largest MxKxN |")
    print("|---|---|---|---:|---:|---:|---:|---|")
    for r in rows:
        print(f"| {r.family} | {r.config} | {r.sizes} | {r.cases} | {r.output_mismatches} | "
              f"{r.cycle_mismatches} | {r.model_mismatches} | {r.max_shape} |")
    print(f"\nagreement: {t1 - t0:.1f} s (builds cached in ~/.cache/lowbit/rtl)\n")
    area = area_rows()
    t2 = time.perf_counter()
    base_cells, base_area = area[0][3], area[0][4]
    print("| design | operands | MACs/cycle | Yosys cells | flip-flops | cells / MAC-array | "
          "hwsim area mm^2 (45 nm) | area / MAC-array | cells ratio / area ratio |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, ops, per, cells, mm2, ffs in area:
        cr, ar = cells / base_cells, mm2 / base_area
        print(f"| {name} | {ops} | {per} | {cells:,} | {ffs:,} | {cr:.2f} | {mm2:.4f} | {ar:.2f} | "
              f"{cr / ar:.2f} |")
    print(f"\nsynthesis: {t2 - t1:.1f} s")


if __name__ == "__main__":
    main()
