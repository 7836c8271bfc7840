"""The eight Bit Fusion benchmark networks (Sharma et al., ISCA 2018).

Layer shapes and per-layer precisions are transcribed from the Bit Fusion
repository, hsharma35/bitfusion, `bitfusion/src/benchmarks/benchmarks.py`
(commit 0246bc4c): batch 16; TensorFlow padding (SAME -> (k-1)/2 here, VALID
-> 0); 2x2 max-pools of stride 2 (not layers here: no MACs). A layer's
activation precision is the dtype of its *input* tensor (the Bit Fusion
simulator reads `op.data.dtype.bits`), its weight precision the weights'
dtype. FQDtype.Bin is 1 bit (`binary`), FXPn is `intn`.

`bitfusion_sim_per_layer.csv` (the published simulator output, in
/work/shared/data/bitfusion/) was produced with the WRPN variants of AlexNet
and ResNet-18 (`get_bench_nn(bench, WRPN=True)`: AlexNet 2x wide with 8-bit
conv1 weights, ResNet-18 2x wide with 8-bit conv1 weights). That is checked,
not assumed: the CSV's compute cycles (Cycles - Memory wait) equal
`accelerator.get_compute_cycles` only with the WRPN shapes (e.g. AlexNet fc1
1,179,648 = 16 * ceil(8192/32) * ceil(18432/(16*4)); the plain AlexNet's fc1
would be 4096 wide). So `WRPN` is the default here; `wrpn=False` gives the
plain networks.
"""

from __future__ import annotations

from lowbit.kernels_ref.errors import InvalidSpecError
from lowbit.models.ir import ConvGeometry, Layer, Phase, Workload

__all__ = ["BENCHMARKS", "bitfusion_benchmark", "bitfusion_formats", "first_layers"]

BENCHMARKS: tuple[str, ...] = ("AlexNet", "SVHN", "CIFAR10", "LeNet-5", "VGG-7", "RESNET-18", "RNN", "LSTM")
BATCH = 16


