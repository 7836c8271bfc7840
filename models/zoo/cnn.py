"""ImageNet CNNs at 224x224 in torchvision's layer shapes: AlexNet, VGG-16,
ResNet-18, ResNet-50, MobileNetV2.

Layer names follow torchvision's module names (`layer1.0.conv1`,
`features.3.conv.1.0`...), so a traced torchvision-shaped module lines up.
Pools, BatchNorm, ReLU and adds are not layers (no MACs, no weight matrices).
`total_params` counts conv and fc weights; `meta["aux_params"]` holds the
biases and BatchNorm affine parameters (2 per channel; running statistics are
buffers, not parameters), so weights + aux equals torchvision's
`sum(p.numel() for p in model.parameters())`.

Edges: the chain plus ResNet shortcuts (block input -> block output consumer,
including the downsample 1x1 conv) and MobileNetV2 inverted-residual skips.
"""

from __future__ import annotations

from collections.abc import Callable

from lowbit.kernels_ref.errors import InvalidSpecError
from lowbit.models.ir import ConvGeometry, Layer, Phase, Workload

__all__ = ["CNN_BUILDERS", "build_cnn"]


class _Net:
    """Tracks feature-map size and the producers of the current tensor."""

    def __init__(self, images: int, size: int = 224, channels: int = 3) -> None:
        self.images = images
        self.h = self.w = size
        self.c = channels
        self.layers: list[Layer] = []
        self.edges: list[tuple[str, str]] = []
        self.aux = 0

    def conv(self, name: str, src: list[str], out: int, k: int, stride: int = 1, pad: int = 0,
             groups: int = 1, bias: bool = False, bn: bool = True,
             hw: tuple[int, int, int] | None = None) -> tuple[str, tuple[int, int, int]]:
        h, w, c = hw if hw is not None else (self.h, self.w, self.c)
        geom = ConvGeometry(c, out, h, w, k, k, stride, stride, pad, pad, groups)
        self.layers.append(Layer.conv2d(name, geom, images=self.images))
        self.edges.extend((s, name) for s in dict.fromkeys(src))
        self.aux += (out if bias else 0) + (2 * out if bn else 0)
        self.h, self.w, self.c = geom.out_h, geom.out_w, out
        return name, (geom.out_h, geom.out_w, out)

    def pool(self, k: int, stride: int, pad: int = 0) -> None:
        self.h = (self.h + 2 * pad - k) // stride + 1
        self.w = (self.w + 2 * pad - k) // stride + 1

    def fc(self, name: str, src: list[str], in_features: int, out: int) -> str:
        self.layers.append(Layer.linear(name, self.images, in_features, out))
        self.edges.extend((s, name) for s in dict.fromkeys(src))
        self.aux += out  # bias
        return name

    def workload(self, name: str) -> Workload:
        return Workload(name, Phase.INFERENCE, tuple(self.layers), tuple(self.edges), batch=self.images,
                        meta=(("aux_params", self.aux), ("image_size", 224)))


def alexnet(images: int) -> Workload:
    n = _Net(images)
    a, _ = n.conv("features.0", [], 64, 11, 4, 2, bias=True, bn=False)
    n.pool(3, 2)
    a, _ = n.conv("features.3", [a], 192, 5, 1, 2, bias=True, bn=False)
    n.pool(3, 2)
    a, _ = n.conv("features.6", [a], 384, 3, 1, 1, bias=True, bn=False)
    a, _ = n.conv("features.8", [a], 256, 3, 1, 1, bias=True, bn=False)
    a, _ = n.conv("features.10", [a], 256, 3, 1, 1, bias=True, bn=False)
    n.pool(3, 2)  # 13 -> 6; the adaptive 6x6 average pool is then the identity
    a = n.fc("classifier.1", [a], 256 * 6 * 6, 4096)
    a = n.fc("classifier.4", [a], 4096, 4096)
    n.fc("classifier.6", [a], 4096, 1000)
    return n.workload("alexnet")


def vgg16(images: int) -> Workload:
    n = _Net(images)
    cfg: list[int | str] = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
    src: list[str] = []
    idx = 0
    for v in cfg:
        if v == "M":
            n.pool(2, 2)
            idx += 1
        else:
            name, _ = n.conv(f"features.{idx}", src, int(v), 3, 1, 1, bias=True, bn=False)
            src = [name]
            idx += 2  # conv, relu
    a = n.fc("classifier.0", src, 512 * 7 * 7, 4096)
    a = n.fc("classifier.3", [a], 4096, 4096)
    n.fc("classifier.6", [a], 4096, 1000)
    return n.workload("vgg16")


