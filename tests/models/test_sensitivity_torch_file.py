"""`--sensitivity measured|hessian|proxy` for a user's torch module (`file.py:factory`), not only
the digits CNN (issue 14, item 4b)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from lowbit.kernels_ref.errors import InvalidSpecError
from lowbit.models import quality as Q
from lowbit.models import sensitivity as S
from lowbit.models.workload_io import load_torch_factory

from lowbit.cli import main

DATA = Path(__file__).resolve().parents[1] / "data" / "models"
CALIB = f"{DATA / 'user_net_calib.py'}:make"
FMTS = ["int2", "int4", "int8"]


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def test_factory_contract_gives_calibration() -> None:
    f = load_torch_factory(CALIB)
    assert f.inputs.shape == (16, 1, 8, 8) and f.targets.shape == (16,) and f.loss_fn is None
    g = load_torch_factory(f"{DATA / 'user_net_calib.py'}:make_inputs_only")
    assert g.inputs.shape == (16, 1, 8, 8) and g.targets is None
    shape_only = load_torch_factory(f"{DATA / 'user_net.py'}:make")
    assert shape_only.inputs is None  # a random tensor of a shape is not calibration data


def test_measured_and_hessian_equal_the_python_measures(tmp_path: Path) -> None:
    f = load_torch_factory(CALIB)
    q = Q.for_torch(CALIB, FMTS, "measured", cache_dir=tmp_path)
    ref = S.measured(f.module, f.inputs, FMTS, metric="loss", targets=f.targets,
                     loss_fn=torch.nn.functional.cross_entropy, use_cache=False)
    assert q.layers == ("conv", "fc") and np.allclose(q.values, ref.values, rtol=1e-12)
    h = Q.for_torch(CALIB, FMTS, "hessian", cache_dir=tmp_path)
    href = S.hessian(f.module, f.inputs, f.targets, torch.nn.functional.cross_entropy, FMTS, use_cache=False)
    assert np.allclose(h.values, href.values, rtol=1e-12)
    assert (np.diff(h.values, axis=1) < 0).all()  # wider formats lose less
    mse = Q.for_torch(f"{DATA / 'user_net_calib.py'}:make_inputs_only", FMTS, "measured", cache_dir=tmp_path)
    assert (np.diff(mse.values, axis=1) < 0).all() and "MSE" in mse.source


@pytest.mark.parametrize("method", ["measured", "hessian", "proxy"])
def test_cli_allocate_with_a_torch_file(method: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "alloc.json"
    assert main(["allocate", "--hw", "loom", "--model", CALIB, "--formats", ",".join(FMTS),
                 "--sensitivity", method, "--cache-dir", str(tmp_path), "--latency", "0.7x",
                 "-o", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert [ly["name"] for ly in doc["layers"]] == ["conv", "fc"] and doc["status"] == "optimal"
    assert doc["totals"]["latency_s"] <= doc["budgets"]["latency_s"] * (1 + 1e-12)
    assert doc["totals"]["sensitivity"] != 0.0  # measured, not zeros (a task-loss delta may be < 0)
    assert f"wrote {out}" in capsys.readouterr().out


def test_shape_only_factory_measured_is_an_error_naming_what_works() -> None:
    with pytest.raises(InvalidSpecError, match="no calibration data.*proxy"):
        Q.for_torch(f"{DATA / 'user_net.py'}:make", FMTS, "measured")
    assert Q.for_torch(f"{DATA / 'user_net.py'}:make", FMTS, "proxy").values.shape == (2, 3)


def test_model_without_weights_error_lists_its_sensitivities(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["allocate", "--hw", "loom", "--model", str(DATA / "tiny-mlp.yaml"), "--sensitivity",
                 "hessian"]) == 2
    err = capsys.readouterr().err
    assert "has no weights" in err and "FILE" in err and "file.py:factory" in err and "digits" in err
    assert main(["allocate", "--hw", "loom", "--model", "resnet-18", "--sensitivity", "measured"]) == 2
    assert "or builtin" in capsys.readouterr().err  # resnet-18 has built-in HAWQ-V3 data


@pytest.mark.slow   # 1.2-2.3 s: out of the fast lane (make test runs it)
def test_hessian_on_the_digits_cnn(tmp_path: Path) -> None:
    q = Q.for_model("digits", FMTS, method="hessian", cache_dir=tmp_path)
    assert q.values.shape == (4, 3) and (q.values[:, 0] > q.values[:, 2]).all()
