"""RTL cross-check (issue 18): agreement table and Yosys cell counts at matched throughput.

    .venv/bin/python benchmarks/bench_rtl.py [--markdown] [--cases N]

Agreement: each family's SystemVerilog array under Verilator vs kernels_ref (outputs),
the cycle-stepped simulator and the fast model (cycles), random shapes and values.
Area: each array synthesised by Yosys (`synth -flatten`, generic gate library: every
$_AND_/$_XOR_/$_MUX_/$_DFF_... cell counts one) at 16 MACs per cycle, next to hwsim's
`area_mm2` at 45 nm for the same array; ratios are against the int8 MAC array. Second
table: LUT Tensor Core tile (M2 N16 K4, INT8 tables) vs MAC DP4 arrays at INT8 activations
and INT1 / INT2 weights, at matched MACs per cycle, against LUT Tensor Core's published
compute densities (FIDELITY.md).
Needs Debian `verilator` and `yosys`.
"""

from __future__ import annotations

import argparse
import time

from lowbit.hwsim.cores import binary_tensor_core as btc
from lowbit.hwsim.cores import bit_serial as bs
from lowbit.hwsim.cores import lut_tensor_core as ltc
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
    rows += agreement("binary", 2, 2, lanes=2, cases=cases, seed=3, weights="int2", activations="int4")
    rows += agreement("binary", 4, 4, lanes=2, cases=cases, seed=4, weights="binary", activations="binary",
                      tile_k=64)
    rows += agreement("binary", 2, 4, lanes=4, cases=cases, seed=5, weights="ternary", activations="int8")
    rows += agreement("lut", 2, 4, lanes=2, cases=cases, seed=6, weights="int2", activations="int8")
    rows += agreement("lut", 2, 8, lanes=4, cases=cases, seed=7, weights="binary", activations="int8")
    rows += agreement("lut", 4, 4, lanes=2, cases=cases, seed=8, weights="ternary", activations="int8",
                      tile_k=3)
    rows += agreement("lut", 2, 4, lanes=2, cases=cases, seed=9, weights="uint4", activations="uint8")
    for wn, an in (("int8", "int8"), ("int4", "int8"), ("int2", "int2"), ("binary", "uint4"), ("int16", "int8")):
        rows += agreement("bitfusion", 4, 4, cases=cases, seed=10, weights=wn, activations=an)
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
    cells = synth_cells("bmma_unit", ("bmma_unit.sv",), {"TM": 2, "TN": 2, "TS": 32, "PCW": 7})
    bmodel = btc.Model(btc.Spec(tile_m=2, tile_n=2, tile_k=32, tile_cycles=1, units=1))
    per = bmodel.peak_macs_per_cycle(Format.parse("int1"), Format.parse("int8"))
    out.append(("Binary MMA unit 2x2x32 (AND/XOR-popcount, 8 act planes)", "w=int1, a=int8", int(per),
                cells["total"], bmodel.area_mm2(45), _ffs(cells)))
    bf = bs.Spec(serial=bs.SerialOperands.NONE, fusion_brick_bits=2, fusion_bricks=16, fusion_max_bits=8,
                 parallel_bits_w=8, parallel_bits_a=8, rows=4, cols=4, lanes=1, rows_dim=bs.GemmDim.K,
                 cols_dim=bs.GemmDim.N)
    cells = synth_cells("bitfusion", ("bitfusion.sv",), {"PM": 1, "PK": 4, "PN": 4, "FB": 16, "BB": 2})
    per = bs.Model(bf).peak_macs_per_cycle(Format.parse("int8"), Format.parse("int8"))
    out.append(("Bit Fusion 4x4 FUs x 16 2-bit BitBricks (run-time 2/4/8/16-bit)", "w=int8, a=int8", int(per),
                cells["total"], bs.Model(bf).area_mm2(45), _ffs(cells)))
    return out


def lut_vs_dp4_rows() -> list[tuple[str, str, int, int, float]]:
    """(design, operands, MACs/cycle, cells, hwsim area mm^2 at 45 nm) at INT8 activations."""
    lut = ltc.Model(ltc.Spec(tile_m=2, tile_n=16, tile_k=4, units=1, table_bits=8))
    lut_cells = synth_cells("lut_tile_area", ("lut_unit.sv", "area_units.sv"), {"TM": 2, "TN": 16, "TK": 4, "TB": 8})
    out = []
    for wn, wb, pn in (("int1", 1, 16), ("int2", 2, 8)):
        wf = Format.parse(wn)
        per = int(lut.peak_macs_per_cycle(wf, Format.parse("int8")))
        out.append(("LUT tile M2 N16 K4, INT8 tables", f"w={wn}, a=int8", per, lut_cells["total"],
                    lut.area_mm2(45)))
        dp4 = bs.Model(bs.Spec(serial=bs.SerialOperands.NONE, parallel_bits_w=wb, parallel_bits_a=8, rows=2,
                               cols=pn, lanes=4, rows_dim=bs.GemmDim.M, cols_dim=bs.GemmDim.N))
        cells = synth_cells("mac_dp4", ("area_units.sv",), {"PM": 2, "PN": pn, "AB": 8, "WB": wb})
        out.append((f"MAC DP4 x {2 * pn} (INT8 x INT{wb})", f"w={wn}, a=int8", 8 * pn, cells["total"],
                    dp4.area_mm2(45)))
    cells = synth_cells("mac_dp4", ("area_units.sv",), {"PM": 2, "PN": 8, "AB": 8, "WB": 8})
    mac8 = mac_array.Model(mac_array.Spec(rows=8, cols=8))
    out.append(("MAC DP4 x 16 (INT8 x INT8)", "w=int8, a=int8", 64, cells["total"], mac8.area_mm2(45)))
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
    print(f"\nsynthesis: {t2 - t1:.1f} s\n")
    lvd = lut_vs_dp4_rows()
    print("| design | operands | MACs/cycle | Yosys cells | cells per MAC/cycle | hwsim area mm^2 (45 nm) | "
          "hwsim um^2 per MAC/cycle |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, ops, per, cells, mm2 in lvd:
        print(f"| {name} | {ops} | {per} | {cells:,} | {cells / per:.1f} | {mm2:.5f} | {mm2 * 1e6 / per:.1f} |")
    print("\n| weights | MAC-DP4 / LUT cells per MAC (synthesis) | MAC-DP4 / LUT area per MAC (hwsim) | "
          "published LUT TC density ratio |")
    print("|---|---:|---:|---|")
    pub = "INT8 TC 17.73 -> LUT TC 61.84 TOPS/mm^2 = 3.49x; DP4 W1xFP16: 61.55 / 3.39 = 18.2x"
    for i, wn in ((0, "int1"), (2, "int2")):
        lut_r, mac_r = lvd[i], lvd[i + 1]
        syn = (mac_r[3] / mac_r[2]) / (lut_r[3] / lut_r[2])
        hw = (mac_r[4] / mac_r[2]) / (lut_r[4] / lut_r[2])
        print(f"| {wn} | {syn:.2f} | {hw:.2f} | {pub} |")
    print(f"\nLUT vs DP4 synthesis: {time.perf_counter() - t2:.1f} s")


if __name__ == "__main__":
    main()
