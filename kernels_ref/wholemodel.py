"""Whole-model check: run a torch model with every allocated Linear/Conv through
the `kernels_ref` kernel of its format, and compare.

Given a model and an allocation (module name or fnmatch pattern -> format
string), each allocated `nn.Linear`, `nn.Conv1d` and `nn.Conv2d` (groups=1,
zero padding) becomes a GEMM y = x @ W^T with W^T [K, N] quantised by
`quant.quantize` (K the reduction dim: in_features, or C*kh*kw for a conv via
im2col). Three versions of the model run on the same inputs:

- **kernel**: the weight codes go through a registered reference kernel of the
  format (`kernel_for`). Integer-code formats (INT/UINT/BINARY/TERNARY) run with
  activations quantised per token to int8 (symmetric, scale = max|x_row| / 127,
  round half to even, codes in [-127, 127]; a conv's "token" is one im2col row,
  i.e. one output pixel's receptive field). The kernel returns the exact int64
  product of the codes per scale group; the weight scales (and a UINT zero point,
  as - rowsum(x_codes) * zero) and the token scales are applied after, in float64.
  FP/NF/BitMoD weights run the float-activation kernel with activations rounded
  to fp16.
- **fake**: the same model in plain torch with fake-quantised weights
  (`quant.dequantize`) and the identical activation quantisation, the GEMM a
  float64 torch matmul of the dequantised values, rounded to fp32 like the
  kernel run's float64 epilogue. Two comparisons must hold:
  * per layer, in lockstep: during the kernel run every replaced layer also
    computes the fake-quant GEMM on the same input; max |kernel - fake| <=
    `LAYER_RTOL` (1e-5) * max |fake| at every call (exact int paths reach ~1e-16,
    fp32 float kernels ~1e-7);
  * at the model output: max |kernel - fake| <= `FAKE_RTOL` (1e-4) * max |fake|
    when every replaced layer has integer codes, `FAKE_RTOL_FP16_ACT` (1e-2)
    when some layer runs fp16 activations (see below).
  Why float64 here: with int8 per-token activations, one activation code that
  rounds differently (its input off by one fp32 ulp upstream) moves that layer's
  output by a whole quantisation step, ~1e-3 of the row; through a transformer
  such flips compound (an fp32 fake GEMM gave 5e-2 on MiniLM int8 while each
  layer alone agreed to 6e-7). With float64 GEMMs on both sides the layer
  outputs agree to ~1e-16 before the fp32 rounding, so flips practically vanish
  (measured 2e-9 on MiniLM). The float-activation path cannot do this: its
  kernels accumulate in fp32 (1e-7 off the float64 fake), so fp16 activation
  roundings flip by 2^-11 of an element now and then and compound through
  attention: measured 2e-4..1.5e-3 at the MiniLM output (nf4g64, fp8e4m3) while
  every layer agreed to 1e-7. Hence the looser output bound there, and the
  per-layer lockstep check that stays tight for both.
- **fp32**: the original model, for the quality drop (relative L2 error and
  cosine of the outputs; task metrics such as accuracy come from the caller).
"""

from __future__ import annotations

import copy
import fnmatch
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F
from lowbit.kernels_ref.errors import InvalidSpecError, UnsupportedFormatError
from lowbit.kernels_ref.formats import (
    BITMOD_MIXES,
    Format,
    FormatKind,
)
from lowbit.kernels_ref.quant import QTensor, dequantize, quantize
from lowbit.kernels_ref.registry import RefKernel, all_kernels
from torch import nn

__all__ = [
    "ACT_QMAX",
    "FAKE_RTOL",
    "FAKE_RTOL_FP16_ACT",
    "LAYER_RTOL",
    "LayerRun",
    "QuantGemm",
    "WholeModelResult",
    "check_model",
    "compare_outputs",
    "kernel_for",
    "quantize_model",
    "resolve_allocation",
    "supported_modules",
]

log = logging.getLogger(__name__)

