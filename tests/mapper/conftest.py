"""Shared fixtures of the mapper tests."""

from __future__ import annotations

import itertools

import pytest
from lowbit.hwsim.spec import load_accelerator
from lowbit.kernels_ref.formats import Format
from lowbit.mapper import fast
from lowbit.models.ir import ConvGeometry, Layer, OpKind


@pytest.fixture(scope="session")
def layers():
    """A decode and a prefill LLM linear, a small linear, an attention matmul, and three convs
    (3x3, a strided 7x7 stem over two images, a depthwise 3x3)."""
    return [
        Layer.linear("fc_decode", 1, 4096, 11008),
        Layer.linear("fc_prefill", 2048, 4096, 4096),
        Layer.linear("fc_small", 100, 300, 200),
        Layer.matmul("att", 128, 64, 128, batch=32),
        Layer.conv2d("conv3", ConvGeometry(64, 64, 56, 56, 3, 3, pad_h=1, pad_w=1)),
        Layer.conv2d("conv1", ConvGeometry(3, 64, 224, 224, 7, 7, 2, 2, 3, 3), images=2),
        Layer.conv2d("dw", ConvGeometry(96, 96, 28, 28, 3, 3, pad_h=1, pad_w=1, groups=96)),
    ]


@pytest.fixture(params=["off", "on"])
def jit(request):
    """The mapper's latency search on numpy ("off") and through the compiled kernel ("on",
    `mapper.fast_jit`), each from its first search; the mode the process had is put back."""
    before = fast._JIT["mode"]
    fast.set_jit(request.param)
    yield request.param
    fast._JIT["mode"] = before


@pytest.fixture
def preset_cases(layers):
    """cases(preset, weights): (accelerator, layer, weight format, activation format) for every
    `layers` x weight format name on the preset, at its default activations (a MATMUL's second
    operand at the activation format too)."""
    def cases(preset: str, weights: tuple[str, ...]) -> list[tuple]:
        accel = load_accelerator(preset)
        a = accel.act_format
        return [(accel, layer, a if layer.op is OpKind.MATMUL else Format.parse(w), a)
                for w, layer in itertools.product(weights, layers)]
    return cases
