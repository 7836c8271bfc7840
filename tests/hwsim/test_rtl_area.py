"""Area by Yosys technology mapping (`hwsim.rtl.synth_cells(liberty=...)`): the area model that
derives lut-tc-a100-like's units (benchmarks/lut_tc_units_derivation.py). Needs Debian `yosys`
(the Makefile installs it)."""

from __future__ import annotations

import re

import pytest
from lowbit.hwsim import rtl

# mac_dot, 1 x 2 outputs of a 2-long dot product of 4-bit operands into 16-bit accumulators
PARAMS = {"PM": 1, "PN": 2, "K": 2, "AB": 4, "WB": 4, "ACCW": 16}
FLOPS = 1 * 2 * 4 + 2 * 2 * 4 + 1 + 2 * 16     # a_q, w_q, first_q, two accumulators


def _lib_areas() -> dict[str, float]:
    text = (rtl.rtl_source_dir() / rtl.AREA_LIBERTY).read_text()
    return {m[0]: float(m[1]) for m in re.findall(r"cell \((\w+)\) \{\s*area : ([0-9.]+);", text)}


def test_liberty_cells_are_the_nangate_x1_areas():
    areas = _lib_areas()
    # values as read in NangateOpenCellLibrary_typical.lib (rev 1.0); see the file's header
    assert areas["INV_X1"] == 0.532 and areas["NAND2_X1"] == 0.798 and areas["DFF_X1"] == 4.522
    assert areas["XOR2_X1"] == 1.596 and areas["MUX2_X1"] == 1.862 and len(areas) == 14


@pytest.mark.slow
def test_mapped_area_is_the_sum_of_cell_areas_and_counts_each_instance():
    areas = _lib_areas()
    flat = rtl.synth_cells("mac_dot", ("area_units.sv",), PARAMS, liberty=rtl.AREA_LIBERTY)
    hier = rtl.synth_cells("mac_dot", ("area_units.sv",), PARAMS, liberty=rtl.AREA_LIBERTY, flatten=False)
    for got in (flat, hier):
        counts = {k: v for k, v in got.items() if k not in ("total", "area_um2")}
        assert set(counts) <= set(areas)                           # only the library's cells
        assert sum(counts.values()) == got["total"]
        assert got["area_um2"] == pytest.approx(sum(areas[k] * n for k, n in counts.items()), abs=1e-3)
        assert counts["DFF_X1"] == FLOPS                           # both outputs' accumulators counted
    # the hierarchy's two mac_dot_out instances are one module synthesised once: within 10% of flat
    assert hier["area_um2"] == pytest.approx(flat["area_um2"], rel=0.10)