FAKE_RTOL = 1e-4
FAKE_RTOL_FP16_ACT = 1e-2
LAYER_RTOL = 1e-5
ACT_QMAX = 127
_SUPPORTED = (nn.Linear, nn.Conv1d, nn.Conv2d)
# The whole-model run prefers a specialised kernel family (bit-serial, LUT,
# binary: registration order) and falls back to the dense one.
_FALLBACK_FAMILY = "dense"


@dataclass(frozen=True)
class LayerRun:
    name: str
    module: str
    fmt: str
    kernel: str
    k: int
    n: int
    max_rel_vs_fake: float = 0.0   # lockstep per-layer check, worst call


@dataclass(frozen=True)
class WholeModelResult:
    """Outcome of `check_model`. Errors are over the flattened output tensor."""

    layers: tuple[LayerRun, ...]
    max_abs_vs_fake: float
    rel_vs_fake: float          # max |kernel - fake| / max |fake|
    tol_vs_fake: float
    rel_l2_vs_fp32: float       # ||kernel - fp32|| / ||fp32||
    cosine_vs_fp32: float
    fake_rel_l2_vs_fp32: float
    time_kernel_s: float
    time_fake_s: float
    metrics: dict[str, float] = field(default_factory=dict)
    layer_tol: float = LAYER_RTOL

    @property
    def max_layer_rel_vs_fake(self) -> float:
        return max((l.max_rel_vs_fake for l in self.layers), default=0.0)

    @property
    def passed(self) -> bool:
        return self.rel_vs_fake <= self.tol_vs_fake and self.max_layer_rel_vs_fake <= self.layer_tol


def supported_modules(model: nn.Module) -> dict[str, nn.Module]:
    """Name -> module of every layer the whole-model check can run (Linear, Conv1d, Conv2d)."""
    return {name: m for name, m in model.named_modules() if isinstance(m, _SUPPORTED)}


_gemm_modules = supported_modules


def resolve_allocation(model: nn.Module, allocation: Mapping[str, str], source: str = "allocation"
                       ) -> dict[str, Format]:
    """Map each allocated layer name to its Format.

    Keys are module names (`encoder.layer.0.attention.self.query`) or fnmatch
    patterns (`encoder.layer.*.intermediate.dense`); an exact name wins over a
    pattern, earlier patterns over later ones. A key naming no Linear/Conv of
    the model, or a bad format, raises a typed error naming it and `source`.
    """
    mods = _gemm_modules(model)
    out: dict[str, Format] = {}
    patterns: list[tuple[str, Format]] = []
    for key, ftext in allocation.items():
        try:
            fmt = Format.parse(str(ftext))
        except UnsupportedFormatError as exc:
            raise UnsupportedFormatError(f"{source}: layer {key!r}: {exc}") from None
        if any(ch in key for ch in "*?["):
            if not any(fnmatch.fnmatchcase(n, key) for n in mods):
                raise InvalidSpecError(f"{source}: pattern {key!r} matches no Linear/Conv layer of the model")
            patterns.append((key, fmt))
        elif key in mods:
            out[key] = fmt
        else:
            near = [n for n in mods if n.endswith(key.split(".")[-1])][:3]
            hint = f" (similar: {', '.join(near)})" if near else ""
            raise InvalidSpecError(f"{source}: the model has no Linear/Conv layer named {key!r}{hint}")
    for name in mods:
        if name in out:
            continue
        for pat, fmt in patterns:
            if fnmatch.fnmatchcase(name, pat):
                out[name] = fmt
                break
    return out


def _act_format(w_fmt: Format) -> str:
    return "int8" if w_fmt.is_integer else "fp16"


