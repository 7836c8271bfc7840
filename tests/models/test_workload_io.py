"""models.workload_io: one resolver for every `--model` (zoo name, HF config.json, ONNX, workload
YAML/JSON, file.py:factory) and the workload file schema, which round-trips through
`lowbit models show --json`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from lowbit.kernels_ref.errors import InvalidSpecError
from lowbit.models import zoo
from lowbit.models.ir import OpKind
from lowbit.models.workload_io import resolve_model, workload_from_dict, workload_to_dict

from lowbit.cli import main

torch.set_num_threads(1)
DATA = Path(__file__).resolve().parents[1] / "data" / "models"


def _same(a, b) -> None:  # type: ignore[no-untyped-def]
    assert a.layers == b.layers and a.edges == b.edges and a.phase == b.phase
    assert (a.batch, a.seq_len, a.name) == (b.batch, b.seq_len, b.name)


@pytest.mark.parametrize("name,kw", [("resnet18", {}), ("mobilenet-v2", {}),
                                     ("llama-2-7b", {"phase": "decode", "context_len": 512})])
def test_schema_round_trips_zoo_models(name: str, kw: dict) -> None:  # type: ignore[type-arg]
    wl = zoo.get(name, **kw)
    back = workload_from_dict(json.loads(json.dumps(workload_to_dict(wl))), "rt.json")
    _same(back, wl)


def test_models_show_json_is_a_workload_file(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["models", "show", "resnet18", "--json"]) == 0
    out = capsys.readouterr().out
    f = tmp_path / "r18.json"
    f.write_text(out)
    _same(resolve_model(str(f)), zoo.get("resnet18"))
    d = json.loads(out)  # the keys `models show --json` always had stay
    assert {"name", "phase", "total_params", "total_macs", "layers"} <= set(d)
    assert {"name", "op", "m", "k", "n", "weight_params", "macs"} <= set(d["layers"][0])
    # and the file is accepted by `models show` and `simulate` as --model
    assert main(["models", "show", str(f)]) == 0
    assert "resnet18" in capsys.readouterr().out


def test_hand_written_yaml_workload() -> None:
    wl = resolve_model(str(DATA / "tiny-mlp.yaml"))
    assert [l.op for l in wl.layers] == [OpKind.CONV2D, OpKind.DWCONV2D, OpKind.LINEAR, OpKind.LINEAR]
    stem = wl.layers[0]
    assert (stem.m, stem.k, stem.n) == (32 * 32, 27, 16)
    assert wl.total_macs == 32 * 32 * 27 * 16 + 32 * 32 * 9 * 16 + 16384 * 128 + 128 * 10


def test_hf_config_file_counts_match_the_published_model() -> None:
    # Qwen2-0.5B: 494,032,768 parameters (HF model card / safetensors); our layers hold the
    # weights, the rest are q/k/v biases (24 x 1152) and RMSNorm gains (49 x 896).
    wl = resolve_model(str(DATA / "qwen2-0.5b-config.json"), phase="decode", context_len=256)
    assert wl.total_params + 24 * 1152 + 49 * 896 == 494_032_768
    assert wl.phase.value == "decode"


def test_torch_factory_file_is_traced() -> None:
    wl = resolve_model(f"{DATA / 'user_net.py'}:make")
    assert [(l.op, l.m, l.k, l.n) for l in wl.layers] == [
        (OpKind.CONV2D, 2 * 64, 9, 8), (OpKind.LINEAR, 2, 512, 10)]


def test_zoo_name_is_never_shadowed_by_a_directory(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "resnet18").mkdir()
    assert resolve_model("resnet18").name == "resnet18"


@pytest.mark.parametrize("text,where", [
    ("format: lowbit-workload\nversion: 1\nname: x\nlayers: []\n", "layers: must be a non-empty list"),
    ("format: lowbit-workload\nversion: 2\nname: x\nlayers: [{}]\n", "version: must be 1"),
    ("format: lowbit-workload\nversion: 1\nname: x\nlayerz: []\n", "layerz: unknown key"),
    ("format: lowbit-workload\nversion: 1\nname: x\nlayers:\n - {name: a, op: linear, m: 1, k: 2}\n",
     "layers.0: missing key 'n'"),
    ("format: lowbit-workload\nversion: 1\nname: x\nlayers:\n - {name: a, op: lstm, m: 1, k: 2, n: 3}\n",
     "layers.0.op: 'lstm' is not one of"),
    ("format: lowbit-workload\nversion: 1\nname: x\nlayers:\n - {name: a, op: linear, m: 1, k: 2, n: -3}\n",
     "layers.0.n: -3 is out of range"),
    (("format: lowbit-workload\nversion: 1\nname: x\nlayers:\n - {name: a, op: linear, m: 1, k: 2, n: 3, "
     "macs: 7}\n"), "layers.0.macs: 7 disagrees with the shape (6)"),
    ("format: lowbit-workload\nversion: 1\nname: x\nlayers:\n - {name: a, op: conv2d, m: 1, k: 2, n: 3}\n",
     "needs its conv geometry"),
])
def test_bad_workload_files_name_file_and_key(tmp_path: Path, text: str, where: str) -> None:
    f = tmp_path / "w.yaml"
    f.write_text(text)
    with pytest.raises(InvalidSpecError) as ei:
        resolve_model(str(f))
    assert str(ei.value).startswith(f"{f}: ") and where in str(ei.value), str(ei.value)


def test_bad_references() -> None:
    with pytest.raises(InvalidSpecError, match="unknown model 'resnet-81'"):
        resolve_model("resnet-81")
    with pytest.raises(InvalidSpecError, match="model file not found"):
        resolve_model("missing/config.json")
    with pytest.raises(InvalidSpecError, match="has no callable 'nope'"):
        resolve_model(f"{DATA / 'user_net.py'}:nope")
    with pytest.raises(InvalidSpecError, match="expected a zoo name or a file"):
        resolve_model(None)
