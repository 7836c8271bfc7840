"""Every script in examples/ runs headless as a user would run it, and writes what it says."""

from __future__ import annotations

import csv
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def _run(script: str, out: Path, *args: str) -> str:
    env = {**os.environ, "MPLBACKEND": "Agg", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(EXAMPLES / script), "--out", str(out), *args],
                          check=False, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, f"{script} failed:\n{proc.stdout}\n{proc.stderr}"
    assert "wrote" in proc.stdout
    return proc.stdout


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_every_example_is_tested_and_says_what_it_does() -> None:
    scripts = sorted(p.name for p in EXAMPLES.glob("*.py"))
    assert 5 <= len(scripts) <= 8
    tested = {"01_explore_design.py", "02_compare_presets_llama_decode.py",
              "03_allocate_resnet18.py", "04_pareto_minilm.py", "05_own_torch_module.py",
              "06_scalesim_files.py", "07_codesign_dask.py"}
    assert set(scripts) == tested
    for s in scripts:
        doc = (EXAMPLES / s).read_text(encoding="utf-8").split('"""')[1]
        assert len(doc.strip().splitlines()) >= 3 and "--out" in doc, s


def test_explore_design(tmp_path: Path) -> None:
    _run("01_explore_design.py", tmp_path)
    rows = {(r["design"], r["weights"]): r for r in _csv(tmp_path / "designs.csv")}
    assert len(rows) == 8
    lat = {k: float(r["latency_s"]) for k, r in rows.items()}
    # same cycles at half the clock: exactly twice the seconds
    assert lat[("half the clock", "int8")] == pytest.approx(2 * lat[("tpu-like", "int8")], rel=1e-9)
    assert lat[("64x64 array", "int8")] < lat[("32x32 array", "int8")]
    assert all(0 < float(r["utilization"]) <= 1 and float(r["area_mm2"]) > 0 for r in rows.values())


def test_compare_presets_llama_decode(tmp_path: Path) -> None:
    _run("02_compare_presets_llama_decode.py", tmp_path)
    doc = json.loads((tmp_path / "compare.json").read_text(encoding="utf-8"))
    designs = doc["designs"]
    assert [d["preset"] for d in designs] == ["bitmod-decode", "lut-tc-a100-like", "a100-like"]
    assert designs[0]["speedup_vs_first"] == 1.0
    for d in designs:
        assert d["latency_s"] == pytest.approx(d["cycles"] / d["freq_hz"], rel=1e-9)
        assert 0 <= d["stall_share"] <= 1 and d["energy_j"] > 0
    assert len(_csv(tmp_path / "compare.csv")) == 3


@pytest.mark.slow   # 1.2-2.3 s: out of the fast lane (make test runs it)
def test_allocate_resnet18(tmp_path: Path) -> None:
    _run("03_allocate_resnet18.py", tmp_path)
    doc = json.loads((tmp_path / "alloc.json").read_text(encoding="utf-8"))
    assert doc["status"] == "optimal"
    lat = "latency_s"
    assert lat in doc["budgets"]
    assert doc["totals"][lat] <= doc["budgets"][lat] * (1 + 1e-9)
    formats = {ly["format"] for ly in doc["layers"]}
    assert formats <= {"int2", "int4", "int8"} and len(formats) >= 2  # a mixed allocation
    assert len(_csv(tmp_path / "layers.csv")) == len(doc["layers"])


def test_scalesim_files(tmp_path: Path) -> None:
    _run("06_scalesim_files.py", tmp_path)
    rows = _csv(tmp_path / "comparison.csv")
    assert {r["cfg"] for r in rows} == {"a32x32_ws.cfg", "a32x32_os.cfg", "a32x32_is.cfg"}
    checked = [r for r in rows if r["scalesim_cycles"]]
    assert checked and all(r["matches_scalesim"] == "True" for r in checked)
    assert all(r["speedup_vs_first"] == "1.0" for r in rows if r["cfg"] == "a32x32_ws.cfg")


@pytest.mark.slow
def test_pareto_minilm(tmp_path: Path) -> None:
    _run("04_pareto_minilm.py", tmp_path)
    rows = [r for r in _csv(tmp_path / "pareto.csv") if r["kind"] == "ilp" and r["dominated"] == "0"]
    assert len(rows) >= 3
    lat = "latency_s"
    assert lat in rows[0]
    rows.sort(key=lambda r: float(r[lat]))
    sens = [float(r["sensitivity"]) for r in rows]
    assert all(a >= b for a, b in itertools.pairwise(sens))  # a front: slower never loses quality
    assert (tmp_path / f"pareto_{lat}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_own_torch_module(tmp_path: Path) -> None:
    from lowbit.models.workload_io import resolve_model

    _run("05_own_torch_module.py", tmp_path)
    wl = resolve_model(str(tmp_path / "workload.yaml"))
    assert [ly.name for ly in wl.layers] == ["stem", "dw", "pw", "head"]
    rows = _csv(tmp_path / "costs.csv")
    assert len(rows) == 2 * 2 * 4 and all(r["mapping"] and float(r["latency_s"]) > 0 for r in rows)


@pytest.mark.slow
def test_codesign_dask(tmp_path: Path) -> None:
    _run("07_codesign_dask.py", tmp_path)
    rows = _csv(tmp_path / "points.csv")
    assert len(rows) == 4 and all(r["status"] == "ok" for r in rows)
    by = {json.dumps(json.loads(r["params"]), sort_keys=True): float(r["latency_s"]) for r in rows}
    for rows_ in (64, 128):
        slow = by[json.dumps({"core.rows": rows_, "freq_hz": 6.0e8}, sort_keys=True)]
        fast = by[json.dumps({"core.rows": rows_, "freq_hz": 1.0e9}, sort_keys=True)]
        assert fast < slow
    assert (tmp_path / "sweep.sqlite").stat().st_size > 0
