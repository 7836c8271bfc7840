"""hwsim.spec MemoryRules (`memory:` in YAML) and the traffic rules hwsim.memory applies with them.

Every value below is derived by hand in its comment; the rules mirror the Bit Fusion simulator
(hsharma35/bitfusion optimizer.py get_stats_fast), which `bitfusion-*` presets opt into.
"""

from __future__ import annotations

import pytest
import torch
from lowbit.hwsim.memory import LOOP_ORDERS, GemmShape, halo_scale, padded_m_trips, price_candidates
from lowbit.hwsim.spec import (
    Accelerator,
    Im2colInput,
    MemoryRules,
    SramCounts,
    accelerator,
    list_presets,
    load_accelerator,
)
from lowbit.kernels_ref.errors import InvalidSpecError
from lowbit.kernels_ref.formats import Format
from lowbit.mapper import layer_gemm
from lowbit.mapper.tiling import conv_block_sizes, whole_window_k_sizes
from lowbit.models.ir import ConvGeometry, Layer

torch.set_num_threads(1)
I8 = Format.parse("int8")


def _acc(memory=None):
    kw = {"memory": memory} if memory is not None else {}
    return accelerator(
        name="rules", freq_hz=1e9, node_nm=45,
        core={"family": "mac_array", "style": "systolic", "rows": 4, "cols": 4, "dataflows": ["os"],
              "precisions": ["int8"], "rates": [1.0]},
        buffers=[{"name": "buf", "operands": ["input", "weight", "output"], "size_bytes": 1 << 20,
                  "bandwidth_bytes_per_cycle": 1e6, "banks": 1, "double_buffered": True}],
        dram={"bandwidth_bytes_per_cycle": 8.0}, **kw)


def _dram(acc, shape, tile=(16, 16, 16), order="mkn"):
    return float(price_candidates(shape, I8, I8, acc, *tile, LOOP_ORDERS.index(order), 0).dram_bytes[()])


def test_defaults_off_and_other_presets_unchanged():
    assert _acc().memory == MemoryRules()
    for name in list_presets():
        acc = load_accelerator(name)
        if name.startswith("bitmod"):  # bitmod_sim's whole-layer re-fetch (tests/hwsim/test_bitmod_sim.py)
            assert acc.memory == MemoryRules(whole_layer_refetch=True, sram_counts=SramCounts.ARRAY_STEPS), name
        elif not name.startswith("bitfusion-"):
            assert acc.memory == MemoryRules(), name
            assert "memory" not in acc.to_dict(), name


def test_bitfusion_presets_opt_in_and_round_trip():
    for name in ("bitfusion-eyeriss-budget", "bitfusion-stripes-budget"):
        acc = load_accelerator(name)
        # the Eyeriss-budget preset also prices energy as the simulator counts it (test_bitfusion_energy.py)
        counts = SramCounts.STATIONARY_INNER if name == "bitfusion-eyeriss-budget" else SramCounts.TILES
        assert acc.memory == MemoryRules(output_bits=32, output_read_before_write=True,
                                         im2col_input=Im2colInput.HOST, conv_input_halo=True, padded_tiles=True,
                                         array_padding=True, block_promotion=True, sram_counts=counts)
        assert Accelerator.from_dict(acc.to_dict()) == acc
        # simulator.py get_energy_cost: IBUF 16 banks x 32 bits, WBUF 512 x 32 bits -> bytes/cycle
        assert acc.buffer_for("input").bandwidth_bytes_per_cycle == 16 * 32 / 8
        assert acc.buffer_for("weight").bandwidth_bytes_per_cycle == 512 * 32 / 8
    off = load_accelerator("bitfusion-eyeriss-budget").with_changes(memory__padded_tiles=False)
    assert off.memory.padded_tiles is False and off.memory.output_bits == 32
    assert _acc().with_changes(memory__output_bits=16).memory.output_bits == 16


