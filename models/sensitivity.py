"""Per-(layer, format) quality loss of a real torch model: the `sensitivity` of a CostTable.

Three measures, all over the model's weight layers (nn.Linear, nn.Conv*; names as in
`named_modules`), quantising the WEIGHTS of one layer at a time with
`kernels_ref.quant.quantize/dequantize` (reduction axis K = in_features * kernel):

- `measured`: run the calibration data with only that layer quantised and compare
  with the full-precision output: ``mse`` (mean squared error of the outputs),
  ``cosine`` (1 - cosine similarity per sample, averaged), ``kl`` (KL(p_fp || p_q) of
  the softmax of the outputs, averaged over samples) or ``loss`` (task loss with the
  layer quantised minus the full-precision task loss; needs targets and loss_fn).
- `hessian`: HAWQ (Dong et al. 2019; HAWQ-V3 Yao et al. 2021): Hutchinson estimate of
  the trace of the loss Hessian with respect to the layer's weights, divided by the
  layer's parameter count, times ||Q(W) - W||_F^2. Rademacher probes, Hessian-vector
  products by double back-propagation.
- `proxy` (data-free): ||Q(W) - W||_F^2 summed over the layer's elements, unnormalised.
  Documented weighting: with white (unit-variance, uncorrelated) layer inputs the expected
  output perturbation E||(Q(W) - W) x||^2 equals exactly this sum, so it weighs a layer by
  its size and the magnitude of its weights and nothing else. It needs real weights.

Results are `SensitivityTable`s, cached on disk as JSON under `cache_dir` (passed in, or
``~/.cache/lowbit/sensitivity``) keyed by a hash of the model's weights, the calibration
data, the formats and the measure. For models that cannot be run here (LLaMA sizes),
`load` reads a table from CSV (``layer,format,value`` rows) or JSON
(``{"layers": [...], "formats": [...], "values": [[...]]}``).

This module knows nothing of hardware (no hwsim / search imports).
"""

from __future__ import annotations

import csv
import enum
import hashlib
import io
import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from lowbit.kernels_ref.errors import InvalidSpecError
from lowbit.kernels_ref.formats import Format
from lowbit.kernels_ref.progress import progress

if TYPE_CHECKING:  # torch loads in the measuring functions: `load` and the tables need none
    import torch
    from torch import nn

__all__ = [
    "Metric",
    "SensitivityTable",
    "default_cache_dir",
    "fake_quant_weight",
    "hessian",
    "load",
    "measured",
    "proxy",
    "weight_layers",
]

log = logging.getLogger(__name__)


class Metric(enum.Enum):
    MSE = "mse"
    COSINE = "cosine"
    KL = "kl"
    LOSS = "loss"


@dataclass(frozen=True, eq=False)
class SensitivityTable:
    """values[l, f]: quality loss of layer l with its weights in format f (others full precision)."""

    layers: tuple[str, ...]
    formats: tuple[str, ...]
    values: np.ndarray
    method: str = ""

    def __post_init__(self) -> None:
        v = np.asarray(self.values, dtype=np.float64)
        if v.shape != (len(self.layers), len(self.formats)):
            raise InvalidSpecError(f"sensitivity: values must be [{len(self.layers)}][{len(self.formats)}], "
                                   f"got {list(v.shape)}")
        if not np.isfinite(v).all():
            raise InvalidSpecError("sensitivity: values must be finite")
        v = v.copy()
        v.setflags(write=False)
        object.__setattr__(self, "values", v)

    def as_mapping(self) -> dict[tuple[str, str], float]:
        return {(lay, f): float(self.values[i, j]) for i, lay in enumerate(self.layers)
                for j, f in enumerate(self.formats)}

    def array_for(self, layers: Sequence[str], formats: Sequence[str], where: str = "sensitivity") -> np.ndarray:
        """[len(layers), len(formats)] in the given order; InvalidSpecError naming the first gap."""
        li = {n: i for i, n in enumerate(self.layers)}
        fi = {str(f): j for j, f in enumerate(self.formats)}
        out = np.empty((len(layers), len(formats)))
        for a, lay in enumerate(layers):
            if lay not in li:
                raise InvalidSpecError(f"{where}: no values for layer {lay!r} (have {len(self.layers)} layers)")
            for b, f in enumerate(formats):
                if str(f) not in fi:
                    raise InvalidSpecError(f"{where}: no values for format {f!r} (have {', '.join(self.formats)})")
                out[a, b] = self.values[li[lay], fi[str(f)]]
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "layers": list(self.layers), "formats": list(self.formats),
                "values": self.values.tolist()}

    def save(self, path: str | Path) -> None:
        p = Path(path)
        if p.suffix.lower() == ".csv":
            with open(p, "w", newline="", encoding="utf-8") as fh:
                w = csv.writer(fh)
                w.writerow(["layer", "format", "value"])
                for (lay, f), v in self.as_mapping().items():
                    w.writerow([lay, f, repr(v)])
        else:
            tmp = p.with_name(p.name + ".tmp")
            tmp.write_text(json.dumps(self.to_dict()), encoding="utf-8")
            os.replace(tmp, p)


