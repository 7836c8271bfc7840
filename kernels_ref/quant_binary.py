"""Quantisers of the composite binary formats: DB-LLM, PB-LLM, PTQ1.61-style salient channels.

Every result is a `CompositeWeight`: a weight W^T [K, N] (K = reduction axis, cut into groups
of g along K) as two integer code planes with per-(group, column) scales,

    value = lo_scale * lo + hi_scale * hi + offset

- dbllm (DB-LLM, Chen et al. 2024, Flexible Dual Binarisation): lo = b2, hi = b1 in {0,1},
  hi_scale = alpha1, lo_scale = alpha2, offset = beta: the 2-bit weight split into two binary
  matrices with their own scales. `quantize_dbllm` starts from lowbit's uint2 quantiser of the
  same granularity (value s (c - z), c = 2 b1 + b2: alpha1 = 2s, alpha2 = s, beta = -s z, which
  is exactly the fixed-alpha rewrite of `binary.dual_binarize`), then fits the three values per
  group to the weights by alternating (1) nearest of the four levels {beta, beta + alpha2,
  beta + alpha1, beta + alpha1 + alpha2} and (2) least squares for (alpha1, alpha2, beta) given
  b1, b2. Neither step raises the squared error, so the fit is never worse than the 2-bit
  start. The paper learns alpha1, alpha2 by training (with its distillation loss, DAD); this
  is its post-training counterpart on the weight error. Values are rounded to the scale format
  (nearest fp16/fp32) and the levels re-assigned.
- pbllm (PB-LLM, Shang et al. 2023): per group and column the k = `Format.salient_count`
  largest |w| (ties: lower index) are salient: hi = int8 code round(w / s8), s8 = their
  absmax / 127 (rounded up to the scale format); the rest lo = sign(w) (0 -> +1) with
  lo_scale = mean |w| of the non-salient weights (the optimal binarisation scale the paper
  derives), rounded up; lo = 0 at salient positions, hi = 0 elsewhere. `mask` [K, N] marks the
  salient positions (stored as a g-bit bitmap per group and column). Round to nearest without
  the paper's GPTQ-style Hessian compensation.
- salient (PTQ1.61, Zhao et al. 2024, style): per group of g input channels the k =
  `salient_count` channels of largest score are salient (score: act_sq[k] * sum_n w[k, n]^2
  with calibration activations' mean squares `act_sq`, or the row energy without them; ties:
  lower index) and stored in int4 (hi, s4 = absmax / 7 per group and column); the other
  channels are binarised (lo = sign, lo_scale = mean |w| of those channels per group and
  column). `mask` [K] is the channel mask (K bits per matrix). The paper's block-wise scale
  optimisation and its preprocessing are not reproduced.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from lowbit.kernels_ref.errors import InvalidSpecError, UnsupportedFormatError
from lowbit.kernels_ref.formats import Format, FormatKind, ScaleFormat
from lowbit.kernels_ref.quant import quantize, round_scale

__all__ = [
    "CompositeWeight",
    "dequantize_composite",
    "quantize_composite",
    "quantize_dbllm",
    "quantize_pbllm",
    "quantize_salient",
]

_TINY = torch.finfo(torch.float32).tiny


@dataclass(frozen=True)
class CompositeWeight:
    """value = lo_scale * lo + hi_scale * hi + offset, scales [G, N] per group along K.

    `lo`, `hi`: integer [K, N] (int64 from the quantisers, int8 from `composite.draw_composite`);
    `offset`: [G, N] or None; `mask`: pbllm [K, N] bool (salient weights), salient [K] bool
    (salient input channels), dbllm None."""

    fmt: Format
    lo: torch.Tensor
    hi: torch.Tensor
    lo_scale: torch.Tensor
    hi_scale: torch.Tensor
    offset: torch.Tensor | None = None
    mask: torch.Tensor | None = None

    @property
    def shape(self) -> torch.Size:
        """[K, N] of the weight."""
        return self.lo.shape

    @property
    def group_size(self) -> int:
        return self.lo.shape[0] // self.lo_scale.shape[0]

    def to(self, device: torch.device | str) -> CompositeWeight:
        def mv(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else t.to(device)
        return CompositeWeight(self.fmt, self.lo.to(device), self.hi.to(device), self.lo_scale.to(device),
                               self.hi_scale.to(device), mv(self.offset), mv(self.mask))


def dequantize_composite(cw: CompositeWeight) -> torch.Tensor:
    """The real values (float64 [K, N])."""
    k, n = cw.lo.shape
    groups = cw.lo_scale.shape[0]
    v = cw.lo.view(groups, -1, n).double().mul_(cw.lo_scale.double()[:, None, :])
    v.add_(cw.hi.view(groups, -1, n).double().mul_(cw.hi_scale.double()[:, None, :]))  # a*b + c*d, as before
    if cw.offset is not None:
        v.add_(cw.offset.double()[:, None, :])
    return v.view(k, n)


def _prepare(w: torch.Tensor, fmt: Format | str, kind: FormatKind) -> tuple[torch.Tensor, Format, int]:
    fmt = Format.parse(fmt) if isinstance(fmt, str) else fmt
    if fmt.kind is not kind:
        raise UnsupportedFormatError(f"this quantiser takes {kind.value} formats, not {fmt}")
    w = torch.as_tensor(w)
    if w.ndim != 2:
        raise InvalidSpecError(f"{fmt} quantises a 2-d W^T [K, N], got shape {tuple(w.shape)}")
    if not w.is_floating_point():
        w = w.double()
    if not bool(torch.isfinite(w).all()):
        raise InvalidSpecError("cannot quantise a tensor holding NaN or inf")
    k = w.shape[0]
    g = fmt.group_size if fmt.group_size is not None else k
    if k % g:
        raise UnsupportedFormatError(f"group size {g} of {fmt} does not divide K={k} (the reduction dimension)")
    return w.double(), fmt, g


def _nearest_value(v: torch.Tensor, sfmt: ScaleFormat) -> torch.Tensor:
    """Round to the nearest value of a sign-carrying scale format (fp16/fp32)."""
    if sfmt is ScaleFormat.FP16:
        out = v.to(torch.float16)
    elif sfmt is ScaleFormat.FP32:
        out = v.to(torch.float32)
    else:
        raise UnsupportedFormatError("dbllm stores a signed offset beta: its scales must be fp16 or fp32, not pow2")
    if not bool(torch.isfinite(out).all()):
        raise UnsupportedFormatError(f"a DB-LLM scale overflows {sfmt.value}")
    return out.double()


def _assign(t: torch.Tensor, a1: torch.Tensor, a2: torch.Tensor, beta: torch.Tensor
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """Nearest level per element of grouped t [G, g, N]; (b1, b2) int64, ties to the lower index
    of (0,0), (0,1), (1,0), (1,1)."""
    b1s = torch.tensor([0.0, 0.0, 1.0, 1.0], dtype=torch.float64)
    b2s = torch.tensor([0.0, 1.0, 0.0, 1.0], dtype=torch.float64)
    levels = beta[..., None] + a1[..., None] * b1s + a2[..., None] * b2s  # [G, N, 4]
    idx = (t[..., None] - levels[:, None]).abs().argmin(dim=-1)  # [G, g, N]
    return idx >> 1, idx & 1


def quantize_dbllm(w_kn: torch.Tensor, fmt: Format | str = "dbllmg128", iters: int = 20) -> CompositeWeight:
    """DB-LLM dual binarisation fitted to W^T [K, N] (see the module docstring)."""
    w, fmt, g = _prepare(w_kn, fmt, FormatKind.DUAL_BINARY)
    if iters < 0:
        raise InvalidSpecError(f"iters must be >= 0, got {iters}")
    assert fmt.scale is not None
    k, n = w.shape
    gran = f"uint2g{g}" if fmt.group_size is not None else "uint2"
    qt = quantize(w, Format.parse(gran + ("" if fmt.scale is ScaleFormat.FP16 else f"_s{fmt.scale.value}")))
    assert qt.scales is not None and qt.zero is not None
    s, z = qt.scales.double(), qt.zero.double()  # [G, N]
    a1, a2, beta = 2 * s, s.clone(), -s * z
    t = w.reshape(k // g, g, n)
    c = qt.codes.reshape(k // g, g, n)
    b1, b2 = c >> 1, c & 1
    for _ in range(iters):
        ones = torch.ones_like(t)
        design = torch.stack([b1.double(), b2.double(), ones], dim=-1).permute(0, 2, 1, 3)  # [G, N, g, 3]
        target = t.permute(0, 2, 1).unsqueeze(-1)  # [G, N, g, 1]
        sol = torch.linalg.lstsq(design, target, driver="gelsd").solution[..., 0]  # [G, N, 3]
        a1, a2, beta = sol[..., 0], sol[..., 1], sol[..., 2]
        nb1, nb2 = _assign(t, a1, a2, beta)
        if torch.equal(nb1, b1) and torch.equal(nb2, b2):
            break
        b1, b2 = nb1, nb2
    a1, a2, beta = (_nearest_value(v, fmt.scale) for v in (a1, a2, beta))
    b1, b2 = _assign(t, a1, a2, beta)
    return CompositeWeight(fmt, b2.reshape(k, n), b1.reshape(k, n), a2, a1, beta)


def _topk_mask(score: torch.Tensor, kc: int) -> torch.Tensor:
    """bool mask of the kc largest entries along dim 1 of [G, g, ...]; ties to the lower index."""
    order = torch.sort(score, dim=1, descending=True, stable=True).indices
    mask = torch.zeros_like(score, dtype=torch.bool)
    return mask.scatter_(1, order[:, :kc], True)


def _binary_part(t: torch.Tensor, keep: torch.Tensor, sfmt: ScaleFormat) -> tuple[torch.Tensor, torch.Tensor]:
    """sign codes (0 -> +1) where `keep`, 0 elsewhere; scale = mean |t| over `keep`, rounded up."""
    cnt = keep.sum(dim=1).clamp(min=1)
    alpha = round_scale(((t.abs() * keep).sum(dim=1) / cnt).clamp(min=_TINY), sfmt)
    lo = torch.where(keep, torch.where(t >= 0, 1, -1), 0)
    return lo.to(torch.int64), alpha


def _int_part(t: torch.Tensor, keep: torch.Tensor, bits: int, sfmt: ScaleFormat
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric int`bits` codes where `keep` (0 elsewhere); scale = absmax / qmax, rounded up."""
    qmax = (1 << (bits - 1)) - 1
    s = round_scale(((t.abs() * keep).amax(dim=1) / qmax).clamp(min=_TINY), sfmt)
    hi = torch.where(keep, torch.round(t / s.unsqueeze(1)).clamp(-qmax - 1, qmax), 0)
    return hi.to(torch.int64), s


