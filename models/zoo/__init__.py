"""The model zoo: `list_models()` and `get(name, phase, seq_len, batch, context_len)`.

CNNs (phase `inference` only, 224x224, `batch` images): alexnet, vgg16,
resnet18, resnet50, mobilenetv2 (`models.zoo.cnn`); and digits-cnn (alias
`digits`, 8x8 inputs, `models.zoo.digits`), the one model lowbit also holds real
weights for (trained here from a seed): `trained(name)` gives its network and
calibration inputs for measured sensitivity, and `runnable_models()` names such models.

Transformers, built by `models.zoo.transformer` from the Hugging Face style
configs in `models/zoo/configs/*.json`: bert-base, minilm-l6 (encoders:
`prefill`/`inference`, default seq_len 128), vit-b16 (`inference`, 197 tokens),
and the decoder LLMs opt-1.3b, phi-2, yi-6b, llama-2-7b, llama-2-13b,
llama-3-8b, bitnet-b1.58-2b (BitNet-b1.58-2B-4T), bitnet-3b
(1bitLLM/bitnet_b1_58-3B): `prefill` (default, seq_len 2048) or `decode` (one
new token per sequence against context_len keys, default 2048; `seq_len` is
taken as the context length when `context_len` is not given).

More decoder LLMs from configs: mistral-7b (sliding window 4096), qwen2.5-7b,
llama-3.1-70b, and the mixtures of experts mixtral-8x7b and qwen1.5-moe-a2.7b
(per-expert GEMMs, top-k routing balanced or `routing=` histogram; `models.zoo.moe`).
Every decoder also has phase `generate`: prefill of `seq_len` (default 256) tokens
then `generate` (default 20) decode steps (`models.zoo.generate`).

Traced from torch on the meta device (torch, diffusers, transformers load only for
these): diffusion networks and denoising pipelines (`models.zoo.diffusion`:
sd15-unet, sdxl-unet, sdxl-turbo-unet, dit-xl-2, ldm4-lsun-beds and their
`-denoise` pipelines, `resolution=`, `steps=`), super-resolution and segmentation
(`models.zoo.vision`: edsr-baseline-x2/x4, edsr-x2/x4, swinir-x2/x4,
deeplabv3-resnet50, `resolution=`).

`total_params` counts weight matrices and embedding tables;
`total_params_with_aux(w)` adds biases, norm and BatchNorm parameters (see
`cnn` and `transformer` docstrings for exactly what).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

from lowbit.kernels_ref.errors import InvalidSpecError
from lowbit.models.ir import Phase, Workload
from lowbit.models.zoo import digits
from lowbit.models.zoo.cnn import CNN_BUILDERS, build_cnn
from lowbit.models.zoo.diffusion import DIFFUSION_MODELS, build_diffusion
from lowbit.models.zoo.transformer import build_transformer, load_config
from lowbit.models.zoo.vision import VISION_MODELS, build_vision

__all__ = [
    "CONFIG_DIR",
    "aux_params",
    "config_path",
    "default_phase",
    "get",
    "list_models",
    "runnable_models",
    "total_params_with_aux",
    "trained",
]

CONFIG_DIR = Path(__file__).resolve().parent / "configs"

_TRANSFORMERS = ("bert-base", "minilm-l6", "vit-b16", "opt-1.3b", "phi-2", "yi-6b", "llama-2-7b",
                 "llama-2-13b", "llama-3-8b", "bitnet-b1.58-2b", "bitnet-3b", "mistral-7b", "qwen2.5-7b",
                 "llama-3.1-70b", "mixtral-8x7b", "qwen1.5-moe-a2.7b")
_TRACED = (*DIFFUSION_MODELS, *VISION_MODELS)
_ALIASES = {"bitnet-b1.58-2b-4t": "bitnet-b1.58-2b", "bert-base-uncased": "bert-base", "vit-b/16": "vit-b16",
            "all-minilm-l6-v2": "minilm-l6", "minilm": "minilm-l6", "resnet-18": "resnet18",
            "resnet-50": "resnet50", "vgg-16": "vgg16", "mobilenet-v2": "mobilenetv2",
            "digits": digits.NAME, "digits_cnn": digits.NAME,
            "mixtral": "mixtral-8x7b", "qwen1.5-moe": "qwen1.5-moe-a2.7b", "sd-1.5-unet": "sd15-unet",
            "dit-xl/2": "dit-xl-2", "deeplabv3": "deeplabv3-resnet50", "swinir": "swinir-x4"}
#: Small CNNs with their own builder (batch -> Workload), served like the CNNs above.
_SMALL_CNNS: MappingProxyType[str, Callable[[int], Workload]] = MappingProxyType(
    {digits.NAME: digits.digits_workload})
#: Models lowbit holds real weights for: name -> seed -> (network, calibration inputs, metric).
_TRAINED: MappingProxyType[str, Callable[[int], tuple[Any, Any, str]]] = MappingProxyType(
    {digits.NAME: digits.calibrated_model})


def list_models() -> list[str]:
    """Zoo model names, CNNs first."""
    return [*CNN_BUILDERS, *_SMALL_CNNS, *_TRANSFORMERS, *_TRACED]


def _canonical(name: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidSpecError(f"model name must be a non-empty string, got {name!r}")
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in CNN_BUILDERS and key not in _SMALL_CNNS and key not in _TRANSFORMERS and key not in _TRACED:
        close = difflib.get_close_matches(key, list_models() + list(_ALIASES), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise InvalidSpecError(f"unknown model {name!r}{hint} (known: {', '.join(list_models())})")
    return key


def canonical(name: str) -> str:
    """The zoo's own name for a model (aliases resolved); InvalidSpecError if unknown."""
    return _canonical(name)


