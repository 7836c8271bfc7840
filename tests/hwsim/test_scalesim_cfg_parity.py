"""Parsing of SCALE-Sim files, key by key, against what scalesim 3.0.0 itself does.

tests/data/scalesim_stall/parse_probe.txt is scalesim 3.0.0's own verdict on each variant
(`benchmarks/.venv-scalesim/bin/python benchmarks/scalesim_parse_probe.py`): RUNS with its
COMPUTE_REPORT row, or FAILS. Where SCALE-Sim runs a file, lowbit runs it to the same Total
Cycles; where it fails, lowbit raises InvalidSpecError; where lowbit is stricter or looser on
purpose, the case is listed in DELIBERATE and the error says what SCALE-Sim would do.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from lowbit.hwsim.scalesim_reports import run_files
from lowbit.kernels_ref.errors import InvalidSpecError

DATA = Path(__file__).resolve().parents[1] / "data"
BASE = (DATA / "scalesim" / "a16x8_ws.cfg").read_text()
GEMM = "Layer, M, N, K,\ng1, 8, 9, 10,\n"
USER = ("InterfaceBandwidth: CALC", "InterfaceBandwidth: USER")

# name -> (cfg edits, topology text, gemm): the cases of benchmarks/scalesim_parse_probe.py
CASES = {
    "df_OS": ([("Dataflow : ws", "Dataflow : OS")], GEMM, True),
    "df_WS": ([("Dataflow : ws", "Dataflow : WS")], GEMM, True),
    "df_rs": ([("Dataflow : ws", "Dataflow : rs")], GEMM, True),
    "banks_two": ([("MemoryBanks:   1", "MemoryBanks:   two")], GEMM, True),
    "pct_runname": ([("run_name = a16x8_ws", "run_name = a16x8%ws")], GEMM, True),
    "pct_banks": ([("MemoryBanks:   1", "MemoryBanks:   1%")], GEMM, True),
    "layout_maybe": ([("IfmapCustomLayout: False", "IfmapCustomLayout: maybe")], GEMM, True),
    "layout_yes": ([("IfmapCustomLayout: False", "IfmapCustomLayout: yes")], GEMM, True),
    "layout_1": ([("IfmapCustomLayout: False", "IfmapCustomLayout: 1")], GEMM, True),
    "layout_no": ([("IfmapCustomLayout: False", "IfmapCustomLayout: no")], GEMM, True),
    "bw_FAST": ([("InterfaceBandwidth: CALC", "InterfaceBandwidth: FAST")], GEMM, True),
    "no_rrb": ([("ReadRequestBuffer: 512\n", "")], GEMM, True),
    "no_layout_key": ([("IfmapSRAMBankNum: 10\n", "")], GEMM, True),
    "gemm_extra_nocomma": ([], "Layer, M, N, K,\ng1, 8, 9, 10, x\n", True),
    "gemm_extra_comma": ([], "Layer, M, N, K,\ng1, 8, 9, 10, x,\n", True),
    "gemm_extra_sparse": ([], "Layer, M, N, K,\ng1, 8, 9, 10, 1:1, x,\n", True),
    "gemm_nocomma": ([], "Layer, M, N, K,\ng1, 8, 9, 10\n", True),
    "empty_name": ([], "Layer, M, N, K,\n, 8, 9, 10,\n", True),
    "conv_empty_name": ([], "h,\n, 9, 9, 3, 3, 2, 4, 1,\n", False),
    "user_bw_bank_indivisible": ([USER, ("IfmapSRAMBankBandwidth: 10", "IfmapSRAMBankBandwidth: 7")], GEMM, True),
    "user_bw_ten": ([USER, ("Bandwidth : 10", "Bandwidth : ten")], GEMM, True),
    "calc_bw_ten": ([("Bandwidth : 10", "Bandwidth : ten")], GEMM, True),
    "sparsity_TRUE": ([("SparsitySupport : false", "SparsitySupport : TRUE")], GEMM, True),
    "ramulator_true": ([("UseRamulatorTrace: False", "UseRamulatorTrace: true")], GEMM, True),
    "height_plus": ([("ArrayHeight:    16", "ArrayHeight:    +16")], GEMM, True),
}

# lowbit differs on purpose: (what lowbit does, a phrase its error must contain or None)
DELIBERATE = {
    "df_WS": ("rejects", "runs any other value as os"),  # SCALE-Sim would run 'WS' as os
    "df_rs": ("rejects", "runs any other value as os"),
    "sparsity_TRUE": ("rejects", "SCALE-Sim 3.0.0 runs its sparse mode"),
    "layout_yes": ("rejects", "reads it as true"),  # SCALE-Sim fails only for want of a layout file
    "layout_1": ("rejects", "reads it as true"),
    "no_rrb": ("runs", None),  # request buffers matter only with Ramulator traces; default 60
    "no_layout_key": ("runs", None),  # SCALE-Sim's own defaults (10 banks) as in its scale_config
    "gemm_nocomma": ("runs", None),  # every value is there; SCALE-Sim drops the last
}


def _probe() -> dict[str, tuple[str, int | None]]:
    out = {}
    for line in (DATA / "scalesim_stall" / "parse_probe.txt").read_text().splitlines():
        m = re.match(r"(\S+)\s+(RUNS|FAILS)(.*)", line)
        if not m:
            continue
        total = None
        if m.group(2) == "RUNS":
            row = re.search(r"df='[^']*' (\d+), (\d+), (\d+), (\d+),", m.group(3))
            assert row, line
            total = int(row.group(3))
        out[m.group(1)] = (m.group(2), total)
    return out


PROBE = _probe()


def test_probe_covers_every_case():
    assert set(PROBE) == set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_key_matches_scalesim(name, tmp_path, caplog):
    edits, topo, gemm = CASES[name]
    text = BASE
    for old, new in edits:
        assert old in text
        text = text.replace(old, new)
    cfg, top = tmp_path / "c.cfg", tmp_path / "t.csv"
    cfg.write_text(text)
    top.write_text(topo)
    verdict, total = PROBE[name]
    want, needle = DELIBERATE.get(name, ("runs" if verdict == "RUNS" else "rejects", None))
    if want == "runs":
        with caplog.at_level(logging.WARNING):
            run = run_files(cfg, top, gemm=gemm)
        if verdict == "RUNS":
            assert run.total_cycles == total
        if name == "df_OS":
            assert any("running os" in r.getMessage() for r in caplog.records)
    else:
        with pytest.raises(InvalidSpecError) as exc:
            run_files(cfg, top, gemm=gemm)
        assert str(tmp_path) in str(exc.value)
        if needle:
            assert needle in str(exc.value)
