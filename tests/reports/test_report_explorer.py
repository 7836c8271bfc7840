"""Issue 21: the explorer's data and page, readable names and headings, tables with units and
engineering notation, the single-design ILP front, energy by component, --format, --open and
--serve (127.0.0.1 only)."""

from __future__ import annotations

import html as htmlmod
import json
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from lowbit.reports import units
from lowbit.reports.report import build_report

from lowbit.cli import main

#: a cell that is a number in raw exponent notation (messages quoting '1e-4 s' are text)
_RAW_EXP = re.compile(r"^-?\d\.?\d*e[+-]?\d+( \S+)?$", re.IGNORECASE)


def test_units_engineering_and_names() -> None:
    from lowbit import tables

    assert tables.eng is units.eng  # one formatter for the CLI and the reports
    assert units.eng(0.00143, "s") == "1.43 ms" and units.eng(3.2e-3, "J") == "3.2 mJ"
    assert units.eng(12.4e6, "B") == "12.4 MB" and units.eng(float("nan"), "s") == "-"
    assert units.num(6.112e5) == "611,200" and units.num(0.3972) == "0.3972"
    assert units.num(1.234e-7) == "1.234×10^-7" and units.num(3) == "3"
    assert units.column("latency_s") == units.Column("latency (s)", "s", True)
    assert units.column("params.freq_hz").label == "freq (Hz)"
    assert units.column("energy_j.dram").label == "energy: DRAM (J)"
    assert units.column("latency_cycles").label == "latency (cycles)"
    assert units.column("quality loss") == units.Column("quality loss", "", False)
    assert units.cell("latency_s", 6.112e-4) == "611 µs" and units.cell("area_mm2", 3.21) == "3.21 mm²"
    assert units.cell("latency_cycles", 611247.0) == "611,247 cycles"
    assert units.design_label("loom", {"core.rows": 128, "freq_hz": 8e8}) == "loom rows=128 freq=0.8GHz"
    assert units.design_label("bitmod", {}) == "bitmod (preset)"
    # two parameters with one short name keep their full keys
    assert units.param_text({"a.rows": 1, "b.rows": 2}) == "a.rows=1 b.rows=2"
    assert units.component_label("sram:L1") == "SRAM (L1)" and units.component_label("leakage") == "leakage"


