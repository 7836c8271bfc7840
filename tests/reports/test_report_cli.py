"""`lowbit report` on every kind of input, `lowbit pareto -o` figures, and bad input as one
line with exit code 2."""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path

import pytest
from lowbit.reports import pareto_report
from lowbit.reports.report import weight_bits
from lowbit.search.store import ResultStore

from lowbit.cli import main

HAWQ = Path(__file__).resolve().parents[1] / "data" / "hawq_v3_resnet18_costs.json"


def _pareto(out: Path, sweep: str = "latency", points: int = 4, extra: tuple[str, ...] = ()) -> Path:
    assert main(["pareto", "--costs", str(HAWQ), "--sweep", sweep, "--points", str(points),
                 *extra, "-o", str(out)]) == 0
    return out


def test_pareto_cli_writes_its_figure(tmp_path: Path, capsys: pytest.CaptureFixture[str], png_stats) -> None:
    d = _pareto(tmp_path / "p")
    out = capsys.readouterr().out
    fig = d / "pareto_latency.png"
    assert fig.exists() and f"figure: {fig}" in out
    s = png_stats(fig)
    assert s["nonwhite"] > 0.04 and s["saturated"] > 5e-4


@pytest.mark.slow  # > 2 s; the slow lane (make test) runs it
def test_report_overlays_pareto_dirs_and_draws_alloc(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                     sweep_store) -> None:
    d1 = _pareto(tmp_path / "a")
    d2 = _pareto(tmp_path / "b", extra=("--budget", "size=0.9x"))
    assert main(["allocate", "--costs", str(HAWQ), "--budget", "size=0.8x", "-o", str(tmp_path / "alloc.json")]) == 0
    db, _ = sweep_store(models=("net-a",))
    capsys.readouterr()
    out = tmp_path / "rep"
    assert main(["report", str(db), str(d1), str(d2 / "pareto.json"), str(tmp_path / "alloc.json"),
                 "-o", str(out)]) == 0
    printed = capsys.readouterr().out.strip()
    assert printed == str(out / "index.html")
    page = (out / "index.html").read_text()
    # Both Pareto inputs in one figure (same swept cost), legend names made unique by directory.
    assert (out / "pareto_latency.png").exists()
    assert "hawq-v3-resnet18 on nvidia-t4 (measured by HAWQ-V3) (b)" in page
    with open(out / "pareto_points.csv", newline="") as fh:
        pts = list(csv.DictReader(fh))
    n1 = len(json.loads((d1 / "pareto.json").read_text())["points"])
    n2 = len(json.loads((d2 / "pareto.json").read_text())["points"])
    assert len(pts) == n1 + n2 and {p["source"] for p in pts} == {str(d1 / "pareto.json"), str(d2 / "pareto.json")}
    # Sweep store (input 1) and alloc.json (input 4) files carry their input's number.
    assert (out / "1_rows.csv").exists() and (out / "1_net-a_design_space.png").exists()
    assert (out / "4_alloc_allocation.png").exists() and (out / "4_alloc_layers.csv").exists()
    with open(out / "4_alloc_layers.csv", newline="") as fh:
        layers = list(csv.DictReader(fh))
    alloc = json.loads((tmp_path / "alloc.json").read_text())
    assert [r["format"] for r in layers] == [ly["format"] for ly in alloc["layers"]]
    assert page.count("<img ") == 7 + 1 + 1  # sweep (one model: 7), one Pareto, one allocation


def test_units_only_claimed_for_hwsim_tables(tmp_path: Path) -> None:
    doc = pareto_report.load_pareto(_pareto(tmp_path / "p"))
    # HAWQ-V3's file names a hardware but its latency is measured (ms): no unit is claimed.
    assert pareto_report._unit([doc], "latency") == (1.0, "")
    hw = {"hardware": "loom", "swept": "latency", "_source": "x",
          "points": [{"kind": "ilp", "status": "optimal", "objective": 1.0,
                      "totals": {"sensitivity": 1.0, "latency": 3.2e6, "energy": 0.02,
                                 "memory": 6e6, "bops": 1e9}}]}
    assert pareto_report._unit([hw], "latency") == (1e-6, "million cycles")
    assert pareto_report._unit([hw], "energy") == (1e3, "mJ")


def test_weight_bits_of_choice_labels() -> None:
    assert weight_bits("int4") == 4 and weight_bits("int4g128") == 4 and weight_bits("int2/int8") == 2
    assert weight_bits("uint3") == 3


def _one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str], *needles: str) -> None:
    assert main(argv) == 2
    cap = capsys.readouterr()
    assert cap.out == ""
    lines = cap.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lowbit: error: report: "), cap.err
    for n in needles:
        assert n in lines[0], (n, lines[0])


def test_bad_inputs_are_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = str(tmp_path / "out")
    _one_line_error(capsys, ["report", str(tmp_path / "nope.sqlite"), "-o", out], "nope.sqlite", "no such file")
    txt = tmp_path / "notes.txt"
    txt.write_text("hello\n")
    _one_line_error(capsys, ["report", str(txt), "-o", out], "notes.txt", "neither a sweep store")
    empty = tmp_path / "empty.sqlite"
    ResultStore(empty).open().close()
    _one_line_error(capsys, ["report", str(empty), "-o", out], "empty.sqlite", "no results")
    other = tmp_path / "other.sqlite"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    _one_line_error(capsys, ["report", str(other), "-o", out], "other.sqlite", "points/meta")
    assert {r[0] for r in sqlite3.connect(other).execute("SELECT name FROM sqlite_master")} == {"t"}
    (tmp_path / "dir").mkdir()
    _one_line_error(capsys, ["report", str(tmp_path / "dir"), "-o", out], "dir", "pareto.json")
    js = tmp_path / "x.json"
    js.write_text('{"a": 1}')
    _one_line_error(capsys, ["report", str(js), "-o", out], "x.json", "neither a pareto.json")
    js.write_text('{"swept": "latency", "points": []}')
    _one_line_error(capsys, ["report", str(js), "-o", out], "x.json", "no points")
    js.write_text("{broken")
    _one_line_error(capsys, ["report", str(js), "-o", out], "x.json", "not valid JSON")
    # A bad input anywhere in the list stops before anything is drawn.
    assert not (tmp_path / "out").exists()
