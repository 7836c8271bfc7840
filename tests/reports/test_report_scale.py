"""`lowbit report` on long allocations: up to `--max-layers` layers one bar and one table row
per layer; above it the figures show runs of consecutive layers, the page's table one row per
format, every layer goes to the CSV/JSON beside index.html, and one warning says so."""

from __future__ import annotations

import copy
import csv
import html
import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from lowbit.reports import report

from lowbit import cmd_report
from lowbit.cli import main

OK_ALLOC = Path(__file__).resolve().parents[1] / "data" / "fuzz" / "report" / "ok_alloc.json"


def _long_alloc(path: Path, n: int, cost_file: bool = False) -> dict:
    """ok_alloc.json's 21 ResNet-18 layers repeated to `n` layers, each named uniquely (one name
    holds HTML); `cost_file` drops the hardware and energy components (a cost-file allocation)."""
    doc = json.loads(OK_ALLOC.read_text())
    base = doc["layers"]
    doc["layers"] = []
    for i in range(n):
        ly = copy.deepcopy(base[i % len(base)])
        ly["name"] = f"b{i // len(base)}.{ly['name']}" if i != 3 else "<b>x</b>&y"
        if cost_file:
            ly.pop("energy_components_j")
        doc["layers"].append(ly)
    if cost_file:
        doc.pop("hardware")
    path.write_text(json.dumps(doc))
    return doc


def _cells(page: str) -> list[str]:
    return [html.unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", page)]


def test_cli_limit_is_the_reports_limit() -> None:
    assert cmd_report.PER_LAYER_LIMIT == report.PER_LAYER_LIMIT  # cmd_report avoids matplotlib


@pytest.mark.parametrize("n", [1, 7, 99, 100, 101, 250, 10_000])
def test_runs_cover_every_layer_once(n: int) -> None:
    e = report._group_edges(n)
    assert e[0] == 0 and e[-1] == n and len(e) - 1 == min(n, report.GROUPS)
    d = np.diff(e)
    assert (d >= 1).all() and d.max() - d.min() <= 1  # near-equal runs, none empty


def test_at_the_limit_every_layer_is_on_the_page(tmp_path: Path, caplog) -> None:
    doc = _long_alloc(tmp_path / "a.json", 30)
    with caplog.at_level(logging.WARNING):
        assert main(["report", str(tmp_path / "a.json"), "-o", str(tmp_path / "r"),
                     "--max-layers", "30"]) == 0
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    page = (tmp_path / "r" / "index.html").read_text()
    cells = _cells(page)
    assert [ly["name"] for ly in doc["layers"]] == [c for c in cells if c.startswith(("b", "<b>"))]
    assert "&lt;b&gt;x&lt;/b&gt;&amp;y" in page and "<b>x</b>" not in page
    assert "per-layer limit" not in page and not (tmp_path / "r" / "a_formats.csv").exists()


@pytest.mark.parametrize("cost_file", [False, True])
def test_over_the_limit_the_page_summarises_and_the_csv_has_every_layer(
        tmp_path: Path, caplog, png_stats, cost_file: bool) -> None:
    doc = _long_alloc(tmp_path / "a.json", 31, cost_file)
    out = tmp_path / "r"
    with caplog.at_level(logging.WARNING):
        assert main(["report", str(tmp_path / "a.json"), "-o", str(out), "--max-layers", "30"]) == 0
    warns = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warns) == 1 and "has 31 layers, over the per-layer limit of 30" in warns[0]
    page = (out / "index.html").read_text()
    assert "This allocation has 31 layers, over the per-layer limit of 30" in page
    assert '<a href="a_layers.csv">a_layers.csv</a>' in page
    # no layer name on the page (the one holding HTML neither raw nor escaped), one row per format
    assert "b0.conv1" not in page and "<b>x</b>" not in page and "&lt;b&gt;x" not in page
    fmts = [ly["format"] for ly in doc["layers"]]
    want = {f: fmts.count(f) for f in set(fmts)}
    cells = _cells(page)
    got = {c: int(cells[i + 1].replace(",", "")) for i, c in enumerate(cells[:-1]) if c in want}
    assert got == want
    with open(out / "a_layers.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["layer"] for r in rows] == [ly["name"] for ly in doc["layers"]]
    assert [r["format"] for r in rows] == fmts
    with open(out / "a_formats.csv", newline="") as fh:
        summ = {r["format"]: r for r in csv.DictReader(fh)}
    key = "sum latency" if cost_file else "sum latency_cycles"
    for f, count in want.items():
        lat = sum(ly["costs"]["latency"] for ly in doc["layers"] if ly["format"] == f)
        assert float(summ[f][key]) == pytest.approx(lat, rel=1e-12)
        assert int(summ[f]["layers"]) == count
    assert page.count("<img ") == 2  # format mix and energy, both aggregated
    for name in ("a_allocation.png", "a_energy.png"):
        assert png_stats(out / name)["nonwhite"] > 0.03


def test_max_layers_must_be_positive(tmp_path: Path, capsys) -> None:
    _long_alloc(tmp_path / "a.json", 3)
    assert main(["report", str(tmp_path / "a.json"), "-o", str(tmp_path / "r"),
                 "--max-layers", "0"]) == 2
    assert "--max-layers 0 is out of range" in capsys.readouterr().err


@pytest.mark.slow
def test_ten_thousand_layers_render_with_summary_and_csv(tmp_path: Path) -> None:
    """The fuzz campaign's 10,000-layer report (225 s, 1.5 GB before): the real CLI, one warning
    line on stderr, the summary on the page and all 10,000 layers in the CSV."""
    doc = _long_alloc(tmp_path / "a.json", 10_000)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    r = subprocess.run([sys.executable, "-m", "lowbit", "report", str(tmp_path / "a.json"), "-o",
                        str(tmp_path / "r")], capture_output=True, text=True, timeout=120, env=env,
                       check=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(tmp_path / "r" / "index.html")
    err = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(err) == 1 and "has 10000 layers, over the per-layer limit of 500" in err[0]
    page = (tmp_path / "r" / "index.html").read_text()
    assert "This allocation has 10000 layers" in page and "b100.conv1" not in page
    assert len(page) < 1_000_000  # two aggregated figures and a table per format
    with open(tmp_path / "r" / "a_layers.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 10_000 and rows[-1]["layer"] == doc["layers"][-1]["name"]
    fm = {ly["format"] for ly in doc["layers"]}
    assert {c for c in _cells(page) if c in fm} == fm