class _Builder:
    """Tracks the feature map (h, w, channels, dtype) through a network."""

    def __init__(self, h: int, w: int, c: int, dtype: str) -> None:
        self.layers: list[Layer] = []
        self.formats: dict[str, tuple[str, str]] = {}
        self.first: set[str] = set()
        self.h, self.w, self.c, self.dtype = h, w, c, dtype

    def conv(self, name: str, src: tuple[int, int, int, str], filters: int, k: int, stride: int,
             same: bool, c_dtype: str, w_dtype: str, first: bool = False) -> tuple[int, int, int, str]:
        h, w, c, a_dtype = src
        pad = (k - 1) // 2 if same else 0
        if same and stride > 1:
            # TF SAME pads (total) = (ceil(h/s)-1)*s + k - h, the extra pixel at the bottom;
            # a symmetric pad of ceil(total/2) gives the same output size
            pad = -(-max(0, ((-(-h // stride)) - 1) * stride + k - h) // 2)
        geom = ConvGeometry(c, filters, h, w, k, k, stride, stride, pad, pad)
        layer = Layer.conv2d(name, geom, images=BATCH)
        self.layers.append(layer)
        self.formats[name] = (w_dtype, a_dtype)
        if first:
            self.first.add(name)
        return geom.out_h, geom.out_w, filters, c_dtype

    def fc(self, name: str, in_features: int, a_dtype: str, out: int, w_dtype: str) -> None:
        self.layers.append(Layer.linear(name, BATCH, in_features, out))
        self.formats[name] = (w_dtype, a_dtype)


def _pool(src: tuple[int, int, int, str]) -> tuple[int, int, int, str]:
    h, w, c, d = src
    return (h - 2) // 2 + 1, (w - 2) // 2 + 1, c, d


def _alexnet(b: _Builder, wrpn: bool) -> None:
    x = (227, 227, 3, "int8")
    s = 2 if wrpn else 1
    w1 = "int8" if wrpn else "int4"
    c1a = b.conv("conv1_a", x, 48 * s, 11, 4, False, "int4", w1, first=True)
    c1b = b.conv("conv1_b", x, 48 * s, 11, 4, False, "int4", w1, first=True)
    c2a = b.conv("conv2_a", _pool(c1a), 128 * s, 5, 1, True, "int4", "int4")
    c2b = b.conv("conv2_b", _pool(c1b), 128 * s, 5, 1, True, "int4", "int4")
    p2a = _pool(c2a)
    cat2 = (p2a[0], p2a[1], p2a[2] + _pool(c2b)[2], "int4")
    c3a = b.conv("conv3_a", cat2, 192 * s, 3, 1, True, "int4", "int4")
    c3b = b.conv("conv3_b", cat2, 192 * s, 3, 1, True, "int4", "int4")
    c4a = b.conv("conv4_a", c3a, 192 * s, 3, 1, True, "int4", "int4")
    c4b = b.conv("conv4_b", c3b, 192 * s, 3, 1, True, "int4", "int4")
    c5a = b.conv("conv5_a", c4a, 128 * s, 3, 1, True, "int4", "int4")
    c5b = b.conv("conv5_b", c4b, 128 * s, 3, 1, True, "int4", "int4")
    p5 = _pool(c5a)
    flat = p5[0] * p5[1] * (c5a[2] + c5b[2])
    # concat5 has no dtype in benchmarks.py; its inputs are FXP4 -> 4-bit activations
    b.fc("fc1", flat, "int4", 4096 * s, "int4")
    b.fc("fc2", 4096 * s, "int4", 4096 * s, "int4")
    b.fc("fc3", 4096 * s, "int8", 1000, "int8")


def _svhn(b: _Builder) -> None:
    x = (32, 32, 3, "int8")
    c0 = b.conv("conv0", x, 64, 3, 1, True, "binary", "binary", first=True)
    c1 = b.conv("conv1", c0, 64, 3, 1, True, "binary", "binary")
    c2 = b.conv("conv2", _pool(c1), 128, 3, 1, True, "binary", "binary")
    c3 = b.conv("conv3", c2, 128, 3, 1, True, "binary", "binary")
    c4 = b.conv("conv4", _pool(c3), 256, 3, 1, True, "binary", "binary")
    c5 = b.conv("conv5", c4, 256, 3, 1, True, "binary", "binary")
    p5 = _pool(c5)
    b.fc("fc6", p5[0] * p5[1] * p5[2], "binary", 1024, "binary")
    b.fc("fc7", 1024, "binary", 1024, "binary")
    b.fc("fc8", 1024, "binary", 10, "binary")


def _cifar10(b: _Builder) -> None:
    x = (32, 32, 3, "int8")
    c0 = b.conv("conv0", x, 128, 3, 1, True, "int2", "int8", first=True)
    c1 = b.conv("conv1", c0, 128, 3, 1, True, "int2", "int2")
    c2 = b.conv("conv2", _pool(c1), 256, 3, 1, True, "int2", "int2")
    c3 = b.conv("conv3", c2, 256, 3, 1, True, "int2", "int2")
    c4 = b.conv("conv4", _pool(c3), 512, 3, 1, True, "int2", "int2")
    c5 = b.conv("conv5", c4, 512, 3, 1, True, "int2", "int2")
    p5 = _pool(c5)
    b.fc("fc6", p5[0] * p5[1] * p5[2], "int2", 1024, "int2")
    b.fc("fc7", 1024, "int2", 1024, "int2")
    b.fc("fc8", 1024, "int2", 10, "int2")


def _lenet5(b: _Builder) -> None:
    x = (32, 32, 1, "int2")
    c0 = b.conv("conv0", x, 32, 5, 1, True, "int2", "int2", first=True)
    c1 = b.conv("conv1", _pool(c0), 64, 5, 1, True, "int2", "int2")
    p1 = _pool(c1)
    b.fc("fc1", p1[0] * p1[1] * p1[2], "int2", 512, "int2")
    b.fc("fc2", 512, "int2", 10, "int2")


def _vgg7(b: _Builder) -> None:
    x = (32, 32, 3, "int2")
    c1a = b.conv("conv1_a", x, 128, 3, 1, True, "int2", "int2", first=True)
    c1b = b.conv("conv1_b", x, 128, 3, 1, True, "int2", "int2", first=True)
    c2a = b.conv("conv2_a", _pool(c1a), 256, 3, 1, True, "int2", "int2")
    c2b = b.conv("conv2_b", _pool(c1b), 256, 3, 1, True, "int2", "int2")
    c3a = b.conv("conv3_a", _pool(c2a), 512, 3, 1, True, "int2", "int2")
    b.conv("conv3_b", _pool(c2b), 512, 3, 1, True, "int2", "int2")
    p3 = _pool(c3a)
    # add3 has no dtype; its inputs are FXP2
    b.fc("fc1", p3[0] * p3[1] * p3[2], "int2", 1024, "int2")


def _resnet18(b: _Builder, wrpn: bool) -> None:
    s = 2 if wrpn else 1
    x = (224, 224, 3, "int8")
    c1 = b.conv("conv1_a", x, 64 * s, 7, 2, True, "int4", "int8", first=True)
    prev = _pool(c1)
    for mod, filters in ((2, 64), (3, 128), (4, 256), (5, 512)):
        for i in (1, 2):
            stride = 2 if (mod > 2 and i == 1) else 1
            a = b.conv(f"module{mod}/conv{mod}_{i}_a", prev, filters * s, 1, stride, True, "int4", "int4")
            prev = b.conv(f"module{mod}/conv{mod}_{i}_b", a, filters * s, 3, 1, True, "int4", "int4")
        # add{mod} (conv_a + conv_b) feeds the next module; same shape as conv_b


def _recurrent(b: _Builder, size: int, gates: int) -> None:
    b.fc("matmul", size * gates, "int4", gates * size, "int4")


def _build(name: str, wrpn: bool) -> _Builder:
    b = _Builder(0, 0, 0, "")
    if name == "AlexNet":
        _alexnet(b, wrpn)
    elif name == "SVHN":
        _svhn(b)
    elif name == "CIFAR10":
        _cifar10(b)
    elif name == "LeNet-5":
        _lenet5(b)
    elif name == "VGG-7":
        _vgg7(b)
    elif name == "RESNET-18":
        _resnet18(b, wrpn)
    elif name == "RNN":
        _recurrent(b, 2048, 2)   # get_RNN('RNN', 2048): input 2*size -> 2*size
    elif name == "LSTM":
        _recurrent(b, 900, 4)    # get_LSTM('LSTM', 900): input 4*size -> 4*size
    else:
        raise InvalidSpecError(f"unknown Bit Fusion benchmark {name!r} (known: {', '.join(BENCHMARKS)})")
    return b


def bitfusion_benchmark(name: str, wrpn: bool = True) -> Workload:
    """One benchmark as a Workload (batch 16, inference)."""
    b = _build(name, wrpn)
    return Workload(name=name, phase=Phase.INFERENCE, layers=tuple(b.layers), batch=BATCH,
                    meta=(("source", "hsharma35/bitfusion bitfusion/src/benchmarks/benchmarks.py"),
                          ("wrpn", wrpn)))


def bitfusion_formats(name: str, wrpn: bool = True) -> dict[str, tuple[str, str]]:
    """Per-layer (weight format, activation format) strings, e.g. {'conv1_a': ('int8', 'int8')}."""
    return dict(_build(name, wrpn).formats)


def first_layers(name: str, wrpn: bool = True) -> frozenset[str]:
    """Layers that read the network input (the Bit Fusion simulator runs these with im2col)."""
    return frozenset(_build(name, wrpn).first)