def load(path: str | Path) -> SensitivityTable:
    """Read a table from CSV (header layer,format,value) or JSON (layers, formats, values)."""
    from lowbit.kernels_ref.loaders import load_json, read_text, short

    p = Path(path)
    text = read_text(p, "sensitivity file")  # UTF-8 only: UTF-16 / Latin-1 / NUL bytes named
    if p.suffix.lower() == ".csv":
        rows = list(csv.DictReader(io.StringIO(text, newline="")))
        if not rows or set(rows[0]) - {None} != {"layer", "format", "value"}:
            raise InvalidSpecError(f"{p}: CSV needs a header with exactly the columns "
                                   "layer,format,value")
        seen: set[tuple[str, str]] = set()
        for n, r in enumerate(rows, start=2):
            if None in r or None in r.values():
                raise InvalidSpecError(f"{p}:{n}: expected 3 fields (layer,format,value)")
            if not r["layer"].strip() or not r["format"].strip():
                raise InvalidSpecError(f"{p}:{n}: empty layer or format name")
            if (r["layer"], r["format"]) in seen:
                raise InvalidSpecError(f"{p}:{n}: duplicate row for layer {short(r['layer'])}, "
                                       f"format {short(r['format'])}")
            seen.add((r["layer"], r["format"]))
        layers = tuple(dict.fromkeys(r["layer"] for r in rows))
        fmts = tuple(dict.fromkeys(r["format"] for r in rows))
        vals = np.full((len(layers), len(fmts)), np.nan)
        li = {n: i for i, n in enumerate(layers)}
        fi = {n: i for i, n in enumerate(fmts)}
        for n, r in enumerate(rows, start=2):
            try:
                v = float(r["value"])
            except ValueError:
                raise InvalidSpecError(f"{p}:{n}: value {short(r['value'])} is not a number") from None
            if not np.isfinite(v):
                raise InvalidSpecError(f"{p}:{n}: value {short(r['value'])} is not finite")
            vals[li[r["layer"]], fi[r["format"]]] = v
        if np.isnan(vals).any():
            i, j = np.argwhere(np.isnan(vals))[0]
            raise InvalidSpecError(f"{p}: no value for layer {layers[i]!r}, format {fmts[j]!r}")
        return SensitivityTable(layers, fmts, vals, method=f"file:{p.name}")
    d = load_json(text, str(p))
    for k in ("layers", "formats", "values"):
        if not isinstance(d, dict) or k not in d:
            raise InvalidSpecError(f"{p}: missing key {k!r} (need layers, formats, values)")
    try:
        return SensitivityTable(tuple(map(str, d["layers"])), tuple(map(str, d["formats"])),
                                np.asarray(d["values"], dtype=np.float64), method=str(d.get("method", f"file:{p.name}")))
    except InvalidSpecError as exc:
        raise InvalidSpecError(f"{p}: {exc}") from None
    except (TypeError, ValueError):
        raise InvalidSpecError(f"{p}: 'values' must be a numeric [layer][format] array") from None


# ------------------------------------------------------------------ helpers
def default_cache_dir() -> Path:
    return Path(os.path.expanduser("~")) / ".cache" / "lowbit" / "sensitivity"


def weight_layers(model: nn.Module, names: Sequence[str] | None = None) -> dict[str, nn.Module]:
    """Name -> module of every Linear/Conv layer (or of the `names` given, checked)."""
    from torch import nn

    weight_types = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
    mods = {n: m for n, m in model.named_modules() if isinstance(m, weight_types)}
    if names is None:
        return mods
    missing = [n for n in names if n not in mods]
    if missing:
        raise InvalidSpecError(f"sensitivity: model has no Linear/Conv layer named {missing[0]!r} "
                               f"(have {', '.join(mods)})")
    return {n: mods[n] for n in names}