def quantize_pbllm(w_kn: torch.Tensor, fmt: Format | str = "pbllm10g128") -> CompositeWeight:
    """PB-LLM partial binarisation of W^T [K, N] (see the module docstring)."""
    w, fmt, g = _prepare(w_kn, fmt, FormatKind.PARTIAL_BINARY)
    assert fmt.scale is not None
    k, n = w.shape
    t = w.reshape(k // g, g, n)
    mask = _topk_mask(t.abs(), fmt.salient_count)
    hi, s8 = _int_part(t, mask, 8, fmt.scale)
    lo, alpha = _binary_part(t, ~mask, fmt.scale)
    return CompositeWeight(fmt, lo.reshape(k, n), hi.reshape(k, n), alpha, s8, None, mask.reshape(k, n))


def quantize_salient(w_kn: torch.Tensor, fmt: Format | str = "salient20g128",
                     act_sq: torch.Tensor | None = None) -> CompositeWeight:
    """PTQ1.61-style salient-channel quantisation of W^T [K, N]; `act_sq` [K]: mean squared
    calibration activation per input channel (None: every channel weighs 1)."""
    w, fmt, g = _prepare(w_kn, fmt, FormatKind.SALIENT_CHANNEL)
    assert fmt.scale is not None
    k, n = w.shape
    score = w.pow(2).sum(dim=1)
    if act_sq is not None:
        a = torch.as_tensor(act_sq, dtype=torch.float64).reshape(-1)
        if a.numel() != k or not bool(torch.isfinite(a).all()) or bool((a < 0).any()):
            raise InvalidSpecError(f"act_sq must hold {k} finite non-negative values")
        score = score * a
    chan = _topk_mask(score.reshape(k // g, g), fmt.salient_count)  # [G, g]
    t = w.reshape(k // g, g, n)
    keep = chan.unsqueeze(-1).expand_as(t)
    hi, s4 = _int_part(t, keep, 4, fmt.scale)
    lo, alpha = _binary_part(t, ~keep, fmt.scale)
    return CompositeWeight(fmt, lo.reshape(k, n), hi.reshape(k, n), alpha, s4, None, chan.reshape(k))


def quantize_composite(w_kn: torch.Tensor, fmt: Format | str) -> CompositeWeight:
    """Dispatch on the format kind (dbllm, pbllm, salient)."""
    fmt = Format.parse(fmt) if isinstance(fmt, str) else fmt
    if fmt.kind is FormatKind.DUAL_BINARY:
        return quantize_dbllm(w_kn, fmt)
    if fmt.kind is FormatKind.PARTIAL_BINARY:
        return quantize_pbllm(w_kn, fmt)
    if fmt.kind is FormatKind.SALIENT_CHANNEL:
        return quantize_salient(w_kn, fmt)
    raise UnsupportedFormatError(f"{fmt} is not a composite format (dbllm, pbllm, salient)")
