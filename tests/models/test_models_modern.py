"""Workloads the field works on: modern-module tracing, MoE and sliding-window LLMs, the
generation scenario. Published counts come from tests/data/published_params.json."""

from __future__ import annotations

import json
import math
import sys
import warnings
from pathlib import Path

import pytest
import torch
from lowbit.kernels_ref.errors import InvalidSpecError
from lowbit.models import zoo
from lowbit.models.importers import from_hf_config, from_torch
from lowbit.models.ir import OpKind, Phase
from lowbit.models.zoo.moe import distinct_experts, expert_tokens
from torch import nn

PUBLISHED = json.loads((Path(__file__).parents[1] / "data" / "published_params.json").read_text())["models"]


def held(name: str, value: float, key: str = "params") -> None:
    ref = PUBLISHED[name]
    if ref.get("exact"):
        assert value == ref[key], (name, value, ref[key])
    else:
        assert abs(value - ref[key]) <= ref["rounded"] / 2, (name, value, ref[key])


# --------------------------------------------------------------------------- tracing
class _Modern(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.enc = nn.TransformerEncoderLayer(64, 4, 128, batch_first=True)
        self.dec = nn.TransformerDecoderLayer(64, 4, 128)
        self.mha = nn.MultiheadAttention(64, 8, kdim=32, vdim=32, batch_first=True)
        self.ct = nn.ConvTranspose2d(8, 4, 4, 2, 1)
        self.g = nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=4)
        self.up = nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(8, 8, 3, padding=1))
        self.ps = nn.Sequential(nn.Conv2d(8, 32, 3, padding=1), nn.PixelShuffle(2))
        self.w = nn.Parameter(torch.randn(64, 16))
        self.head = nn.Linear(64, 64)

    def forward(self, x: torch.Tensor, img: torch.Tensor, mem: torch.Tensor) -> tuple[torch.Tensor, ...]:
        y = self.enc(x)
        z = self.dec(y.transpose(0, 1), mem)
        kv = mem.transpose(0, 1)[..., :32]
        a, _ = self.mha(x, kv, kv)
        e = torch.einsum("btd,de->bte", a, self.w)
        q = torch.einsum("bhid,bhjd->bhij", y.view(2, 5, 4, 16), y.view(2, 5, 4, 16))
        sc = torch.baddbmm(torch.zeros(2, 5, 5), y, y.transpose(1, 2))
        h = self.head(self.head(y))  # the same weights twice
        return z, e, q, sc, self.ct(img), self.g(img), self.up(img), self.ps(img), h


def test_trace_modern_modules_full_coverage() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        w = from_torch(_Modern().eval(), (torch.randn(2, 5, 64), torch.randn(2, 8, 6, 6), torch.randn(7, 2, 64)))
    assert w.mac_coverage == 1.0 and w.param_coverage == 1.0
    b = w.by_name
    # TransformerEncoderLayer: q/k/v/out projections and attention, not only linear1/linear2
    for p in ("enc.self_attn", "dec.self_attn", "dec.multihead_attn", "mha"):
        assert {f"{p}.q_proj", f"{p}.k_proj", f"{p}.v_proj", f"{p}.attn_score", f"{p}.out_proj"} <= set(b)
    s = b["enc.self_attn.attn_score"]
    assert (s.m, s.k, s.n, s.batch) == (5, 16, 5, 2 * 4)
    x = b["dec.multihead_attn.attn_score"]  # cross-attention: 7 memory keys
    assert (x.m, x.k, x.n, x.batch) == (5, 16, 7, 2 * 4)
    assert (b["mha.k_proj"].k, b["mha.k_proj"].n) == (32, 64)  # kdim
    assert w.total_params == sum(p.numel() for p in _Modern().parameters() if p.dim() > 1)
    ct = b["ct"]  # 2 images x 36 input pixels, 8 -> 4 x 4x4 taps
    assert ct.op is OpKind.CONV_TRANSPOSE and (ct.m, ct.k, ct.n) == (72, 8, 64) and ct.weight_params == 8 * 4 * 16
    g = b["g"]
    assert g.conv is not None and (g.conv.dilation_h, g.conv.groups, g.conv.out_h) == (2, 4, 6)
    assert b["up.1"].conv is not None and b["up.1"].conv.in_h == 12  # the conv after Upsample sees 12x12
    assert b["w.einsum"].op is OpKind.LINEAR and (b["w.einsum"].m, b["w.einsum"].k, b["w.einsum"].n) == (10, 64, 16)
    e = b["einsum"]
    assert e.op is OpKind.MATMUL and (e.m, e.k, e.n, e.batch) == (4, 16, 4, 10)
    mm = b["matmul"]  # baddbmm on activations
    assert mm.op is OpKind.MATMUL and (mm.m, mm.k, mm.n, mm.batch) == (5, 64, 5, 2)
    assert b["head#2"].tied_to == "head" and b["head#2"].weight_params == 0 and b["head#2"].macs == 10 * 64 * 64


