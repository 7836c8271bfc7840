"""Workload IR: `Layer`, `OpKind`, `ConvGeometry`, `Phase`, `Workload`.

Every op has a GEMM view (M x K) . (K x N), repeated `batch` times:

- LINEAR:    M = batch*tokens, K = in_features, N = out_features, batch = 1
- CONV2D:    im2col, M = images*OH*OW, K = C/groups*R*S, N = out_channels/groups,
             batch = groups (each group is its own GEMM)
- DWCONV2D:  depthwise conv, groups = C: K = R*S, N = channel multiplier, batch = C
- MATMUL:    activation x activation (attention scores / context); batch = seqs*heads
- EMBEDDING: a table lookup: no MACs, M = tokens, K = vocab rows, N = width
- CONV_TRANSPOSE: transposed conv (1-D as 1 x L) in its scatter GEMM view: every input
             pixel times the (C_in/groups) x (C_out/groups * R * S) weight, M = images*H*W
             of the input, K = C_in/groups, N = C_out/groups*R*S, batch = groups; the
             col2im overlap-add is not a MAC. No conv geometry (the GEMM is dense).

`weight_params` counts stored parameters (biases excluded; norms are not layers).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from lowbit.kernels_ref.errors import InvalidSpecError

if TYPE_CHECKING:  # networkx loads on first use of a graph (it is slow to import)
    import networkx as nx

__all__ = ["ConvGeometry", "Layer", "OpKind", "Phase", "Workload"]


class OpKind(enum.Enum):
    LINEAR = "linear"
    CONV2D = "conv2d"
    DWCONV2D = "dwconv2d"
    MATMUL = "matmul"
    EMBEDDING = "embedding"
    CONV_TRANSPOSE = "conv_transpose"


class Phase(enum.Enum):
    PREFILL = "prefill"
    DECODE = "decode"
    INFERENCE = "inference"
    GENERATE = "generate"  # prefill of P tokens, then G decode steps at growing context


def _positive(owner: str, **values: int) -> None:
    for key, v in values.items():
        if not isinstance(v, int) or isinstance(v, bool):
            raise InvalidSpecError(f"{owner}: {key} must be an integer, got {v!r}")
        if v < 1:
            raise InvalidSpecError(f"{owner}: {key} must be positive, got {v}")


@dataclass(frozen=True)
class ConvGeometry:
    """2-D convolution geometry of one image; output size follows PyTorch's rule."""

    in_channels: int
    out_channels: int
    in_h: int
    in_w: int
    kernel_h: int
    kernel_w: int
    stride_h: int = 1
    stride_w: int = 1
    pad_h: int = 0
    pad_w: int = 0
    groups: int = 1
    dilation_h: int = 1
    dilation_w: int = 1

    def __post_init__(self) -> None:
        _positive("conv geometry", in_channels=self.in_channels, out_channels=self.out_channels,
                  in_h=self.in_h, in_w=self.in_w, kernel_h=self.kernel_h, kernel_w=self.kernel_w,
                  stride_h=self.stride_h, stride_w=self.stride_w, groups=self.groups,
                  dilation_h=self.dilation_h, dilation_w=self.dilation_w)
        if self.pad_h < 0 or self.pad_w < 0:
            raise InvalidSpecError(f"conv geometry: padding must be >= 0, got ({self.pad_h}, {self.pad_w})")
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise InvalidSpecError(
                f"conv geometry: groups={self.groups} must divide in_channels={self.in_channels} "
                f"and out_channels={self.out_channels}")
        if self.out_h < 1 or self.out_w < 1:
            raise InvalidSpecError("conv geometry: kernel larger than padded input")

    @property
    def out_h(self) -> int:
        return (self.in_h + 2 * self.pad_h - self.dilation_h * (self.kernel_h - 1) - 1) // self.stride_h + 1

    @property
    def out_w(self) -> int:
        return (self.in_w + 2 * self.pad_w - self.dilation_w * (self.kernel_w - 1) - 1) // self.stride_w + 1

    @property
    def depthwise(self) -> bool:
        return self.groups == self.in_channels and self.groups > 1


