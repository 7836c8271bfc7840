"""The joint table's KV memory is the real KV cache (issues 15 and 16): on a decoder in
prefill, decode and generate, every attention MATMUL row holds the K or V cache at the
workload's final context x batch, so a uniform KV choice sums to `Workload.kv_cache_bytes`
at that format; the decode steps of phase generate fold into the prefill rows (weights and
the cache chosen once, every step's cycles counted)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from lowbit.hwsim.spec import load_accelerator
from lowbit.kernels_ref.formats import Format
from lowbit.search.joint import build_joint, table_rows
from lowbit.search.memory_scope import kv_cache_rows
from lowbit.search.model_tables import workload_for

from lowbit import hwsim

LLAMA = {"model_type": "llama", "hidden_size": 256, "intermediate_size": 688, "num_attention_heads": 8,
         "num_key_value_heads": 2, "num_hidden_layers": 2, "vocab_size": 1000,
         "max_position_embeddings": 8192, "tie_word_embeddings": False}
# Mistral-like: sliding window 96 < context, so the cache is capped at the window
MISTRAL = {**LLAMA, "model_type": "mistral", "sliding_window": 96}
KV = ["int4", "int8", "int4g128"]
CASES = [("llama", {"seq_len": 160}), ("llama", {"phase": "decode", "seq_len": 160}),
         ("llama", {"phase": "generate", "seq_len": 40, "generate": 3}),
         ("mistral", {"phase": "decode", "seq_len": 160}),
         ("mistral", {"phase": "generate", "seq_len": 90, "generate": 12})]


@pytest.fixture(scope="module")
def configs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("cfg")
    out = {}
    for name, cfg in (("llama", LLAMA), ("mistral", MISTRAL)):
        (d / f"{name}.json").write_text(json.dumps(cfg))
        out[name] = str(d / f"{name}.json")
    return out


@pytest.mark.parametrize("model,kw", CASES)
def test_kv_memory_sums_to_the_workload_kv_cache(configs: dict[str, str], model: str, kw: dict) -> None:
    wl = workload_for(configs[model], batch=3, **kw)
    accel = load_accelerator("bitmod")
    jt = build_joint(wl, accel, ["int4", "int8"], ["int8"], KV)
    t = jt.table
    mm = [i for i, k in enumerate(jt.kinds) if k == "matmul"]
    assert len(mm) == 2 * LLAMA["num_hidden_layers"]  # one K and one V row per block, decode steps folded
    for k in KV:
        c = t.choices.index(f"kv:{k}/int8")
        bpe = Format.parse(k).bits_per_weight
        want = wl.kv_cache_bytes(bpe)
        assert want > 0
        assert float(t.costs["kv_memory"][mm, c].sum()) == pytest.approx(want, rel=1e-12)
        # row by row, the cache memory_scope charges to the k_proj / v_proj writing it
        rows = kv_cache_rows(wl, k).rows
        for i in mm:
            block, _, op = t.layers[i].rpartition(".")
            writer = f"{block}.{'k_proj' if op == 'attn_score' else 'v_proj'}"
            assert t.costs["kv_memory"][i, c] == pytest.approx(rows[writer], rel=1e-12)
        asg = np.where(np.array(jt.kinds) == "matmul", c, t.choices.index("int8/int8"))
        tot = t.totals(asg)
        assert tot["total_memory"] == pytest.approx(tot["memory"] + want, rel=1e-12)
    # K and V x 2 KV heads x head dim 32 x tokens x 2 layers x batch 3, one byte each; tokens:
    # the final context (prompt + generated), capped at Mistral's window
    tokens = kw["seq_len"] + kw.get("generate", 0)
    tokens = min(tokens, MISTRAL["sliding_window"]) if model == "mistral" else tokens
    assert wl.kv_cache_bytes(8) == 2 * 2 * 32 * tokens * 2 * 3


@pytest.mark.parametrize("model,kw", [CASES[2], CASES[4]])
def test_generate_rows_count_every_decode_step(configs: dict[str, str], model: str, kw: dict) -> None:
    wl = workload_for(configs[model], batch=2, **kw)
    accel = load_accelerator("bitmod")
    jt = build_joint(wl, accel, ["int4", "int8"], ["int4", "int8"], ["int4", "int8"])
    t = jt.table
    assert all(n.startswith("prefill.") for n in t.layers)
    rows = table_rows(wl, matmuls=True)
    assert sorted(m.name for _r, ms in rows for m in ms) == sorted(ly.name for ly in wl.layers)
    kinds = np.array(jt.kinds)
    for w, a, kv in (("int8", "int8", "int8"), ("int4", "int4", "int8"), ("int4", "int8", "int4")):
        asg = np.where(kinds == "matmul", t.choices.index(f"kv:{kv}/{a}"), t.choices.index(f"{w}/{a}"))
        tot = t.totals(asg)
        costs = [hwsim.evaluate(ly, kv if not ly.has_weights else w, accel, act_fmt=a,
                                **({"kv_fmt": kv} if not ly.has_weights else {})) for ly in wl.layers]
        # every layer of the scenario (prefill and each step) priced once, in its row's choice
        assert tot["latency"] == pytest.approx(sum(float(c.cycles) for c in costs), rel=1e-12)
        assert tot["energy"] == pytest.approx(sum(c.total_energy_j for c in costs), rel=1e-12)
        assert tot["bops"] == pytest.approx(sum(
            ly.macs * Format.parse(w if ly.has_weights else kv).bits * Format.parse(a).bits for ly in wl.layers))


def test_encoder_kv_memory_is_the_operand(tmp_path: Path) -> None:
    """Without a KV cache (an encoder), a MATMUL's kv_memory stays its K/V operand."""
    from lowbit.models import zoo

    wl = zoo.get("minilm-l6")
    assert wl.kv_cache_bytes(8) == 0
    jt = build_joint(wl, load_accelerator("loom"), ["int8"], ["int8"], ["int4"])
    t = jt.table
    i = t.layers.index("layers.0.attn_score")
    assert t.costs["kv_memory"][i, t.choices.index("kv:int4/int8")] == wl.by_name["layers.0.attn_score"].weight_elems / 2
