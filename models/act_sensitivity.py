"""Measured activation, joint (weight, activation) and KV-cache sensitivity of a torch model.

The activation side of `models.sensitivity`: the same distances (`Metric`: mse, cosine, kl,
loss) between the full-precision output and the output with one layer perturbed, over the
calibration data, cached on disk the same way (``~/.cache/lowbit/sensitivity``, keyed by
the weights, the data, the formats and the measure).

- `activation`: a forward pre-hook fake-quantises one weight layer's INPUT activations with
  `kernels_ref.quant.quantize/dequantize` (dynamic, symmetric for INT: per token, one scale
  per row over a Linear's input features; a conv's input one scale per sample over its whole
  feature map), every other layer full precision.
- `joint`: the layer's weights (`sensitivity.fake_quant_weight`) and its input
  activations quantised together, one (W, A) pair at a time: labels ``"W/A"``. Cheap for
  small models (layers x |W| x |A| forward passes); where it is not, `search.joint`
  composes ``s(W) + s(A)`` (the additivity assumption, stated there).
- `kv`: a forward hook fake-quantises the OUTPUT of the named modules (the key / value
  projections: what a KV cache stores) per token and head-agnostically (one scale per row of
  the projection output).

`quantised` applies a whole allocation (per-layer activation formats, optionally weight
formats and KV formats) at once, to evaluate held-out quality of an allocation.

This module knows nothing of hardware (no hwsim / search imports); torch loads in the
functions.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from lowbit.kernels_ref.errors import InvalidSpecError
from lowbit.kernels_ref.formats import Format
from lowbit.kernels_ref.progress import progress
from lowbit.models.sensitivity import (
    Metric,
    SensitivityTable,
    _cache_key,
    _cached,
    _distance,
    _fmts,
    _metric,
    fake_quant_weight,
    weight_layers,
)

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = ["activation", "fake_quant_act", "joint", "kv", "output_distance", "quantised"]


def fake_quant_act(x: torch.Tensor, fmt: Format | str, per: str = "token") -> torch.Tensor:
    """Q(x), x's dtype kept. ``per="token"``: one scale per row over the last (feature) axis
    (a Linear's input, a projection's output); ``per="sample"``: one scale per sample over
    everything else (a conv's input feature map [N, C, H, W])."""
    import torch
    from lowbit.kernels_ref.quant import dequantize, quantize

    f = Format.parse(fmt) if isinstance(fmt, str) else fmt
    t = x.detach()
    if per == "token":
        rows = t.reshape(-1, t.shape[-1])
    elif per == "sample":
        rows = t.reshape(t.shape[0], -1)
    else:
        raise InvalidSpecError(f"fake_quant_act: per must be 'token' or 'sample', got {per!r}")
    q = dequantize(quantize(rows.to(torch.float64), f, axis=1))
    return q.reshape(t.shape).to(x.dtype)


def _per(mod: nn.Module) -> str:
    from torch import nn

    return "sample" if isinstance(mod, (nn.Conv1d, nn.Conv2d, nn.Conv3d)) else "token"


@contextlib.contextmanager
def quantised(model: nn.Module, acts: Mapping[str, Format | str] | None = None,
              weights: Mapping[str, Format | str] | None = None,
              kv: Mapping[str, Format | str] | None = None) -> Iterator[None]:
    """Within the block, layer `n`'s inputs are in acts[n], its weights in weights[n], and the
    outputs of module kv[n] in that format (weights restored and hooks removed on exit)."""
    acts, weights, kv = dict(acts or {}), dict(weights or {}), dict(kv or {})
    mods = dict(model.named_modules())
    for n in [*acts, *weights, *kv]:
        if n not in mods:
            raise InvalidSpecError(f"sensitivity: model has no module named {n!r}")
    handles: list[Any] = []
    saved: dict[str, Any] = {}
    try:
        for n, f in acts.items():
            per = _per(mods[n])
            handles.append(mods[n].register_forward_pre_hook(
                lambda _m, args, f=f, per=per: (fake_quant_act(args[0], f, per), *args[1:])))
        for n, f in kv.items():
            handles.append(mods[n].register_forward_hook(lambda _m, _a, out, f=f: fake_quant_act(out, f)))
        for n, f in weights.items():
            w = mods[n].weight
            saved[n] = w.data.clone()
            w.data.copy_(fake_quant_weight(saved[n], f))
        yield
    finally:
        for h in handles:
            h.remove()
        for n, orig in saved.items():
            mods[n].weight.data.copy_(orig)


def output_distance(model: nn.Module, inputs: torch.Tensor, ref: torch.Tensor, metric: Metric | str, *,
                    targets: torch.Tensor | None = None,
                    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None) -> float:
    """Distance of model(inputs) from `ref` (or task-loss increase for ``loss``)."""
    import torch

    m = _metric(metric)
    with torch.no_grad():
        out = model(inputs)
        if m is Metric.LOSS:
            if targets is None or loss_fn is None:
                raise InvalidSpecError("sensitivity: metric 'loss' needs targets and loss_fn")
            return float(loss_fn(out, targets)) - float(loss_fn(ref, targets))
        return _distance(ref, out, m)


def _measure(model: nn.Module, inputs: torch.Tensor, rows: Sequence[str], cols: Sequence[str],
             apply: Callable[[str, str], Any], metric: Metric | str, targets: Any, loss_fn: Any,
             key_parts: Sequence[Any], cache_dir: str | Path | None, use_cache: bool,
             method: str) -> SensitivityTable:
    import torch

    m = _metric(metric)
    if m is Metric.LOSS and (targets is None or loss_fn is None):
        raise InvalidSpecError("sensitivity: metric 'loss' needs targets and loss_fn")
    data = [inputs] + ([targets] if targets is not None else [])
    key = _cache_key(model, data, [method, m.value, list(rows), list(cols), *key_parts,
                                   getattr(loss_fn, "__qualname__", repr(loss_fn))])

    def compute() -> SensitivityTable:
        was = model.training
        model.eval()
        bar = progress(len(rows) * len(cols), method, unit="run")
        try:
            with torch.no_grad():
                ref = model(inputs)
                vals = np.empty((len(rows), len(cols)))
                for i, r in enumerate(rows):
                    for j, c in enumerate(cols):
                        with apply(r, c):
                            vals[i, j] = output_distance(model, inputs, ref, m, targets=targets, loss_fn=loss_fn)
                        bar.update(1)
        finally:
            model.train(was)
            bar.close()
        return SensitivityTable(tuple(rows), tuple(cols), vals, method=f"{method}:{m.value}")

    return _cached(cache_dir, use_cache, key, compute)


def activation(model: nn.Module, inputs: torch.Tensor, act_formats: Sequence[Format | str], *,
               metric: Metric | str = Metric.KL, targets: torch.Tensor | None = None,
               loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
               layers: Sequence[str] | None = None, cache_dir: str | Path | None = None,
               use_cache: bool = True) -> SensitivityTable:
    """values[l, a]: the output distance with only layer l's input activations in format a."""
    afs = [str(f) for f in _fmts(act_formats)]
    names = list(weight_layers(model, layers))
    return _measure(model, inputs, names, afs, lambda n, a: quantised(model, acts={n: a}), metric, targets,
                    loss_fn, [], cache_dir, use_cache, "act")


def joint(model: nn.Module, inputs: torch.Tensor, weight_formats: Sequence[Format | str],
          act_formats: Sequence[Format | str], *, metric: Metric | str = Metric.KL,
          targets: torch.Tensor | None = None,
          loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
          layers: Sequence[str] | None = None, cache_dir: str | Path | None = None,
          use_cache: bool = True) -> SensitivityTable:
    """values[l, "W/A"]: layer l's weights in W and its input activations in A, together."""
    wfs = [str(f) for f in _fmts(weight_formats)]
    afs = [str(f) for f in _fmts(act_formats)]
    labels = [f"{w}/{a}" for w in wfs for a in afs]
    names = list(weight_layers(model, layers))

    def apply(n: str, lab: str) -> Any:
        w, a = lab.split("/", 1)
        return quantised(model, acts={n: a}, weights={n: w})

    return _measure(model, inputs, names, labels, apply, metric, targets, loss_fn, [], cache_dir, use_cache,
                    "joint")


def kv(model: nn.Module, inputs: torch.Tensor, kv_formats: Sequence[Format | str],
       modules: Mapping[str, Sequence[str]], *, metric: Metric | str = Metric.KL,
       targets: torch.Tensor | None = None,
       loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
       cache_dir: str | Path | None = None, use_cache: bool = True) -> SensitivityTable:
    """values[r, f]: the output distance with the outputs of modules[r] (e.g. a block's key
    projection, for its Q.K^T MATMUL r) in KV format f; rows are the keys of `modules`."""
    fs = [str(f) for f in _fmts(kv_formats)]
    rows = list(modules)
    mods = dict(model.named_modules())
    for r in rows:
        for n in modules[r]:
            if n not in mods:
                raise InvalidSpecError(f"KV sensitivity: model has no module named {n!r} (for {r!r})")
    return _measure(model, inputs, rows, fs, lambda r, f: quantised(model, kv={n: f for n in modules[r]}),
                    metric, targets, loss_fn, [sorted((k, tuple(v)) for k, v in modules.items())], cache_dir,
                    use_cache, "kv")