def config_path(name: str) -> Path:
    """The shipped config.json of a zoo transformer."""
    key = _canonical(name)
    if key in CNN_BUILDERS or key in _SMALL_CNNS:
        raise InvalidSpecError(f"model {key} is a CNN and has no config.json")
    if key in _TRACED:
        raise InvalidSpecError(f"model {key} is traced from torch and has no transformer config.json")
    return CONFIG_DIR / f"{key}.json"


def default_phase(name: str) -> Phase:
    key = _canonical(name)
    if key in _TRACED:
        return Phase.INFERENCE
    return Phase.INFERENCE if key in CNN_BUILDERS or key in _SMALL_CNNS or key == "vit-b16" else Phase.PREFILL


def get(name: str, phase: str | Phase | None = None, seq_len: int | None = None, batch: int = 1,
        context_len: int | None = None, *, resolution: int | None = None, steps: int | None = None,
        routing: Sequence[float] | None = None, generate: int | None = None) -> Workload:
    """Workload of a zoo model (case-insensitive name) in a phase; None -> the model's default.

    `resolution` (pixels) and `steps` (denoising pipelines) apply to traced models;
    `routing` (tokens-per-expert histogram) to MoE LLMs; `generate` (decode steps) to
    phase `generate`, whose prompt length is `seq_len`."""
    key = _canonical(name)
    if key in _TRACED:
        _only(key, phase=phase, seq_len=seq_len, context_len=context_len, routing=routing, generate=generate)
        if key in VISION_MODELS:
            _only(key, steps=steps)
            return build_vision(key, batch, resolution)
        return build_diffusion(key, batch, resolution, steps)
    _only(key, resolution=resolution, steps=steps)
    if key in CNN_BUILDERS or key in _SMALL_CNNS:
        _only(key, routing=routing, generate=generate)
    if key in CNN_BUILDERS:
        return build_cnn(key, phase, seq_len, batch, context_len)
    if key in _SMALL_CNNS:
        return build_cnn(key, phase, seq_len, batch, context_len, builder=_SMALL_CNNS[key])
    cfg = load_config(CONFIG_DIR / f"{key}.json", name=key)
    return build_transformer(cfg, phase, seq_len, batch, context_len, name=key, routing=routing,
                             generate=generate)


def _only(key: str, **unused: object) -> None:
    """Options a model does not take are errors (phase 'inference' is every traced model's)."""
    for opt, v in unused.items():
        if v is None or (opt == "phase" and str(getattr(v, "value", v)).lower() == "inference"):
            continue
        raise InvalidSpecError(f"model {key}: option {opt}={v!r} does not apply to it")


def aux_params(workload: Workload) -> int:
    """Biases, norm gains, BatchNorm affine parameters etc. not held by layers (0 if unknown)."""
    return int(dict(workload.meta).get("aux_params", 0))  # type: ignore[call-overload]


def total_params_with_aux(workload: Workload) -> int:
    """Weights + auxiliary parameters: what `sum(p.numel() for p in model.parameters())` gives
    (MoE: with the experts no token reached, `meta["idle_params"]`)."""
    idle = int(dict(workload.meta).get("idle_params", 0))  # type: ignore[call-overload]
    return workload.total_params + aux_params(workload) + idle


def runnable_models() -> tuple[str, ...]:
    """Zoo models lowbit holds real weights for (so measured / proxy sensitivity works)."""
    return tuple(_TRAINED)


def trained(name: str, seed: int = 0) -> tuple[Any, Any, str]:
    """(network, calibration inputs, output metric) of a model lowbit trains itself; torch
    loads here. InvalidSpecError for a zoo model with shapes only (no weights in lowbit)."""
    key = _canonical(name)
    if key not in _TRAINED:
        raise InvalidSpecError(f"model {name!r} has no weights in lowbit (runnable: "
                               f"{', '.join(runnable_models())}); pass a per-(layer, format) "
                               f"sensitivity FILE")
    return _TRAINED[key](seed)
