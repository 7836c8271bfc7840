"""--memory-scope weights|weights+kv (issue 15 item 5): a memory budget counts the KV cache of a
decoder LLM at its final context x batch, in one KV format; numbers held to
`Workload.kv_cache_bytes`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from lowbit.kernels_ref.errors import InvalidSpecError
from lowbit.kernels_ref.formats import Format
from lowbit.models.sensitivity import SensitivityTable
from lowbit.search.costs import weight_bytes
from lowbit.search.memory_scope import kv_cache_rows, scoped_table
from lowbit.search.model_tables import table_for_model, workload_for

from lowbit.cli import main

# LLaMA-like: GQA (8 heads over 2 KV heads), 4 layers; a long context makes the cache count.
CONFIG = {"model_type": "llama", "hidden_size": 256, "intermediate_size": 688, "num_attention_heads": 8,
          "num_key_value_heads": 2, "num_hidden_layers": 4, "vocab_size": 1000,
          "max_position_embeddings": 8192, "tie_word_embeddings": False}
SEQ, BATCH = 2048, 2


@pytest.fixture(scope="module")
def llama(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    d = tmp_path_factory.mktemp("llama")
    cfg = d / "config.json"
    cfg.write_text(json.dumps(CONFIG))
    wl = workload_for(str(cfg), seq_len=SEQ, batch=BATCH)
    names = [ly.name for ly in wl.layers if ly.weight_params > 0]
    sens = d / "s.csv"
    SensitivityTable(tuple(names), ("int4", "int8"), np.outer(np.ones(len(names)), [1.0, 0.0])).save(sens)
    return str(cfg), str(sens)


def _alloc(cfg: str, sens: str, *extra: str) -> list[str]:
    return ["allocate", "--hw", "bitmod", "--model", cfg, "--seq-len", str(SEQ), "--batch", str(BATCH),
            "--formats", "int4,int8", "--sensitivity", sens, *extra]


def test_kv_rows_sum_to_the_workload_cache(llama: tuple[str, str]) -> None:
    cfg, _ = llama
    wl = workload_for(cfg, seq_len=SEQ, batch=BATCH)
    kv = kv_cache_rows(wl, "int8")
    # 2 (K, V) x 2 kv heads x 32 head dim x 2048 tokens x 4 layers x batch 2 x 1 byte
    assert kv.total_bytes == wl.kv_cache_bytes(Format.parse("int8").bits_per_weight) == 2 * 2 * 32 * SEQ * 4 * BATCH
    assert sorted(kv.rows) == sorted(f"layers.{i}.{p}_proj" for i in range(4) for p in "kv")
    assert set(kv.rows.values()) == {kv.total_bytes / 8}
    assert (kv.context, kv.batch) == (SEQ, BATCH)


def test_budget_fits_weights_but_not_weights_plus_kv(llama: tuple[str, str], tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    cfg, sens = llama
    wl = workload_for(cfg, seq_len=SEQ, batch=BATCH)
    kv_bytes = wl.kv_cache_bytes(Format.parse("int8").bits_per_weight)
    table = table_for_model(cfg, "bitmod", ["int4", "int8"], sensitivity=sens, seq_len=SEQ, batch=BATCH)
    w_min = table.min_totals(["memory_bytes"])["memory_bytes"]
    assert 0 < kv_bytes and w_min > 0
    budget = w_min + kv_bytes / 2  # fits the weights alone, not weights + cache

    out = tmp_path / "w.json"
    assert main(_alloc(cfg, sens, "--memory", repr(budget), "-o", str(out))) == 0
    doc = json.loads(out.read_text())
    assert doc["totals"]["memory_bytes"] <= budget and "kv_cache" not in doc

    capsys.readouterr()
    assert main(_alloc(cfg, sens, "--memory", repr(budget), "--memory-scope", "weights+kv", "--kv", "int8")) == 2
    err = capsys.readouterr().err
    assert f"smallest achievable {w_min + kv_bytes:.6g}" in err, err

    # a budget above weights + cache is met; the memory column counts the cache
    out2 = tmp_path / "wkv.json"
    roomy = w_min + kv_bytes + 0.25 * (table.totals(table.uniform("int8"))["memory_bytes"] - w_min)
    assert main(_alloc(cfg, sens, "--memory", repr(roomy), "--memory-scope", "weights+kv", "--kv", "int8",
                       "-o", str(out2))) == 0
    d2 = json.loads(out2.read_text())
    assert d2["memory_scope"] == "weights+kv" and d2["kv_cache"]["bytes"] == kv_bytes
    assert d2["kv_cache"]["format"] == "int8" and d2["kv_cache"]["context"] == SEQ
    layers = {ly.name: ly for ly in wl.layers}
    weights = sum(weight_bytes(layers[r["name"]], Format.parse(r["format"])) for r in d2["layers"])
    assert d2["totals"]["memory_bytes"] == pytest.approx(weights + kv_bytes, rel=1e-12)
    assert d2["totals"]["memory_bytes"] <= roomy
    k0 = next(r for r in d2["layers"] if r["name"] == "layers.0.k_proj")
    assert k0["memory_bytes"] == pytest.approx(weight_bytes(layers["layers.0.k_proj"], Format.parse(k0["format"]))
                                               + kv_bytes / 8, rel=1e-12)


def test_kv_format_defaults_and_fp16_cache(llama: tuple[str, str]) -> None:
    from lowbit.hwsim.spec import load_accelerator

    cfg, sens = llama
    wl = workload_for(cfg, seq_len=SEQ, batch=BATCH)
    table = table_for_model(cfg, "a100-like", ["int4", "int8"], sensitivity=sens, seq_len=SEQ, batch=BATCH)
    acc = load_accelerator("a100-like")
    t16, kv16 = scoped_table(table, "weights+kv", wl, acc)  # default: the design's KV/activation format
    _, kv4 = scoped_table(table, "weights+kv", wl, acc, "int4")
    assert kv16 is not None and kv4 is not None
    assert kv16.total_bytes == wl.kv_cache_bytes(Format.parse(kv16.fmt).bits_per_weight)
    assert kv4.total_bytes == wl.kv_cache_bytes(Format.parse("int4").bits_per_weight) < kv16.total_bytes
    base = table.min_totals(["memory_bytes"])["memory_bytes"]
    assert t16.min_totals(["memory_bytes"])["memory_bytes"] == pytest.approx(base + kv16.total_bytes, rel=1e-12)
    assert np.array_equal(t16.costs["latency_s"], table.costs["latency_s"])  # only memory changes
    assert scoped_table(table, "weights")[0] is table


def test_generate_phase_counts_the_final_context(llama: tuple[str, str]) -> None:
    cfg, _ = llama
    gen = workload_for(cfg, phase="generate", seq_len=100, generate=7, batch=BATCH)
    last = workload_for(cfg, phase="decode", seq_len=107, batch=BATCH)  # context P + G
    kv = kv_cache_rows(gen, "int8")
    assert kv.total_bytes == last.kv_cache_bytes(8.0) and kv.context == 107
    assert all(r.startswith("prefill.") for r in kv.rows)  # decode steps reuse the prefill rows


def test_pareto_memory_sweep_starts_at_weights_plus_kv(llama: tuple[str, str], tmp_path: Path) -> None:
    cfg, sens = llama
    wl = workload_for(cfg, seq_len=SEQ, batch=BATCH)
    kv_bytes = wl.kv_cache_bytes(8.0)
    table = table_for_model(cfg, "bitmod", ["int4", "int8"], sensitivity=sens, seq_len=SEQ, batch=BATCH)
    w_min = table.min_totals(["memory_bytes"])["memory_bytes"]
    assert main(["pareto", "--hw", "bitmod", "--model", cfg, "--seq-len", str(SEQ), "--batch", str(BATCH),
                 "--formats", "int4,int8", "--sensitivity", sens, "--sweep", "memory", "--points", "3",
                 "--memory-scope", "weights+kv", "--kv", "int8", "-o", str(tmp_path / "p")]) == 0
    pts = json.loads((tmp_path / "p" / "pareto.json").read_text())["points"]
    ilp = [p for p in pts if p["kind"] == "ilp"]
    assert ilp[0]["budget"] == pytest.approx(w_min + kv_bytes, rel=1e-12)
    assert all(p["totals"]["memory_bytes"] >= w_min + kv_bytes * (1 - 1e-12) for p in ilp)


def test_scope_errors(llama: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg, sens = llama
    costs = tmp_path / "c.json"
    costs.write_text(json.dumps({"layers": ["a"], "choices": ["x"], "sensitivity": [[0]],
                                 "costs": {"memory": [[1]]}}))
    assert main(["allocate", "--costs", str(costs), "--memory-scope", "weights+kv"]) == 2
    assert "--memory-scope" in capsys.readouterr().err
    assert main(_alloc(cfg, sens, "--kv", "int8")) == 2  # --kv without weights+kv
    wl = workload_for("bert-base", seq_len=16)
    with pytest.raises(InvalidSpecError, match="no KV cache"):
        kv_cache_rows(wl, "int8")
    with pytest.raises(InvalidSpecError, match="memory-scope"):
        scoped_table(table_for_model(cfg, "bitmod", ["int8"], sensitivity=sens, seq_len=SEQ, batch=BATCH), "kv")
