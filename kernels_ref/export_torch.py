"""A quantised copy of a model's state dict in lowbit's formats, and its loader.

`quantized_state_dict(model, allocation)` returns a dict that `torch.save` writes and
`torch.load(path, weights_only=True)` reads back (only tensors, strings, ints, lists
and dicts):

    {"lowbit_quantised_state_dict": 1,
     "model": NAME,
     "tensors": {param name: tensor}          # every parameter/buffer not quantised
     "quantised": {module name: {
         "format": "int4g128",                # lowbit format string
         "shape": [N, K],                     # the weight as torch stores it (conv: flattened)
         "weight_shape": [...],               # the module's weight shape
         "codes": uint8 tensor,               # quant.pack of the codes of W^T [K, N], row-major
         "scales": tensor [G, N],             # fp16 / fp32 / float32 powers of two, exact
         "zero": tensor [G, N] or absent,     # UINT zero points (float32, integers)
         "variants": int64 [G, N] or absent}}} # BitMoD mixture selectors

`dequantized_state_dict(blob)` rebuilds a float32 state dict whose quantised weights
are `quant.dequantize` of the stored codes (loadable by `model.load_state_dict`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from lowbit.kernels_ref.errors import InvalidSpecError
from lowbit.kernels_ref.formats import Format, ScaleFormat
from lowbit.kernels_ref.quant import QTensor, dequantize, pack, quantize, unpack
from torch import nn

__all__ = ["SCHEMA", "dequantized_state_dict", "quantized_state_dict"]

SCHEMA = 1
_SCALE_DTYPE = {ScaleFormat.FP16: torch.float16, ScaleFormat.FP32: torch.float32, ScaleFormat.POW2: torch.float32}


def _exact(t: torch.Tensor, dtype: torch.dtype, what: str) -> torch.Tensor:
    out = t.to(dtype)
    if not torch.equal(out.double(), t.double()):
        raise InvalidSpecError(f"{what} is not exactly representable as {dtype}")
    return out


def quantized_state_dict(model: nn.Module, allocation: Mapping[str, Format], name: str = "") -> dict[str, Any]:
    """Quantise the weight of each allocated Linear/Conv module (module name -> Format)."""
    mods = dict(model.named_modules())
    quantised: dict[str, Any] = {}
    for mname, fmt in allocation.items():
        mod = mods.get(mname)
        if mod is None or not isinstance(getattr(mod, "weight", None), torch.Tensor):
            raise InvalidSpecError(f"export: the model has no weight module named {mname!r}")
        w = mod.weight.detach()
        wt = w.reshape(w.shape[0], -1).t().contiguous()  # [K, N]
        qt = quantize(wt, fmt, axis=0)
        entry: dict[str, Any] = {"format": str(fmt), "shape": [int(wt.shape[1]), int(wt.shape[0])],
                                 "weight_shape": [int(d) for d in w.shape],
                                 "codes": torch.frombuffer(bytearray(pack(qt.codes, fmt)), dtype=torch.uint8)}
        if qt.scales is not None:
            assert fmt.scale is not None
            entry["scales"] = _exact(qt.scales, _SCALE_DTYPE[fmt.scale], f"{mname}: a scale of {fmt}")
        if qt.zero is not None:
            entry["zero"] = _exact(qt.zero, torch.float32, f"{mname}: a zero point")
        if qt.variants is not None:
            entry["variants"] = qt.variants.to(torch.int64)
        quantised[mname] = entry
    skip = {f"{m}.weight" for m in quantised}
    tensors = {k: v.detach().clone() for k, v in model.state_dict().items() if k not in skip}
    return {"lowbit_quantised_state_dict": SCHEMA, "model": name, "tensors": tensors, "quantised": quantised}


def _qtensor(entry: Mapping[str, Any], where: str) -> QTensor:
    fmt = Format.parse(str(entry["format"]))
    n, k = (int(d) for d in entry["shape"])
    data = bytes(entry["codes"].numpy().tobytes())
    codes = unpack(data, fmt, (k, n))
    scales = entry.get("scales")
    zero = entry.get("zero")
    return QTensor(codes, None if scales is None else scales.double(), None if zero is None else zero.double(),
                   fmt, 0, entry.get("variants"))


def dequantized_state_dict(blob: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """A float32 state dict from `quantized_state_dict`'s output (quantised weights dequantised)."""
    if not isinstance(blob, Mapping) or blob.get("lowbit_quantised_state_dict") != SCHEMA:
        raise InvalidSpecError(f"not a lowbit quantised state dict (schema {SCHEMA})")
    out = dict(blob["tensors"])
    for mname, entry in blob["quantised"].items():
        w = dequantize(_qtensor(entry, mname))  # [K, N] float64
        out[f"{mname}.weight"] = w.t().reshape(entry["weight_shape"]).to(torch.float32)
    return out
