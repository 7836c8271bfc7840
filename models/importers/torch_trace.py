"""Trace a real `nn.Module` into a Workload by running it once (meta tensors work: no weights).

A `TorchFunctionMode` sees every torch function the forward pass calls (module
calls included, since `nn.Linear` calls `F.linear`), through any Python control
flow: this is why the trace runs the model rather than `torch.fx`-tracing it
(diffusers' UNets branch on shapes and config values, which fx cannot follow).
`torch_ops` turns

- `F.linear`, `x @ W`, `W @ x`, `addmm` with a parameter, einsum with a parameter
  -> LINEAR (named after the module owning the weight);
- `F.conv1d` / `F.conv2d` (grouped, dilated, depthwise) -> CONV2D / DWCONV2D;
- `F.conv_transpose1d` / `2d` -> CONV_TRANSPOSE (its scatter GEMM view);
- `matmul` / `bmm` / `mm` / `@` / `baddbmm` / `addbmm` / `einsum` on two
  activations (hand-written attention, `q @ k.transpose(-1, -2)`) -> MATMUL;
- `F.scaled_dot_product_attention` -> score and context MATMULs (GQA: the query heads of a
  K/V head stacked into M);
- `F.multi_head_attention_forward` (what `nn.MultiheadAttention` and so
  `nn.TransformerEncoderLayer` / `DecoderLayer` run) -> q/k/v projections, score,
  context and out projection;
- `F.embedding` -> EMBEDDING.

Upsample, pixel shuffle, norms, activations, adds and softmax have no MACs and are not
layers. A weight used a second time (tied embeddings, a module called twice) gives a
layer with `tied_to` set: its MACs count, its parameters do not count again.

Coverage is measured, not assumed: torch's FLOP counter runs under the same forward
(at the aten level, independent of this translation), and the workload records its
MACs as `meta["source_macs"]` and the model's parameter count as
`meta["source_params"]` (`Workload.mac_coverage`, `param_coverage`). Parameters read
by ops without MACs (biases, norm gains, position tables, relative-position bias
tables) are `meta["aux_params"]`. Whatever carries MACs or weights and is still not
understood (conv3d, RNN kernels, `F.bilinear`, ops with unreadable shapes, parameters
no op read, MACs the FLOP counter saw but no layer holds) is listed in ONE warning.
"""

from __future__ import annotations

import logging
import math
import warnings
from typing import Any

import torch
from lowbit.kernels_ref.errors import InvalidSpecError
from lowbit.models.importers.torch_ops import Translator, fname, tensors
from lowbit.models.ir import Phase, Workload
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils.flop_counter import FlopCounterMode

__all__ = ["from_torch"]

log = logging.getLogger(__name__)


def _sdpa_flops(q: Any, k: Any, v: Any, *_args: Any, out_shape: Any = None, **_kw: Any) -> int:
    """FLOPs of an SDPA kernel torch's counter does not know (the CPU flash kernel):
    score L x E x S and context L x S x Ev per query head (GQA included)."""
    return 2 * math.prod(q[:-1]) * k[-2] * (q[-1] + v[-1])


def _cdist_flops(x1: Any, x2: Any, *_args: Any, out_shape: Any = None, **_kw: Any) -> int:
    """FLOPs of pairwise distances counted as the GEMM x1 . x2^T."""
    return 2 * math.prod(x1[:-1]) * x2[-2] * x1[-1]


def _counter() -> FlopCounterMode:
    aten = torch.ops.aten
    extra: dict[Any, Any] = {op: f for name, f in (("_scaled_dot_product_flash_attention_for_cpu", _sdpa_flops),
                                                    ("_cdist_forward", _cdist_flops),
                                                    ("_euclidean_dist", _cdist_flops))
                             if (op := getattr(aten, name, None)) is not None}
    return FlopCounterMode(display=False, custom_mapping=extra)


class _Tracer(TorchFunctionMode):
    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.t = Translator(module)

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        t = self.t
        ins = tensors(args) + tensors(kwargs)
        t.touch(ins)
        out = func(*args, **kwargs)
        deps = t.producers(ins)
        try:
            new = t.translate(func, args, kwargs, out, deps)
        except InvalidSpecError:
            raise
        except (RuntimeError, ValueError, TypeError, IndexError, KeyError) as exc:  # unreadable shapes
            log.debug("cannot translate %s: %s", fname(func), exc)
            t.unsupported[f"{fname(func)} (unreadable shapes)"] += 1
            new = deps
        t.mark(out, new)
        return out


def from_torch(module: nn.Module, example_inputs: Any, name: str | None = None,
               phase: Phase = Phase.INFERENCE, meta: tuple[tuple[str, object], ...] = ()) -> Workload:
    """Run `module` once on `example_inputs` (a tensor, a tuple of positional args,
    or a dict of keyword args) under no_grad and return its Workload. Module and
    inputs may live on the meta device (shapes only, nothing allocated)."""
    if not isinstance(module, nn.Module):
        raise InvalidSpecError(f"from_torch: expected an nn.Module, got {type(module).__name__}")
    tracer = _Tracer(module)
    t = tracer.t
    hooks = []

    def pre(mod: nn.Module, _args: Any) -> None:
        t.scope.append(qual.get(id(mod), ""))

    def post(mod: nn.Module, _args: Any, _out: Any) -> None:
        if t.scope:
            t.scope.pop()

    qual = {id(m): n for n, m in module.named_modules()}
    for m in module.modules():
        hooks.append(m.register_forward_pre_hook(pre))
        hooks.append(m.register_forward_hook(post))
    counter = _counter()
    try:
        with torch.no_grad(), counter, tracer:
            if isinstance(example_inputs, dict):
                module(**example_inputs)
            elif isinstance(example_inputs, (tuple, list)):
                module(*example_inputs)
            else:
                module(example_inputs)
    finally:
        for h in hooks:
            h.remove()
    if not t.layers:
        raise InvalidSpecError(f"from_torch: {type(module).__name__} ran no Linear, conv, matmul or "
                               f"embedding op")
    label = name or type(module).__name__
    source_macs = int(counter.get_total_flops()) // 2
    params = {id(p): (n, p) for n, p in module.named_parameters()}
    source_params = sum(p.numel() for _, p in params.values())
    untouched = sorted(n for pid, (n, _) in params.items() if pid not in t.touched)
    aux = sum(p.numel() for pid, (_, p) in params.items() if pid in t.touched and pid not in t.weights)
    edges = tuple(dict.fromkeys(t.edges))
    wl = Workload(label, phase, tuple(t.layers), edges,
                  meta=(("source", "torch trace"), ("aux_params", aux), ("source_macs", source_macs),
                        ("source_params", source_params), *meta))
    problems = [f"{op} x{cnt}" for op, cnt in sorted(t.unsupported.items())]
    if untouched:
        problems.append(f"parameters read by no op: {', '.join(untouched[:20])}"
                        + (f" ... ({len(untouched)} in all)" if len(untouched) > 20 else ""))
    if wl.total_macs != source_macs:
        problems.append(f"torch's FLOP counter saw {source_macs:,} MACs, the layers hold "
                        f"{wl.total_macs:,} ({wl.mac_coverage:.2%})")
    if problems:
        warnings.warn(f"from_torch({label}): not translated into layers (MACs/weights missing from the "
                      f"workload): {'; '.join(problems)}", stacklevel=2)
    return wl