def kernel_for(w_fmt: Format, kernels: Sequence[RefKernel] | None = None) -> RefKernel:
    """The registered kernel that runs weight codes of `w_fmt` with the whole-model
    activation format (int8 for integer codes, fp16 otherwise): the first
    specialised (non-dense) kernel in registration order, else the dense one."""
    from lowbit.kernels_ref.verify import base_format

    kerns = all_kernels() if kernels is None else tuple(kernels)
    want_w, want_a = str(base_format(w_fmt)), _act_format(w_fmt)
    cands = [k for k in kerns
             if want_w in {str(base_format(f)) for f in k.weight_formats}
             and want_a in {str(Format.parse(a)) for a in k.act_formats}]
    if not cands:
        raise UnsupportedFormatError(f"no registered reference kernel runs {w_fmt} weights with {want_a} activations")
    cands.sort(key=lambda k: k.family == _FALLBACK_FAMILY)
    return cands[0]


def _quant_act(x: torch.Tensor, integer: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Per-token activation quantisation of x [T, K]: (codes int64, scale [T, 1] float64)
    for integer kernels; (fp16-rounded values float32, None) otherwise."""
    if not integer:
        return x.to(torch.float16).to(torch.float32), None
    xd = x.double()
    s = (xd.abs().amax(dim=1, keepdim=True) / ACT_QMAX).clamp(min=torch.finfo(torch.float32).tiny)
    codes = torch.round(xd / s).clamp(-ACT_QMAX, ACT_QMAX).to(torch.int64)
    return codes, s


class QuantGemm(nn.Module):
    """A Linear/Conv1d/Conv2d whose weight is quantised to `fmt` and whose GEMM runs
    either through a reference kernel (`mode="kernel"`) or as fake-quant fp32 torch
    (`mode="fake"`). See the module docstring for the arithmetic."""

    def __init__(self, orig: nn.Module, fmt: Format, kern: RefKernel | None, mode: str, name: str,
                 lockstep: bool = False) -> None:
        super().__init__()
        self.lockstep = lockstep
        self.max_rel_vs_fake = 0.0
        if mode not in ("kernel", "fake"):
            raise InvalidSpecError(f"QuantGemm mode must be 'kernel' or 'fake', got {mode!r}")
        if fmt.kind is FormatKind.BITMOD and fmt.variant in BITMOD_MIXES:
            raise UnsupportedFormatError(f"layer {name!r}: {fmt} mixtures have no reference kernel")
        self.name, self.fmt, self.kern, self.mode = name, fmt, kern, mode
        w = orig.weight.detach()
        if isinstance(orig, nn.Linear):
            self.kind = "linear"
        elif isinstance(orig, (nn.Conv1d, nn.Conv2d)):
            if orig.groups != 1:
                raise UnsupportedFormatError(f"layer {name!r}: grouped convolution (groups={orig.groups}) is not supported")
            if orig.padding_mode != "zeros" or isinstance(orig.padding, str):
                raise UnsupportedFormatError(f"layer {name!r}: only explicit zero padding is supported")
            self.kind = "conv2d" if isinstance(orig, nn.Conv2d) else "conv1d"
            self.conv = {"kernel_size": orig.kernel_size, "stride": orig.stride, "padding": orig.padding,
                         "dilation": orig.dilation, "out_channels": orig.out_channels}
        else:
            raise UnsupportedFormatError(f"layer {name!r}: {type(orig).__name__} is not Linear/Conv1d/Conv2d")
        wt = w.reshape(w.shape[0], -1).t().contiguous()  # [K, N]
        try:
            self.qt: QTensor = quantize(wt, fmt, axis=0)
        except UnsupportedFormatError as exc:
            raise UnsupportedFormatError(f"layer {name!r} (K={wt.shape[0]}): {exc}") from None
        self.k, self.n = wt.shape
        self.integer = fmt.is_integer
        self.w_fake = dequantize(self.qt)  # float64
        self.bias = None if orig.bias is None else orig.bias.detach().clone()
        self.a_fmt = Format.parse(_act_format(fmt))

    # ---------------------------------------------------------------- GEMM
    def _gemm(self, x: torch.Tensor) -> torch.Tensor:
        """x [T, K] float -> y [T, N] float32."""
        xq, s_tok = _quant_act(x, self.integer)
        if self.mode == "fake":
            return self._fake(xq, s_tok)
        y = self._kernel(xq, s_tok)
        if self.lockstep:
            ref = self._fake(xq, s_tok)
            den = float(ref.abs().max())
            err = float((y - ref).abs().max()) if y.numel() else 0.0
            rel = err / den if den > 0 else (0.0 if err == 0 else float("inf"))
            self.max_rel_vs_fake = max(self.max_rel_vs_fake, rel)
        return y

    def _fake(self, xq: torch.Tensor, s_tok: torch.Tensor | None) -> torch.Tensor:
        xa = xq.double() * s_tok if s_tok is not None else xq.double()
        return (xa @ self.w_fake).to(torch.float32)

    def _kernel(self, xq: torch.Tensor, s_tok: torch.Tensor | None) -> torch.Tensor:
        assert self.kern is not None
        qt = self.qt
        scales = qt.scales.double()  # [G, N] (per-tensor [1, 1])
        groups = scales.shape[0]
        gk = self.k // groups
        y = torch.zeros(xq.shape[0], self.n, dtype=torch.float64)
        for g in range(groups):
            sl = slice(g * gk, (g + 1) * gk)
            xg, wg = xq[:, sl].contiguous(), qt.codes[sl].contiguous()
            part = self.kern.fn(xg, wg, self.fmt, self.a_fmt).double()
            if qt.zero is not None:
                part = part - xg.double().sum(dim=1, keepdim=True) * qt.zero[g].double()
            y += part * scales[g]
        if s_tok is not None:
            y = y * s_tok
        return y.to(torch.float32)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "linear":
            lead = x.shape[:-1]
            y = self._gemm(x.reshape(-1, x.shape[-1]))
            y = y.reshape(*lead, self.n)
            return y if self.bias is None else y + self.bias
        c = self.conv
        squeeze = self.kind == "conv1d"
        if squeeze:
            x = x.unsqueeze(2)
            ks, st, pd, dl = (1, c["kernel_size"][0]), (1, c["stride"][0]), (0, c["padding"][0]), (1, c["dilation"][0])
        else:
            ks, st, pd, dl = c["kernel_size"], c["stride"], c["padding"], c["dilation"]
        b, _, h, wd = x.shape
        cols = F.unfold(x, ks, dilation=dl, padding=pd, stride=st)  # [B, K, L]
        ho = (h + 2 * pd[0] - dl[0] * (ks[0] - 1) - 1) // st[0] + 1
        wo = (wd + 2 * pd[1] - dl[1] * (ks[1] - 1) - 1) // st[1] + 1
        y = self._gemm(cols.transpose(1, 2).reshape(-1, self.k))  # [B*L, N]
        y = y.reshape(b, ho * wo, self.n).transpose(1, 2).reshape(b, self.n, ho, wo)
        if self.bias is not None:
            y = y + self.bias.reshape(1, -1, 1, 1)
        return y.squeeze(2) if squeeze else y


def _set_module(model: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, new)


def quantize_model(model: nn.Module, allocation: Mapping[str, Format], mode: str,
                   kernels: Sequence[RefKernel] | None = None, lockstep: bool = False
                   ) -> tuple[nn.Module, tuple[LayerRun, ...]]:
    """A deep copy of `model` with each allocated layer replaced by a `QuantGemm`
    (`lockstep`: kernel layers also run the fake GEMM and record the difference)."""
    qm = copy.deepcopy(model)
    kerns = all_kernels() if kernels is None else tuple(kernels)
    runs = []
    for name, fmt in allocation.items():
        orig = qm.get_submodule(name)
        kern = kernel_for(fmt, kerns) if mode == "kernel" else None
        mod = QuantGemm(orig, fmt, kern, mode, name, lockstep=lockstep)
        _set_module(qm, name, mod)
        runs.append(LayerRun(name, type(orig).__name__, str(fmt), kern.name if kern else "torch", mod.k, mod.n))
    qm.eval()
    return qm, tuple(runs)


def compare_outputs(a: torch.Tensor, b: torch.Tensor) -> tuple[float, float, float, float]:
    """(max |a-b|, max |a-b| / max |b|, ||a-b|| / ||b||, cosine(a, b)) over flattened tensors."""
    a, b = a.detach().double().reshape(-1), b.detach().double().reshape(-1)
    d = (a - b).abs()
    bmax = float(b.abs().max()) if b.numel() else 0.0
    max_abs = float(d.max()) if d.numel() else 0.0
    nb = float(b.norm())
    rel_l2 = float((a - b).norm()) / nb if nb > 0 else float(max_abs > 0) * float("inf")
    cos = float(F.cosine_similarity(a, b, dim=0)) if nb > 0 else 0.0
    return max_abs, (max_abs / bmax if bmax > 0 else max_abs), rel_l2, cos


def check_model(model: nn.Module, allocation: Mapping[str, str], inputs: Sequence[object] | Mapping[str, object],
                output_fn: Callable[[object], torch.Tensor] | None = None,
                metric_fn: Callable[[nn.Module], dict[str, float]] | None = None,
                tol: float | None = None, kernels: Sequence[RefKernel] | None = None,
                source: str = "allocation") -> WholeModelResult:
    """Run `model` fp32, fake-quantised and through the reference kernels on `inputs`
    (positional list or keyword mapping) and compare (see module docstring).

    `output_fn` picks the tensor to compare from the model's output (default: the
    output itself, or its first element / `last_hidden_state`); `metric_fn(m)`
    returns task metrics for each variant, reported as `<variant>_<metric>`.
    """
    fmts = resolve_allocation(model, allocation, source)
    if not fmts:
        raise InvalidSpecError(f"{source}: allocates no Linear/Conv layer of the model")
    model = model.eval()
    kern_model, runs = quantize_model(model, fmts, "kernel", kernels, lockstep=True)
    if tol is None:
        tol = FAKE_RTOL if all(f.is_integer for f in fmts.values()) else FAKE_RTOL_FP16_ACT
    fake_model, _ = quantize_model(model, fmts, "fake", kernels)

    def pick(out: object) -> torch.Tensor:
        if output_fn is not None:
            return output_fn(out)
        if isinstance(out, torch.Tensor):
            return out
        if hasattr(out, "last_hidden_state"):
            return out.last_hidden_state  # type: ignore[no-any-return, attr-defined]
        if isinstance(out, (tuple, list)):
            return out[0]
        raise InvalidSpecError(f"cannot find the output tensor in a {type(out).__name__}; pass output_fn")

    def run(m: nn.Module) -> tuple[torch.Tensor, float]:
        t0 = time.perf_counter()
        with torch.no_grad():
            out = m(**inputs) if isinstance(inputs, Mapping) else m(*inputs)
        return pick(out), time.perf_counter() - t0

    y_fp, _ = run(model)
    y_fake, t_fake = run(fake_model)
    y_kern, t_kern = run(kern_model)
    runs = tuple(replace(r, max_rel_vs_fake=kern_model.get_submodule(r.name).max_rel_vs_fake) for r in runs)
    mx, rel, _, _ = compare_outputs(y_kern, y_fake)
    _, _, rl2, cos = compare_outputs(y_kern, y_fp)
    _, _, frl2, _ = compare_outputs(y_fake, y_fp)
    metrics: dict[str, float] = {}
    if metric_fn is not None:
        for tag, m in (("fp32", model), ("fake", fake_model), ("kernel", kern_model)):
            with torch.no_grad():
                for key, val in metric_fn(m).items():
                    metrics[f"{tag}_{key}"] = float(val)
    log.info("whole-model: %d layers, kernel vs fake rel %.3g, vs fp32 rel-L2 %.3g", len(runs), rel, rl2)
    return WholeModelResult(runs, mx, rel, tol, rl2, cos, frl2, t_kern, t_fake, metrics)
