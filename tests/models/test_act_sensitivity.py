"""Measured activation sensitivity on the digits CNN: hooks quantise what they say, the ILP's
activation widths under a latency budget beat (or equal) uniform widths of equal latency on
HELD-OUT data on Loom and on a binary tensor core, and allocation against two quality
metrics at once (KL vs task loss) is exact."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from lowbit.hwsim.spec import load_accelerator
from lowbit.models import act_sensitivity as A
from lowbit.models import zoo
from lowbit.models.zoo.digits import load_digits_tensors
from lowbit.search.joint import (
    build_joint,
    compose_sensitivity,
    parse_choice,
    solve_joint,
    with_quality_terms,
)

# Slow lane (`make test` runs it, `make test-fast` does not): trains the digits CNN and measures activation terms.
pytestmark = pytest.mark.slow

AFS = ["int2", "int3", "int4", "int5", "int6", "int8"]


@pytest.fixture(scope="module")
def digits() -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    torch.set_num_threads(1)
    net, calib, _metric = zoo.trained("digits-cnn", seed=0)
    _x_tr, y_tr, x_te, y_te = load_digits_tensors(0)
    return net, calib, y_tr[: calib.shape[0]], x_te, y_te


def test_fake_quant_act_is_the_kernels_ref_quantiser() -> None:
    from lowbit.kernels_ref.quant import dequantize, quantize

    x = torch.randn(3, 5, 16, dtype=torch.float32)
    want = dequantize(quantize(x.reshape(-1, 16).double(), "int4", axis=1)).reshape(3, 5, 16).float()
    assert torch.equal(A.fake_quant_act(x, "int4"), want)
    y = torch.randn(2, 3, 4, 4)
    want = dequantize(quantize(y.reshape(2, -1).double(), "int3", axis=1)).reshape(y.shape).float()
    assert torch.equal(A.fake_quant_act(y, "int3", per="sample"), want)
    assert not torch.equal(A.fake_quant_act(x, "int2"), x)


def test_hooks_quantise_inputs_and_restore(digits: tuple) -> None:
    from lowbit.kernels_ref.errors import InvalidSpecError

    net, calib, *_ = digits
    w = net.fc1.weight.detach().clone()
    with torch.no_grad():
        ref = net(calib)
        with A.quantised(net, acts={"fc2": "int2"}, weights={"fc1": "int4"}):
            q = net(calib)
            assert len(net.fc2._forward_pre_hooks) == 1
        after = net(calib)
    assert torch.equal(after, ref) and not torch.equal(q, ref)
    assert torch.equal(net.fc1.weight, w) and not net.fc2._forward_pre_hooks
    with pytest.raises(InvalidSpecError, match="no module named"), A.quantised(net, acts={"nope": "int4"}):
        pass


def test_activation_table_monotone_and_cached(digits: tuple, tmp_path) -> None:
    net, calib, *_ = digits
    st = A.activation(net, calib, AFS, metric="mse", cache_dir=tmp_path)
    assert st.layers == ("conv1", "conv2", "fc1", "fc2") and st.formats == tuple(AFS)
    assert (np.diff(st.values, axis=1) < 0).all()  # wider activations, smaller loss
    assert len(list(tmp_path.glob("*.json"))) == 1
    again = A.activation(net, calib, AFS, metric="mse", cache_dir=tmp_path)
    np.testing.assert_array_equal(again.values, st.values)


def _held_out(net: torch.nn.Module, x: torch.Tensor, acts: dict[str, str], metric: str) -> float:
    with torch.no_grad():
        ref = net(x)
        with A.quantised(net, acts=acts):
            return A.output_distance(net, x, ref, metric)


@pytest.mark.parametrize("hw", ["loom", "btc-a100-like"])
def test_ilp_activation_widths_beat_uniform_of_equal_latency_on_held_out(digits: tuple, hw: str,
                                                                      tmp_path) -> None:
    """Weights at int8; activations chosen per layer from AFS to minimise the measured logit
    MSE (calibration: 256 training images) under the latency of each uniform width; quality
    judged on the 360 held-out test images with every layer quantised at once."""
    net, calib, _y, x_te, _y_te = digits
    st = A.activation(net, calib, AFS, metric="mse", cache_dir=tmp_path)
    jt = build_joint(zoo.get("digits-cnn"), load_accelerator(hw), ["int8"], AFS)
    jt = compose_sensitivity(jt, weight={(n, "int8"): 0.0 for n in jt.table.layers}, act=st)
    t = jt.table
    strictly_better = 0
    for u in AFS[:-1]:
        uni = t.uniform(f"int8/{u}")
        lat = t.totals(uni)["latency"]
        a = solve_joint(jt, {"latency": lat})
        assert a.status == "optimal" and a.totals["latency"] <= lat
        q_ilp = _held_out(net, x_te, {n: parse_choice(c).act for n, c in zip(t.layers, a.choices)}, "mse")
        q_uni = _held_out(net, x_te, {n: u for n in t.layers}, "mse")
        assert q_ilp <= q_uni * (1 + 1e-12), (hw, u, a.choices, q_ilp, q_uni)
        strictly_better += q_ilp < q_uni * (1 - 1e-3)
    assert strictly_better >= 1  # the narrow-activation reward is used somewhere


def test_two_quality_metrics_kl_under_loss_budget_exact(digits: tuple, tmp_path) -> None:
    """MixDQ-style: KL and task-loss terms per (layer, choice), minimise one under a bound on
    the other and on latency (Loom); equal to brute force over all 6^4 allocations."""
    net, calib, y, *_ = digits
    kl = A.activation(net, calib, AFS, metric="kl", cache_dir=tmp_path)
    loss = A.activation(net, calib, AFS, metric="loss", targets=y, loss_fn=torch.nn.functional.cross_entropy,
                        cache_dir=tmp_path)
    jt = build_joint(zoo.get("digits-cnn"), load_accelerator("loom"), ["int8"], AFS)
    zero = {(n, "int8"): 0.0 for n in jt.table.layers}
    t_kl = compose_sensitivity(jt, weight=zero, act=kl).table
    t_loss = compose_sensitivity(jt, weight=zero, act=loss).table
    jt2, off = with_quality_terms(jt, {"kl": t_kl.sensitivity, "task_loss": t_loss.sensitivity})
    assert off["kl"] == 0.0 and off["task_loss"] < 0  # some loss deltas are negative: shifted
    t = jt2.table
    lat = t.totals(t.uniform("int8/int4"))["latency"]
    raw_loss = t_loss.sensitivity
    loss_b = float(raw_loss[np.arange(4), t.uniform("int8/int4")].sum())  # bound on the RAW loss
    a = solve_joint(jt2, {"latency": lat, "task_loss": loss_b - off["task_loss"]}, objective="kl")
    rows = np.arange(t.num_layers)
    best = min((t_kl.sensitivity[rows, c].sum() for c in map(list, itertools.product(range(t.num_choices),
                                                                                       repeat=t.num_layers))
                if t.costs["latency"][rows, c].sum() <= lat and raw_loss[rows, c].sum() <= loss_b),
               default=np.inf)
    assert a.status == "optimal" and a.objective == pytest.approx(best, rel=1e-9)
    assert raw_loss[rows, list(a.assignment)].sum() <= loss_b + 1e-12


def test_table_for_model_uses_measured_activation_terms_and_hubara_cli(tmp_path, capsys) -> None:
    import json

    from lowbit.kernels_ref.errors import InvalidSpecError
    from lowbit.search.model_tables import table_for_model

    from lowbit.cli import main

    t = table_for_model("digits", "loom", ["int4", "int8"], act_formats=["int2", "int8"],
                        sensitivity="measured", cache_dir=tmp_path)
    c22, c28 = t.choices.index("int4/int2"), t.choices.index("int4/int8")
    assert (t.sensitivity[1:, c22] > t.sensitivity[1:, c28]).all()  # narrow activations now cost quality
    with pytest.raises(InvalidSpecError, match="no measured activation"):
        table_for_model("resnet-18", "loom", ["int4", "int8"], act_formats=["int4", "int8"], sensitivity="builtin")
    out = tmp_path / "alloc.json"
    assert main(["allocate", "--hw", "loom", "--model", "digits", "--formats", "int8", "--act-formats",
                 "int2,int3,int4,int8", "--sensitivity", "measured", "--cache-dir", str(tmp_path),
                 "--objective", "latency", "--quality", "0.05", "-o", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["objective_name"] == "latency_s" and doc["totals"]["sensitivity"] <= 0.05
    assert {ly["format"].split("/")[1] for ly in doc["layers"]} - {"int8"}  # some narrow activations
