"""Torch calls -> `Layer`s: the translation rules of `torch_trace` (see its docstring)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import torch
from lowbit.models.ir import ConvGeometry, Layer, OpKind
from torch import nn
from torch.nn import functional as F

__all__ = ["Translator", "fname", "tensors"]

_MATMULS: set[Callable[..., Any]] = {torch.matmul, torch.bmm, torch.mm, torch.Tensor.matmul,
                                     torch.Tensor.__matmul__, torch.Tensor.__rmatmul__, torch.Tensor.bmm,
                                     torch.Tensor.mm}
# (input, mat1, mat2, ...) forms: the added term has no MACs
_ADD_MATMULS: set[Callable[..., Any]] = {torch.addmm, torch.baddbmm, torch.Tensor.addmm,
                                         torch.Tensor.baddbmm, torch.addbmm, torch.Tensor.addbmm}
_MATVEC: set[Callable[..., Any]] = {torch.mv, torch.Tensor.mv}
_EINSUM: set[Callable[..., Any]] = {torch.einsum, torch.functional.einsum}
_UNSUPPORTED: set[Callable[..., Any]] = {torch.tensordot, F.conv3d, F.conv_transpose3d, torch.addmv,
                                         F.bilinear, torch.kron, torch.outer, torch.dot, torch.lstm,
                                         torch.gru, torch.rnn_tanh, torch.rnn_relu}
_MHA_ARGS = ("query", "key", "value", "embed_dim_to_check", "num_heads", "in_proj_weight", "in_proj_bias",
             "bias_k", "bias_v", "add_zero_attn", "dropout_p", "out_proj_weight", "out_proj_bias",
             "training", "key_padding_mask", "need_weights", "attn_mask", "use_separate_proj_weight",
             "q_proj_weight", "k_proj_weight", "v_proj_weight", "static_k", "static_v")


def fname(func: Any) -> str:
    return getattr(func, "__qualname__", None) or getattr(func, "__name__", None) or repr(func)


def tensors(obj: Any) -> list[torch.Tensor]:
    out: list[torch.Tensor] = []
    if isinstance(obj, torch.Tensor):
        out.append(obj)
    elif isinstance(obj, (list, tuple)):
        for o in obj:
            out.extend(tensors(o))
    elif isinstance(obj, dict):
        for o in obj.values():
            out.extend(tensors(o))
    return out


def _tuple(v: Any, n: int) -> tuple[int, ...]:
    if isinstance(v, (tuple, list)):
        vals = tuple(int(x) for x in v)
        return vals if len(vals) == n else (vals[0],) * n
    return (int(v),) * n


def _call(names: Sequence[str], args: Sequence[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    call = dict(zip(names, args))
    call.update(kwargs)
    return call


class Translator:
    """State of one trace: layers, edges, producers by tensor identity, parameter use."""

    def __init__(self, module: nn.Module) -> None:
        named = list(module.named_parameters(remove_duplicate=False))
        self.param_names = {id(p): n for n, p in named}
        self.module_of_param = {id(p): n.rsplit(".", 1)[0] if "." in n else n for n, p in named}
        self.touched: set[int] = set()     # parameters read by any op
        self.weights: set[int] = set()     # parameters held as layer weights
        self.owner: dict[tuple[int, str], str] = {}  # (param, part) -> first layer using it
        self.layers: list[Layer] = []
        self.edges: list[tuple[str, str]] = []
        self.src: dict[int, frozenset[str]] = {}
        self.keep: list[torch.Tensor] = []  # keeps traced tensors alive so ids stay unique
        self.names: Counter[str] = Counter()
        self.scope: list[str] = []
        self.unsupported: Counter[str] = Counter()

    # -------------------------------------------------------------- helpers
    def touch(self, ts: list[torch.Tensor]) -> None:
        for x in ts:
            if id(x) in self.param_names:
                self.touched.add(id(x))

    def producers(self, ts: list[torch.Tensor]) -> frozenset[str]:
        deps: set[str] = set()
        for x in ts:
            deps |= self.src.get(id(x), frozenset())
        return frozenset(deps)

    def mark(self, out: Any, deps: frozenset[str]) -> None:
        for x in tensors(out):
            self.src[id(x)] = deps
            self.keep.append(x)

    def _name(self, base: str) -> str:
        self.names[base] += 1
        return base if self.names[base] == 1 else f"{base}#{self.names[base]}"

    def _where(self, suffix: str) -> str:
        inner = self.scope[-1] if self.scope else ""
        return f"{inner}.{suffix}" if inner else suffix

    def _is_param(self, x: Any) -> bool:
        return isinstance(x, torch.Tensor) and id(x) in self.param_names

    def _add(self, layer: Layer, deps: frozenset[str]) -> frozenset[str]:
        self.layers.append(layer)
        self.edges.extend((d, layer.name) for d in sorted(deps))
        return frozenset({layer.name})

    def _weighted(self, layer: Layer, w: torch.Tensor, deps: frozenset[str], part: str = "") -> frozenset[str]:
        """Add a layer whose weights are parameter `w` (or the slice `part` of it)."""
        key = (id(w), part)
        self.weights.add(id(w))
        if key in self.owner:
            layer = replace(layer, tied_to=self.owner[key])
        else:
            self.owner[key] = layer.name
        return self._add(layer, deps - self.src.get(id(w), frozenset()))

    def _wname(self, w: torch.Tensor, suffix: str) -> str:
        owner = self.module_of_param.get(id(w))
        return self._name(owner if owner is not None and not suffix else
                          f"{owner}.{suffix}" if owner else self._where(suffix or "linear"))

    # ------------------------------------------------------------ dispatch
    def translate(self, func: Any, args: Sequence[Any], kwargs: dict[str, Any], out: Any,
                  deps: frozenset[str]) -> frozenset[str]:
        if func is F.linear:
            x, w = args[0], (args[1] if len(args) > 1 else kwargs["weight"])
            tokens = max(1, x.numel() // x.shape[-1])
            return self._weighted(Layer.linear(self._wname(w, ""), tokens, int(w.shape[1]), int(w.shape[0])),
                                  w, deps)
        if func in (F.conv1d, F.conv2d):
            return self._conv(func is F.conv1d, args, kwargs, deps)
        if func in (F.conv_transpose1d, F.conv_transpose2d):
            return self._conv_transpose(func is F.conv_transpose1d, args, kwargs, deps)
        if func is F.embedding:
            ids, w = args[0], (args[1] if len(args) > 1 else kwargs["weight"])
            layer = Layer.embedding(self._wname(w, ""), max(1, ids.numel()), int(w.shape[0]), int(w.shape[1]))
            return self._weighted(layer, w, frozenset())
        if func in _MATMULS:
            a, b = args[0], args[1]
            if func is torch.Tensor.__rmatmul__:
                a, b = b, a
            return self._matmul(a, b, deps)
        if func in _ADD_MATMULS:
            call = _call(("input", "mat1", "mat2") if func in (torch.addmm, torch.Tensor.addmm)
                         else ("input", "batch1", "batch2"), args, kwargs)
            a, b = (call.get("mat1"), call.get("mat2")) if "mat1" in call else (call["batch1"], call["batch2"])
            return self._matmul(a, b, deps)
        if func in _MATVEC:
            a, v = args[0], args[1]
            return self._matmul(a, v, deps)
        if func is torch.cdist:  # pairwise distances: a GEMM of x1 against x2 (a VQ codebook search)
            x1, x2 = args[0], args[1]
            return self._matmul(x1, x2.transpose(-1, -2), deps, weight=x2)
        if func in _EINSUM:
            return self._einsum(args, deps)
        if func is F.scaled_dot_product_attention:
            return self._sdpa(args, kwargs, deps)
        if func is F.multi_head_attention_forward:
            return self._mha(args, kwargs)
        if func in _UNSUPPORTED:
            self.unsupported[fname(func)] += 1
        return deps

    # ------------------------------------------------------------ convs
    def _conv(self, one_d: bool, args: Sequence[Any], kwargs: dict[str, Any],
              deps: frozenset[str]) -> frozenset[str]:
        call = _call(("input", "weight", "bias", "stride", "padding", "dilation", "groups"), args, kwargs)
        x, w = call["input"], call["weight"]
        groups = int(call.get("groups", 1))
        if one_d:
            stride, dil = (1, _tuple(call.get("stride", 1), 1)[0]), (1, _tuple(call.get("dilation", 1), 1)[0])
            kh, kw = 1, int(w.shape[2])
            images = 1 if x.dim() == 2 else int(x.shape[0])
            c, h, wd = int(x.shape[-2]), 1, int(x.shape[-1])
        else:
            stride, dil = _tuple(call.get("stride", 1), 2), _tuple(call.get("dilation", 1), 2)
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
            ph, pw = 0, _tuple(pad, 1)[0]
        else:
            ph, pw = _tuple(pad, 2)
        geom = ConvGeometry(c, int(w.shape[0]), h, wd, kh, kw, stride[0], stride[1], ph, pw, groups,
                            dil[0], dil[1])
        return self._weighted(Layer.conv2d(self._wname(w, ""), geom, images=images), w, deps)

    def _conv_transpose(self, one_d: bool, args: Sequence[Any], kwargs: dict[str, Any],
                        deps: frozenset[str]) -> frozenset[str]:
        call = _call(("input", "weight", "bias", "stride", "padding", "output_padding", "groups", "dilation"),
                     args, kwargs)
        x, w = call["input"], call["weight"]
        groups = int(call.get("groups", 1))
        spatial = 1 if one_d else 2
        images = 1 if x.dim() == spatial + 1 else int(x.shape[0])
        c_in = int(x.shape[-spatial - 1])
        pixels = math.prod(int(s) for s in x.shape[-spatial:])
        kernel = math.prod(int(s) for s in w.shape[2:])
        layer = Layer.conv_transpose(self._wname(w, ""), pixels, c_in, int(w.shape[1]) * groups, kernel,
                                     groups, images)
        return self._weighted(layer, w, deps)

    # ------------------------------------------------------------ GEMMs
    def _matmul(self, a: torch.Tensor, b: torch.Tensor, deps: frozenset[str],
                weight: torch.Tensor | None = None) -> frozenset[str]:
        if weight is not None and self._is_param(weight) and weight.dim() == 2:  # x against rows of W
            layer = Layer.linear(self._wname(weight, "cdist"), max(1, a.numel() // a.shape[-1]),
                                 int(weight.shape[1]), int(weight.shape[0]))
            return self._weighted(layer, weight, deps)
        if self._is_param(b) and a.dim() >= 1:  # x @ W : a linear layer without nn.Linear
            if b.dim() == 1:
                layer = Layer.linear(self._wname(b, "matmul"), max(1, a.numel() // a.shape[-1]),
                                     int(b.shape[0]), 1)
                return self._weighted(layer, b, deps)
            groups = math.prod(int(s) for s in b.shape[:-2])
            rows, rem = divmod(a.numel(), int(a.shape[-1]) * groups)
            if rem or rows < 1:
                self.unsupported["matmul with a batched parameter"] += 1
                return deps
            layer = Layer(self._wname(b, "matmul"), OpKind.LINEAR, rows, int(b.shape[-2]), int(b.shape[-1]),
                          batch=groups)
            return self._weighted(layer, b, deps)
        if self._is_param(a) and a.dim() == 2:  # W @ x: every column of x through W
            cols = 1 if b.dim() == 1 else max(1, b.numel() // int(b.shape[-2]))
            layer = Layer.linear(self._wname(a, "matmul"), cols, int(a.shape[1]), int(a.shape[0]))
            return self._weighted(layer, a, deps)
        if self._is_param(a):
            self.unsupported["matmul with a batched parameter on the left"] += 1
            return deps
        m = 1 if a.dim() == 1 else int(a.shape[-2])
        k = int(a.shape[-1])
        n = 1 if b.dim() == 1 else int(b.shape[-1])
        lead = torch.broadcast_shapes(tuple(a.shape[:-2]), tuple(b.shape[:-2]))
        batch = max(1, math.prod(lead))
        return self._add(Layer.matmul(self._name(self._where("matmul")), m, k, n, batch), deps)

    def _einsum(self, args: Sequence[Any], deps: frozenset[str]) -> frozenset[str]:
        eq = str(args[0]).replace(" ", "")
        ops = list(args[1]) if len(args) == 2 and isinstance(args[1], (list, tuple)) else list(args[1:])
        if len(ops) == 1:
            return deps  # a sum, trace or permutation: no MACs
        if len(ops) != 2:
            self.unsupported[f"einsum with {len(ops)} operands"] += 1
            return deps
        lhs, _, out = eq.partition("->")
        terms = lhs.split(",")
        free = [c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in eq]
        nell = max((op.dim() - (len(t) - 3) for t, op in zip(terms, ops) if "..." in t), default=0)
        ell = "".join(free[:nell])
        subs = []
        for t, op in zip(terms, ops):
            if "..." in t:
                t = t.replace("...", ell[nell - (op.dim() - (len(t) - 3)):])
            subs.append(t)
        if "->" not in eq:
            counts = Counter("".join(subs))
            out = ell + "".join(sorted(c for c in counts if counts[c] == 1 and c not in ell))
        else:
            out = out.replace("...", ell)
        size: dict[str, int] = {}
        for t, op in zip(subs, ops):
            for c, s in zip(t, op.shape):
                size[c] = max(size.get(c, 1), int(s))
        sa, sb, so = set(subs[0]), set(subs[1]), set(out)
        prod = lambda cs: math.prod(size[c] for c in cs)
        batch = prod(sa & sb & so)
        k = prod((sa & sb) - so)
        m, n = prod((sa - sb) & so), prod((sb - sa) & so)
        a, b = ops
        if self._is_param(b) or self._is_param(a):
            w, rows, cols = (b, m, n) if self._is_param(b) else (a, n, m)
            layer = Layer(self._wname(w, "einsum"), OpKind.LINEAR, rows, k, cols, batch=batch)
            return self._weighted(layer, w, deps)
        return self._add(Layer.matmul(self._name(self._where("einsum")), m, k, n, batch), deps)

    # ------------------------------------------------------------ attention
    def _sdpa(self, args: Sequence[Any], kwargs: dict[str, Any], deps: frozenset[str]) -> frozenset[str]:
        call = _call(("query", "key", "value"), args, kwargs)
        q, k, v = call["query"], call["key"], call["value"]
        return self._attention(q, k, v, self.src.get(id(q), frozenset()), self.src.get(id(k), frozenset()),
                               self.src.get(id(v), frozenset()))

    def _attention(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, qd: frozenset[str],
                   kd: frozenset[str], vd: frozenset[str]) -> frozenset[str]:
        L, E = int(q.shape[-2]), int(q.shape[-1])
        S, Ev = int(k.shape[-2]), int(v.shape[-1])
        batch = max(1, math.prod(q.shape[:-2]))
        kv_batch = max(1, math.prod(k.shape[:-2]))
        if kv_batch < batch and batch % kv_batch == 0:
            # GQA / shared K-V: the query heads that read one K/V head are stacked into M (one GEMM
            # per K/V head, K and V read once), as the HF-config builder and GQA kernels do; the
            # grouping follows torch's enable_gqa (query head h reads K/V head h // group)
            L, batch = L * (batch // kv_batch), kv_batch
        s = self._add(Layer.matmul(self._name(self._where("attn_score")), L, E, S, batch), qd | kd)
        return self._add(Layer.matmul(self._name(self._where("attn_context")), L, S, Ev, batch), s | vd)

    def _mha(self, args: Sequence[Any], kwargs: dict[str, Any]) -> frozenset[str]:
        """`F.multi_head_attention_forward`: inputs are (L, N, E) or unbatched (L, E)."""
        c = _call(_MHA_ARGS, args, kwargs)
        q, k, v = c["query"], c["key"], c["value"]
        heads = int(c["num_heads"])
        E = int(q.shape[-1])
        n_seq = int(q.shape[1]) if q.dim() == 3 else 1
        L, S = int(q.shape[0]), int(k.shape[0])
        src = {x: self.src.get(id(t), frozenset()) for x, t in (("q", q), ("k", k), ("v", v))}
        if c.get("use_separate_proj_weight"):
            projs = [(x, c[f"{x}_proj_weight"], "") for x in "qkv"]
        else:
            projs = [(x, c["in_proj_weight"], x) for x in "qkv"]
        made: dict[str, frozenset[str]] = {}
        for (x, w, part), t in zip(projs, (q, k, v)):
            owner = self.module_of_param.get(id(w), self._where("mha"))
            tokens = max(1, t.numel() // int(t.shape[-1]))
            layer = Layer.linear(self._name(f"{owner}.{x}_proj"), tokens, int(t.shape[-1]), E)
            made[x] = self._weighted(layer, w, src[x], part)
        extra = (1 if c.get("bias_k") is not None else 0) + (1 if c.get("add_zero_attn") else 0)
        if c.get("static_k") is not None:
            S = int(c["static_k"].shape[1])
        hd = E // heads
        bh = n_seq * heads
        owner = self.module_of_param.get(id(c["out_proj_weight"]), "")
        base = owner.rsplit(".", 1)[0] if "." in owner else (self.scope[-1] if self.scope else "")
        pre = f"{base}." if base else ""
        s = self._add(Layer.matmul(self._name(f"{pre}attn_score"), L, hd, S + extra, bh),
                      made["q"] | made["k"])
        ctx = self._add(Layer.matmul(self._name(f"{pre}attn_context"), L, S + extra, hd, bh), s | made["v"])
        w = c["out_proj_weight"]
        return self._weighted(Layer.linear(self._wname(w, ""), L * n_seq, E, int(w.shape[0])), w, ctx)
