"""Zoo parameter counts, MACs and shapes against published figures.

What is compared: `total_params_with_aux` = weight matrices + embedding tables
(`Workload.total_params`) + biases, norm gains and BatchNorm affine parameters
(`meta["aux_params"]`), i.e. what `sum(p.numel() for p in model.parameters())`
gives in torchvision / Hugging Face transformers. The published figures below
are those counts; each has its source. The exact integers in `EXACT` were also
checked against the peer implementation (HF transformers built from the same
config on the meta device; see `test_transformer_counts_equal_hf_transformers`).
"""

from __future__ import annotations

import json

import pytest
from lowbit.kernels_ref.errors import InvalidSpecError
from lowbit.models import zoo
from lowbit.models.ir import OpKind, Phase

# name -> (published count, source)
PUBLISHED = {
    # torchvision model docs, "num_params" of the IMAGENET1K_V1 weights
    "alexnet": (61.1e6, "torchvision AlexNet_Weights.IMAGENET1K_V1: 61,100,840"),
    "vgg16": (138.4e6, "torchvision VGG16_Weights.IMAGENET1K_V1: 138,357,544"),
    "resnet18": (11.69e6, "torchvision ResNet18_Weights.IMAGENET1K_V1: 11,689,512"),
    "resnet50": (25.56e6, "torchvision ResNet50_Weights.IMAGENET1K_V1: 25,557,032"),
    "mobilenetv2": (3.5e6, "torchvision MobileNet_V2_Weights.IMAGENET1K_V1: 3,504,872"),
    # Devlin et al. 2019 say 110M; the HF bert-base-uncased model page shows 110M (109,482,240)
    "bert-base": (109.5e6, "HF google-bert/bert-base-uncased, 109.48M parameters"),
    # sentence-transformers/all-MiniLM-L6-v2 model page: 22.7M params
    "minilm-l6": (22.7e6, "HF sentence-transformers/all-MiniLM-L6-v2, 22.7M params"),
    # timm vit_base_patch16_224 model card: Params (M) 86.6
    "vit-b16": (86.6e6, "timm vit_base_patch16_224: 86.6M params"),
    # facebook/opt-1.3b model page: 1.32B params (OPT paper table 1 rounds to 1.3B)
    "opt-1.3b": (1.32e9, "HF facebook/opt-1.3b, 1.32B params"),
    # microsoft/phi-2 model page: 2.78B params (card text: "2.7 billion")
    "phi-2": (2.78e9, "HF microsoft/phi-2, 2.78B params"),
    # 01-ai/Yi-6B model page: 6.06B params
    "yi-6b": (6.06e9, "HF 01-ai/Yi-6B, 6.06B params"),
    # Touvron et al. 2023 (Llama 2) / HF meta-llama/Llama-2-7b-hf: 6.74B params
    "llama-2-7b": (6.74e9, "HF meta-llama/Llama-2-7b-hf, 6.74B params"),
    "llama-2-13b": (13.0e9, "HF meta-llama/Llama-2-13b-hf, 13.0B params"),
    # HF meta-llama/Meta-Llama-3-8B: 8.03B params
    "llama-3-8b": (8.03e9, "HF meta-llama/Meta-Llama-3-8B, 8.03B params"),
    # HF microsoft/bitnet-b1.58-2B-4T model page: 2.41B params (card: "~2 billion")
    "bitnet-b1.58-2b": (2.41e9, "HF microsoft/bitnet-b1.58-2B-4T, 2.41B params"),
}

# Exact counts, hand-derived from the configs and equal to HF transformers / torchvision
EXACT = {"resnet18": 11_689_512, "resnet50": 25_557_032, "bert-base": 109_482_240, "llama-2-7b": 6_738_415_616,
         "llama-3-8b": 8_030_261_248, "vit-b16": 86_567_656, "mobilenetv2": 3_504_872}