def test_trace_on_meta_device_matches_cpu() -> None:
    cpu = from_torch(_Modern().eval(), (torch.randn(2, 5, 64), torch.randn(2, 8, 6, 6), torch.randn(7, 2, 64)))
    with torch.device("meta"):
        net = _Modern().eval()
        args = (torch.zeros(2, 5, 64), torch.zeros(2, 8, 6, 6), torch.zeros(7, 2, 64))
    meta = from_torch(net, args)
    assert [(l.name, l.m, l.k, l.n, l.batch) for l in meta.layers] == \
        [(l.name, l.m, l.k, l.n, l.batch) for l in cpu.layers]
    assert meta.mac_coverage == 1.0


# --------------------------------------------------------------------------- LLM configs
@pytest.mark.parametrize("name", ["mixtral-8x7b", "qwen1.5-moe-a2.7b", "mistral-7b", "llama-3.1-70b"])
def test_llm_params_match_published(name: str) -> None:
    w = zoo.get(name, phase="prefill", seq_len=512)
    held(name, zoo.total_params_with_aux(w))
    if "active" in PUBLISHED[name]:
        d = zoo.get(name, phase="decode", context_len=512)  # one token: k experts per layer
        held(name, d.total_params + zoo.aux_params(d), "active")
        assert zoo.total_params_with_aux(d) == zoo.total_params_with_aux(w)  # idle experts still stored


def test_qwen25_non_embedding_params() -> None:
    w = zoo.get("qwen2.5-7b", seq_len=128)
    emb = w.by_name["embed_tokens"].weight_params + w.by_name["lm_head"].weight_params
    assert abs(zoo.total_params_with_aux(w) - emb - 6.53e9) <= 5e6  # Qwen2.5 report: 6.53B non-embedding
    assert w.by_name["layers.0.k_proj"].n == 4 * 128  # GQA: 4 kv heads x 128


