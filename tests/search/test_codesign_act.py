"""Co-design sweeps with `act_formats`: each (W, A) choice carries its own sensitivity
(`search.pair_terms`), and a quality source without activation terms is refused at load time."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from lowbit.kernels_ref.errors import InvalidSpecError
from lowbit.models.sensitivity import SensitivityTable, load
from lowbit.search import pair_terms
from lowbit.search.codesign import parse_space
from lowbit.search.codesign.driver import model_contexts
from lowbit.search.codesign.space import Point
from lowbit.search.codesign.worker import SweepCaches, design_table, evaluate_point

torch.set_num_threads(1)
LAYERS = ("conv1", "conv2", "fc1", "fc2")
FMTS = ["int2", "int4", "int8"]
ACTS = ["int4", "int8"]
HW = "bitfusion-eyeriss-budget"


def _file(tmp_path: Path, acts: bool) -> Path:
    bits = np.array([int(f.removeprefix("int")) for f in FMTS])
    abits = np.array([int(a.removeprefix("int")) for a in ACTS])
    w = np.outer([1.0, 4.0, 2.0, 0.5], np.exp2(-bits))
    cols: tuple[str, ...] = tuple(FMTS)
    if acts:
        w = np.hstack([w, np.outer([3.0, 1.0, 1.0, 2.0], np.exp2(-abits))])
        cols = (*cols, *(f"act:{a}" for a in ACTS))
    p = tmp_path / ("wa.csv" if acts else "w.csv")
    SensitivityTable(LAYERS, cols, w).save(p)
    return p


def _space(model: dict, budgets: dict | None = None) -> dict:  # type: ignore[type-arg]
    return {"name": "a", "formats": FMTS, "act_formats": ACTS, "models": [model], "hardware": [HW],
            "budgets": budgets or {"latency": "0.6r"}}


def test_a_source_without_activation_terms_is_refused_at_load_time(tmp_path: Path) -> None:
    with pytest.raises(InvalidSpecError) as ei:  # ResNet-18's HAWQ-V3 table: weight terms only
        parse_space(_space({"name": "resnet-18"}), "s.yaml")
    msg = str(ei.value)
    assert msg.startswith("s.yaml: models[0].sensitivity: ") and "'resnet-18'" in msg
    assert "digits-cnn" in msg and "minilm-l6" in msg and "act:A" in msg
    with pytest.raises(InvalidSpecError, match=r"w\.csv has no 'act:A' or 'W/A' columns"):
        parse_space(_space({"name": "digits", "sensitivity": str(_file(tmp_path, acts=False))}), "s.yaml")
    # without act_formats the same sources are fine
    no_acts = {k: v for k, v in _space({"name": "resnet-18"}).items() if k != "act_formats"}
    assert parse_space(no_acts).act_formats == ()


def test_a_sweep_points_pair_sensitivity_is_pair_terms_value(tmp_path: Path) -> None:
    f = _file(tmp_path, acts=True)
    space = parse_space(_space({"name": "digits", "sensitivity": str(f)}))
    ctx = model_contexts(space)["digits"]
    want, form = pair_terms.pair_array(load(f), LAYERS, FMTS, ACTS, "t")
    assert form == "additive"
    caches = SweepCaches()
    t = design_table(HW, {}, ctx, ACTS, caches)
    assert t.choices == ("int2/int4", "int2/int8", "int4/int4", "int4/int8", "int8/int4", "int8/int8")
    np.testing.assert_array_equal(t.sensitivity, want)
    # a narrower activation costs quality: int4 activations lose more than int8 at every weight width
    assert (t.sensitivity[:, 0::2] > t.sensitivity[:, 1::2]).all()
    r = evaluate_point(Point("k", "a", HW, (), "digits"), ctx,
                       {"budgets": dict(space.budgets), "objective": "sensitivity", "act_formats": ACTS},
                       caches)
    assert r["status"] == "ok"
    idx = [t.choices.index(c) for c in r["choices"] if c in t.choices]
    assert len(idx) == len(LAYERS)
    assert r["quality"] == pytest.approx(float(sum(want[i, c] for i, c in enumerate(idx))), rel=1e-12)


def test_a_context_built_for_other_activation_formats_is_an_error(tmp_path: Path) -> None:
    space = parse_space(_space({"name": "digits", "sensitivity": str(_file(tmp_path, acts=True))}))
    ctx = model_contexts(space)["digits"]
    with pytest.raises(InvalidSpecError, match="built for activation formats"):
        design_table(HW, {}, ctx, ["int8"], SweepCaches())


@pytest.mark.slow
def test_builtin_digits_sweep_uses_the_measured_activation_terms() -> None:
    space = parse_space(_space({"name": "digits"}))
    ctx = model_contexts(space)["digits"]
    from lowbit.models import quality as Q

    q = Q.for_model("digits", FMTS)
    want = pair_terms.measured_pair_sensitivity("digits", q.layers, np.asarray(q.values), ACTS, "measured")
    t = design_table(HW, {}, ctx, ACTS, SweepCaches())
    rows = [q.layers.index(n) for n in t.layers]
    np.testing.assert_allclose(t.sensitivity, want[rows], rtol=0, atol=0)
    assert not np.allclose(t.sensitivity[:, 0::2], t.sensitivity[:, 1::2])  # not a repeat
