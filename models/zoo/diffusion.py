"""Diffusion models, built with `diffusers` / `transformers` on the meta device and traced.

No weights and no download: each network is made by `from_config` with a dict
shipped in `models/zoo/configs/diffusion/*.json` (the source is named in the file),
its parameters on the meta device, and traced by `importers.torch_trace.from_torch`
on meta inputs at the requested resolution. torch and diffusers load only here, when
a diffusion model is asked for (`pip install lowbit[real]`).

Networks (one forward, phase `inference`, `batch` latents):

| zoo name        | network                                   | default resolution |
|-----------------|-------------------------------------------|--------------------|
| sd15-unet       | Stable Diffusion 1.5 UNet (77 CLIP tokens) | 512 (latent 64)   |
| sdxl-unet       | SDXL base UNet (text_time conditioning)   | 1024 (latent 128)  |
| sdxl-turbo-unet | the same UNet at SDXL-Turbo's 512         | 512                |
| dit-xl-2        | DiT-XL/2, class-conditional               | 256 (latent 32)    |
| ldm4-lsun-beds  | LDM-4 UNet of LSUN-Bedrooms (BiDM)        | 256 (VQ-f4 latent 64) |

Denoising pipelines (`<name>-denoise`): the text encoder(s) once, `steps` x the
denoiser, the VAE (or VQ) decoder once. With classifier-free guidance the denoiser
and text encoder run on batch 2 x `batch` (conditional and unconditional), the
decoder on `batch`. Later steps reuse step 0's weights (`Layer.tied_to`), so the
parameters count once and every step's MACs and weight reads count. Defaults:
SD-1.5 and SDXL 50 steps with guidance; SDXL-Turbo 1 step without guidance (its
model card: guidance_scale=0.0); DiT-XL/2 250 steps with guidance (the DiT paper's
sampler); LDM-4 LSUN-Bedrooms 200 DDIM steps, unconditional (the LDM paper).
Layer names: `text_encoder.*`, `text_encoder_2.*`, `unet.<step>.*`, `vae_decoder.*`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from lowbit.kernels_ref.errors import InvalidSpecError
from lowbit.models.ir import Layer, Phase, Workload

__all__ = ["DIFFUSION_MODELS", "build_diffusion", "trace_component"]

CONFIGS = Path(__file__).resolve().parent / "configs" / "diffusion"


@dataclass(frozen=True)
class _Pipe:
    denoiser: str        # config file of the denoiser
    resolution: int      # default image side in pixels
    latent_factor: int   # pixels per latent pixel
    text: tuple[str, ...] = ()  # text encoder configs
    decoder: str = "vae-kl-f8"
    steps: int = 50
    guidance: bool = True


_PIPES = {
    "sd15": _Pipe("sd15-unet", 512, 8, ("clip-vit-l-text",)),
    "sdxl": _Pipe("sdxl-unet", 1024, 8, ("clip-vit-l-text", "openclip-bigg-text")),
    "sdxl-turbo": _Pipe("sdxl-unet", 512, 8, ("clip-vit-l-text", "openclip-bigg-text"), steps=1,
                        guidance=False),
    "dit-xl-2": _Pipe("dit-xl-2", 256, 8, steps=250),
    "ldm4-lsun-beds": _Pipe("ldm4-lsun-beds", 256, 4, decoder="vq-f4", steps=200, guidance=False),
}
_NETS = {"sd15-unet": "sd15", "sdxl-unet": "sdxl", "sdxl-turbo-unet": "sdxl-turbo", "dit-xl-2": "dit-xl-2",
         "ldm4-lsun-beds": "ldm4-lsun-beds"}
DIFFUSION_MODELS: tuple[str, ...] = (*_NETS, *(f"{p}-denoise" for p in _PIPES))


def _config(name: str) -> dict[str, Any]:
    return dict(json.loads((CONFIGS / f"{name}.json").read_text()))


def _module(name: str) -> Any:
    """The network of config `name`, parameters on the meta device."""
    try:
        import diffusers
        import torch
        import transformers
    except ImportError as exc:
        raise InvalidSpecError(f"diffusion models need torch, diffusers and transformers "
                               f"(pip install 'lowbit[real]'): {exc}") from None
    cfg = _config(name)
    cls_name = cfg.pop("_class")
    cfg = {k: v for k, v in cfg.items() if not k.startswith("_")}
    with torch.device("meta"):
        if cls_name.startswith("CLIP"):
            tcfg = transformers.CLIPTextConfig(**cfg)
            return getattr(transformers, cls_name)(tcfg).eval()
        return getattr(diffusers, cls_name).from_config(cfg).eval()


def trace_component(name: str, resolution: int, batch: int, latent_factor: int = 8,
                    label: str | None = None) -> Workload:
    """Trace one network of config `name` at `resolution` pixels (text encoders: 77 tokens)."""
    import torch
    from lowbit.models.importers.torch_trace import from_torch

    net = _module(name)
    cfg = _config(name)
    cls_name = cfg["_class"]
    meta = {"device": "meta"}
    side = resolution // latent_factor
    if cls_name.startswith("CLIP"):
        ids = torch.zeros(batch, cfg["max_position_embeddings"], dtype=torch.long, **meta)
        return from_torch(net, {"input_ids": ids}, name=label or name,
                          meta=(("tokens", cfg["max_position_embeddings"]),))
    if cls_name in ("AutoencoderKL", "VQModel"):
        module: Any = _Decoder(net)
        z = torch.zeros(batch, cfg["latent_channels"], side, side, **meta)
        return from_torch(module, z, name=label or name, meta=(("image_size", resolution),))
    ch = cfg["in_channels"]
    x = torch.zeros(batch, ch, side, side, **meta)
    t = torch.zeros(batch, **meta)
    if cls_name == "UNet2DConditionModel":
        inputs: dict[str, Any] = {"sample": x, "timestep": t,
                                  "encoder_hidden_states": torch.zeros(batch, 77, cfg["cross_attention_dim"],
                                                                       **meta)}
        if cfg.get("addition_embed_type") == "text_time":
            pooled = cfg["projection_class_embeddings_input_dim"] - 6 * cfg["addition_time_embed_dim"]
            inputs["added_cond_kwargs"] = {"text_embeds": torch.zeros(batch, pooled, **meta),
                                           "time_ids": torch.zeros(batch, 6, **meta)}
    elif cls_name == "DiTTransformer2DModel":
        inputs = {"hidden_states": x, "timestep": t.long(),
                  "class_labels": torch.zeros(batch, dtype=torch.long, **meta)}
    elif cls_name == "UNet2DModel":
        inputs = {"sample": x, "timestep": t}
    else:
        raise InvalidSpecError(f"diffusion config {name}: unknown network class {cls_name!r}")
    wl = from_torch(net, inputs, name=label or name, meta=(("image_size", resolution),))
    return _dit_shared_conditioning(wl, net) if cls_name == "DiTTransformer2DModel" else wl


_DIT_COPY = re.compile(r"transformer_blocks\.([1-9]\d*)\.norm1\.emb\.(.*)")


def _dit_shared_conditioning(wl: Workload, net: Any) -> Workload:
    """DiT computes its timestep and class embedding once (675 M parameters); diffusers'
    DiT gives every block its own copy of those embedders, filled with the same weights.
    The copies in blocks 1.. become `tied_to` block 0's (their MACs stay: diffusers runs
    them) and leave the parameter counts."""
    copies = {n: p.numel() for n, p in net.named_parameters() if _DIT_COPY.match(n)}
    layers = []
    weights = 0
    for l in wl.layers:
        m = _DIT_COPY.match(l.name)
        if m and l.tied_to is None:
            weights += l.weight_params
            l = replace(l, tied_to=f"transformer_blocks.0.norm1.emb.{m.group(2)}")
        layers.append(l)
    meta = dict(wl.meta)
    meta["aux_params"] = int(meta["aux_params"]) - (sum(copies.values()) - weights)  # type: ignore[call-overload]
    meta["source_params"] = int(meta["source_params"]) - sum(copies.values())  # type: ignore[call-overload]
    return replace(wl, layers=tuple(layers), meta=tuple(meta.items()))


def _decoder_module() -> type:
    import torch
    from torch import nn

    class Decoder(nn.Module):
        """The decoding half of a first-stage autoencoder: (quantize), post-quant conv, decoder."""

        def __init__(self, vae: nn.Module) -> None:
            super().__init__()
            self.quantize = getattr(vae, "quantize", None)
            self.post_quant_conv = vae.post_quant_conv
            self.decoder = vae.decoder

        def forward(self, z: torch.Tensor) -> torch.Tensor:
            if self.quantize is not None:
                z = self.quantize(z)[0]
            return self.decoder(self.post_quant_conv(z))

    return Decoder


def _Decoder(vae: Any) -> Any:
    return _decoder_module()(vae)


def _prefixed(w: Workload, prefix: str, tie_to: str | None = None) -> tuple[list[Layer], list[tuple[str, str]]]:
    layers = []
    for l in w.layers:
        if tie_to is not None and l.has_weights:
            tied = f"{tie_to}{l.tied_to or l.name}"
        else:
            tied = None if l.tied_to is None else f"{prefix}{l.tied_to}"
        layers.append(replace(l, name=prefix + l.name, tied_to=tied))
    return layers, [(prefix + a, prefix + b) for a, b in w.edges or ()]


def build_diffusion(name: str, batch: int = 1, resolution: int | None = None, steps: int | None = None,
                    guidance: bool | None = None) -> Workload:
    """A zoo diffusion network (one forward) or `<pipeline>-denoise` workload."""
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise InvalidSpecError(f"model {name}: batch must be a positive integer, got {batch!r}")
    denoise = name.endswith("-denoise")
    pipe = _PIPES[name[: -len("-denoise")] if denoise else _NETS[name]]
    res = pipe.resolution if resolution is None else resolution
    if isinstance(res, bool) or not isinstance(res, int) or res < pipe.latent_factor * 8 \
            or res % (pipe.latent_factor * 8):
        raise InvalidSpecError(f"model {name}: resolution must be a positive multiple of "
                               f"{pipe.latent_factor * 8} pixels, got {res!r}")
    if not denoise:
        if steps is not None or guidance is not None:
            raise InvalidSpecError(f"model {name}: steps and guidance apply to {name.split('-unet')[0]}"
                                   f"-denoise, not to one network forward")
        wl = trace_component(pipe.denoiser, res, batch, pipe.latent_factor, label=name)
        return replace(wl, batch=batch)
    n_steps = pipe.steps if steps is None else steps
    if isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 1:
        raise InvalidSpecError(f"model {name}: steps must be a positive integer, got {n_steps!r}")
    cfg_on = pipe.guidance if guidance is None else bool(guidance)
    cond_batch = 2 * batch if cfg_on else batch
    layers: list[Layer] = []
    edges: list[tuple[str, str]] = []
    totals = [0, 0, 0]  # aux, source params, source MACs
    parts: list[tuple[Workload, str]] = []
    for i, enc in enumerate(pipe.text):
        parts.append((trace_component(enc, res, cond_batch), "text_encoder." if i == 0 else f"text_encoder_{i + 1}."))
    unet = trace_component(pipe.denoiser, res, cond_batch, pipe.latent_factor)
    dec = trace_component(pipe.decoder, res, batch, pipe.latent_factor)
    g = unet.graph
    u_src = [n for n in g if g.in_degree(n) == 0]
    u_sink = [n for n in g if g.out_degree(n) == 0]
    for wl, prefix in parts:
        ls, es = _prefixed(wl, prefix)
        layers += ls
        edges += es
        for key, acc in (("aux_params", 0), ("source_params", 1), ("source_macs", 2)):
            totals[acc] += int(dict(wl.meta)[key])  # type: ignore[call-overload]
    prev = [f"{prefix}{n}" for wl, prefix in parts for n in wl.graph if wl.graph.out_degree(n) == 0]
    for s in range(n_steps):  # step s's inputs follow step s-1's output (the text encoders' at s = 0)
        ls, es = _prefixed(unet, f"unet.{s}.", tie_to="unet.0." if s else None)
        edges += es + [(a, f"unet.{s}.{b}") for a in prev for b in u_src]
        layers += ls
        prev = [f"unet.{s}.{n}" for n in u_sink]
    for key, acc in (("aux_params", 0), ("source_params", 1), ("source_macs", 2)):
        totals[acc] += int(dict(unet.meta)[key]) * (n_steps if key == "source_macs" else 1)  # type: ignore[call-overload]
        totals[acc] += int(dict(dec.meta)[key])  # type: ignore[call-overload]
    ls, es = _prefixed(dec, "vae_decoder.")
    d_src = [n for n in dec.graph if dec.graph.in_degree(n) == 0]
    edges += es + [(a, f"vae_decoder.{b}") for a in prev for b in d_src]
    layers += ls
    aux, src_params, src_macs = totals
    meta = (("source", "diffusers trace"), ("aux_params", aux), ("source_params", src_params),
            ("source_macs", src_macs), ("steps", n_steps), ("guidance", cfg_on), ("image_size", res))
    return Workload(name, Phase.INFERENCE, tuple(layers), tuple(edges), batch=batch, meta=meta)