def fake_quant_weight(w: torch.Tensor, fmt: Format | str) -> torch.Tensor:
    """Q(W): weights [out, in, *kernel] quantised along K = in * kernel, back in w's dtype."""
    import torch
    from lowbit.kernels_ref.quant import dequantize, quantize

    f = Format.parse(fmt) if isinstance(fmt, str) else fmt
    w2 = w.detach().reshape(w.shape[0], -1)
    q = dequantize(quantize(w2.to(torch.float64), f, axis=1))
    return q.reshape(w.shape).to(w.dtype)


def _fmts(formats: Sequence[Format | str]) -> list[Format]:
    return [f if isinstance(f, Format) else Format.parse(str(f)) for f in formats]


def _hash_tensors(h: Any, tensors: Sequence[torch.Tensor]) -> None:
    import torch

    for t in tensors:
        a = t.detach().cpu().contiguous()
        h.update(str((tuple(a.shape), str(a.dtype))).encode())
        h.update(a.numpy().tobytes() if a.dtype != torch.bfloat16 else a.float().numpy().tobytes())


def _cache_key(model: nn.Module, data: Sequence[torch.Tensor], parts: Sequence[Any]) -> str:
    h = hashlib.sha256()
    h.update(type(model).__qualname__.encode())
    _hash_tensors(h, [v for _, v in sorted(model.state_dict().items())])
    _hash_tensors(h, list(data))
    h.update(json.dumps([str(p) for p in parts]).encode())
    return h.hexdigest()[:32]


def _cached(cache_dir: str | Path | None, use_cache: bool, key: str,
            compute: Callable[[], SensitivityTable]) -> SensitivityTable:
    if not use_cache:
        return compute()
    d = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = d / f"{key}.json"
    if path.exists():
        log.info("sensitivity: cache hit %s", path)
        return load(path)
    table = compute()
    d.mkdir(parents=True, exist_ok=True)
    table.save(path)
    return table


def _distance(ref: torch.Tensor, out: torch.Tensor, metric: Metric) -> float:
    import torch

    r = ref.detach().to(torch.float64).reshape(ref.shape[0], -1)
    o = out.detach().to(torch.float64).reshape(out.shape[0], -1)
    if metric is Metric.MSE:
        return float(((o - r) ** 2).mean())
    if metric is Metric.COSINE:
        return float((1.0 - torch.nn.functional.cosine_similarity(o, r, dim=1, eps=1e-30)).mean())
    if metric is Metric.KL:
        lp = torch.log_softmax(r, dim=1)
        lq = torch.log_softmax(o, dim=1)
        return float((lp.exp() * (lp - lq)).sum(dim=1).mean())
    raise InvalidSpecError(f"sensitivity: metric {metric} needs the task loss path")


def _metric(metric: Metric | str) -> Metric:
    if isinstance(metric, Metric):
        return metric
    try:
        return Metric(str(metric).lower())
    except ValueError:
        raise InvalidSpecError(f"sensitivity: unknown metric {metric!r} "
                               f"(have {', '.join(m.value for m in Metric)})") from None


# ------------------------------------------------------------------ measures
def measured(model: nn.Module, inputs: torch.Tensor, formats: Sequence[Format | str], *,
             metric: Metric | str = Metric.MSE, targets: torch.Tensor | None = None,
             loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
             layers: Sequence[str] | None = None, cache_dir: str | Path | None = None,
             use_cache: bool = True) -> SensitivityTable:
    """Quantise one layer at a time and measure the change of the output or task loss."""
    import torch

    with torch.no_grad():
        m = _metric(metric)
        if m is Metric.LOSS and (targets is None or loss_fn is None):
            raise InvalidSpecError("sensitivity: metric 'loss' needs targets and loss_fn")
        fmts = _fmts(formats)
        mods = weight_layers(model, layers)
        data = [inputs] + ([targets] if targets is not None else [])
        key = _cache_key(model, data, ["measured", m.value, list(mods), [str(f) for f in fmts],
                                       getattr(loss_fn, "__qualname__", repr(loss_fn))])

        def compute() -> SensitivityTable:
            was_training = model.training
            model.eval()
            bar = progress(len(mods) * len(fmts), "sensitivity", unit="run")
            try:
                ref = model(inputs)
                ref_loss = float(loss_fn(ref, targets)) if m is Metric.LOSS else 0.0  # type: ignore[misc]
                vals = np.empty((len(mods), len(fmts)))
                for i, (name, mod) in enumerate(mods.items()):
                    orig = mod.weight.data.clone()
                    try:
                        for j, f in enumerate(fmts):
                            mod.weight.data.copy_(fake_quant_weight(orig, f))
                            out = model(inputs)
                            vals[i, j] = (float(loss_fn(out, targets)) - ref_loss  # type: ignore[misc]
                                          if m is Metric.LOSS else _distance(ref, out, m))
                            bar.update(1)
                    finally:
                        mod.weight.data.copy_(orig)
            finally:
                model.train(was_training)
                bar.close()
            return SensitivityTable(tuple(mods), tuple(str(f) for f in fmts), vals, method=f"measured:{m.value}")

        return _cached(cache_dir, use_cache, key, compute)


