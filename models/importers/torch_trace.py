"""Trace a real `nn.Module` into a Workload by running it once.

A `TorchFunctionMode` sees every torch function the forward pass calls
(module calls included, since `nn.Linear` calls `F.linear`). It turns

- `F.linear` -> LINEAR (M = rows of the input, K = in, N = out), named after
  the module that owns the weight (`encoder.layer.0.attention.self.query`);
- `F.conv1d` / `F.conv2d` -> CONV2D / DWCONV2D with the call's stride, padding,
  dilation and groups (conv1d as a 1 x L image);
- `F.embedding` -> EMBEDDING;
- `torch.matmul` / `bmm` / `mm` / `@` -> MATMUL when both operands are
  activations, LINEAR when the right operand is a parameter;
- `F.scaled_dot_product_attention` -> two MATMULs (score, context), K/V shared
  by `q_heads // kv_heads` heads;

and records data dependencies by tensor identity: every output of any other
op inherits the producer layers of its inputs, so residual adds become edges.

Anything that carries MACs or weights but that this tracer cannot express
(einsum, conv3d, transposed convs, addmm/baddbmm on activations, RNN kernels,
parameters used by no understood op...) is listed in ONE warning, with counts.
Ops without MACs or weights (activations, norms, adds, reshapes, softmax) are
deliberately not layers.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import torch
from lowbit.kernels_ref.errors import InvalidSpecError
from lowbit.models.ir import ConvGeometry, Layer, Phase, Workload
from torch import nn
from torch.nn import functional as F
from torch.overrides import TorchFunctionMode

__all__ = ["from_torch"]

log = logging.getLogger(__name__)

_MATMULS: set[Callable[..., Any]] = {torch.matmul, torch.bmm, torch.mm, torch.Tensor.matmul,
                                     torch.Tensor.__matmul__, torch.Tensor.__rmatmul__, torch.Tensor.bmm,
                                     torch.Tensor.mm}
_UNSUPPORTED: set[Callable[..., Any]] = {torch.einsum, torch.tensordot, F.conv3d, F.conv_transpose1d,
                                         F.conv_transpose2d, F.conv_transpose3d, torch.addmm, torch.baddbmm,
                                         torch.addbmm, torch.addmv, torch.mv, torch.Tensor.mv, F.bilinear,
                                         torch.kron, torch.outer, torch.dot, torch.lstm, torch.gru,
                                         torch.rnn_tanh, torch.rnn_relu, torch.Tensor.addmm,
                                         torch.Tensor.baddbmm}


def _fname(func: Any) -> str:
    return getattr(func, "__qualname__", None) or getattr(func, "__name__", None) or repr(func)


def _tensors(obj: Any) -> list[torch.Tensor]:
    out: list[torch.Tensor] = []
    if isinstance(obj, torch.Tensor):
        out.append(obj)
    elif isinstance(obj, (list, tuple)):
        for o in obj:
            out.extend(_tensors(o))
    elif isinstance(obj, dict):
        for o in obj.values():
            out.extend(_tensors(o))
    return out


def _pair(v: Any) -> tuple[int, int]:
    if isinstance(v, (tuple, list)):
        return (int(v[0]), int(v[-1]))
    return (int(v), int(v))


class _Tracer(TorchFunctionMode):
    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.param_names = {id(p): n for n, p in module.named_parameters(remove_duplicate=False)}
        self.module_of_param = {id(p): n.rsplit(".", 1)[0] if "." in n else n
                                for n, p in module.named_parameters(remove_duplicate=False)}
        self.used_params: set[int] = set()
        self.layers: list[Layer] = []
        self.edges: list[tuple[str, str]] = []
        self.src: dict[int, frozenset[str]] = {}
        self.keep: list[torch.Tensor] = []  # keeps traced tensors alive so ids stay unique
        self.names: Counter[str] = Counter()
        self.scope: list[str] = []
        self.unsupported: Counter[str] = Counter()

    # -------------------------------------------------------------- helpers
    def _name(self, base: str) -> str:
        self.names[base] += 1
        return base if self.names[base] == 1 else f"{base}#{self.names[base]}"

    def _where(self, suffix: str) -> str:
        """`suffix` inside the innermost running module (bare at the root)."""
        inner = self.scope[-1] if self.scope else ""
        return f"{inner}.{suffix}" if inner else suffix

    def _producers(self, args: Any, kwargs: Any) -> frozenset[str]:
        deps: set[str] = set()
        for t in _tensors(args) + _tensors(kwargs):
            deps |= self.src.get(id(t), frozenset())
        return frozenset(deps)

    def _mark(self, out: Any, deps: frozenset[str]) -> None:
        for t in _tensors(out):
            self.src[id(t)] = deps
            self.keep.append(t)

    def _add(self, layer: Layer, deps: frozenset[str]) -> frozenset[str]:
        self.layers.append(layer)
        self.edges.extend((d, layer.name) for d in sorted(deps))
        return frozenset({layer.name})

    def _is_param(self, t: Any) -> bool:
        return isinstance(t, torch.Tensor) and id(t) in self.param_names

    # ------------------------------------------------------------ dispatch
    def __torch_function__(self, func: Any, types: Any, args: Sequence[Any] = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        deps = self._producers(args, kwargs)
        try:
            new = self._translate(func, args, kwargs, out, deps)
        except InvalidSpecError:
            raise
        except (RuntimeError, ValueError, TypeError, IndexError, KeyError) as exc:  # unreadable shapes: report
            log.debug("cannot translate %s: %s", _fname(func), exc)
            self.unsupported[f"{_fname(func)} (unreadable shapes)"] += 1
            new = deps
        self._mark(out, new)
        return out

    def _translate(self, func: Any, args: Sequence[Any], kwargs: dict[str, Any], out: Any,
                   deps: frozenset[str]) -> frozenset[str]:
        if func is F.linear:
            x, w = args[0], (args[1] if len(args) > 1 else kwargs["weight"])
            self.used_params.add(id(w))
            for b in _tensors(args[2:]) + _tensors([kwargs.get("bias")]):
                self.used_params.add(id(b))
            deps = deps - self.src.get(id(w), frozenset())
            name = self._name(self.module_of_param.get(id(w), self._where("linear")))
            tokens = max(1, x.numel() // x.shape[-1])
            return self._add(Layer.linear(name, tokens, int(w.shape[1]), int(w.shape[0])), deps)
        if func in (F.conv1d, F.conv2d):
            return self._conv(func, args, kwargs, deps)
        if func is F.embedding:
            ids, w = args[0], (args[1] if len(args) > 1 else kwargs["weight"])
            self.used_params.add(id(w))
            name = self._name(self.module_of_param.get(id(w), self._where("embedding")))
            return self._add(Layer.embedding(name, max(1, ids.numel()), int(w.shape[0]), int(w.shape[1])),
                             frozenset())
        if func in _MATMULS:
            a, b = args[0], args[1]
            if func is torch.Tensor.__rmatmul__:
                a, b = b, a
            return self._matmul(a, b, deps)
        if func is F.scaled_dot_product_attention:
            return self._sdpa(args, kwargs, deps)
        if func in _UNSUPPORTED:
            for t in _tensors(args) + _tensors(kwargs):
                if self._is_param(t):
                    self.used_params.add(id(t))
            self.unsupported[_fname(func)] += 1
        return deps

    def _conv(self, func: Any, args: Sequence[Any], kwargs: dict[str, Any], deps: frozenset[str]) -> frozenset[str]:
        names = ("input", "weight", "bias", "stride", "padding", "dilation", "groups")
        call = dict(zip(names, args))
        call.update(kwargs)
        x, w = call["input"], call["weight"]
        self.used_params.add(id(w))
        if call.get("bias") is not None:
            self.used_params.add(id(call["bias"]))
        groups = int(call.get("groups", 1))
        one_d = func is F.conv1d
        if one_d:
            stride, dil = (1, _pair(call.get("stride", 1))[0]), (1, _pair(call.get("dilation", 1))[0])
            kh, kw = 1, int(w.shape[2])
            images = 1 if x.dim() == 2 else int(x.shape[0])
            c, h, wd = int(x.shape[-2]), 1, int(x.shape[-1])
        else:
            stride, dil = _pair(call.get("stride", 1)), _pair(call.get("dilation", 1))
            kh, kw = int(w.shape[2]), int(w.shape[3])
            images = 1 if x.dim() == 3 else int(x.shape[0])
            c, h, wd = int(x.shape[-3]), int(x.shape[-2]), int(x.shape[-1])
        pad = call.get("padding", 0)
        if isinstance(pad, str):
            if pad == "valid":
                ph = pw = 0
            else:  # 'same': total padding dil*(k-1); an odd total pads one more on one side
                ph, pw = math.ceil(dil[0] * (kh - 1) / 2), math.ceil(dil[1] * (kw - 1) / 2)
        elif one_d:
            ph, pw = 0, _pair(pad)[0]
        else:
            ph, pw = _pair(pad)
        geom = ConvGeometry(c, int(w.shape[0]), h, wd, kh, kw, stride[0], stride[1], ph, pw, groups,
                            dil[0], dil[1])
        name = self._name(self.module_of_param.get(id(w), self._where("conv")))
        deps = deps - self.src.get(id(w), frozenset())
        return self._add(Layer.conv2d(name, geom, images=images), deps)

    def _matmul(self, a: torch.Tensor, b: torch.Tensor, deps: frozenset[str]) -> frozenset[str]:
        if self._is_param(b) and a.dim() >= 1:  # x @ W : a linear layer without nn.Linear
            self.used_params.add(id(b))
            if b.dim() != 2:
                self.unsupported["matmul with a batched parameter"] += 1
                return deps
            owner = self.module_of_param.get(id(b))
            name = self._name(f"{owner}.matmul" if owner else self._where("matmul"))
            rows = max(1, a.numel() // a.shape[-1])
            return self._add(Layer.linear(name, rows, int(b.shape[0]), int(b.shape[1])), deps)
        if self._is_param(a):
            self.used_params.add(id(a))
            self.unsupported["matmul with a parameter on the left"] += 1
            return deps
        m = 1 if a.dim() == 1 else int(a.shape[-2])
        k = int(a.shape[-1])
        n = 1 if b.dim() == 1 else int(b.shape[-1])
        lead = torch.broadcast_shapes(tuple(a.shape[:-2]), tuple(b.shape[:-2]))
        batch = max(1, math.prod(lead))
        name = self._name(self._where("matmul"))
        return self._add(Layer.matmul(name, m, k, n, batch), deps)

    def _sdpa(self, args: Sequence[Any], kwargs: dict[str, Any], deps: frozenset[str]) -> frozenset[str]:
        names = ("query", "key", "value")
        call = dict(zip(names, args))
        call.update({k: v for k, v in kwargs.items() if k in names})
        q, k, v = call["query"], call["key"], call["value"]
        L, E = int(q.shape[-2]), int(q.shape[-1])
        S, Ev = int(k.shape[-2]), int(v.shape[-1])
        batch = max(1, math.prod(q.shape[:-2]))
        kv_batch = max(1, math.prod(k.shape[:-2]))
        share = batch // kv_batch if batch % kv_batch == 0 else 1
        qd = self.src.get(id(q), frozenset())
        kd = self.src.get(id(k), frozenset())
        vd = self.src.get(id(v), frozenset())
        s = self._add(Layer.matmul(self._name(self._where("attn_score")), L, E, S, batch, share), qd | kd)
        return self._add(Layer.matmul(self._name(self._where("attn_context")), L, S, Ev, batch, share), s | vd)


def from_torch(module: nn.Module, example_inputs: Any, name: str | None = None,
               phase: Phase = Phase.INFERENCE) -> Workload:
    """Run `module` once on `example_inputs` (a tensor, a tuple of positional args,
    or a dict of keyword args) under no_grad and return its Workload."""
    if not isinstance(module, nn.Module):
        raise InvalidSpecError(f"from_torch: expected an nn.Module, got {type(module).__name__}")
    tracer = _Tracer(module)
    hooks = []

    def pre(mod: nn.Module, _args: Any) -> None:
        tracer.scope.append(qual.get(id(mod), ""))

    def post(mod: nn.Module, _args: Any, _out: Any) -> None:
        if tracer.scope:
            tracer.scope.pop()

    qual = {id(m): n for n, m in module.named_modules()}
    for m in module.modules():
        hooks.append(m.register_forward_pre_hook(pre))
        hooks.append(m.register_forward_hook(post))
    try:
        with torch.no_grad(), tracer:
            if isinstance(example_inputs, dict):
                module(**example_inputs)
            elif isinstance(example_inputs, (tuple, list)):
                module(*example_inputs)
            else:
                module(example_inputs)
    finally:
        for h in hooks:
            h.remove()
    unused = [n for pid, n in tracer.param_names.items()
              if pid not in tracer.used_params and not _is_aux(module, n)]
    problems = [f"{op} x{cnt}" for op, cnt in sorted(tracer.unsupported.items())]
    if unused:
        problems.append(f"parameters used by no understood op: {', '.join(sorted(set(unused))[:20])}"
                        + (" ..." if len(set(unused)) > 20 else ""))
    if problems:
        msg = (f"from_torch({name or type(module).__name__}): not translated into layers "
               f"(MACs/weights missing from the workload): {'; '.join(problems)}")
        warnings.warn(msg, stacklevel=2)
        log.warning(msg)
    if not tracer.layers:
        raise InvalidSpecError(f"from_torch: {type(module).__name__} ran no Linear, conv, matmul or embedding op")
    edges = tuple(dict.fromkeys(tracer.edges))
    return Workload(name or type(module).__name__, phase, tuple(tracer.layers), edges,
                    meta=(("source", "torch trace"),))


def _is_aux(module: nn.Module, pname: str) -> bool:
    """Biases, norm gains and other 1-D parameters are auxiliary, not layers: not warned about."""
    return module.get_parameter(pname).dim() <= 1
