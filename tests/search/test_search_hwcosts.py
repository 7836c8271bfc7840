"""CostTable.from_hwsim / table_for_model: joint weight-activation choices, sensitivity from a
file, `lowbit pareto --hw`, and memory budgets with units."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from lowbit.models.sensitivity import SensitivityTable
from lowbit.search.costs import table_for_model
from lowbit.search.ilp import solve

from lowbit.cli import main

LAYERS = ("conv1", "conv2", "fc1", "fc2")


def _sens_file(tmp_path: Path, formats: list[str]) -> Path:
    # Made-up losses that halve per extra bit; the point here is the plumbing, not the values.
    bits = np.array([int(f.removeprefix("int")) for f in formats])
    vals = np.outer([1.0, 4.0, 2.0, 0.5], np.exp2(-bits))
    p = tmp_path / "sens.csv"
    SensitivityTable(LAYERS, tuple(formats), vals).save(p)
    return p


def test_joint_weight_activation_choices(tmp_path: Path) -> None:
    fm = ["int2", "int4", "int8"]
    t = table_for_model("digits", "bitfusion-eyeriss-budget", fm, act_formats=["int4", "int8"],
                        sensitivity=str(_sens_file(tmp_path, fm)))
    assert t.choices == ("int2/int4", "int2/int8", "int4/int4", "int4/int8", "int8/int4", "int8/int8")
    lat = t.costs["latency"]
    # Bit Fusion: an FU does 16/(ceil(w/2)*ceil(a/2)) MACs per cycle, so narrower activations never
    # cost more cycles at a fixed weight width (FIDELITY.md, Bit Fusion).
    assert (lat[:, 0] <= lat[:, 1]).all() and (lat[:, 4] <= lat[:, 5]).all()
    assert (t.costs["bops"][:, 0] * 2 == t.costs["bops"][:, 1]).all()  # MACs x w x a
    # Weight sensitivity is shared by both activation choices of a weight format.
    assert np.array_equal(t.sensitivity[:, 2], t.sensitivity[:, 3])
    # The preset moves Bit Fusion's 32-bit outputs (read and written) whatever the formats, so the
    # fastest mix is 1601 of int8/int8's 2895 cycles (0.553x, measured): a 0.6x budget binds.
    a = solve(t, {"latency": "0.6x:int8/int8"})
    assert a.status == "optimal" and a.totals["latency"] <= 0.6 * lat[:, 5].sum() + 1e-9


def test_pareto_cli_hw_path_and_memory_units(tmp_path: Path) -> None:
    fm = ["int2", "int4", "int8"]
    sens = _sens_file(tmp_path, fm)
    assert main(["pareto", "--hw", "loom", "--model", "digits", "--formats", ",".join(fm),
                 "--sensitivity", str(sens), "--sweep", "latency", "--points", "6",
                 "-o", str(tmp_path / "front")]) == 0
    doc = json.loads((tmp_path / "front" / "pareto.json").read_text())
    ilp = [p for p in doc["points"] if p["kind"] == "ilp"]
    assert len(ilp) == 6 and all(p["status"] == "optimal" for p in ilp)
    assert {p["kind"] for p in doc["points"]} >= {"uniform:int2", "uniform:int4", "uniform:int8"}
    # fc1 holds 32768 weights: all-int8 weight bytes ~ 38 kB, so 20KB forces low bits somewhere.
    out = tmp_path / "alloc.json"
    assert main(["allocate", "--hw", "loom", "--model", "digits", "--formats", ",".join(fm),
                 "--sensitivity", str(sens), "--memory", "20KB", "-o", str(out)]) == 0
    alloc = json.loads(out.read_text())
    assert alloc["budgets"]["memory"] == 20000.0 and alloc["totals"]["memory"] <= 20000.0
    assert sum(ly["weight_bytes"] for ly in alloc["layers"]) == pytest.approx(alloc["totals"]["memory"])