def _tables(page: str) -> tuple[list[str], list[str]]:
    heads = [htmlmod.unescape(h) for h in re.findall(r"<th[^>]*>(.*?)</th>", page)]
    cells = [htmlmod.unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", page)]
    return heads, cells


def _explorer(page: str) -> dict:
    m = re.search(r'<script type="application/json" id="lb-data">(.*?)</script>', page, re.DOTALL)
    assert m, "no explorer data"
    return json.loads(m.group(1).replace("<\\/", "</"))


@pytest.mark.slow
def test_report_page_names_units_and_single_design_front(tmp_path: Path, report_inputs) -> None:
    db, d = report_inputs()
    out = tmp_path / "rep"
    index = build_report([db, d], out, formats=("png", "svg", "pdf"))
    page = index.read_text()
    size = index.stat().st_size
    assert 1.5e6 < size < 5e6, size  # plotly.js embedded (compressed), under 5 MB
    data = _explorer(page)
    (m,) = data["models"]
    ids = {x["id"] for x in m["designs"]}
    assert "bitser rows=16 freq=0.5GHz" in ids and "lutc units=4 freq=1GHz" in ids
    assert "bitmod (preset)" in ids and len(m["designs"]) == 37
    pre = next(x for x in m["designs"] if x["preset"])
    assert pre["resolved"].startswith("family bit_serial, array ") and "clock" in pre["resolved"]
    assert all(x["key"] and x["energy"]["components"] for x in m["designs"])  # hash kept, energy split
    assert m["chosen"] in {x["key"] for x in m["designs"]} and "nearest the ideal corner" in m["chosen_why"]
    (f,) = m["fronts"]
    assert [p["budget"] for p in f["points"]] == [1e-4, 1.5e-4, 2e-4, 3e-4]
    assert f["points"][0]["mix"] == "int4×4 int8×2"
    # Headings say what is chosen and why; no cryptic ids.
    heads = re.findall(r"<h2>(.*?)</h2>", page)
    chosen = [h for h in heads if "chosen design" in h]
    assert len(chosen) == 1 and "balanced: non-dominated, nearest the ideal corner" in chosen[0]
    assert not re.search(r"chosen point d\d", page)
    # The single-design base draws the ILP front of its Pareto input, and says so.
    assert "bitmod: a single design each, so the line is the exact-ILP allocations" in page
    # Tables: units in the headers, engineering notation, never a raw exponent, preset params.
    th, td = _tables(page)
    assert "latency (s)" in th and "energy (J)" in th and "area (mm²)" in th and "budget (s)" in th
    assert not {"latency_s", "latency (ms)", "energy (mJ)", "params"} & set(th)
    assert not [c for c in td if _RAW_EXP.search(c)], [c for c in td if _RAW_EXP.search(c)][:5]
    assert any(re.fullmatch(r"\d+(\.\d+)? [µm]s", c) for c in td)
    # --format: every figure also as SVG and PDF, linked from its caption.
    pngs = sorted(out.glob("*.png"))
    assert pngs and all(p.with_suffix(".svg").read_text()[:200].lstrip().startswith(("<?xml", "<svg"))
                        for p in pngs)
    assert all(p.with_suffix(".pdf").read_bytes()[:5] == b"%PDF-" for p in pngs)
    assert page.count(">SVG</a>") == len(pngs) == page.count(">PDF</a>")


def test_bad_format_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], sweep_store) -> None:
    db, _ = sweep_store(models=("net-a",))
    assert main(["report", str(db), "-o", str(tmp_path / "r"), "--format", "png,tiff"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "figure format 'tiff'" in err[0]


@pytest.mark.slow
def test_allocation_energy_split_by_component(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = tmp_path / "alloc.json"
    assert main(["allocate", "--hw", "bitmod", "--model", "resnet-18", "--sensitivity", "builtin-fit",
                 "--budget", "latency=0.7x", "-o", str(a)]) == 0
    doc = json.loads(a.read_text())
    for ly in doc["layers"]:  # hwsim's components of the chosen format add up to the layer's energy
        comps = ly["energy_components_j"]
        assert {"dram", "sram", "leakage"} <= set(comps)
        assert sum(comps.values()) == pytest.approx(ly["energy_j"], rel=1e-9)
    capsys.readouterr()
    assert main(["report", str(a), "-o", str(tmp_path / "r"), "--open"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == (tmp_path / "r" / "index.html").resolve().as_uri() and out[-1].startswith("file://")
    page = (tmp_path / "r" / "index.html").read_text()
    cap = re.search(r"stacked by component \(([^)]*)\)", page)
    assert cap and {"DRAM", "SRAM", "leakage"} <= set(cap.group(1).split(", ")), cap
    assert "holds totals, not components" not in page
    th, td = _tables(page)
    assert "latency (s)" in th and "cycles" in th and "energy (J)" in th and not [c for c in td if _RAW_EXP.search(c)]


def test_open_prints_file_url_without_a_desktop(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch, pareto_input: Path) -> None:
    for v in ("DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(v, raising=False)
    import webbrowser

    monkeypatch.setattr(webbrowser, "open", lambda *a, **k: pytest.fail("opened a browser"))
    d = pareto_input
    assert main(["report", str(d), "-o", str(tmp_path / "r"), "--open"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [str(tmp_path / "r" / "index.html"), (tmp_path / "r" / "index.html").resolve().as_uri()]


@pytest.mark.slow  # > 2 s; the slow lane (make test) runs it
def test_serve_on_loopback(tmp_path: Path, pareto_input: Path) -> None:
    d = pareto_input
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "lowbit", "report", str(d), "-o", str(tmp_path / "r"),
                             "--serve", "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        line = proc.stdout.readline()
        assert first.strip() == str(tmp_path / "r" / "index.html"), (first, proc.stderr.read() if proc.poll() else "")
        m = re.fullmatch(r"serving http://127\.0\.0\.1:(\d+)/index\.html \(Ctrl-C stops\)\n", line)
        assert m, line
        with urllib.request.urlopen(f"http://127.0.0.1:{m.group(1)}/index.html", timeout=30) as r:
            body = r.read()
        assert body == (tmp_path / "r" / "index.html").read_bytes()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    from lowbit.reports.serve import report_server

    srv = report_server(tmp_path / "r", 0)
    try:
        assert srv.server_address[0] == "127.0.0.1" and srv.server_address[1] > 0
    finally:
        srv.server_close()
