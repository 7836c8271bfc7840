"""allocate -o alloc.json -> verify --allocation alloc.json -> export, chained through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from lowbit.cli import main

# Slow lane (`make test` runs it, `make test-fast` does not): allocate -> verify -> export chains on MiniLM and the digits CNN.
pytestmark = pytest.mark.slow

torch.set_num_threads(1)


def _allocate(tmp_path: Path, model: str, formats: str, budget: str) -> Path:
    out = tmp_path / f"{model}.json"
    rc = main(["allocate", "--hw", "loom", "--model", model, "--formats", formats, "--sensitivity", "builtin",
               budget, "-o", str(out)])
    assert rc == 0
    return out


def _verify(capsys: pytest.CaptureFixture[str], model: str, alloc: Path) -> dict:
    capsys.readouterr()
    rc = main(["verify", "--model", model, "--allocation", str(alloc), "--seed", "0", "--json"])
    res = json.loads(capsys.readouterr().out)
    assert rc == 0 and res["passed"]
    return res


def test_digits_allocate_verify_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    alloc = _allocate(tmp_path, "digits", "int4,int8", "--memory=0.7x")
    doc = json.loads(alloc.read_text())
    assert doc["model"] == "digits-cnn"
    res = _verify(capsys, doc["model"], alloc)  # the name allocate wrote is the name verify takes
    # every allocated layer ran through a reference kernel in its allocated format
    assert {ly["name"]: ly["fmt"] for ly in res["layers"]} == {ly["name"]: ly["format"] for ly in doc["layers"]}
    assert all(ly["kernel"] != "torch" for ly in res["layers"])
    assert res["rel_vs_fake"] <= res["tol_vs_fake"] and res["max_layer_rel_vs_fake"] <= res["layer_tol"]
    assert res["metrics"]["kernel_accuracy"] == res["metrics"]["fake_accuracy"]
    # export --to torch: weights_only load, dequantised weights reproduce the fake-quant model
    pt = tmp_path / "digits_q.pt"
    assert main(["export", str(alloc), "--to", "torch", "-o", str(pt)]) == 0
    blob = torch.load(pt, weights_only=True)
    assert set(blob["quantised"]) == {"conv1", "conv2", "fc1", "fc2"}
    from lowbit.kernels_ref.export_torch import dequantized_state_dict
    from lowbit.kernels_ref.quant import dequantize, quantize
    from lowbit.models.zoo.digits import train_digits_cnn

    net, _ = train_digits_cnn(0)
    sd = dequantized_state_dict(blob)
    for ly in doc["layers"]:
        w = net.get_submodule(ly["name"]).weight.detach()
        wt = w.reshape(w.shape[0], -1).t()
        want = dequantize(quantize(wt, ly["format"], axis=0)).t().reshape(w.shape).float()
        assert torch.equal(sd[f"{ly['name']}.weight"], want)
    net.load_state_dict(sd)
    # digits has no llama.cpp architecture: gguf-types refuses, exit 2
    assert main(["export", str(alloc), "--to", "gguf-types"]) == 2


def test_minilm_allocate_verify_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    alloc = _allocate(tmp_path, "minilm", "int4g32,int8g32", "--latency=0.8x")
    doc = json.loads(alloc.read_text())
    assert doc["model"] == "minilm-l6"
    res = _verify(capsys, doc["model"], alloc)  # the name allocate wrote is the name verify takes
    from lowbit.models import naming

    want = {naming.zoo_to_module("minilm", ly["name"]): ly["format"] for ly in doc["layers"]}
    ran = {ly["name"]: ly["fmt"] for ly in res["layers"]}
    # the 37 Linear layers run through kernels; the 3 embedding tables are named as not run
    assert len(ran) == 37 and set(res["not_run"]) == {"embeddings.word_embeddings",
                                                      "embeddings.position_embeddings",
                                                      "embeddings.token_type_embeddings"}
    assert all(want[m] == f for m, f in ran.items())
    assert {"int4g32", "int8g32"} <= set(ran.values())
    # gguf-types: the pooler has no GGUF tensor -> exit 2 unless --skip-unmapped
    capsys.readouterr()
    assert main(["export", str(alloc), "--to", "gguf-types"]) == 2
    assert "pooler" in capsys.readouterr().err
    types = tmp_path / "types.txt"
    assert main(["export", str(alloc), "--to", "gguf-types", "--skip-unmapped", "-o", str(types)]) == 0
    err = capsys.readouterr().err
    assert "left out pooler (int8g32)" in err
    lines = dict(line.split("=") for line in types.read_text().splitlines())
    assert len(lines) == 39
    by_zoo = {ly["name"]: ly["format"] for ly in doc["layers"]}
    gg = {"int4g32": "Q4_0", "int8g32": "Q8_0"}
    assert lines[r"^blk\.3\.ffn_down\.weight$"] == gg[by_zoo["layers.3.fc2"]]
    assert lines[r"^blk\.0\.attn_q\.weight$"] == gg[by_zoo["layers.0.q_proj"]]
    assert lines[r"^token_embd\.weight$"] == gg[by_zoo["embeddings.word"]]


def test_gguf_types_refuse_a_format_without_counterpart(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = {"model": "llama-2-7b", "layers": [{"name": "layers.0.q_proj", "format": "int4g128"},
                                             {"name": "layers.0.k_proj", "format": "int4g32"}]}
    p = tmp_path / "a.json"
    p.write_text(json.dumps(doc))
    capsys.readouterr()
    assert main(["export", str(p), "--to", "gguf-types"]) == 2
    err = capsys.readouterr().err
    assert "layers.0.q_proj (int4g128)" in err and err.count("\n") == 1
    assert main(["export", str(p), "--to", "gguf-types", "--skip-unmapped"]) == 0
    out = capsys.readouterr()
    assert out.out == "^blk\\.0\\.attn_k\\.weight$=Q4_0\n"
    assert "left out layers.0.q_proj (int4g128)" in out.err


def test_verify_rejects_a_document_for_another_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "a.json"
    p.write_text(json.dumps({"model": "minilm-l6", "layers": [{"name": "layers.0.q_proj", "format": "int8"}]}))
    assert main(["verify", "--model", "digits", "--allocation", str(p)]) == 2
    assert "allocates 'minilm-l6', not --model 'digits'" in capsys.readouterr().err
