"""`lowbit report` on a joint allocation (issue 16): W/A choices and attention kv:K/A choices
show each part in its own table column, an attention's bar is its K/V format's bits, and a
weights+kv memory scope is said on the page."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from lowbit.reports.report import split_choice, weight_bits

from lowbit.cli import main


def test_split_choice_and_bits() -> None:
    assert split_choice("int4") == ("int4", "", "")
    assert split_choice("int4g128/int8") == ("int4g128", "int8", "")
    assert split_choice("kv:int4/fp8_e4m3") == ("", "fp8_e4m3", "int4")
    assert weight_bits("kv:int4/int8") == 4 and weight_bits("kv:fp16/int4") == 16
    assert weight_bits("kv:int2/int8") == 2 and weight_bits("int8/int4") == 8


def _doc() -> dict:
    fmts = {"l.q_proj": "int4/int8", "l.attn_score": "kv:int2/int8", "l.attn_context": "kv:int8/int4",
            "l.o_proj": "int8/int4"}
    layers = [{"name": n, "format": f, "sensitivity": 0.1, "latency_s": 1e-6, "cycles": 1e3, "energy_j": 1e-6,
               "memory_bytes": 64.0, "costs": {"latency_s": 1e-6, "energy_j": 1e-6, "memory_bytes": 64.0,
                                               "kv_memory_bytes": 32.0 if "attn" in n else 0.0},
               "energy_components_j": {"mac": 6e-7, "dram": 4e-7}} for n, f in fmts.items()]
    return {"model": "tiny", "hardware": "bitmod", "status": "optimal", "objective": 0.4,
            "objective_name": "sensitivity", "method": "ilp", "solver": "HiGHS", "layers": layers,
            "totals": {"sensitivity": 0.4, "latency_s": 4e-6, "energy_j": 4e-6, "memory_bytes": 256.0,
                       "kv_memory_bytes": 64.0}, "budgets": {"memory_bytes": 300.0},
            "memory_scope": "weights+kv",
            "kv_cache": {"format": "chosen per attention from int2,int8", "bytes": 64.0, "context": 260,
                         "batch": 16, "bits_per_elem": 5.0}}


def test_report_shows_kv_and_activation_formats(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = tmp_path / "joint.json"
    a.write_text(json.dumps(_doc()))
    out = tmp_path / "rep"
    assert main(["report", str(a), "-o", str(out)]) == 0
    with open(out / "joint_layers.csv", newline="") as fh:
        rows = {r["layer"]: r for r in csv.DictReader(fh)}
    assert {n: (r["weight"], r["activation"], r["kv"]) for n, r in rows.items()} == {
        "l.q_proj": ("int4", "int8", ""), "l.attn_score": ("", "int8", "int2"),
        "l.attn_context": ("", "int4", "int8"), "l.o_proj": ("int8", "int4", "")}
    page = (out / "index.html").read_text()
    assert "<th" in page and ">kv<" in page and ">activation<" in page
    assert "bar is its K/V cache format, kv:K/A" in page
    assert "memory_bytes counts the weights and the KV cache (chosen per attention from int2,int8" in page
    assert (out / "joint_allocation.png").exists()


def test_weight_only_allocation_table_unchanged(tmp_path: Path) -> None:
    d = _doc()
    for ly in d["layers"]:
        ly["format"] = "int4"
    d.pop("memory_scope")
    a = tmp_path / "w.json"
    a.write_text(json.dumps(d))
    assert main(["report", str(a), "-o", str(tmp_path / "rep")]) == 0
    with open(tmp_path / "rep" / "w_layers.csv", newline="") as fh:
        head = next(csv.reader(fh))
    assert head[:3] == ["layer", "format", "sensitivity"]
    assert "memory_bytes counts" not in (tmp_path / "rep" / "index.html").read_text()
