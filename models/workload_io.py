"""Models from anywhere: one resolver for every `--model`, and the workload file schema.

`resolve_model(ref, ...)` accepts

- a zoo name (`resnet18`, `llama-2-7b`; see `lowbit models list`);
- a Hugging Face `config.json` (a JSON file with `model_type`);
- an ONNX file (`*.onnx`, parsed with `onnx` and its shape inference);
- a workload file, YAML or JSON, in the schema below (what `lowbit models show --json`
  writes, so it round-trips);
- a torch module as `path/to/file.py:factory` (see "The factory contract" below), traced.

A reference that looks like a path (has a `/`, or ends in `.json`, `.yaml`, `.yml`, `.onnx`
or `.py:NAME`) is read as a file; anything else is a zoo name, so a local directory never
shadows a zoo model.

Workload file schema (`format: lowbit-workload`, `version: 1`)::

    format: lowbit-workload
    version: 1
    name: mynet
    phase: inference            # prefill | decode | inference | generate
    batch: 1                    # optional, default 1
    seq_len: 0                  # optional, default 0
    edges: [[a, b], ...]        # optional: producer -> consumer; default: a chain
    layers:
      - {name: fc1, op: linear, m: 64, k: 784, n: 256}
      - {name: c1, op: conv2d, images: 1,
         conv: {in_channels: 3, out_channels: 16, in_h: 32, in_w: 32, kernel_h: 3,
                kernel_w: 3, stride_h: 1, stride_w: 1, pad_h: 1, pad_w: 1, groups: 1,
                dilation_h: 1, dilation_w: 1}}
      - {name: scores, op: matmul, m: 128, k: 64, n: 128, batch: 12, kv_share: 1}

Per layer: `name`, `op` (linear, conv2d, dwconv2d, matmul, embedding, conv_transpose) and
either `m`, `k`, `n` (with optional `batch`, `images`, `kv_share`, `tied_to`) or, for
conv2d/dwconv2d, `conv` geometry (then m, k, n, batch follow from it and, when given too, must
agree). `weight_params` and `macs` may be present (they are written for reading) and must
agree with the shape. Unknown keys are errors naming the file and the key.

The factory contract (`file.py:factory`, called with no arguments) returns one of

- `(module, example)`;
- `(module, example, calibration)`;

where `module` is an `nn.Module` with its trained weights, `example` is what the module is
traced on (an input tensor, a tuple of positional inputs, a dict of keyword inputs, or an
input shape: a list/tuple of ints, a random float tensor of that shape), and `calibration`
is what measured sensitivity runs: a tensor of inputs (a batch), or a dict with `inputs`
(required), `targets` (optional) and `loss_fn` (optional `loss_fn(outputs, targets)`; the
default is cross-entropy for integer targets, mean squared error otherwise). Without
`calibration`, a tensor `example` is the calibration batch; a shape-only example gives no
calibration data, so `--sensitivity measured/hessian` then is an error (proxy, which is
data-free, still works). `--sensitivity hessian` without targets uses the full-precision
outputs as targets under mean squared error (its Hessian there is the Gauss-Newton matrix).
`load_torch_factory` returns the parts as a `TorchFactory`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from lowbit.kernels_ref.errors import InvalidSpecError
from lowbit.kernels_ref.loaders import load_json, load_yaml, read_text, short
from lowbit.models.ir import ConvGeometry, Layer, OpKind, Phase, Workload

__all__ = ["SCHEMA", "TorchFactory", "is_torch_factory", "load_torch_factory", "looks_like_path",
           "resolve_model", "workload_from_dict", "workload_to_dict"]

SCHEMA = "lowbit-workload"
_TOP = {"format", "version", "name", "phase", "batch", "seq_len", "edges", "layers", "meta",
        "total_params", "total_macs"}
_LAYER = {"name", "op", "m", "k", "n", "batch", "images", "kv_share", "tied_to", "conv",
          "weight_params", "macs"}
_CONV = {f.name for f in fields(ConvGeometry)}
_PY_REF = re.compile(r"^(?P<file>.+\.py):(?P<factory>[A-Za-z_][A-Za-z0-9_]*)$")


def workload_to_dict(wl: Workload) -> dict[str, Any]:
    """The workload in the file schema (JSON-able)."""
    layers = []
    for l in wl.layers:
        d: dict[str, Any] = {"name": l.name, "op": l.op.value, "m": l.m, "k": l.k, "n": l.n,
                             "batch": l.batch, "weight_params": l.weight_params, "macs": l.macs}
        if l.images != 1:
            d["images"] = l.images
        if l.kv_share != 1:
            d["kv_share"] = l.kv_share
        if l.tied_to is not None:
            d["tied_to"] = l.tied_to
        if l.conv is not None:
            d["conv"] = {f: getattr(l.conv, f) for f in sorted(_CONV)}
        layers.append(d)
    meta = {str(k): v for k, v in wl.meta
            if isinstance(v, (int, float, str, bool)) or v is None}
    out: dict[str, Any] = {"format": SCHEMA, "version": 1, "name": wl.name, "phase": wl.phase.value,
                           "batch": wl.batch, "seq_len": wl.seq_len,
                           "total_params": wl.total_params, "total_macs": wl.total_macs,
                           "layers": layers}
    if wl.edges is not None:
        out["edges"] = [list(e) for e in wl.edges]
    if meta:
        out["meta"] = meta
    return out


def _int(where: str, key: str, v: Any, low: int = 1) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise InvalidSpecError(f"{where}: {key}: must be an integer, got {short(v)}")
    if v < low or v > 2**53:
        raise InvalidSpecError(f"{where}: {key}: {v} is out of range [{low}, 2**53]")
    return v


def _layer(d: Any, where: str, i: int) -> Layer:
    at = f"layers.{i}"
    if not isinstance(d, Mapping):
        raise InvalidSpecError(f"{where}: {at}: must be a mapping, got {type(d).__name__}")
    unknown = sorted(set(d) - _LAYER)
    if unknown:
        raise InvalidSpecError(f"{where}: {at}.{unknown[0]}: unknown key (known: "
                               f"{', '.join(sorted(_LAYER))})")
    name = d.get("name")
    if not isinstance(name, str) or not name.strip():
        raise InvalidSpecError(f"{where}: {at}.name: must be a non-empty string, got {short(name)}")
    try:
        op = OpKind(d.get("op"))
    except ValueError:
        raise InvalidSpecError(f"{where}: {at}.op: {short(d.get('op'))} is not one of "
                               f"{', '.join(o.value for o in OpKind)}") from None
    images = _int(where, f"{at}.images", d.get("images", 1))
    if "conv" in d:
        if op not in (OpKind.CONV2D, OpKind.DWCONV2D):
            raise InvalidSpecError(f"{where}: {at}.conv: only conv2d/dwconv2d layers take conv geometry")
        c = d["conv"]
        if not isinstance(c, Mapping):
            raise InvalidSpecError(f"{where}: {at}.conv: must be a mapping")
        bad = sorted(set(c) - _CONV)
        if bad:
            raise InvalidSpecError(f"{where}: {at}.conv.{bad[0]}: unknown key (known: {', '.join(sorted(_CONV))})")
        for key, v in c.items():
            _int(where, f"{at}.conv.{key}", v, low=0 if key.startswith("pad") else 1)
        try:
            layer = Layer.conv2d(name, ConvGeometry(**c), images=images)
        except (TypeError, InvalidSpecError) as exc:
            raise InvalidSpecError(f"{where}: {at}.conv: {exc}") from None
        if layer.op is not op:
            raise InvalidSpecError(f"{where}: {at}.op: the geometry is {layer.op.value}, not {op.value}")
        for key in ("m", "k", "n", "batch"):
            if key in d and d[key] != getattr(layer, key):
                raise InvalidSpecError(f"{where}: {at}.{key}: {short(d[key])} disagrees with the conv "
                                       f"geometry ({getattr(layer, key)})")
    else:
        if op in (OpKind.CONV2D, OpKind.DWCONV2D):
            raise InvalidSpecError(f"{where}: {at}: a {op.value} layer needs its conv geometry")
        for key in ("m", "k", "n"):
            if key not in d:
                raise InvalidSpecError(f"{where}: {at}: missing key {key!r}")
        tied = d.get("tied_to")
        if tied is not None and not isinstance(tied, str):
            raise InvalidSpecError(f"{where}: {at}.tied_to: must be a layer name")
        try:
            layer = Layer(name, op, _int(where, f"{at}.m", d["m"]), _int(where, f"{at}.k", d["k"]),
                          _int(where, f"{at}.n", d["n"]),
                          batch=_int(where, f"{at}.batch", d.get("batch", 1)), images=images,
                          kv_share=_int(where, f"{at}.kv_share", d.get("kv_share", 1)), tied_to=tied)
        except InvalidSpecError as exc:
            raise InvalidSpecError(f"{where}: {at}: {exc}") from None
    for key in ("weight_params", "macs"):
        if key in d and d[key] != getattr(layer, key):
            raise InvalidSpecError(f"{where}: {at}.{key}: {short(d[key])} disagrees with the shape "
                                   f"({getattr(layer, key)})")
    return layer


def workload_from_dict(d: Any, where: str = "<workload>") -> Workload:
    """A Workload from the file schema; InvalidSpecError naming `where` and the key."""
    if not isinstance(d, Mapping):
        raise InvalidSpecError(f"{where}: a workload file must be a mapping, got {type(d).__name__}")
    unknown = sorted(set(d) - _TOP)
    if unknown:
        raise InvalidSpecError(f"{where}: {unknown[0]}: unknown key (known: {', '.join(sorted(_TOP))})")
    if d.get("format") != SCHEMA:
        raise InvalidSpecError(f"{where}: format: must be {SCHEMA!r}, got {short(d.get('format'))}")
    if d.get("version") != 1:
        raise InvalidSpecError(f"{where}: version: must be 1, got {short(d.get('version'))}")
    name = d.get("name")
    if not isinstance(name, str) or not name.strip():
        raise InvalidSpecError(f"{where}: name: must be a non-empty string, got {short(name)}")
    try:
        phase = Phase(d.get("phase", "inference"))
    except ValueError:
        raise InvalidSpecError(f"{where}: phase: {short(d.get('phase'))} is not one of "
                               f"{', '.join(p.value for p in Phase)}") from None
    raw = d.get("layers")
    if not isinstance(raw, list) or not raw:
        raise InvalidSpecError(f"{where}: layers: must be a non-empty list")
    layers = tuple(_layer(x, where, i) for i, x in enumerate(raw))
    edges = d.get("edges")
    if edges is not None:
        if not isinstance(edges, list) or not all(
                isinstance(e, list) and len(e) == 2 and all(isinstance(x, str) for x in e) for e in edges):
            raise InvalidSpecError(f"{where}: edges: must be a list of [producer, consumer] names")
        edges = tuple((a, b) for a, b in edges)
    meta = d.get("meta", {})
    if not isinstance(meta, Mapping):
        raise InvalidSpecError(f"{where}: meta: must be a mapping")
    try:
        wl = Workload(name, phase, layers, edges=edges, batch=_int(where, "batch", d.get("batch", 1)),
                      seq_len=_int(where, "seq_len", d.get("seq_len", 0), low=0),
                      meta=tuple(sorted(meta.items())))
    except InvalidSpecError as exc:
        raise InvalidSpecError(f"{where}: {exc}") from None
    for key in ("total_params", "total_macs"):
        if key in d and d[key] != getattr(wl, key):
            raise InvalidSpecError(f"{where}: {key}: {short(d[key])} disagrees with the layers "
                                   f"({getattr(wl, key)})")
    return wl


def looks_like_path(ref: str) -> bool:
    return "/" in ref or ref.lower().endswith((".json", ".yaml", ".yml", ".onnx")) or \
        _PY_REF.match(ref) is not None


def is_torch_factory(ref: Any) -> bool:
    """Whether a `--model` reference is a torch module file (`path/to/file.py:factory`)."""
    return isinstance(ref, str) and _PY_REF.match(ref.strip()) is not None


@dataclass(frozen=True, eq=False)
class TorchFactory:
    """What a `file.py:factory` gave (see "The factory contract" in the module docstring)."""

    name: str
    module: Any                       # nn.Module, in eval mode
    example: Any                      # traced on: a tensor, a tuple, or a dict of inputs
    inputs: Any = None                # calibration batch (None: none given)
    targets: Any = None
    loss_fn: Callable[[Any, Any], Any] | None = None


def load_torch_factory(ref: str) -> TorchFactory:
    """Import `file.py`, call `factory()` and check what it returned (the contract above)."""
    import importlib.util

    m = _PY_REF.match(ref.strip())
    if m is None:
        raise InvalidSpecError(f"{short(ref)}: not a torch module reference (expected path/to/file.py:factory)")
    path = Path(m["file"])
    if not path.is_file():
        raise InvalidSpecError(f"{path}: torch module file not found")
    spec = importlib.util.spec_from_file_location(f"_lowbit_user_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise InvalidSpecError(f"{path}: cannot be imported as a Python module")
    mod = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(mod)
    except Exception as exc:  # noqa: BLE001 - user code: whatever it raises is one line
        raise InvalidSpecError(f"{path}: importing it raised {type(exc).__name__}: "
                               f"{short(str(exc), 120)}") from None
    factory = getattr(mod, m["factory"], None)
    if not callable(factory):
        raise InvalidSpecError(f"{path}: has no callable {m['factory']!r}")
    try:
        made = factory()
    except Exception as exc:  # noqa: BLE001 - user code
        raise InvalidSpecError(f"{ref}: the factory raised {type(exc).__name__}: "
                               f"{short(str(exc), 120)}") from None
    import torch

    if not (isinstance(made, tuple) and len(made) in (2, 3) and isinstance(made[0], torch.nn.Module)):
        raise InvalidSpecError(f"{ref}: the factory must return (nn.Module, example input or input shape) "
                               f"or (nn.Module, example, calibration), got {type(made).__name__}")
    module, example = made[0], made[1]
    calib = made[2] if len(made) == 3 else None
    shape_only = False
    if isinstance(example, (list, tuple)) and example and all(
            isinstance(v, int) and not isinstance(v, bool) for v in example):
        if any(v < 1 or v > 2**31 for v in example):
            raise InvalidSpecError(f"{ref}: input shape {list(example)} must be positive")
        example, shape_only = torch.randn(*example), True
    inputs = targets = loss_fn = None
    if calib is None:
        inputs = None if shape_only or not isinstance(example, torch.Tensor) else example
    elif isinstance(calib, torch.Tensor):
        inputs = calib
    elif isinstance(calib, Mapping):
        extra = sorted(set(calib) - {"inputs", "targets", "loss_fn"})
        if extra or "inputs" not in calib:
            raise InvalidSpecError(f"{ref}: calibration dict needs 'inputs' and may have 'targets', 'loss_fn'"
                                   f"{' (unknown: ' + ', '.join(map(str, extra)) + ')' if extra else ''}")
        inputs, targets, loss_fn = calib["inputs"], calib.get("targets"), calib.get("loss_fn")
        if not isinstance(inputs, torch.Tensor) or (targets is not None and not isinstance(targets, torch.Tensor)):
            raise InvalidSpecError(f"{ref}: calibration 'inputs' and 'targets' must be tensors")
        if loss_fn is not None and not callable(loss_fn):
            raise InvalidSpecError(f"{ref}: calibration 'loss_fn' must be callable(outputs, targets)")
    else:
        raise InvalidSpecError(f"{ref}: calibration must be a tensor of inputs or a dict with 'inputs', "
                               f"got {type(calib).__name__}")
    return TorchFactory(path.stem, module.eval(), example, inputs, targets, loss_fn)


def _from_factory(ref: str, phase: Phase | None) -> Workload:
    from lowbit.models.importers import from_torch

    f = load_torch_factory(ref)
    return from_torch(f.module, f.example, name=f.name, phase=phase or Phase.INFERENCE)


def resolve_model(ref: Any, phase: str | Phase | None = None, **shape: Any) -> Workload:
    """The Workload a `--model` argument names (see the module docstring). `shape` holds the
    zoo/config keywords (`seq_len`, `batch`, `context_len`, ...) and is passed on to them."""
    if not isinstance(ref, str) or not ref.strip():
        raise InvalidSpecError(f"model: expected a zoo name or a file, got {short(ref)}")
    ref = ref.strip()
    if not looks_like_path(ref):
        from lowbit.models import zoo

        return zoo.get(ref, phase=phase, **shape)
    path = Path(ref)
    low = ref.lower()
    data: Any = None
    if low.endswith((".json", ".yaml", ".yml")):
        text = read_text(path, "model file")
        data = load_json(text, str(path)) if low.endswith(".json") else load_yaml(text, str(path))
    # a JSON file with `model_type` and no `format` key is a Hugging Face config
    if isinstance(data, Mapping) and low.endswith(".json") and "model_type" in data \
            and "format" not in data:
        from lowbit.models.importers import from_hf_config

        name = path.parent.name if path.name == "config.json" and path.parent.name else path.stem
        return from_hf_config(path, phase=phase, name=name, **shape)
    # a fixed graph: shape options would be silently ignored, so refuse them
    given = sorted(k for k, v in shape.items() if v is not None and not (k == "batch" and v == 1))
    if given:
        raise InvalidSpecError(f"{ref}: {', '.join(given)} apply to zoo models and HF configs, "
                               "not to a fixed graph (set the shapes in the file or factory)")
    if _PY_REF.match(ref):
        return _from_factory(ref, Phase(phase) if isinstance(phase, str) else phase)
    if phase is not None:
        raise InvalidSpecError(f"{ref}: phase is fixed by the file (set `phase:` in a workload file)")
    if low.endswith(".onnx"):
        from lowbit.models.importers import from_onnx

        return from_onnx(path)
    if data is None:
        raise InvalidSpecError(f"{path}: not a model file (expected .json, .yaml, .onnx or "
                               "file.py:factory)")
    return workload_from_dict(data, str(path))
