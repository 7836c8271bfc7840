"""`Model.mapping_hints`: what each core family tells the mapper and the memory model, and
`Accelerator.model()` built once per spec."""

from __future__ import annotations

import dataclasses

import pytest
from lowbit.hwsim.cores import family_module
from lowbit.hwsim.cores.base import CoreFamily, MappingHints
from lowbit.hwsim.cores.bit_serial import Spec as BitSerialSpec
from lowbit.hwsim.cores.mac_array import CoreStyle
from lowbit.hwsim.spec import list_presets, load_accelerator
from lowbit.kernels_ref.errors import InvalidSpecError
from lowbit.kernels_ref.formats import Format
from lowbit.models.ir import ConvGeometry, Layer

I8 = Format.parse("int8")
CONV = Layer.conv2d("c", ConvGeometry(in_channels=96, out_channels=256, in_h=27, in_w=27,
                                      kernel_h=5, kernel_w=5, pad_h=2, pad_w=2))
FC = Layer.linear("fc", 4, 512, 256)


def _legacy_dims(core: object) -> tuple[int, ...]:
    """The mapper's rule before mapping_hints: every int field/property > 1 of these names."""
    out = {v for f in ("rows", "cols", "tile_m", "tile_n", "tile_k", "lanes")
           if isinstance(v := getattr(core, f, None), int) and not isinstance(v, bool) and v > 1}
    return tuple(sorted(out))


@pytest.mark.parametrize("name", list_presets())
def test_hints_of_every_preset(name):
    accel = load_accelerator(name)
    h = accel.model().mapping_hints(FC)
    assert h.array_dims == _legacy_dims(accel.core)  # the mapper's tile candidates are unchanged
    assert h.accumulator_bits == accel.core.accumulator_bits
    assert h.k_segment == 0
    fam = accel.core_family
    if fam is CoreFamily.MAC_ARRAY:
        assert h.row_split is (accel.core.style is CoreStyle.TENSOR_CORE)
    else:
        assert h.row_split is (fam in (CoreFamily.LUT_TENSOR_CORE, CoreFamily.BINARY_TENSOR_CORE))
    assert h.min_tile_n == (accel.core.parallelism()[2] if fam is CoreFamily.BIT_SERIAL else 1)


def test_bit_fusion_conv_k_segment():
    accel = load_accelerator("bitfusion-eyeriss-budget")
    assert accel.core.conv_channelwise
    assert accel.model().mapping_hints(CONV).k_segment == 96  # input channels per kernel position
    assert accel.model().mapping_hints(FC).k_segment == 0
    assert accel.model().mapping_hints().k_segment == 0
    first = Layer.conv2d("c1", ConvGeometry(in_channels=3, out_channels=64, in_h=32, in_w=32,
                                            kernel_h=3, kernel_w=3))
    assert accel.model().mapping_hints(first).k_segment == 0  # the host im2cols the input layer
    plain = family_module(CoreFamily.BIT_SERIAL).Model(BitSerialSpec())
    assert plain.mapping_hints(CONV).k_segment == 0  # Stripes: an im2col GEMM


def test_k_segment_in_compute():
    bf = load_accelerator("bitfusion-eyeriss-budget").model()
    whole = bf.compute(CONV.m, CONV.k, CONV.n, I8, I8)
    assert bf.compute(CONV.m, CONV.k, CONV.n, I8, I8, k_segment=None).cycles == whole.cycles
    assert bf.compute(CONV.m, CONV.k, CONV.n, I8, I8, k_segment=0).cycles == whole.cycles
    assert bf.compute(CONV.m, CONV.k, CONV.n, I8, I8, k_segment=96).cycles == whole.cycles  # 96: whole steps
    seg = bf.compute(CONV.m, CONV.k, CONV.n, I8, I8, k_segment=60).cycles
    assert seg > whole.cycles  # 40 runs of 60, each padded to the array's K parallelism
    for name in ("tpu-like", "lut-tc-a100-like", "tmac-m2-neon", "btc-a100-like"):
        model = load_accelerator(name).model()
        w = Format.parse("int4")
        base = model.compute(8, 64, 8, w, I8, model.dataflows[0])
        assert model.compute(8, 64, 8, w, I8, model.dataflows[0], 1, k_segment=None).cycles == base.cycles
        with pytest.raises(InvalidSpecError, match="k_segment"):
            model.compute(8, 64, 8, w, I8, model.dataflows[0], 1, k_segment=16)


def test_model_built_once_per_spec():
    accel = load_accelerator("tpu-like")
    assert accel.model() is accel.model()
    other = accel.with_changes(num_cores=2)
    assert other.model() is not accel.model() and other.model() is other.model()
    assert other.model().spec == accel.model().spec
    assert accel == load_accelerator("tpu-like")  # the cached model is not part of equality
    assert hash(accel) == hash(load_accelerator("tpu-like"))


@pytest.mark.parametrize("bad", [{"array_dims": (8, 4)}, {"array_dims": (1, 4)}, {"array_dims": [4]},
                                 {"k_segment": -1}, {"k_segment": True}, {"row_split": 1},
                                 {"min_tile_n": 0}, {"accumulator_bits": 0}])
def test_hints_validated(bad):
    with pytest.raises(InvalidSpecError, match="mapping hints"):
        MappingHints(**bad)


def test_hints_frozen():
    h = MappingHints(array_dims=(4, 8))
    with pytest.raises(dataclasses.FrozenInstanceError):
        h.row_split = True  # type: ignore[misc]