def test_mixtral_experts_are_per_expert_gemms_and_decode_hits() -> None:
    p = zoo.get("mixtral-8x7b", phase="prefill", seq_len=64, batch=2)
    ex = [l for l in p.layers if l.name.startswith("layers.0.block_sparse_moe.experts.")]
    assert len(ex) == 8 * 3 and {l.m for l in ex} == {2 * 64 * 2 // 8}  # balanced: 32 tokens each
    assert p.by_name["layers.0.block_sparse_moe.gate"].n == 8
    d1 = zoo.get("mixtral-8x7b", phase="decode", context_len=100)
    hit1 = {l.name.split(".")[4] for l in d1.layers if ".experts." in l.name and l.name.startswith("layers.3.")}
    assert len(hit1) == 2  # one token, top-2
    d8 = zoo.get("mixtral-8x7b", phase="decode", context_len=100, batch=8)
    hit8 = {l.name.split(".")[4] for l in d8.layers if ".experts." in l.name and l.name.startswith("layers.3.")}
    assert len(hit8) == round(distinct_experts(8, 2, 16)) == 7
    assert sum(l.m for l in d8.layers if l.name.startswith("layers.3.") and l.name.endswith(".w1")) == 16
    # decode weight traffic: one read of each expert hit
    assert d8.total_params - d1.total_params == 5 * 32 * 3 * 4096 * 14336


def test_routing_histogram_and_errors() -> None:
    assert expert_tokens(4, 2, 10, [3, 1, 0, 0]) == [10, 10, 0, 0]  # capped at one visit per token
    assert expert_tokens(4, 1, 10, [1, 1, 2, 0]) == [3, 2, 5, 0]  # a tie: the lower index
    assert sum(expert_tokens(60, 4, 7)) == 28 and expert_tokens(8, 2, 1) == [1, 1, 0, 0, 0, 0, 0, 0]
    w = zoo.get("mixtral-8x7b", seq_len=16, routing=[4, 2, 1, 1, 0, 0, 0, 0])
    ms = {int(l.name.split(".")[4]): l.m for l in w.layers if l.name.startswith("layers.0.") and l.name.endswith("w1")}
    assert ms == {0: 16, 1: 8, 2: 4, 3: 4}
    with pytest.raises(InvalidSpecError, match="8 experts"):
        zoo.get("mixtral-8x7b", routing=[1, 1])
    with pytest.raises(InvalidSpecError, match="mixture-of-experts"):
        zoo.get("llama-2-7b", routing=[1, 1])


def test_sliding_window_caps_keys() -> None:
    d = zoo.get("mistral-7b", phase="decode", context_len=8192)
    s, c = d.by_name["layers.0.attn_score"], d.by_name["layers.0.attn_context"]
    assert (s.m, s.n, c.k) == (4, 4096, 4096)  # 4 query heads per K/V head stacked into M
    assert zoo.get("mistral-7b", phase="decode", context_len=1000).by_name["layers.0.attn_score"].n == 1000
    p = zoo.get("mistral-7b", seq_len=8192)
    assert p.by_name["layers.5.attn_score"].n == 4096 and p.by_name["layers.5.attn_score"].m == 4 * 8192
    assert zoo.get("qwen2.5-7b", phase="decode", context_len=8192).by_name["layers.0.attn_score"].n == 8192


def test_user_mixtral_config_through_from_hf_config(tmp_path: Path) -> None:
    raw = json.loads(zoo.config_path("mixtral-8x7b").read_text())
    raw.update(num_hidden_layers=2, sliding_window=256)
    p = tmp_path / "config.json"
    p.write_text(json.dumps(raw))
    w = from_hf_config(p, phase="decode", seq_len=1024, batch=4)
    assert w.by_name["layers.1.attn_score"].n == 256
    assert len({l.name.split(".")[4] for l in w.layers if ".experts." in l.name and l.name.startswith("layers.1.")}) \
        == round(distinct_experts(8, 2, 8))
    raw["num_experts_per_tok"] = 9
    p.write_text(json.dumps(raw))
    with pytest.raises(InvalidSpecError, match="num_experts_per_tok"):
        from_hf_config(p)


# --------------------------------------------------------------------------- generation
def test_generate_is_prefill_plus_growing_decode() -> None:
    g = zoo.get("llama-2-7b", phase="generate", seq_len=256, generate=20)
    assert g.phase is Phase.GENERATE and dict(g.meta)["prompt"] == 256 and dict(g.meta)["generate"] == 20
    pre = zoo.get("llama-2-7b", phase="prefill", seq_len=256)
    dec = [zoo.get("llama-2-7b", phase="decode", context_len=256 + t) for t in range(1, 21)]
    assert g.total_macs == pre.total_macs + sum(d.total_macs for d in dec)
    assert g.total_params == pre.total_params  # decode steps reuse the prefill's weights
    assert g.by_name["decode20.layers.0.attn_score"].n == 276 and g.by_name["decode1.layers.0.attn_score"].n == 257
    assert g.by_name["decode3.layers.0.q_proj"].tied_to == "prefill.layers.0.q_proj"
    assert g.graph.has_edge("decode1.lm_head", "decode2.embed_tokens")
    assert len(g.layers) == 21 * len(pre.layers)
    with pytest.raises(InvalidSpecError, match="generate"):
        zoo.get("bert-base", phase="generate")
    with pytest.raises(InvalidSpecError, match="generate"):
        zoo.get("llama-2-7b", generate=4)


def test_simulate_generate_cli(capsys: pytest.CaptureFixture[str]) -> None:
    from lowbit.cli import main

    assert main(["simulate", "--hw", "a100-like", "--model", "opt-1.3b", "--phase", "generate", "--prompt", "32",
                 "--generate", "3", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    names = [r["name"] for r in doc["layers"]]
    assert names[0] == "prefill.embed_tokens" and "decode3.lm_head" in names
    assert main(["simulate", "--hw", "a100-like", "--model", "opt-1.3b", "--generate", "3"]) == 2


def test_zoo_import_stays_torch_free() -> None:
    import subprocess

    code = ("import sys, lowbit.models.zoo as z; z.get('mixtral-8x7b', phase='generate', generate=2); "
            "print('torch' in sys.modules, 'diffusers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_expected_distinct_formula() -> None:
    assert math.isclose(distinct_experts(8, 2, 2), 8 * (1 - (7 / 8) ** 2))
    assert round(distinct_experts(8, 2, 4096)) == 8
