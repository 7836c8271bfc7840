"""SCALE-Sim's memory mode (hwsim.scalesim_mem) against scalesim 3.0.0's own reports.

Goldens: tests/data/scalesim_stall_golden.json, made by running scalesim 3.0.0
(`benchmarks/.venv-scalesim/bin/python benchmarks/scalesim_golden.py --stall`) on
tests/data/scalesim_stall/*.cfg: small SRAMs, USER and CALC bandwidth, os/ws/is,
non-square arrays. Every column of COMPUTE_REPORT, BANDWIDTH_REPORT and
DETAILED_ACCESS_REPORT is compared as SCALE-Sim printed it.
"""

from __future__ import annotations

import io
import json
import shutil
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from lowbit.hwsim.scalesim_io import read_config, read_topology
from lowbit.hwsim.scalesim_reports import (
    BANDWIDTH_HEADER,
    COMPUTE_HEADER,
    DETAIL_HEADER,
    run_files,
    write_reports,
)

DATA = Path(__file__).resolve().parents[1] / "data"
GOLDEN = json.loads((DATA / "scalesim_stall_golden.json").read_text())
RUNS = GOLDEN["runs"]
REPORTS = ("compute_report", "bandwidth_report", "detailed_access_report")


def _ours(run):
    return {"compute_report": [r.compute_row() for r in run.reports],
            "bandwidth_report": [r.bandwidth_row() for r in run.reports],
            "detailed_access_report": [r.detail_row() for r in run.reports]}


def test_golden_provenance_and_coverage():
    assert "scalesim 3.0.0" in GOLDEN["source"] and "--stall" in GOLDEN["source"]
    stalled = []
    for run in RUNS:
        cfg = read_config(DATA / run["cfg"])
        for row in run["compute_report"]:
            if int(row[3]) > 0:
                stalled.append((cfg.dataflow.value, cfg.use_user_bandwidth, cfg.array_rows != cfg.array_cols))
    assert len(stalled) >= 20  # bandwidth-limited layer runs
    assert {d for d, _, _ in stalled} == {"os", "ws", "is"}
    assert all(u for _, u, _ in stalled)  # CALC never stalls in SCALE-Sim 3.0.0 (it sizes the bandwidth)
    assert any(ns for _, _, ns in stalled)
    calc = [run for run in RUNS if not read_config(DATA / run["cfg"]).use_user_bandwidth]
    assert len(calc) >= 6 and {read_config(DATA / r["cfg"]).dataflow.value for r in calc} == {"os", "ws", "is"}


def test_sram_smaller_than_operands():
    """The goldens exercise refetch: some layer's ifmap and filter exceed their SRAM."""
    big = 0
    for run in RUNS:
        cfg = read_config(DATA / run["cfg"])
        for layer in read_topology(DATA / run["topology"], gemm=run["gemm"]):
            ifmap = layer.ifmap_h * layer.ifmap_w * layer.channels
            filt = layer.filter_h * layer.filter_w * layer.channels * layer.num_filters
            big += ifmap > cfg.ifmap_sram_kb * 1024 and filt > cfg.filter_sram_kb * 1024
    assert big >= 5


@pytest.mark.parametrize("run", RUNS, ids=[f"{r['cfg'].split('/')[-1]}:{r['topology'].split('/')[-1]}" for r in RUNS])
def test_every_column_equals_scalesim(run):
    ours = _ours(run_files(DATA / run["cfg"], DATA / run["topology"], gemm=run["gemm"]))
    for rep in REPORTS:
        want = run[rep]
        assert len(ours[rep]) == len(want)
        for lid, (mine, theirs) in enumerate(zip(ours[rep], want)):
            assert theirs[0] == str(lid)
            assert [str(v) for v in mine] == theirs[1:], (rep, lid)


def test_total_is_compute_plus_stall_and_bandwidth_sources():
    """USER mode: ifmap/filter DRAM reads come in IfmapSRAMBankBandwidth/FilterSRAMBankBandwidth
    lines, the ofmap drain never beats Bandwidth[0] (SCALE-Sim's single_layer_sim.py)."""
    seen = 0
    for run in RUNS:
        cfg = read_config(DATA / run["cfg"])
        if not cfg.use_user_bandwidth:
            continue
        res = run_files(DATA / run["cfg"], DATA / run["topology"], gemm=run["gemm"])
        for r in res.reports:
            assert r.ifmap_dram_reads % cfg.ifmap_bank_bandwidth == 0
            assert r.filter_dram_reads % cfg.filter_bank_bandwidth == 0
            assert r.avg_ofmap_dram_bw <= cfg.bandwidths[0]
            seen += 1
    assert seen >= 8


def _cli(argv):
    from lowbit import cli

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = cli.main(argv)
        except SystemExit as exc:
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


def _golden_text(run, rep: str, header: str) -> str:
    return header + "\n" + "".join(", ".join(row) + ",\n" for row in run[rep])


def test_cli_writes_scalesim_reports(tmp_path):
    run = next(r for r in RUNS if r["cfg"].endswith("u8x16_os.cfg") and not r["gemm"])
    cfg = shutil.copy(DATA / run["cfg"], tmp_path / "scale.cfg")
    top = shutil.copy(DATA / run["topology"], tmp_path / "topo.csv")
    code, out, err = _cli(["simulate", "--scalesim-cfg", str(cfg), "--topology", str(top), "-o", str(tmp_path / "r")])
    assert code == 0, err
    for name, rep, header in (("COMPUTE_REPORT.csv", "compute_report", COMPUTE_HEADER),
                              ("BANDWIDTH_REPORT.csv", "bandwidth_report", BANDWIDTH_HEADER),
                              ("DETAILED_ACCESS_REPORT.csv", "detailed_access_report", DETAIL_HEADER)):
        assert (tmp_path / "r" / name).read_text() == _golden_text(run, rep, header)
    # the table: SCALE-Sim's Total Cycles incl. stalls and incl. prefetch, not the stall-free part
    total = sum(int(row[2]) for row in run["compute_report"])
    stall = sum(int(row[3]) for row in run["compute_report"])
    incl = sum(int(row[1]) for row in run["compute_report"])
    last = next(ln for ln in out.splitlines() if ln.startswith("total ")).split()
    assert [int(x) for x in last[1:5]] == [total - stall, stall, total, incl] and stall > 0
    assert "incl.prefetch" in out and "util%" in out and "map.eff%" in out


def test_cli_json_has_stall_columns():
    run = next(r for r in RUNS if r["cfg"].endswith("c16x16_os.cfg") and r["gemm"])
    code, out, err = _cli(["simulate", "--scalesim-cfg", str(DATA / run["cfg"]), "--topology",
                           str(DATA / run["topology"]), "--gemm", "--json"])
    assert code == 0, err
    doc = json.loads(out)
    assert [r["total_cycles"] for r in doc["layers"]] == [int(row[2]) for row in run["compute_report"]]
    assert [r["stall_cycles"] for r in doc["layers"]] == [int(row[3]) for row in run["compute_report"]]
    assert doc["total"]["total_cycles"] == sum(int(row[2]) for row in run["compute_report"])


def test_write_reports_bad_folder(tmp_path):
    from lowbit.kernels_ref.errors import InvalidSpecError

    run = run_files(DATA / RUNS[0]["cfg"], DATA / RUNS[0]["topology"], gemm=RUNS[0]["gemm"])
    (tmp_path / "file").write_text("x")
    with pytest.raises(InvalidSpecError, match="cannot create"):
        write_reports(run, tmp_path / "file" / "sub")