def test_list_models_has_every_zoo_entry() -> None:
    names = zoo.list_models()
    for n in ("alexnet", "vgg16", "resnet18", "resnet50", "mobilenetv2", "bert-base", "vit-b16", "minilm-l6",
              "opt-1.3b", "phi-2", "yi-6b", "llama-2-7b", "llama-2-13b", "llama-3-8b", "bitnet-b1.58-2b",
              "bitnet-3b", "digits-cnn"):
        assert n in names
    assert len(names) == len(set(names)) == 39


def test_digits_cnn_is_served_like_any_zoo_model() -> None:
    # the GEMM view of models/zoo/digits.py's DigitsCNN, built without torch
    w = zoo.get("digits")
    assert w.name == "digits-cnn" and w.phase is Phase.INFERENCE
    assert [(ly.name, ly.m, ly.k, ly.n) for ly in w.layers] == [
        ("conv1", 64, 9, 16), ("conv2", 64, 144, 32), ("fc1", 1, 512, 64), ("fc2", 1, 64, 10)]
    assert w.total_params == 144 + 4608 + 32768 + 640
    assert [ly.m for ly in zoo.get("digits-cnn", batch=3).layers] == [192, 192, 3, 3]
    assert zoo.default_phase("digits") is Phase.INFERENCE and zoo.runnable_models() == ("digits-cnn",)
    with pytest.raises(InvalidSpecError, match="only 'inference'"):
        zoo.get("digits", phase="decode")
    with pytest.raises(InvalidSpecError, match="no weights in lowbit"):
        zoo.trained("resnet18")


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_parameter_counts(name: str) -> None:
    published, _source = PUBLISHED[name]
    w = zoo.get(name)
    total = zoo.total_params_with_aux(w)
    assert abs(total - published) / published < 0.005, (name, total, published)
    # biases/norms are counted apart from the weights, and are a small part (MobileNetV2's BN: 1.0%)
    assert 0 < total - w.total_params < 0.011 * total
    if name in EXACT:
        assert total == EXACT[name]


def test_resnet50_macs() -> None:
    # 4.09 GMAC at 224x224 (He et al. 2016 table 1 gives 3.8 GFLOPs-as-MACs without fc/downsample
    # rounding; torchvision / fvcore report 4.09 G); ours counts convs + fc.
    w = zoo.get("resnet50")
    assert abs(w.total_macs - 4.09e9) / 4.09e9 < 0.01
    # hand count of conv1: 112*112 outputs * 3*7*7 * 64 = 118,013,952
    assert w.by_name["conv1"].macs == 118_013_952
    assert w.by_name["fc"].macs == 2048 * 1000


def test_resnet_shortcuts_are_edges() -> None:
    w = zoo.get("resnet18")
    g = w.graph
    # block input (layer1.0.conv2) skips into layer1.1's consumer: identity shortcut
    assert g.has_edge("layer1.0.conv2", "layer1.1.conv1")
    assert g.has_edge("conv1", "layer1.1.conv1")  # residual over block 0
    ds = w.by_name["layer2.0.downsample.0"]
    assert (ds.m, ds.k, ds.n) == (28 * 28, 64, 128)
    assert g.has_edge("layer1.1.conv2", "layer2.0.downsample.0")
    assert g.has_edge("layer2.0.downsample.0", "layer2.1.conv1")
    assert len(w.layers) == 21  # 1 + 16 block convs + 3 downsamples + fc


def test_mobilenetv2_depthwise_and_inverted_residual() -> None:
    w = zoo.get("mobilenetv2")
    dw = w.by_name["features.2.conv.1.0"]  # 96-channel depthwise 3x3, stride 2: 112 -> 56
    assert dw.op is OpKind.DWCONV2D and (dw.m, dw.k, dw.n, dw.batch) == (56 * 56, 9, 1, 96)
    # features.3 (24 -> 24, stride 1) has a skip from features.2's projection
    assert w.graph.has_edge("features.2.conv.2", "features.4.conv.0.0")
    assert abs(w.total_macs - 300.8e6) / 300.8e6 < 0.01  # 300.8M MACs: Sandler et al. 2018 table 4 ("300M")