@dataclass(frozen=True)
class Layer:
    """One operator in GEMM view. Build with the classmethods; fields are validated."""

    name: str
    op: OpKind
    m: int
    k: int
    n: int
    batch: int = 1
    conv: ConvGeometry | None = None
    images: int = 1
    # MATMUL only: consecutive batch entries sharing one second operand (grouped-query
    # attention: query heads per K/V head), so K/V are read once per kv-head.
    kv_share: int = 1
    # name of the layer whose weights this one reuses (tied lm_head): no stored params.
    tied_to: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise InvalidSpecError(f"layer name must be a non-empty string, got {self.name!r}")
        if not isinstance(self.op, OpKind):
            raise InvalidSpecError(f"layer {self.name}: op must be an OpKind, got {self.op!r}")
        _positive(f"layer {self.name}", m=self.m, k=self.k, n=self.n, batch=self.batch, images=self.images)
        if self.op in (OpKind.CONV2D, OpKind.DWCONV2D) and self.conv is None:
            raise InvalidSpecError(f"layer {self.name}: {self.op.value} needs conv geometry")
        _positive(f"layer {self.name}", kv_share=self.kv_share)
        if self.kv_share > 1 and (self.op is not OpKind.MATMUL or self.batch % self.kv_share):
            raise InvalidSpecError(f"layer {self.name}: kv_share={self.kv_share} needs a MATMUL whose "
                                   f"batch={self.batch} it divides")

    # ------------------------------------------------------------ constructors
    @classmethod
    def linear(cls, name: str, tokens: int, in_features: int, out_features: int,
               tied_to: str | None = None) -> Layer:
        return cls(name, OpKind.LINEAR, tokens, in_features, out_features, tied_to=tied_to)

    @classmethod
    def conv2d(cls, name: str, geom: ConvGeometry, images: int = 1) -> Layer:
        _positive(f"layer {name}", images=images)
        g = geom.groups
        op = OpKind.DWCONV2D if geom.depthwise else OpKind.CONV2D
        return cls(name, op, images * geom.out_h * geom.out_w,
                   geom.in_channels // g * geom.kernel_h * geom.kernel_w,
                   geom.out_channels // g, batch=g, conv=geom, images=images)

    @classmethod
    def matmul(cls, name: str, m: int, k: int, n: int, batch: int = 1, kv_share: int = 1) -> Layer:
        return cls(name, OpKind.MATMUL, m, k, n, batch=batch, kv_share=kv_share)

    @classmethod
    def conv_transpose(cls, name: str, in_pixels: int, in_channels: int, out_channels: int,
                       kernel_elems: int, groups: int = 1, images: int = 1) -> Layer:
        """Transposed conv in GEMM view: `in_pixels` input positions of one image."""
        _positive(f"layer {name}", in_pixels=in_pixels, in_channels=in_channels,
                  out_channels=out_channels, kernel_elems=kernel_elems, groups=groups, images=images)
        if in_channels % groups or out_channels % groups:
            raise InvalidSpecError(f"layer {name}: groups={groups} must divide in_channels="
                                   f"{in_channels} and out_channels={out_channels}")
        return cls(name, OpKind.CONV_TRANSPOSE, images * in_pixels, in_channels // groups,
                   out_channels // groups * kernel_elems, batch=groups, images=images)

    @classmethod
    def embedding(cls, name: str, tokens: int, vocab: int, width: int) -> Layer:
        return cls(name, OpKind.EMBEDDING, tokens, vocab, width)

    # ----------------------------------------------------------------- counts
    @property
    def has_weights(self) -> bool:
        return self.op is not OpKind.MATMUL

    @property
    def weight_params(self) -> int:
        if self.op is OpKind.MATMUL or self.tied_to is not None:
            return 0
        return self.batch * self.k * self.n

    @property
    def macs(self) -> int:
        return 0 if self.op is OpKind.EMBEDDING else self.batch * self.m * self.k * self.n

    @property
    def input_elems(self) -> int:
        """Elements of the activation input (conv: the un-im2col'd feature map)."""
        if self.op is OpKind.EMBEDDING:
            return self.m  # token ids
        if self.conv is not None:
            c = self.conv
            return self.images * c.in_channels * c.in_h * c.in_w
        return self.batch * self.m * self.k

    @property
    def weight_elems(self) -> int:
        """Elements of the second operand: weights, or the other activation for MATMUL."""
        if self.op is OpKind.EMBEDDING:
            return self.m * self.n  # rows actually read
        return self.batch * self.k * self.n // self.kv_share

    @property
    def output_elems(self) -> int:
        return self.batch * self.m * self.n

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "op": self.op.value, "m": self.m, "k": self.k, "n": self.n,
                "batch": self.batch, "weight_params": self.weight_params, "macs": self.macs}


@dataclass(frozen=True)
class Workload:
    """A model as ordered layers plus a data-dependency DAG over their names.

    `edges` name producer -> consumer; residual branches are kept as edges.
    With `edges=None` the layers form a chain.
    """

    name: str
    phase: Phase
    layers: tuple[Layer, ...]
    edges: tuple[tuple[str, str], ...] | None = None
    batch: int = 1
    seq_len: int = 0
    meta: tuple[tuple[str, object], ...] = field(default=())

    def __post_init__(self) -> None:
        if not self.layers:
            raise InvalidSpecError(f"workload {self.name}: has no layers")
        names = [l.name for l in self.layers]
        if len(set(names)) != len(names):
            dup = min({n for n in names if names.count(n) > 1})
            raise InvalidSpecError(f"workload {self.name}: duplicate layer name {dup!r}")
        if self.edges is not None:
            known = set(names)
            for a, b in self.edges:
                if a not in known or b not in known:
                    raise InvalidSpecError(f"workload {self.name}: edge ({a!r}, {b!r}) names an unknown layer")
            import networkx as nx

            if not nx.is_directed_acyclic_graph(self.graph):
                raise InvalidSpecError(f"workload {self.name}: dependency graph has a cycle")

    @cached_property
    def graph(self) -> nx.DiGraph:
        import networkx as nx

        g = nx.DiGraph()
        for l in self.layers:
            g.add_node(l.name, layer=l)
        if self.edges is None:
            g.add_edges_from(zip([l.name for l in self.layers[:-1]], [l.name for l in self.layers[1:]]))
        else:
            g.add_edges_from(self.edges)
        return g

    @cached_property
    def by_name(self) -> dict[str, Layer]:
        return {l.name: l for l in self.layers}

    @property
    def total_params(self) -> int:
        return sum(l.weight_params for l in self.layers)

    @property
    def total_macs(self) -> int:
        return sum(l.macs for l in self.layers)

    @property
    def mac_coverage(self) -> float:
        """Fraction of the source model's MACs held by the layers. A traced workload records
        the source's MACs as counted independently (torch's FLOP counter) in
        `meta["source_macs"]`; a workload built from a complete description (zoo builders,
        configs) covers its model by construction: 1.0."""
        src = dict(self.meta).get("source_macs")
        if src is None:
            return 1.0
        return 1.0 if int(src) == 0 else self.total_macs / int(src)  # type: ignore[call-overload]

    @property
    def param_coverage(self) -> float:
        """Fraction of the source model's parameters the workload accounts for: layer
        weights plus `meta["aux_params"]` over `meta["source_params"]` (traced workloads);
        1.0 for workloads built from a complete description."""
        m = dict(self.meta)
        src = m.get("source_params")
        if src is None:
            return 1.0
        held = self.total_params + int(m.get("aux_params", 0))  # type: ignore[call-overload]
        return 1.0 if int(src) == 0 else held / int(src)  # type: ignore[call-overload]

    def kv_cache_bytes(self, bits_per_elem: float, batch: int | None = None) -> float:
        """Bytes of the KV cache at the workload's context (decoder LLMs; 0 for a model
        without one) with K and V stored at `bits_per_elem` (e.g. a format's
        `bits_per_weight`), for `batch` sequences (default: the workload's batch).
        `meta` carries `kv_elems_per_token_layer` and `kv_cached_tokens` (summed over layers)."""
        m = dict(self.meta)
        per, tokens = m.get("kv_elems_per_token_layer"), m.get("kv_cached_tokens")
        if per is None or tokens is None:
            return 0.0
        b = self.batch if batch is None else batch
        return float(per) * float(tokens) * b * float(bits_per_elem) / 8.0  # type: ignore[arg-type]

    def summary(self) -> dict[str, object]:
        return {"name": self.name, "phase": self.phase.value, "total_params": self.total_params,
                "total_macs": self.total_macs, "layers": [l.to_dict() for l in self.layers]}

    def gemm_layers(self) -> tuple[Layer, ...]:
        """Layers that do MACs (everything but embeddings)."""
        return tuple(l for l in self.layers if l.macs > 0)


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