def hessian(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor,
            loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], formats: Sequence[Format | str], *,
            samples: int = 32, seed: int = 0, layers: Sequence[str] | None = None,
            cache_dir: str | Path | None = None, use_cache: bool = True) -> SensitivityTable:
    """HAWQ: (Hutchinson trace(H_l) / n_l) * ||Q(W_l) - W_l||^2 per layer and format."""
    if samples < 1:
        raise InvalidSpecError(f"sensitivity: hessian needs samples >= 1, got {samples}")
    fmts = _fmts(formats)
    mods = weight_layers(model, layers)
    key = _cache_key(model, [inputs, targets], ["hessian", samples, seed, list(mods), [str(f) for f in fmts],
                                                getattr(loss_fn, "__qualname__", repr(loss_fn))])

    def compute() -> SensitivityTable:
        traces = hutchinson_traces(model, inputs, targets, loss_fn, list(mods), samples=samples, seed=seed)
        vals = np.empty((len(mods), len(fmts)))
        for i, (name, mod) in enumerate(mods.items()):
            w = mod.weight.detach()
            for j, f in enumerate(fmts):
                d2 = float(((fake_quant_weight(w, f).double() - w.double()) ** 2).sum())
                vals[i, j] = traces[name] / w.numel() * d2
        return SensitivityTable(tuple(mods), tuple(str(f) for f in fmts), vals, method=f"hessian:{samples}")

    return _cached(cache_dir, use_cache, key, compute)


def hutchinson_traces(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor,
                      loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], names: Sequence[str], *,
                      samples: int = 32, seed: int = 0) -> dict[str, float]:
    """Hutchinson estimates of trace(d^2 loss / dW_l^2) for each named layer's weight."""
    import torch

    mods = weight_layers(model, names)
    params = [m.weight for m in mods.values()]
    was_training = model.training
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    acc = np.zeros(len(params))
    try:
        with torch.enable_grad():
            loss = loss_fn(model(inputs), targets)
            grads = torch.autograd.grad(loss, params, create_graph=True)
            for s in range(samples):
                vs = [(torch.randint(0, 2, p.shape, generator=gen) * 2 - 1).to(p.dtype) for p in params]
                hvs = torch.autograd.grad(grads, params, grad_outputs=vs, retain_graph=s < samples - 1)
                acc += np.array([float((v * hv).sum()) for v, hv in zip(vs, hvs)])
    finally:
        model.train(was_training)
    return {n: float(a / samples) for n, a in zip(mods, acc)}


def proxy(model: nn.Module, formats: Sequence[Format | str], *, layers: Sequence[str] | None = None
          ) -> SensitivityTable:
    """Data-free ||Q(W) - W||_F^2 per layer and format (weighting in the module docstring)."""
    import torch

    fmts = _fmts(formats)
    mods = weight_layers(model, layers)
    vals = np.empty((len(mods), len(fmts)))
    with torch.no_grad():
        for i, mod in enumerate(mods.values()):
            w = mod.weight.detach()
            for j, f in enumerate(fmts):
                vals[i, j] = float(((fake_quant_weight(w, f).double() - w.double()) ** 2).sum())
    if not np.isfinite(vals).all():
        raise InvalidSpecError("sensitivity: proxy produced non-finite values (non-finite weights?)")
    return SensitivityTable(tuple(mods), tuple(str(f) for f in fmts), vals, method="proxy:frobenius2")
