"""ONNX graphs into Workloads, with the `onnx` package and its shape inference.

Covered, each in the IR's GEMM view (`models.ir`):

- `Conv` (1-D as 1 x L, 2-D; grouped, depthwise, dilated, strided, explicit or `auto_pad`
  padding) and `ConvTranspose`;
- `Gemm`, and `MatMul` with a constant (initializer) operand: LINEAR;
- `MatMul` of two activations (attention scores and context): MATMUL, batched over the
  broadcast leading dimensions;
- `Gather` of a constant table by token ids: EMBEDDING;
- the quantised forms `MatMulInteger`, `QLinearMatMul`, `ConvInteger`, `QLinearConv`.

Every other operator is either free of MACs and weights (activations, norms, adds,
reshapes: their constants count as auxiliary parameters) or is listed, once, in a warning;
the workload's `meta` carries `source_params` (all constant tensors of floating or integer
type with more than one element) and `aux_params`, so `param_coverage` says what was
understood. Dynamic input dimensions must be given (`input_shapes`); nothing is guessed.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lowbit.kernels_ref.errors import InvalidSpecError
from lowbit.models.ir import ConvGeometry, Layer, Phase, Workload

__all__ = ["from_onnx"]

log = logging.getLogger(__name__)

_MAC_FREE = {
    "Relu", "LeakyRelu", "PRelu", "Sigmoid", "Tanh", "Gelu", "Erf", "Softmax", "LogSoftmax",
    "Add", "Sub", "Mul", "Div", "Pow", "Sqrt", "Reciprocal", "Neg", "Exp", "Log", "Abs", "Clip",
    "Min", "Max", "Where", "Equal", "Less", "Greater", "Not", "And", "Or", "Cast", "CastLike",
    "Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze", "Concat", "Split", "Slice",
    "Shape", "Gather", "GatherElements", "Expand", "Tile", "Pad", "Identity", "Dropout",
    "Constant", "ConstantOfShape", "Range", "ReduceMean", "ReduceSum", "ReduceMax",
    "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "Resize", "Upsample",
    "BatchNormalization", "LayerNormalization", "InstanceNormalization", "GroupNormalization",
    "HardSigmoid", "HardSwish", "Softplus", "Elu", "Selu", "Celu", "Mish", "DepthToSpace",
    "SpaceToDepth", "QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear",
    "SkipLayerNormalization", "SimplifiedLayerNormalization", "RMSNormalization", "Trilu",
    "ArgMax", "TopK", "NonZero", "ScatterND", "IsNaN", "Sin", "Cos", "Floor", "Ceil", "Round",
    "Mod",
}


def _dims(t: Any) -> tuple[int, ...] | None:
    shape = t.type.tensor_type.shape
    if not t.type.tensor_type.HasField("shape"):
        return None
    out = []
    for d in shape.dim:
        if not d.HasField("dim_value"):
            return None
        out.append(int(d.dim_value))
    return tuple(out)


def _attrs(node: Any) -> dict[str, Any]:
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _load(src: str | Path | Any) -> Any:
    import onnx

    if isinstance(src, onnx.ModelProto):
        return src
    p = Path(src)
    if not p.is_file():
        raise InvalidSpecError(f"{p}: ONNX file not found")
    from google.protobuf.message import DecodeError

    try:
        return onnx.load(str(p))
    except (DecodeError, OSError, ValueError, RuntimeWarning) as exc:
        raise InvalidSpecError(f"{p}: not a readable ONNX model ({type(exc).__name__})") from None


def _fix_inputs(model: Any, input_shapes: Mapping[str, Sequence[int]] | None, where: str) -> None:
    inits = {i.name for i in model.graph.initializer}
    given = dict(input_shapes or {})
    for inp in model.graph.input:
        if inp.name in inits:
            continue
        dims = inp.type.tensor_type.shape.dim
        if inp.name in given:
            shape = [int(v) for v in given.pop(inp.name)]
            if len(shape) != len(dims) or any(v < 1 for v in shape):
                raise InvalidSpecError(f"{where}: input {inp.name!r}: shape {shape} does not fit "
                                       f"its rank {len(dims)}")
            for d, v in zip(dims, shape):
                d.ClearField("dim_param")
                d.dim_value = v
        elif any(not d.HasField("dim_value") for d in dims):
            sym = [d.dim_param or "?" for d in dims]
            raise InvalidSpecError(f"{where}: input {inp.name!r} has dynamic dimensions {sym}: "
                                   f"give input_shapes={{{inp.name!r}: [...]}}")
    if given:
        raise InvalidSpecError(f"{where}: input_shapes names unknown inputs {sorted(given)}")


def from_onnx(src: str | Path | Any, name: str | None = None,
              input_shapes: Mapping[str, Sequence[int]] | None = None,
              phase: Phase = Phase.INFERENCE) -> Workload:
    """Workload of an ONNX model (a path or an `onnx.ModelProto`)."""
    import onnx

    where = str(src) if isinstance(src, (str, Path)) else "<onnx model>"
    model = _load(src)
    _fix_inputs(model, input_shapes, where)
    try:
        model = onnx.shape_inference.infer_shapes(model, strict_mode=True, data_prop=True)
    except (onnx.shape_inference.InferenceError, ValueError) as exc:
        raise InvalidSpecError(f"{where}: ONNX shape inference failed: "
                               f"{' '.join(str(exc).split())[:200]}") from None
    g = model.graph
    const: dict[str, tuple[int, ...]] = {i.name: tuple(i.dims) for i in g.initializer}
    index_like = {i.name for i in g.initializer if i.data_type == onnx.TensorProto.INT64}
    for node in g.node:  # Constant nodes hold weights in some exporters
        if node.op_type == "Constant" and node.output:
            a = _attrs(node)
            if "value" in a:
                const[node.output[0]] = tuple(a["value"].dims)
                if a["value"].data_type == onnx.TensorProto.INT64:
                    index_like.add(node.output[0])
    shapes: dict[str, tuple[int, ...]] = dict(const)
    for vi in list(g.input) + list(g.value_info) + list(g.output):
        d = _dims(vi)
        if d is not None:
            shapes.setdefault(vi.name, d)

    layers: list[Layer] = []
    deps_of: dict[str, frozenset[str]] = {}
    edges: set[tuple[str, str]] = set()
    used_as_weight: set[str] = set()
    unknown: dict[str, int] = {}
    names: set[str] = set()

    def shape(t: str, node: Any) -> tuple[int, ...]:
        if t not in shapes:
            raise InvalidSpecError(f"{where}: node {node.name or node.op_type!r}: no inferred "
                                   f"shape for {t!r}")
        return shapes[t]

    def lname(node: Any) -> str:
        base = (node.name or f"{node.op_type.lower()}_{len(layers)}").strip("/").replace("/", ".")
        n, i = base, 1
        while n in names:
            i += 1
            n = f"{base}_{i}"
        names.add(n)
        return n

    def add(layer: Layer, node: Any, weights: Sequence[str]) -> None:
        layers.append(layer)
        used_as_weight.update(weights)
        for d in deps_of.get(node.input[0], frozenset()) | frozenset().union(
                *(deps_of.get(t, frozenset()) for t in node.input[1:] if t not in const)):
            edges.add((d, layer.name))
        for o in node.output:
            deps_of[o] = frozenset({layer.name})

    for node in g.node:
        op = node.op_type
        ins = list(node.input)
        a = _attrs(node)
        if op in ("Conv", "ConvInteger", "QLinearConv"):
            x, w = (ins[0], ins[3]) if op == "QLinearConv" else (ins[0], ins[1])
            if w not in const:
                key = f"{op} (non-constant weight)"
                unknown[key] = unknown.get(key, 0) + 1
            else:
                add(_conv(node, a, shape(x, node), const[w], shape(node.output[0], node),
                          lname(node), where), node, [w])
        elif op == "ConvTranspose" and ins[1] in const:
            xs, ws = shape(ins[0], node), const[ins[1]]
            grp = int(a.get("group", 1))
            add(Layer.conv_transpose(lname(node), in_pixels=math.prod(xs[2:]), in_channels=xs[1],
                                     out_channels=ws[1] * grp, kernel_elems=math.prod(ws[2:]),
                                     groups=grp, images=xs[0]), node, [ins[1]])
        elif op == "Gemm":
            sa, sb = shape(ins[0], node), shape(ins[1], node)
            m, k = (sa[1], sa[0]) if a.get("transA", 0) else sa
            n = sb[0] if a.get("transB", 0) else sb[1]
            if ins[1] in const:
                add(Layer.linear(lname(node), m, k, n), node, [ins[1]])
            else:
                add(Layer.matmul(lname(node), m, k, n), node, [])
        elif op in ("MatMul", "MatMulInteger", "QLinearMatMul"):
            xa, xb = (ins[0], ins[3]) if op == "QLinearMatMul" else (ins[0], ins[1])
            sa, sb = shape(xa, node), shape(xb, node)
            if len(sa) == 1:
                sa = (1, *sa)
            if len(sb) == 1:
                sb = (*sb, 1)
            m, k, n = sa[-2], sa[-1], sb[-1]
            lead = np_broadcast(sa[:-2], sb[:-2], where, node)
            if xb in const and xa not in const:
                add(Layer.linear(lname(node), math.prod(lead) * m, k, n), node, [xb])
            elif xa in const and xb not in const:  # W @ x: the weight is the left operand
                add(Layer.linear(lname(node), math.prod(lead) * n, k, m), node, [xa])
            elif xa not in const and xb not in const:
                add(Layer.matmul(lname(node), m, k, n, batch=math.prod(lead)), node, [])
        elif op == "Gather" and ins[0] in const and len(const[ins[0]]) == 2:
            vocab, width = const[ins[0]]
            add(Layer.embedding(lname(node), math.prod(shape(ins[1], node)) or 1, vocab, width),
                node, [ins[0]])
        else:
            if op not in _MAC_FREE:  # LSTM, GRU, Einsum, custom ops ...: MACs we cannot count
                unknown[op] = unknown.get(op, 0) + 1
            dep = frozenset().union(*(deps_of.get(t, frozenset()) for t in ins))
            for o in node.output:
                deps_of[o] = dep
    if not layers:
        raise InvalidSpecError(f"{where}: no Conv, Gemm, MatMul or embedding in the graph")
    big = {t: math.prod(s) for t, s in const.items()
           if t not in index_like and len(s) >= 1 and math.prod(s) > 1}
    source = sum(big.values())
    weights = sum(big.get(t, 0) for t in used_as_weight)
    unknown_params = sum(big.get(t, 0) for node in g.node if node.op_type in unknown
                         for t in set(node.input) - used_as_weight)
    if unknown:
        log.warning("%s: not understood (no MACs or weights counted): %s", where,
                    ", ".join(f"{k} x{v}" for k, v in sorted(unknown.items())))
    meta = (("source", "onnx"), ("source_params", source),
            ("aux_params", source - weights - unknown_params),
            ("uncovered_ops", tuple(sorted(unknown))))
    return Workload(name or Path(where).stem, phase, tuple(layers), edges=tuple(sorted(edges)),
                    batch=1, meta=meta)


def np_broadcast(a: Sequence[int], b: Sequence[int], where: str, node: Any) -> tuple[int, ...]:
    """Broadcast leading (batch) dimensions of a MatMul, numpy-style."""
    out = []
    for x, y in zip((1,) * (len(b) - len(a)) + tuple(a), (1,) * (len(a) - len(b)) + tuple(b)):
        if x != y and 1 not in (x, y):
            raise InvalidSpecError(f"{where}: node {node.name or node.op_type!r}: batch dims "
                                   f"{tuple(a)} and {tuple(b)} do not broadcast")
        out.append(max(x, y))
    return tuple(out)


def _conv(node: Any, a: dict[str, Any], xs: tuple[int, ...], ws: tuple[int, ...],
          ys: tuple[int, ...], name: str, where: str) -> Layer:
    nd = len(ws) - 2
    if nd not in (1, 2):
        raise InvalidSpecError(f"{where}: node {name!r}: {nd}-D convolution is not supported")
    groups = int(a.get("group", 1))
    kern = list(ws[2:])
    strides = list(a.get("strides", [1] * nd))
    dil = list(a.get("dilations", [1] * nd))
    in_sp, out_sp = list(xs[2:]), list(ys[2:])
    pads = list(a.get("pads", [0] * (2 * nd)))
    auto = a.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else str(auto)
    sym = []
    for i in range(nd):
        if auto in ("SAME_UPPER", "SAME_LOWER"):
            total = max(0, (out_sp[i] - 1) * strides[i] + dil[i] * (kern[i] - 1) + 1 - in_sp[i])
        elif auto == "VALID":
            total = 0
        else:
            total = pads[i] + pads[i + nd]
        # ConvGeometry pads symmetrically; an odd total puts the extra pixel on one side,
        # which leaves the output size (and so the MACs) exactly as ONNX computes it.
        sym.append((total + 1) // 2 if total % 2 else total // 2)
    if nd == 1:
        kern, strides, dil, in_sp, out_sp, sym = [1, *kern], [1, *strides], [1, *dil], \
            [1, *in_sp], [1, *out_sp], [0, *sym]
    geom = ConvGeometry(in_channels=xs[1], out_channels=ws[0], in_h=in_sp[0], in_w=in_sp[1],
                        kernel_h=kern[0], kernel_w=kern[1], stride_h=strides[0],
                        stride_w=strides[1], pad_h=sym[0], pad_w=sym[1], groups=groups,
                        dilation_h=dil[0], dilation_w=dil[1])
    if (geom.out_h, geom.out_w) != (out_sp[0], out_sp[1]):
        # odd asymmetric padding whose rounding changes the output size: take the exact count
        raise InvalidSpecError(f"{where}: node {name!r}: padding {pads} gives output "
                               f"{out_sp} that symmetric padding cannot express")
    return Layer.conv2d(name, geom, images=xs[0])