def test_llama3_gqa_shapes_prefill_and_decode() -> None:
    pre = zoo.get("llama-3-8b", phase="prefill", seq_len=512, batch=2)
    k = pre.by_name["layers.0.k_proj"]
    assert (k.m, k.k, k.n) == (1024, 4096, 1024)  # 8 kv heads * 128
    s = pre.by_name["layers.0.attn_score"]
    # per K/V head (2 seqs * 8 kv heads), the 4 query heads of its group stacked into M
    assert (s.m, s.k, s.n, s.batch, s.kv_share) == (4 * 512, 128, 512, 16, 1)
    dec = zoo.get("llama-3-8b", phase="decode", context_len=300, batch=2)
    assert dec.phase is Phase.DECODE
    k = dec.by_name["layers.31.k_proj"]
    assert (k.m, k.k, k.n) == (2, 4096, 1024)
    s, c = dec.by_name["layers.31.attn_score"], dec.by_name["layers.31.attn_context"]
    assert (s.m, s.k, s.n, s.batch) == (4, 128, 300, 16)
    assert (c.m, c.k, c.n, c.batch) == (4, 300, 128, 16)
    # K is read per kv-head: 2 seqs * 8 kv heads * 128 * 300
    assert s.weight_elems == 2 * 8 * 128 * 300
    assert dec.by_name["lm_head"].m == 2 and dec.by_name["lm_head"].n == 128256
    # same weights in both phases
    assert pre.total_params == dec.total_params


def test_decode_seq_len_is_context_and_defaults() -> None:
    a = zoo.get("llama-2-7b", phase="decode", seq_len=256)
    assert a.by_name["layers.0.attn_score"].n == 256
    b = zoo.get("llama-2-7b")
    assert b.phase is Phase.PREFILL and b.by_name["layers.0.q_proj"].m == 2048
    assert zoo.get("bert-base").by_name["layers.0.q_proj"].m == 128
    assert zoo.get("LLaMA-2-7B", phase="decode").by_name["layers.0.attn_score"].n == 2048


def test_llama2_7b_prefill_macs_by_hand() -> None:
    # per token per block: 4*4096^2 + 3*4096*11008 = 202,375,168 weight MACs; 32 blocks;
    # attention 2 * 32 heads * 128 * seq per token per block; lm_head 4096*32000 per token
    seq = 128
    w = zoo.get("llama-2-7b", seq_len=seq)
    per_token = 32 * (202_375_168 + 2 * 32 * 128 * seq) + 4096 * 32000
    assert w.total_macs == seq * per_token


def test_tied_lm_head_has_macs_not_params() -> None:
    for name in ("opt-1.3b", "bitnet-b1.58-2b"):
        w = zoo.get(name, seq_len=16)
        head = w.by_name["lm_head"]
        assert head.tied_to == "embed_tokens" and head.weight_params == 0
        assert head.macs == 16 * head.k * head.n > 0
    untied = zoo.get("llama-2-7b", seq_len=16).by_name["lm_head"]
    assert untied.weight_params == 4096 * 32000


def test_vit_patch_embedding_and_tokens() -> None:
    w = zoo.get("vit-b16")
    pe = w.by_name["patch_embed"]
    assert pe.op is OpKind.CONV2D and (pe.m, pe.k, pe.n) == (196, 3 * 16 * 16, 768)
    assert w.by_name["layers.0.q_proj"].m == 197
    with pytest.raises(InvalidSpecError, match="197"):
        zoo.get("vit-b16", seq_len=128)


def test_transformer_residual_edges() -> None:
    w = zoo.get("llama-2-7b", seq_len=8)
    g = w.graph
    assert g.has_edge("embed_tokens", "layers.0.q_proj")
    assert g.has_edge("embed_tokens", "layers.0.gate_proj")  # skip over attention
    assert g.has_edge("layers.0.o_proj", "layers.1.q_proj")  # skip over the MLP
    assert g.has_edge("layers.0.attn_score", "layers.0.attn_context")
    assert g.has_edge("layers.0.v_proj", "layers.0.attn_context")
    assert g.has_edge("layers.31.down_proj", "lm_head")


