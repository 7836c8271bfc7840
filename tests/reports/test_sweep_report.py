"""Sweep-store report: selection helpers by hand, every figure drawn, tables and CSV complete,
infeasible rows listed and never plotted."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest
from lowbit.kernels_ref.errors import InvalidSpecError
from lowbit.reports.sweep_report import (
    flatten_row,
    non_dominated_mask,
    pick_point,
    report_from_store,
)
from lowbit.reports.units import design_label
from lowbit.search.store import ResultStore


def test_non_dominated_mask_by_hand() -> None:
    # (1,3) (2,2) (3,1) trade off; (2,3) is beaten by (2,2): equal first, worse second.
    m = non_dominated_mask(np.array([[1, 3], [2, 2], [2, 3], [3, 1]]))
    assert list(m) == [True, True, False, True]
    # Identical points do not dominate each other; 3-D: (1,1,1) beats (1,2,1) only.
    m = non_dominated_mask(np.array([[1, 1, 1], [1, 1, 1], [1, 2, 1], [0, 5, 5]]))
    assert list(m) == [True, True, False, True]
    with pytest.raises(InvalidSpecError):
        non_dominated_mask(np.zeros(3))


def test_pick_point_is_the_knee() -> None:
    # Hand derivation: latency (1,4,10,5) -> scaled (0, 1/3, 1, 4/9); energy (10,4,1,5) ->
    # (1, 1/3, 0, 4/9); quality (1,1,1,2) -> (0,0,0,1). Distances to the ideal corner:
    # 1, sqrt(2)/3 = 0.47, 1, and index 3 is dominated by index 1. Knee = index 1.
    res = [{"latency_s": 1, "energy_j": 10, "quality": 1, "area_mm2": 1},
           {"latency_s": 4, "energy_j": 4, "quality": 1, "area_mm2": 1},
           {"latency_s": 10, "energy_j": 1, "quality": 1, "area_mm2": 1},
           {"latency_s": 5, "energy_j": 5, "quality": 2, "area_mm2": 1}]
    assert pick_point(res) == 1
    # Index 1 made much bigger in area is still non-dominated (area is an objective) and kept.
    res[1]["area_mm2"] = 100
    assert pick_point(res) == 1
    # Make index 1 dominated by a new point: the new point is chosen.
    res.append({"latency_s": 3, "energy_j": 3, "quality": 1, "area_mm2": 1})
    assert pick_point(res) == 4
    with pytest.raises(InvalidSpecError):
        pick_point([])


def test_flatten_row_keeps_params_uniform_and_layer_lists() -> None:
    r = flatten_row("k", {"design": "d1", "base": "b", "params": {"core.rows": 32}, "model": "m"},
                    {"status": "ok", "latency_s": 1e-3, "choices": ["int4", "int8"],
                     "layer_energy_j": {"mac": [1.0, 2.0]}, "uniform": {"int8": {"latency_s": 2e-3}},
                     "nan": float("nan")})
    assert r["params.core.rows"] == 32 and r["choices"] == "int4;int8"
    assert r["energy_j.mac"] == 3.0 and r["uniform.int8.latency_s"] == 2e-3 and r["nan"] is None
    assert list(r)[:2] == ["key", "status"]


@pytest.mark.slow
def test_report_from_store(tmp_path: Path, sweep_store, png_stats) -> None:
    db, rows = sweep_store()
    out = tmp_path / "rep"
    index = report_from_store(db, out)
    assert index == out / "index.html"
    page = index.read_text()
    # Per model: design space + 3 Pareto fronts + allocation + energy + roofline = 7 figures.
    assert page.count("<img ") == 14 == page.count("data:image/png;base64,")
    pngs = sorted(out.glob("*.png"))
    assert len(pngs) == 14
    assert {p.name for p in pngs} >= {"net-a_design_space.png", "net-a_pareto_latency.png",
                                      "net-a_pareto_energy.png", "net-a_pareto_memory.png",
                                      "net-b_allocation.png", "net-b_energy.png", "net-b_roofline.png"}
    for p in pngs:  # drawn, not blank: axes, text and some coloured marks (an empty axes has none)
        s = png_stats(p)
        assert s["nonwhite"] > 0.04 and s["colours"] > 50 and s["saturated"] > 5e-4, (p.name, s)
    # Infeasible / invalid rows: counted and listed with their message, not plotted.
    assert "Infeasible or invalid points: 3" in page
    assert "core.units: must be a positive integer, got 0" in page and "d90002" in page
    assert "72 ok" in page and "2 infeasible" in page and "1 invalid" in page
    # Every row in the CSV and JSON, params of both bases as columns (union of keys).
    with open(out / "rows.csv", newline="") as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == len(rows) == 75
    assert {"params.core.rows", "params.core.units", "uniform.int8.latency_s", "energy_j.dram"} <= set(table[0])
    assert sum(r["status"] == "ok" for r in table) == 72
    js = json.loads((out / "rows.json").read_text())
    assert [r["key"] for r in js] == sorted(k for k, _, _ in rows)
    # The chosen point of each model is the knee of its feasible rows, named in the page.
    seen_bases: set[str] = set()
    for model in ("net-a", "net-b"):
        ok = [(p, r) for _, p, r in rows if p["model"] == model and r["status"] == "ok"]
        ok.sort(key=lambda pr: f"{model}|{pr[0]['design']}")  # the store's key order
        p, _ = ok[pick_point([r for _, r in ok])]
        label = design_label(p["base"], p["params"])  # the design named by its parameter values
        assert f"{model}: chosen design {label} — balanced: non-dominated, nearest the ideal corner" in page
        seen_bases.add(p["base"])
    # Roofline: the chosen points are lutc rows, which carry a peak per format.
    assert seen_bases == {"lutc"} and "one compute roof per format in use" in page
    # Top designs table: only non-dominated designs, at most 15 per model.
    m = re.search(r"The (\d+) of (\d+) non-dominated designs", page)
    assert m and int(m.group(1)) <= 15 and int(m.group(1)) <= int(m.group(2))


@pytest.mark.slow   # 1.2-2.3 s: out of the fast lane (make test runs it)
def test_model_without_feasible_point_is_reported_not_plotted(tmp_path: Path, sweep_store) -> None:
    db, _ = sweep_store(models=("net-a",))
    with ResultStore(db) as st:
        st.put("zz|none", "toy", {"design": "d99999", "base": "bitser", "model": "net-z", "params": {}},
               {"status": "infeasible", "message": "nothing fits"})
        st.conn.execute("DELETE FROM points WHERE point LIKE '%\"lutc\"%'")  # bitser rows only
    page = report_from_store(db, tmp_path / "r").read_text()
    assert "net-z: no feasible design" in page and "nothing fits" in page
    assert not list((tmp_path / "r").glob("net-z*.png"))
    # bitser rows have one peak only: the roofline says its roof is that reported peak.
    assert re.search(r"net-a: chosen design bitser rows=\d+ freq=[0-9.]+GHz — balanced", page)
    assert "one compute roof, the design&#x27;s reported peak_macs_per_s" in page
