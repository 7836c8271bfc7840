"""Whole-model check: real models through the reference kernels, against fake-quant
torch and fp32 (kernels_ref.wholemodel, lowbit verify --model)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from lowbit.kernels_ref.dense import dense_int
from lowbit.kernels_ref.errors import InvalidSpecError, UnsupportedFormatError
from lowbit.kernels_ref.formats import Format
from lowbit.kernels_ref.registry import RefKernel, all_kernels
from lowbit.kernels_ref.wholemodel import (
    FAKE_RTOL,
    LAYER_RTOL,
    QuantGemm,
    check_model,
    kernel_for,
    resolve_allocation,
)
from lowbit.models.zoo.digits import digits_accuracy, train_digits_cnn
from torch import nn

from lowbit.cli import main
from lowbit.cmd_verify import load_named_model

# MiniLM mixed allocation: int8 / int4 (per-channel and g128) / int2 g64 / ternary
MINILM_MIXED = {
    "encoder.layer.*.attention.self.query": "int8",
    "encoder.layer.*.attention.self.key": "int4g128",
    "encoder.layer.*.attention.self.value": "int8",
    "encoder.layer.[0-2].attention.output.dense": "ternary",
    "encoder.layer.[3-5].attention.output.dense": "int8",
    "encoder.layer.*.intermediate.dense": "int4",
    "encoder.layer.[0-4].output.dense": "int8",
    "encoder.layer.5.output.dense": "int2g64",
    "pooler.dense": "int8",
}


@pytest.fixture(scope="module")
def digits() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    model, (x, y) = train_digits_cnn(seed=0)
    return model, x, y


@pytest.mark.slow
def test_digits_cnn_trains_to_real_accuracy(digits) -> None:  # type: ignore[no-untyped-def]
    model, x, y = digits
    assert x.shape == (360, 1, 8, 8) and y.shape == (360,)
    assert digits_accuracy(model, x, y) >= 0.95  # measured 0.975 at seed 0
    m2, _ = train_digits_cnn(seed=0)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), m2.state_dict().values()))


@pytest.mark.slow  # > 2 s; the slow lane (make test) runs it
def test_digits_mixed_allocation_matches_fake_quant(digits) -> None:  # type: ignore[no-untyped-def]
    model, x, y = digits
    alloc = {"conv1": "int8", "conv2": "int4", "fc1": "ternary", "fc2": "int8"}
    res = check_model(model, alloc, [x], metric_fn=lambda m: {"acc": digits_accuracy(m, x, y)})
    assert res.passed, (res.rel_vs_fake, res.max_layer_rel_vs_fake)
    assert res.tol_vs_fake == FAKE_RTOL and res.rel_vs_fake <= FAKE_RTOL
    assert res.max_layer_rel_vs_fake <= LAYER_RTOL
    assert {l.name for l in res.layers} == set(alloc)
    assert all(l.kernel != "dense-int" for l in res.layers)  # specialised kernels preferred
    # same predictions -> same accuracy for kernel and fake-quant runs
    assert res.metrics["kernel_acc"] == res.metrics["fake_acc"]
    assert res.metrics["fp32_acc"] >= 0.95
    assert res.metrics["fp32_acc"] - res.metrics["kernel_acc"] <= 0.06  # measured 0.025 (0.975 -> 0.950)
    assert 0 < res.rel_l2_vs_fp32 < 1


def test_digits_group_uint_and_float_formats(digits) -> None:  # type: ignore[no-untyped-def]
    model, x, y = digits
    alloc = {"conv1": "uint8", "conv2": "int4g16", "fc1": "nf4g64", "fc2": "fp8e4m3"}
    res = check_model(model, alloc, [x], metric_fn=lambda m: {"acc": digits_accuracy(m, x, y)})
    assert res.passed and res.max_layer_rel_vs_fake <= LAYER_RTOL
    assert res.metrics["kernel_acc"] >= 0.9


def test_wrong_kernel_fails_the_whole_model_check(digits) -> None:  # type: ignore[no-untyped-def]
    model, x, _ = digits

    def off(x, w, wf, af):  # type: ignore[no-untyped-def]
        # a K-tail bug: the last 8 reduction elements are dropped (a single
        # off-by-one in the int product is ~1e-6 of a layer's output, below float
        # tolerance; the exact harness in test_verify.py catches that one)
        return dense_int(x[:, :-8], w[:-8], wf, af)

    bad = RefKernel("bad", "test", ("int8",), ("int8",), off)
    res = check_model(model, {"fc1": "int8"}, [x], kernels=[bad])
    assert not res.passed and res.max_layer_rel_vs_fake > LAYER_RTOL


def test_conv1d_linear_model() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv1d(3, 8, 5, stride=2, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 15, 4))
    x = torch.randn(6, 3, 32)
    res = check_model(model, {"0": "int4", "3": "int8"}, [x])
    assert res.passed and res.rel_vs_fake <= FAKE_RTOL
    assert [l.module for l in res.layers] == ["Conv1d", "Linear"] and res.layers[0].k == 15


def test_allocation_errors(digits) -> None:  # type: ignore[no-untyped-def]
    model, _, _ = digits
    with pytest.raises(InvalidSpecError, match="no Linear/Conv layer named 'fc3'"):
        resolve_allocation(model, {"fc3": "int4"})
    with pytest.raises(InvalidSpecError, match="pattern 'layer.*' matches no"):
        resolve_allocation(model, {"layer.*": "int4"})
    with pytest.raises(UnsupportedFormatError, match="layer 'fc1'"):
        resolve_allocation(model, {"fc1": "int17"})
    assert resolve_allocation(model, {"fc1": "int2", "fc*": "int8"}) == {
        "fc1": Format.parse("int2"), "fc2": Format.parse("int8")}
    # conv1's K = 1*3*3 = 9: a group of 128 does not divide it; the error names the layer
    with pytest.raises(UnsupportedFormatError, match="conv1.*K=9"):
        QuantGemm(model.conv1, Format.parse("int4g128"), None, "fake", "conv1")
    with pytest.raises(UnsupportedFormatError, match="no registered reference kernel"):
        kernel_for(Format.parse("fp6"), [k for k in all_kernels() if k.exact])


@pytest.mark.slow
def test_minilm_mixed_allocation() -> None:
    model, enc, metric = load_named_model("minilm")
    res = check_model(model, MINILM_MIXED, enc, metric_fn=metric)
    fmts = {l.fmt for l in res.layers}
    assert {"int8", "int4", "int4g128", "int2g64", "ternary"} <= fmts
    assert len(res.layers) == 6 * 6 + 1
    assert res.passed, (res.rel_vs_fake, res.max_layer_rel_vs_fake)
    assert res.rel_vs_fake <= FAKE_RTOL and res.max_layer_rel_vs_fake <= LAYER_RTOL
    # quality drop is reported, and bounded: sentence embeddings stay close to fp32
    assert res.metrics["fp32_embedding_cosine"] == pytest.approx(1.0, abs=1e-6)
    assert 0.5 < res.metrics["kernel_embedding_cosine"] < 1.0
    assert res.metrics["kernel_embedding_cosine"] == pytest.approx(res.metrics["fake_embedding_cosine"], abs=1e-4)


@pytest.mark.slow
def test_cli_whole_model_digits(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "alloc.yaml"
    f.write_text("conv*: int8\nfc1: ternary\nfc2: int4\n")
    rc = main(["verify", "--model", "digits", "--allocation", str(f), "--seed", "0", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert rc == 0 and data["passed"]
    assert {l["name"] for l in data["layers"]} == {"conv1", "conv2", "fc1", "fc2"}
    assert data["metrics"]["fp32_accuracy"] >= 0.95
    bad = tmp_path / "bad.yaml"
    bad.write_text("fc9: int4\n")
    rc = main(["verify", "--model", "digits", "--allocation", str(bad)])
    err = capsys.readouterr().err
    assert rc == 2 and "no Linear/Conv layer named 'fc9'" in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow  # > 2 s; the slow lane (make test) runs it
@pytest.mark.parametrize("family", sorted({k.family for k in all_kernels()} - {"dense"}))
def test_digits_through_each_kernel_family(digits, family: str) -> None:  # type: ignore[no-untyped-def]
    # restrict the registry to one family (+ dense fallback): every family's
    # kernels must carry a real model, not only random GEMMs
    model, x, _ = digits
    kerns = [k for k in all_kernels() if k.family in (family, "dense")]
    alloc = {"conv1": "int8", "conv2": "int4", "fc1": "ternary", "fc2": "int2"}
    res = check_model(model, alloc, [x], kernels=kerns)
    used = {l.kernel for l in res.layers}
    assert any(k.name in used for k in kerns if k.family == family), used
    assert res.passed, (family, res.rel_vs_fake, res.max_layer_rel_vs_fake)


def test_digits_with_9_to_16_bit_weights_runs_bit_serially(digits) -> None:  # type: ignore[no-untyped-def]
    # int9..int16 weights are registered with int8 activations only on the bit-serial kernels
    # (besides dense-int's int16), so a real model through them exercises the new widths
    model, x, _ = digits
    assert kernel_for(Format.parse("int12g16")).name == "bitserial-weights"
    alloc = {"conv1": "int9", "conv2": "int12", "fc1": "int15", "fc2": "int16"}
    res = check_model(model, alloc, [x])
    assert {l.fmt for l in res.layers} == set(alloc.values())
    assert {l.kernel for l in res.layers} == {"bitserial-weights"}
    assert res.passed, (res.rel_vs_fake, res.max_layer_rel_vs_fake)
