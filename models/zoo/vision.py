"""Vision beyond classification: super-resolution and segmentation, traced from torch.

| zoo name            | network (`zoo.vision_nets`)               | default input |
|---------------------|-------------------------------------------|---------------|
| edsr-baseline-x2/x4 | EDSR baseline, 16 blocks x 64             | 256 x 256 LR  |
| edsr-x2 / edsr-x4   | EDSR, 32 blocks x 256, residual scale 0.1 | 256 x 256 LR  |
| swinir-x2 / x4      | SwinIR classical SR (embed 180, 6 x 6)    | 256 x 256 LR  |
| deeplabv3-resnet50  | DeepLabV3-ResNet50, 21 classes, no aux    | 512 x 512     |

Each is built on the meta device (no weights) and traced by
`importers.torch_trace.from_torch` at `resolution` (the input side in pixels; the
SR output is `scale` times larger). torch loads only when one of these is asked for.
Phase `inference`, `batch` images.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from lowbit.kernels_ref.errors import InvalidSpecError
from lowbit.models.ir import Workload

__all__ = ["VISION_MODELS", "build_vision", "vision_module"]

_SR = {"edsr-baseline-x2": ("edsr", 16, 64, 2, 1.0), "edsr-baseline-x4": ("edsr", 16, 64, 4, 1.0),
       "edsr-x2": ("edsr", 32, 256, 2, 0.1), "edsr-x4": ("edsr", 32, 256, 4, 0.1),
       "swinir-x2": ("swinir", 0, 0, 2, 0.0), "swinir-x4": ("swinir", 0, 0, 4, 0.0)}
_DEFAULT_RES = {**{k: 256 for k in _SR}, "deeplabv3-resnet50": 512}
VISION_MODELS: tuple[str, ...] = (*_SR, "deeplabv3-resnet50")


def vision_module(name: str, aux: bool = False) -> Any:
    """The torch module of a vision zoo model, parameters on the meta device."""
    import torch
    from lowbit.models.zoo import vision_nets as nets

    with torch.device("meta"):
        if name == "deeplabv3-resnet50":
            return nets.DeepLabV3(21, aux=aux).eval()
        kind, blocks, feats, scale, res_scale = _SR[name]
        if kind == "edsr":
            return nets.EDSR(blocks, feats, scale, res_scale).eval()
        return nets.SwinIR(scale).eval()


def build_vision(name: str, batch: int = 1, resolution: int | None = None) -> Workload:
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise InvalidSpecError(f"model {name}: batch must be a positive integer, got {batch!r}")
    res = _DEFAULT_RES[name] if resolution is None else resolution
    step = 8 if name == "deeplabv3-resnet50" else 1
    if isinstance(res, bool) or not isinstance(res, int) or res < 16 or res % step:
        raise InvalidSpecError(f"model {name}: resolution must be an integer >= 16"
                               + (f" and a multiple of {step}" if step > 1 else "") + f", got {res!r}")
    import torch
    from lowbit.models.importers.torch_trace import from_torch

    net = vision_module(name)
    x = torch.zeros(batch, 3, res, res, device="meta")
    wl = from_torch(net, x, name=name, meta=(("image_size", res),))
    return replace(wl, batch=batch)
