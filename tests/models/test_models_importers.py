"""Importers: torch tracing (a ResNet-18 written here, MiniLM from the package) and HF configs."""

from __future__ import annotations

import json
import warnings
from collections import Counter
from pathlib import Path

import pytest
import torch
from lowbit.kernels_ref.errors import InvalidSpecError
from lowbit.models import zoo
from lowbit.models.importers import from_hf_config, from_torch, load_minilm, minilm_path
from lowbit.models.ir import OpKind, Phase
from torch import nn


class _Basic(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.downsample = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return torch.relu(y + (x if self.downsample is None else self.downsample(x)))


class _ResNet18(nn.Module):
    """torchvision's ResNet-18 layout, written out (torchvision is not installable here)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        chans = (64, 128, 256, 512)
        c_in = 64
        for i, c in enumerate(chans, start=1):
            stride = 1 if i == 1 else 2
            setattr(self, f"layer{i}", nn.Sequential(_Basic(c_in, c, stride), _Basic(c, c, 1)))
            c_in = c
        self.fc = nn.Linear(512, 1000)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(torch.relu(self.bn1(self.conv1(x))))
        for i in range(1, 5):
            x = getattr(self, f"layer{i}")(x)
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


def _shape(l) -> tuple:  # type: ignore[no-untyped-def]
    return (l.op, l.m, l.k, l.n, l.batch)


def test_resnet18_trace_equals_zoo() -> None:
    model = _ResNet18().eval()
    params = sum(p.numel() for p in model.parameters())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing left untranslated
        traced = from_torch(model, torch.zeros(1, 3, 224, 224), name="resnet18")
    ref = zoo.get("resnet18")
    assert [l.name for l in traced.layers] == [l.name for l in ref.layers]
    assert [_shape(l) for l in traced.layers] == [_shape(l) for l in ref.layers]
    assert traced.total_macs == ref.total_macs
    assert params == zoo.total_params_with_aux(ref) == 11_689_512
    # dataflow edges from the trace include the zoo's shortcut edges
    for a, b in [("layer1.0.conv2", "layer1.1.conv1"), ("conv1", "layer1.1.conv1"),
                 ("layer2.0.downsample.0", "layer2.1.conv1")]:
        assert traced.graph.has_edge(a, b), (a, b)


class _Odd(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(8, 6)
        self.conv = nn.Conv1d(4, 8, 3, padding=1, groups=2)
        self.w = nn.Parameter(torch.randn(6, 5))
        self.t = nn.ConvTranspose1d(8, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(x)                        # (2, 8, 8)
        y = self.lin(h)                         # (2, 8, 6)
        att = y @ y.transpose(1, 2)             # activation x activation (2, 8, 8)
        z = torch.einsum("bij,bjk->bik", att, y)
        _ = self.t(h)
        return z @ self.w


def test_trace_conv1d_groups_matmul_einsum_conv_transpose() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # everything translated: no warning
        w = from_torch(_Odd(), torch.randn(2, 4, 8))
    conv = w.by_name["conv"]
    assert conv.op is OpKind.CONV2D and (conv.m, conv.k, conv.n, conv.batch) == (2 * 8, 2 * 3, 4, 2)
    lin = w.by_name["lin"]
    assert (lin.m, lin.k, lin.n) == (16, 8, 6)
    mm = [l for l in w.layers if l.op is OpKind.MATMUL]
    assert [(l.m, l.k, l.n, l.batch) for l in mm] == [(8, 6, 8, 2), (8, 8, 6, 2)]  # score, einsum
    xw = [l for l in w.layers if l.name.endswith(".matmul") and l.op is OpKind.LINEAR]
    assert [(l.m, l.k, l.n) for l in xw] == [(16, 6, 5)]
    t = w.by_name["t"]  # ConvTranspose1d(8, 4, 3) on (2, 8, 8): 16 input pixels x 8 -> 4 x 3 taps
    assert t.op is OpKind.CONV_TRANSPOSE and (t.m, t.k, t.n, t.batch) == (16, 8, 12, 1)
    assert w.mac_coverage == 1.0 and w.param_coverage == 1.0


class _Untranslatable(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(8, 8)
        self.rnn = nn.GRU(8, 8)
        self.c3 = nn.Conv3d(2, 2, 1)
        self.dead = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y, _ = self.rnn(self.lin(x))
        return y.sum() + self.c3(x.view(1, 2, 4, 2, 2)).sum()


def test_untranslated_ops_are_one_warning_and_lower_coverage() -> None:
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        w = from_torch(_Untranslatable(), torch.randn(4, 8))
    msgs = [str(r.message) for r in rec]
    assert len(msgs) == 1 and "not translated" in msgs[0]
    assert "gru" in msgs[0] and "conv3d" in msgs[0] and "dead.weight" in msgs[0]
    assert "FLOP counter" in msgs[0]
    assert w.mac_coverage < 1.0
    assert w.param_coverage < 1.0


@pytest.mark.slow  # > 2 s; the slow lane (make test) runs it
def test_minilm_trace_36_linears_and_attention_matmuls() -> None:
    path = minilm_path()
    assert (path / "config.json").is_file()
    model, tok = load_minilm()
    enc = dict(tok(["the quick brown fox", "jumps"], padding=True, return_tensors="pt"))
    seq = int(enc["input_ids"].shape[1])
    w = from_torch(model, enc, name="minilm")
    enc_lin = [l for l in w.layers if l.op is OpKind.LINEAR and l.name.startswith("encoder.")]
    assert len(enc_lin) == 36
    assert Counter((l.k, l.n) for l in enc_lin) == {(384, 384): 24, (384, 1536): 6, (1536, 384): 6}
    assert all(l.m == 2 * seq for l in enc_lin)
    mm = [l for l in w.layers if l.op is OpKind.MATMUL]
    assert len(mm) == 12  # score + context per layer, 12 heads x 2 sentences as batch
    assert {(l.m, l.k, l.n, l.batch) for l in mm} == {(seq, 32, seq, 24), (seq, seq, 32, 24)}
    # same GEMMs as the zoo's minilm-l6 at this seq and batch
    ref = zoo.get("minilm-l6", seq_len=seq, batch=2)
    ref_lin = Counter((l.m, l.k, l.n) for l in ref.layers if l.op is OpKind.LINEAR and l.name.startswith("layers."))
    assert Counter((l.m, l.k, l.n) for l in enc_lin) == ref_lin
    assert w.total_params == ref.total_params


def test_from_hf_config_file_and_dict(tmp_path: Path) -> None:
    raw = json.loads(zoo.config_path("llama-2-7b").read_text())
    p = tmp_path / "config.json"
    p.write_text(json.dumps(raw))
    a = from_hf_config(p, phase="decode", seq_len=64, batch=3)
    assert a.phase is Phase.DECODE and a.by_name["layers.0.attn_score"].n == 64
    assert a.total_params == zoo.get("llama-2-7b").total_params
    b = from_hf_config(raw, seq_len=32)
    assert b.by_name["layers.0.q_proj"].m == 32


@pytest.mark.parametrize("mutate, match", [
    (lambda d: d.pop("hidden_size"), "hidden_size"),
    (lambda d: d.update(num_hidden_layers=-2), "num_hidden_layers"),
    (lambda d: d.update(num_key_value_heads=5), "num_key_value_heads"),
    (lambda d: d.update(model_type="mamba"), "model_type"),
    (lambda d: d.update(intermediate_size="big"), "intermediate_size"),
])
def test_from_hf_config_errors_name_key_and_file(tmp_path: Path, mutate, match: str) -> None:  # type: ignore[no-untyped-def]
    raw = json.loads(zoo.config_path("llama-2-7b").read_text())
    mutate(raw)
    p = tmp_path / "config.json"
    p.write_text(json.dumps(raw))
    with pytest.raises(InvalidSpecError, match=match) as err:
        from_hf_config(p)
    assert str(p) in str(err.value)


def test_from_hf_config_not_json(tmp_path: Path) -> None:
    p = tmp_path / "config.json"
    p.write_text("{hidden_size: 4")
    with pytest.raises(InvalidSpecError, match="not valid JSON") as err:
        from_hf_config(p)
    assert str(p) in str(err.value)
    p.write_text("[1, 2]")
    with pytest.raises(InvalidSpecError, match="JSON object"):
        from_hf_config(p)


class _GQA(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.q = nn.Linear(64, 64, bias=False)   # 8 heads x 8
        self.kv = nn.Linear(64, 32, bias=False)  # k and v: 2 heads x 8 each

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        q = self.q(x).view(b, t, 8, 8).transpose(1, 2)
        k, v = self.kv(x).view(b, t, 2, 2, 8).permute(2, 0, 3, 1, 4)
        y = nn.functional.scaled_dot_product_attention(q, k, v, enable_gqa=True)
        return x + y.transpose(1, 2).reshape(b, t, 64)


def test_trace_sdpa_gqa_and_residual_edges() -> None:
    w = from_torch(_GQA(), torch.randn(3, 5, 64))
    s, c = w.by_name["attn_score"], w.by_name["attn_context"]
    # the 4 query heads of each K/V head stacked into M: one GEMM per (sequence, K/V head)
    assert (s.m, s.k, s.n, s.batch, s.kv_share) == (4 * 5, 8, 5, 3 * 2, 1)
    assert (c.m, c.k, c.n, c.batch, c.kv_share) == (4 * 5, 5, 8, 3 * 2, 1)
    assert s.macs == 3 * 8 * 5 * 8 * 5 and c.macs == 3 * 8 * 5 * 5 * 8  # every query head's MACs
    assert s.weight_elems == 3 * 2 * 8 * 5  # keys read once per kv head
    assert w.graph.has_edge("q", "attn_score") and w.graph.has_edge("kv", "attn_score")
    assert w.graph.has_edge("attn_score", "attn_context") and w.graph.has_edge("kv", "attn_context")
