"""Zoo models built by tracing (diffusers / torch on the meta device): published parameter
counts (tests/data/published_params.json), 100% MAC and parameter coverage, pipelines."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest
from lowbit.kernels_ref.errors import InvalidSpecError
from lowbit.models import zoo
from lowbit.models.ir import OpKind, Workload
from lowbit.models.zoo.diffusion import trace_component
from lowbit.models.zoo.vision import vision_module

# Slow lane (`make test` runs it, `make test-fast` does not): traces diffusion/SR/segmentation networks on meta.
pytestmark = pytest.mark.slow

pytest.importorskip("diffusers")  # third-party extra 'real'

PUBLISHED = json.loads((Path(__file__).parents[1] / "data" / "published_params.json").read_text())["models"]


def held(name: str, value: float, key: str = "params") -> None:
    ref = PUBLISHED[name]
    if ref.get("exact"):
        assert value == ref[key], (name, value, ref[key])
    else:
        tol = ref["rounded"] / 2 if key == "params" else ref[f"{key}_tolerance"]
        assert abs(value - ref[key]) <= tol, (name, value, ref[key])


@pytest.fixture(scope="session")
def traced() -> Callable[..., Workload]:
    """zoo.get for traced models, once per (name, options) in the session; no warning allowed."""
    cache: dict[tuple[object, ...], Workload] = {}

    def get(name: str, **kw: object) -> Workload:
        key = (name, *sorted(kw.items()))
        if key not in cache:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                cache[key] = zoo.get(name, **kw)  # type: ignore[arg-type]
        return cache[key]

    return get


@pytest.mark.parametrize("name, res", [("sd15-unet", 256), ("dit-xl-2", 256), ("ldm4-lsun-beds", 256),
                                       ("edsr-baseline-x2", 32), ("edsr-x4", 32), ("swinir-x2", 32)])
def test_traced_params_published_and_full_coverage(traced: Callable[..., Workload], name: str, res: int) -> None:
    w = traced(name, resolution=res)
    assert w.mac_coverage == 1.0 and w.param_coverage == 1.0
    held(name, zoo.total_params_with_aux(w))
    assert zoo.total_params_with_aux(w) == dict(w.meta)["source_params"]


@pytest.mark.slow
def test_sdxl_unet_params_and_coverage(traced: Callable[..., Workload]) -> None:
    w = traced("sdxl-unet", resolution=256)
    assert w.mac_coverage == 1.0 and w.param_coverage == 1.0
    held("sdxl-unet", zoo.total_params_with_aux(w))
    assert any(".attn2.to_k" in l.name for l in w.layers)  # cross-attention on the text tokens


@pytest.mark.parametrize("name", ["clip-vit-l-text", "openclip-bigg-text"])
def test_text_encoders_published(name: str) -> None:
    w = trace_component(name, 512, 1)
    assert w.mac_coverage == 1.0 and w.param_coverage == 1.0
    held(name, zoo.total_params_with_aux(w))


def test_dit_macs_match_paper(traced: Callable[..., Workload]) -> None:
    w = traced("dit-xl-2")  # 256 x 256
    held("dit-xl-2", w.total_macs / 1e9, "gmacs")
    # the copies of the conditioning embedders in blocks 1..27 reuse block 0's weights
    emb = [l for l in w.layers if ".norm1.emb." in l.name]
    assert len({l.tied_to for l in emb if l.tied_to}) == 3 and sum(l.weight_params for l in emb) == 2_777_472 - 2_304


def test_deeplab_with_aux_head_is_torchvisions_count(traced: Callable[..., Workload]) -> None:
    n = sum(p.numel() for p in vision_module("deeplabv3-resnet50", aux=True).parameters())
    held("deeplabv3-resnet50-aux", n)
    w = traced("deeplabv3-resnet50", resolution=64)  # the zoo's network has no auxiliary head
    assert w.mac_coverage == 1.0 and w.param_coverage == 1.0
    aux_head = 1024 * 256 * 9 + 2 * 256 + 256 * 21 + 21
    assert zoo.total_params_with_aux(w) == PUBLISHED["deeplabv3-resnet50-aux"]["params"] - aux_head
    d = w.by_name["backbone.layer4.1.conv2"]  # dilated, output stride 8
    assert d.conv is not None and (d.conv.dilation_h, d.conv.in_h, d.conv.out_h) == (4, 8, 8)
    assert w.by_name["classifier.0.convs.3.0"].conv.dilation_h == 36  # type: ignore[union-attr]


def test_sd15_unet_structure(traced: Callable[..., Workload]) -> None:
    w = traced("sd15-unet", resolution=256)  # latent 32 x 32
    b = w.by_name
    assert b["conv_in"].conv is not None and b["conv_in"].conv.in_h == 32
    assert b["time_embedding.linear_1"].op is OpKind.LINEAR and b["time_embedding.linear_1"].k == 320
    ca = b["down_blocks.0.attentions.0.transformer_blocks.0.attn2.attn_score"]  # cross-attention
    assert (ca.m, ca.n, ca.batch) == (32 * 32, 77, 8)
    sa = b["down_blocks.0.attentions.0.transformer_blocks.0.attn1.attn_score"]
    assert (sa.m, sa.k, sa.n) == (1024, 40, 1024)
    up = b["up_blocks.0.upsamplers.0.conv"]  # the conv after nearest upsampling: 4 -> 8
    assert up.conv is not None and up.conv.in_h == 8


def test_edsr_scales_and_swinir_window_attention(traced: Callable[..., Workload]) -> None:
    e2, e4 = traced("edsr-baseline-x2", resolution=32), traced("edsr-baseline-x4", resolution=32)
    assert e4.total_params - e2.total_params == 64 * 256 * 9  # one more sub-pixel conv
    s = traced("swinir-x2", resolution=32)
    score = s.by_name["layers.0.blocks.0.attn.matmul"]  # q @ k^T per 8x8 window and head
    assert (score.m, score.k, score.n, score.batch) == (64, 30, 64, 16 * 6)


def test_denoise_pipeline_sd15(traced: Callable[..., Workload]) -> None:
    steps = 3
    p = traced("sd15-denoise", resolution=256, steps=steps)
    unet = traced("sd15-unet", resolution=256, batch=2)  # classifier-free guidance: batch 2
    text = trace_component("clip-vit-l-text", 256, 2)
    vae = trace_component("vae-kl-f8", 256, 1)
    assert p.total_macs == text.total_macs + steps * unet.total_macs + vae.total_macs
    assert zoo.total_params_with_aux(p) == sum(zoo.total_params_with_aux(w) for w in (text, unet, vae))
    assert p.mac_coverage == 1.0 and p.param_coverage == 1.0
    assert p.by_name["unet.2.conv_in"].tied_to == "unet.0.conv_in"
    assert p.by_name["unet.0.conv_in"].m == 2 * 32 * 32
    assert p.graph.has_edge("unet.0.conv_out", "unet.1.conv_in")
    assert p.layers[-1].name.startswith("vae_decoder.")


def test_ldm4_pipeline_unconditional_vq_decoder(traced: Callable[..., Workload]) -> None:
    p = traced("ldm4-lsun-beds-denoise", steps=2)
    assert not any(l.name.startswith("text_encoder") for l in p.layers)
    assert p.by_name["unet.0.conv_in"].m == 64 * 64  # batch 1: no guidance
    search = p.by_name["vae_decoder.quantize.embedding.cdist"]  # VQ codebook search: pixels x 8192 codes
    assert (search.m, search.k, search.n) == (64 * 64, 3, 8192)
    lookup = p.by_name["vae_decoder.quantize.embedding"]
    assert lookup.op is OpKind.EMBEDDING and lookup.tied_to == "vae_decoder.quantize.embedding.cdist"


def test_traced_option_errors() -> None:
    with pytest.raises(InvalidSpecError, match="resolution"):
        zoo.get("sd15-unet", resolution=100)
    with pytest.raises(InvalidSpecError, match="steps"):
        zoo.get("sd15-unet", steps=4)
    with pytest.raises(InvalidSpecError, match="seq_len"):
        zoo.get("edsr-x2", seq_len=4)
    with pytest.raises(InvalidSpecError, match="resolution"):
        zoo.get("llama-2-7b", resolution=256)