@pytest.mark.parametrize("memory, key", [
    ({"output_bits": 0}, "memory.output_bits"),
    ({"output_bits": "32"}, "memory.output_bits"),
    ({"im2col_input": "gpu"}, "memory.im2col_input"),
    ({"padded_tiles": 1}, "memory.padded_tiles"),
    ({"psum_spill": True}, "memory.psum_spill"),
])
def test_bad_memory_rules_name_the_key(memory, key):
    with pytest.raises(InvalidSpecError, match=key.split(".")[-1]):
        _acc(memory)


def test_output_bits_and_read_before_write_hand_derived():
    shape = GemmShape(m=16, k=16, n=16)  # one 16x16x16 tile, everything fits: compulsory traffic only
    # default: input 256 B + weight 256 B + output 256 B (int8)
    assert _dram(_acc(), shape) == 256 + 256 + 256
    # 32-bit outputs: output 16*16*4 = 1024 B written
    assert _dram(_acc({"output_bits": 32}), shape) == 256 + 256 + 1024
    # ... and read before written (Bit Fusion: reads['out'] == writes['out']): 1024 more
    assert _dram(_acc({"output_bits": 32, "output_read_before_write": True}), shape) == 256 + 256 + 2048


def test_host_im2col_input_reads_the_im2col_matrix():
    # 3-channel 8x8 image, 3x3 kernel, stride 1, no pad: 6x6 outputs; im2col'd input 36 x 27
    layer = Layer.conv2d("c", ConvGeometry(3, 16, 8, 8, 3, 3))
    shape, _, _ = layer_gemm(layer)
    assert shape.input_scale == pytest.approx(3 * 8 * 8 / (36 * 27))   # feature map: 192 of 972
    shape, _, _ = layer_gemm(layer, host_im2col=True)
    assert shape.input_scale == 1.0                                    # the host's 972 elements


def test_halo_and_padded_blocks_hand_derived():
    # 13x13 output map, 3x3 kernel, stride 1, 16 images (AlexNet conv3-5 geometry)
    shape = GemmShape(m=16 * 169, k=9 * 64, n=64, k_segment=64, conv_window=(3, 3, 1, 1, 13, 13))
    # a 2x2 block needs a 4x4 input window: 16 pixels per 4 outputs x 9 taps -> 16/36
    assert float(halo_scale(shape, 4)) == pytest.approx(16 / 36)
    # an 8x8 block: (8+2)^2 = 100 pixels for 64 outputs x 9 taps
    assert float(halo_scale(shape, 64)) == pytest.approx(100 / (64 * 9))
    # padded blocks: ceil(13/2)^2 = 49 blocks of 2x2 per image; ceil(13/8)^2 = 4 of 8x8; whole images: 16
    assert int(padded_m_trips(shape, 4)) == 49 * 16
    assert int(padded_m_trips(shape, 64)) == 4 * 16
    assert int(padded_m_trips(shape, 169)) == 16
    # mapper candidates: sides 1, 2, 4, 8, 13 (min(2^i, 13)), then 2, 4, 8, 16 whole images
    assert conv_block_sizes(shape).tolist() == [1, 4, 16, 64, 169, 2 * 169, 4 * 169, 8 * 169, 16 * 169]
    # K tiles: min(2^i, 64) channels x the whole 3x3 window
    assert whole_window_k_sizes(shape).tolist() == [9 * c for c in (1, 2, 4, 8, 16, 32, 64)]


def test_padded_tiles_charge_the_edge_tile():
    acc = _acc({"padded_tiles": True})
    # m = 20 in tiles of 16: two whole tiles = 32 rows of input and output moved (int8, k = n = 16):
    # input 32*16 + weight 16*16 + output 32*16 bytes
    assert _dram(acc, GemmShape(m=20, k=16, n=16)) == 32 * 16 + 256 + 32 * 16
    assert _dram(_acc(), GemmShape(m=20, k=16, n=16)) == 20 * 16 + 256 + 20 * 16
