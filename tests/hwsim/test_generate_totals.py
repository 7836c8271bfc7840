"""The generation scenario (issue 15 item 6): prefill of P tokens then G decode steps at
growing context; its costs are the prefill's plus each decode step's, evaluated apart."""

from __future__ import annotations

from itertools import pairwise

import pytest
from lowbit.hwsim import evaluate_workload
from lowbit.hwsim.spec import load_accelerator
from lowbit.models.importers import from_hf_config

CONFIG = {"model_type": "llama", "hidden_size": 128, "intermediate_size": 344, "num_attention_heads": 4,
          "num_key_value_heads": 2, "num_hidden_layers": 2, "vocab_size": 500,
          "max_position_embeddings": 4096, "tie_word_embeddings": False}
P, G, B = 24, 5, 2


@pytest.mark.parametrize("hw, kv", [("bitmod", None), ("a100-like", "int4")])
def test_generate_is_prefill_plus_each_decode_step(hw: str, kv: str | None) -> None:
    acc = load_accelerator(hw)
    gen = from_hf_config(CONFIG, phase="generate", seq_len=P, generate=G, batch=B, name="tiny")
    pre = from_hf_config(CONFIG, phase="prefill", seq_len=P, batch=B, name="tiny")
    steps = [from_hf_config(CONFIG, phase="decode", context_len=P + i, batch=B, name="tiny")
             for i in range(1, G + 1)]
    rg = evaluate_workload(gen, "int8", acc, kv_fmt=kv)
    parts = [evaluate_workload(w, "int8", acc, kv_fmt=kv) for w in (pre, *steps)]
    # layer by layer: the same costs under the scenario's names
    flat = [(tag, c) for tag, r in zip(["prefill", *(f"decode{i}" for i in range(1, G + 1))], parts)
            for c in r.layers]
    assert [c.name for c in rg.layers] == [f"{t}.{c.name}" for t, c in flat]
    for got, (_, want) in zip(rg.layers, flat):
        assert (got.cycles, got.compute_cycles, got.stall_cycles, got.dram_bytes, got.sram_bytes) == \
            (want.cycles, want.compute_cycles, want.stall_cycles, want.dram_bytes, want.sram_bytes)
        assert got.energy_j == want.energy_j
    assert rg.total_cycles == sum(r.total_cycles for r in parts)
    assert rg.total_energy_j == pytest.approx(sum(r.total_energy_j for r in parts), rel=1e-12)
    assert gen.total_macs == sum(w.total_macs for w in (pre, *steps))

    # the context grows: K/V length P+1 ... P+G, and the K/V bytes read grow with it
    by = {c.name: c for c in rg.layers}
    for part in ("attn_score", "attn_context"):
        keys = [gen.by_name[f"decode{i}.layers.0.{part}"] for i in range(1, G + 1)]
        assert [ly.n if part == "attn_score" else ly.k for ly in keys] == list(range(P + 1, P + G + 1))
        reads = [by[ly.name].dram_bytes for ly in keys]
        assert all(b > a for a, b in pairwise(reads)), reads
    assert gen.kv_cache_bytes(8) == steps[-1].kv_cache_bytes(8) > pre.kv_cache_bytes(8)