def _resnet(name: str, images: int, bottleneck: bool, blocks: tuple[int, ...]) -> Workload:
    n = _Net(images)
    a, _ = n.conv("conv1", [], 64, 7, 2, 3)
    n.pool(3, 2, 1)
    stream = [a]
    expansion = 4 if bottleneck else 1
    for li, (count, width) in enumerate(zip(blocks, (64, 128, 256, 512)), start=1):
        for bi in range(count):
            p = f"layer{li}.{bi}"
            stride = 2 if (bi == 0 and li > 1) else 1
            hw_in = (n.h, n.w, n.c)
            out_c = width * expansion
            need_ds = stride != 1 or n.c != out_c
            if bottleneck:
                x, _ = n.conv(f"{p}.conv1", stream, width, 1)
                x, _ = n.conv(f"{p}.conv2", [x], width, 3, stride, 1)
                x, hw_out = n.conv(f"{p}.conv3", [x], out_c, 1)
            else:
                x, _ = n.conv(f"{p}.conv1", stream, width, 3, stride, 1)
                x, hw_out = n.conv(f"{p}.conv2", [x], width, 3, 1, 1)
            if need_ds:
                ds, _ = n.conv(f"{p}.downsample.0", stream, out_c, 1, stride, hw=hw_in)
                stream = [x, ds]
            else:
                stream = [x, stream[0]]
            n.h, n.w, n.c = hw_out
    n.fc("fc", stream, n.c, 1000)  # after the global average pool
    return n.workload(name)


def resnet18(images: int) -> Workload:
    return _resnet("resnet18", images, False, (2, 2, 2, 2))


def resnet50(images: int) -> Workload:
    return _resnet("resnet50", images, True, (3, 4, 6, 3))


def mobilenetv2(images: int) -> Workload:
    n = _Net(images)
    a, _ = n.conv("features.0.0", [], 32, 3, 2, 1)
    stream = [a]
    settings = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                (6, 320, 1, 1))
    idx = 1
    for t, c, reps, s in settings:
        for r in range(reps):
            stride = s if r == 0 else 1
            p = f"features.{idx}.conv"
            c_in = n.c
            hidden = c_in * t
            j = 0
            src = stream
            if t != 1:
                x, _ = n.conv(f"{p}.{j}.0", src, hidden, 1)
                src, j = [x], j + 1
            x, _ = n.conv(f"{p}.{j}.0", src, hidden, 3, stride, 1, groups=hidden)
            x, _ = n.conv(f"{p}.{j + 1}", [x], c, 1)
            stream = [x, stream[0]] if (stride == 1 and c_in == c) else [x]
            idx += 1
    a, _ = n.conv("features.18.0", stream, 1280, 1)
    n.fc("classifier.1", [a], 1280, 1000)
    return n.workload("mobilenetv2")


CNN_BUILDERS = {"alexnet": alexnet, "vgg16": vgg16, "resnet18": resnet18, "resnet50": resnet50,
                "mobilenetv2": mobilenetv2}


def build_cnn(name: str, phase: str | Phase | None = None, seq_len: int | None = None, batch: int = 1,
              context_len: int | None = None, *, builder: Callable[[int], Workload] | None = None
              ) -> Workload:
    """A CNN workload; only the `inference` phase exists, `batch` is the image count.
    `builder(batch)` builds a CNN that is not in `CNN_BUILDERS` (the digits CNN)."""
    if phase is not None:
        try:
            ph = phase if isinstance(phase, Phase) else Phase(str(phase).lower())
        except ValueError:
            raise InvalidSpecError(f"model {name}: unknown phase {phase!r} "
                                   f"(one of {', '.join(p.value for p in Phase)})") from None
        if ph is not Phase.INFERENCE:
            raise InvalidSpecError(f"model {name}: phase {ph.value!r} is not valid for a CNN "
                                   "(only 'inference')")
    if seq_len is not None or context_len is not None:
        raise InvalidSpecError(f"model {name}: a CNN takes no sequence or context length")
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise InvalidSpecError(f"model {name}: batch must be a positive integer, got {batch!r}")
    if builder is None:
        try:
            builder = CNN_BUILDERS[name]
        except KeyError:
            raise InvalidSpecError(f"unknown CNN {name!r} (known: {', '.join(CNN_BUILDERS)})") from None
    return builder(batch)
