"""`lowbit models list|show`: output and the one-line errors with exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lowbit.models import zoo

from lowbit.cli import main


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_models_list(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = _run(capsys, "models", "list")
    assert rc == 0
    for name in zoo.list_models():
        assert name in out


def test_models_show_table(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = _run(capsys, "models", "show", "resnet50")
    assert rc == 0
    assert "layer1.0.downsample.0" in out and "conv2d" in out
    assert "25,502,912 weight params" in out and "25,557,032" in out


def test_models_show_json_exact_keys(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = _run(capsys, "models", "show", "llama-3-8b", "--phase", "decode", "--seq", "256", "--json")
    assert rc == 0
    d = json.loads(out)
    # the workload file schema (models.workload_io), which --model reads back
    assert set(d) == {"format", "version", "name", "phase", "batch", "seq_len", "total_params",
                      "total_macs", "layers", "edges", "meta"}
    assert (d["format"], d["version"], d["meta"]["context_len"]) == ("lowbit-workload", 1, 256)
    assert d["phase"] == "decode" and d["name"] == "llama-3-8b"
    assert set(d["layers"][0]) == {"name", "op", "m", "k", "n", "batch", "weight_params", "macs"}
    k = next(l for l in d["layers"] if l["name"] == "layers.0.k_proj")
    assert (k["m"], k["k"], k["n"]) == (1, 4096, 1024)
    s = next(l for l in d["layers"] if l["name"] == "layers.0.attn_score")
    # per K/V head (8), its 4 query heads stacked into M
    assert (s["m"], s["n"], s["batch"], s["op"]) == (4, 256, 8, "matmul")
    assert d["total_params"] == sum(l["weight_params"] for l in d["layers"])
    assert d["total_macs"] == sum(l["macs"] for l in d["layers"])


def test_models_show_config(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    p = tmp_path / "config.json"
    p.write_text(zoo.config_path("bert-base").read_text())
    rc, out, _ = _run(capsys, "models", "show", "--config", str(p), "--seq", "64", "--batch", "2", "--json")
    assert rc == 0
    d = json.loads(out)
    assert d["total_params"] == zoo.get("bert-base").total_params
    q = next(l for l in d["layers"] if l["name"] == "layers.0.q_proj")
    assert q["m"] == 128


@pytest.mark.parametrize("argv, needle", [
    (("models", "show", "resnet51"), "unknown model 'resnet51'"),
    (("models", "show", "resnet50", "--phase", "decode"), "not valid for a CNN"),
    (("models", "show", "llama-2-7b", "--seq", "-1"), "--seq -1 is out of range [1, "),
    (("models", "show", "llama-2-7b", "--batch", "0"), "--batch 0 is out of range [1, "),
])
def test_models_show_errors(capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], needle: str) -> None:
    rc, out, err = _run(capsys, *argv)
    assert rc == 2 and out == ""
    assert needle in err and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("text, needle", [
    ('{"model_type": "llama", "hidden_size": 10', "not valid JSON"),
    (('{"model_type": "llama", "hidden_size": 64, "num_attention_heads": 4, "vocab_size": 10, '
     '"intermediate_size": 128}'), "missing key 'num_hidden_layers'"),
    (('{"model_type": "llama", "hidden_size": -64, "num_attention_heads": 4, "vocab_size": 10, '
     '"intermediate_size": 128, "num_hidden_layers": 2}'), "'hidden_size' must be positive"),
])
def test_models_show_malformed_config(capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str,
                                      needle: str) -> None:
    p = tmp_path / "config.json"
    p.write_text(text)
    rc, out, err = _run(capsys, "models", "show", "--config", str(p))
    assert rc == 2 and out == ""
    assert needle in err and str(p) in err and err.count("\n") == 1


def test_models_show_missing_config_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rc, _, err = _run(capsys, "models", "show", "--config", str(tmp_path / "nope.json"))
    assert rc == 2 and "nope.json" in err and err.count("\n") == 1
