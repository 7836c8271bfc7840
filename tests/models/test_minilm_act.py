"""MiniLM-L6 activation and KV sensitivity, measured (issue 16 items 1, 2): the probes quantise
what they say, the tables are deterministic and cached, and the activation / KV widths the
ILP chooses under each uniform width's latency are no worse on HELD-OUT sentences (the whole
quantised model run, 1 - cos of the sentence embedding) on Loom and on a binary tensor core."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from lowbit.hwsim.spec import load_accelerator
from lowbit.models import minilm as M
from lowbit.models import zoo
from lowbit.search.joint import build_joint, compose_sensitivity, parse_choice
from lowbit.search.joint_eval import ilp_vs_uniform

pytestmark = pytest.mark.slow  # loads MiniLM and runs ~250 forward passes

AFS = ["int4", "int5", "int6", "int8"]


@pytest.fixture(scope="module")
def minilm(tmp_path_factory: pytest.TempPathFactory) -> tuple:
    torch.set_num_threads(1)
    net, tok = M.embedder()
    cache = tmp_path_factory.mktemp("sens")
    ids = M.token_ids(tok, M.CALIB)
    act = M.activation(net, ids, AFS, cache_dir=cache)
    kv = M.kv(net, ids, AFS, cache_dir=cache)
    return net, tok, ids, act, kv, cache


def test_probe_attention_is_eager_and_hooks_quantise_what_they_say(minilm: tuple) -> None:
    from lowbit.models.importers import load_minilm

    net, _tok, ids, *_ = minilm
    bert, _ = load_minilm()  # stock attention (sdpa)
    with torch.no_grad():
        ref = net(ids)
        stock = bert(input_ids=ids).last_hidden_state.mean(1)
        assert torch.allclose(ref, stock, atol=1e-5)
        att = net.bert.encoder.layer[2].attention.self
        for q in ({"acts": {"layers.2.attn_context": "int4"}}, {"kv": {"layers.2.attn_score": "int4"}},
                  {"acts": {"layers.2.fc1": "int4"}}, {"weights": {"layers.2.fc1": "int4"}}):
            with M.quantised(net, **q):
                out = net(ids)
                if "acts" in q and "attn_context" in next(iter(q["acts"])):
                    assert att.lowbit_probs_format == "int4"
            assert not torch.equal(out, ref)
            assert not hasattr(att, "lowbit_probs_format") and not att.key._forward_hooks
        assert torch.equal(net(ids), ref)  # everything restored
        # only block 2 changes what block 2 sees: quantising block 5's K leaves block 0's output alone
        with M.quantised(net, kv={"layers.5.attn_score": "int4"}):
            h0 = net.bert(input_ids=ids, output_hidden_states=True).hidden_states[1]
        assert torch.equal(h0, net.bert(input_ids=ids, output_hidden_states=True).hidden_states[1])
    from lowbit.kernels_ref.errors import InvalidSpecError

    with pytest.raises(InvalidSpecError, match="not an attention MATMUL"), M.quantised(net, kv={"layers.0.fc1": "int4"}):
        pass


def test_tables_cover_every_layer_are_monotone_and_cached(minilm: tuple) -> None:
    net, _tok, ids, act, kv, cache = minilm
    assert act.layers == (*M.weight_rows(), *M.matmul_rows()) and act.formats == tuple(AFS)
    assert kv.layers == M.matmul_rows() and act.method == "act:cosine" and kv.method == "kv:cosine"
    for st in (act, kv):
        assert (st.values[:, 0] > st.values[:, -1]).all()  # int4 always worse than int8
        assert (st.values > 0).all()
    assert len(list(cache.glob("*.json"))) == 2
    rows = ["layers.3.v_proj", "layers.5.attn_context"]  # recomputed, uncached: deterministic
    again = M.activation(net, ids, AFS, layers=rows, cache_dir=cache, use_cache=False)
    np.testing.assert_array_equal(again.values, act.array_for(rows, AFS))


@pytest.mark.parametrize("hw", ["loom", "btc-a100-like"])
def test_ilp_act_and_kv_widths_beat_uniform_of_equal_latency_on_held_out(minilm: tuple, hw: str) -> None:
    """Weights int8; every Linear chooses its input activation format and every attention
    MATMUL its (activation, KV) pair from AFS, minimising the additive measured 1 - cos under
    the latency of uniform int4/int5/int6 (Linears int8/u, MATMULs kv:u/u); quality judged on
    the 12 held-out sentences with the whole allocation applied at once."""
    net, tok, _ids, act, kv, _ = minilm
    held = M.token_ids(tok, M.HELD_OUT)
    jt = build_joint(zoo.get("minilm-l6"), load_accelerator(hw), ["int8"], AFS, AFS)
    t = jt.table
    a_terms = {(n, a): 0.0 for n in t.layers for a in AFS} | act.as_mapping()  # embeddings/pooler: no term
    jt = compose_sensitivity(jt, weight={(n, "int8"): 0.0 for n in t.layers}, act=a_terms, kv=kv)
    t = jt.table

    def uniform(u: str) -> list[int]:
        return [t.choices.index(f"int8/{u}" if k == "weight" else f"kv:{u}/{u}") for k in jt.kinds]

    def quality(choices: tuple[str, ...]) -> float:
        cs = {n: parse_choice(c) for n, c in zip(t.layers, choices) if n.startswith("layers.")}
        return M.held_out_distance(net, held, acts={n: c.act for n, c in cs.items()},
                                   kv={n: c.kv for n, c in cs.items() if c.kv})

    rows = ilp_vs_uniform(jt, {u: uniform(u) for u in AFS[:-1]}, quality)
    better = 0
    for r in rows:
        assert r.status == "optimal" and r.cost_ilp <= r.cost_uniform
        assert r.quality_ilp <= r.quality_uniform * (1 + 1e-12), (hw, r.uniform, r.quality_ilp, r.quality_uniform)
        better += r.quality_ilp < r.quality_uniform * (1 - 1e-3)
    assert better >= 1
    assert rows[0].choices == tuple(t.choices[c] for c in uniform("int4"))  # int4 is the fastest: forced