@pytest.mark.parametrize("kwargs, match", [
    ({"name": "resnet51"}, "resnet50"),
    ({"name": "resnet50", "phase": "decode"}, "decode"),
    ({"name": "bert-base", "phase": "decode"}, "decode"),
    ({"name": "llama-2-7b", "phase": "inference"}, "inference"),
    ({"name": "llama-2-7b", "seq_len": -1}, "seq_len"),
    ({"name": "llama-2-7b", "phase": "decode", "context_len": 0}, "context_len"),
    ({"name": "llama-2-7b", "batch": 0}, "batch"),
    ({"name": "bert-base", "seq_len": 1024}, "max_position_embeddings"),
    ({"name": "resnet18", "seq_len": 3}, "sequence"),
    ({"name": "llama-2-7b", "phase": "training"}, "phase"),
])
def test_zoo_errors(kwargs: dict, match: str) -> None:
    name = kwargs.pop("name")
    with pytest.raises(InvalidSpecError, match=match):
        zoo.get(name, **kwargs)


@pytest.mark.slow   # 1.2-2.3 s: out of the fast lane (make test runs it)
def test_transformer_counts_equal_hf_transformers() -> None:
    """Peer check: HF transformers' own modules, built from our shipped configs on the meta device."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    for name in ("bert-base", "opt-1.3b", "phi-2", "llama-3-8b", "bitnet-b1.58-2b", "bitnet-3b", "vit-b16"):
        raw = json.loads(zoo.config_path(name).read_text())
        raw.pop("_source")
        mt = raw.pop("model_type")
        cfg = transformers.AutoConfig.for_model(mt, **raw)
        with torch.device("meta"):
            if mt == "vit":
                model = transformers.ViTForImageClassification(cfg)
            elif mt == "bert":
                model = transformers.AutoModel.from_config(cfg)
            else:
                model = transformers.AutoModelForCausalLM.from_config(cfg)
        hf = sum(p.numel() for p in model.parameters())
        assert zoo.total_params_with_aux(zoo.get(name)) == hf, name


# heads, kv heads, head_dim, layers (models/zoo/configs/*.json); context 300 < Mistral's window
_GQA = {"llama-3-8b": (32, 8, 128, 32), "yi-6b": (32, 4, 128, 32), "mistral-7b": (32, 8, 128, 32),
        "bitnet-b1.58-2b": (20, 5, 128, 30), "llama-2-7b": (32, 32, 128, 32)}


@pytest.mark.parametrize("model", sorted(_GQA))
@pytest.mark.parametrize("phase", ["prefill", "decode"])
def test_gqa_attention_stacked_per_kv_head_keeps_macs_and_kv_bytes(model: str, phase: str) -> None:
    """GQA attention per K/V head (the query heads of a group stacked into M) does the MACs of the
    per-query-head form (heads x tokens x head_dim x keys), reads K and V once per kv head, and the
    KV cache is unchanged."""
    heads, kv, hd, n_layers = _GQA[model]
    batch, ctx = 2, 300
    kw = {"context_len": ctx} if phase == "decode" else {"seq_len": ctx}
    wl = zoo.get(model, phase=phase, batch=batch, **kw)
    q_len = 1 if phase == "decode" else ctx
    for role in ("attn_score", "attn_context"):
        ly = wl.by_name[f"layers.0.{role}"]
        assert (ly.batch, ly.m, ly.kv_share) == (batch * kv, q_len * heads // kv, 1)
        assert ly.macs == batch * heads * q_len * hd * ctx
        assert ly.weight_elems == batch * kv * hd * ctx
        assert ly.input_elems + ly.output_elems == batch * heads * q_len * (hd + ctx)
    if phase == "decode":
        assert wl.kv_cache_bytes(16) == n_layers * ctx * batch * 2 * kv * hd * 2
