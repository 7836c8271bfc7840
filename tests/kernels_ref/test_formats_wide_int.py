"""INT/UINT formats of every width 1..16 (int9..int15 / uint9..uint15 added for bit-serial
precisions: Stripes' AlexNet activations are 9-8-5-5-7 bits, Judd et al., MICRO 2016)."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from lowbit.kernels_ref.errors import UnsupportedFormatError
from lowbit.kernels_ref.formats import Format, FormatKind, code_range
from lowbit.kernels_ref.quant import dequantize, pack, quantize, unpack

torch.set_num_threads(1)

_SETTINGS = settings(max_examples=60, deadline=None)
WIDTHS = range(1, 17)
WIDE = range(9, 17)


@pytest.mark.parametrize("bits", WIDTHS)
def test_every_width_parses_and_round_trips(bits):
    for kind in ("int", "uint"):
        for suffix in ("", "t", "g32", "g128_sfp32", "t_spow2"):
            name = f"{kind}{bits}{suffix}"
            f = Format.parse(name)
            assert f.bits == bits and f.kind is (FormatKind.INT if kind == "int" else FormatKind.UINT)
            assert str(f) == name and Format.parse(str(f)) == f
    # two's complement / unsigned ranges: [-2^(b-1), 2^(b-1)-1] and [0, 2^b-1]
    assert code_range(Format.parse(f"int{bits}")) == (-(1 << (bits - 1)), (1 << (bits - 1)) - 1)
    assert code_range(Format.parse(f"uint{bits}")) == (0, (1 << bits) - 1)


@pytest.mark.parametrize("bad", ["int17", "uint17", "int0", "uint0", "int32"])
def test_widths_outside_1_16_are_one_clear_error(bad):
    with pytest.raises(UnsupportedFormatError, match=rf"{bad}.*1-16 bits"):
        Format.parse(bad)


def test_storage_and_bits_per_weight_of_wide_ints():
    # hand: 12 + 16/128 = 12.125; 9 + 32/64 = 9.5; 13 + 8/128 = 13.0625
    assert Format.parse("int12g128").bits_per_weight == 12.125
    assert Format.parse("uint9g64_sfp32").bits_per_weight == 9.5
    assert Format.parse("int13g128_spow2").bits_per_weight == 13.0625
    # 10 x 3 uint9 codes + 3 per-channel fp16 scales: 270 + 48 = 318 bits
    assert Format.parse("uint9").storage_bits(10, 3) == 318.0
    # int15 per-tensor over 7 x 5: 525 + one 16-bit scale
    assert Format.parse("int15t").storage_bits(7, 5) == 541.0
    assert Format.parse("int11").bits_per_weight == 11.0


def test_pack_bit_order_for_widths_straddling_bytes():
    # int9 [-1, 1]: 0x1FF then 0x001, LSB first: stream bits 0..9 = 1, 10..17 = 0
    # -> bytes 0xFF, 0b0000_0011, 0x00 (18 bits in 3 bytes)
    assert pack(torch.tensor([-1, 1]), "int9") == bytes([0xFF, 0x03, 0x00])
    # uint12 [0xABC, 0x123]: a 24-bit little-endian word 0x123ABC -> BC 3A 12
    assert pack(torch.tensor([0xABC, 0x123]), "uint12") == bytes([0xBC, 0x3A, 0x12])
    # int11 [-1024]: 0b100_0000_0000 -> byte0 0x00, byte1 0b100 = 0x04
    assert pack(torch.tensor([-1024]), "int11") == bytes([0x00, 0x04])
    assert unpack(bytes([0x00, 0x04]), "int11", (1,)).tolist() == [-1024]


@given(st.sampled_from([f"{k}{b}" for k in ("int", "uint") for b in WIDTHS]),
       st.integers(1, 67), st.integers(0, 2**32 - 1))
@_SETTINGS
def test_pack_unpack_identity_every_width(name, n, seed):
    fmt = Format.parse(name)
    lo, hi = code_range(fmt)
    g = torch.Generator().manual_seed(seed)
    codes = torch.randint(lo, hi + 1, (n,), generator=g)
    codes[0] = lo  # the extremes (sign bit set / all ones) always appear
    codes[-1] = hi
    data = pack(codes, fmt)
    assert len(data) == math.ceil(n * fmt.bits / 8)
    assert torch.equal(unpack(data, fmt, (n,)), codes)


@given(st.sampled_from([f"{k}{b}{s}" for k in ("int", "uint") for b in WIDE
                        for s in ("", "t", "g16", "g8_sfp32", "g16_spow2")]),
       st.integers(1, 3), st.integers(1, 4), st.floats(1e-2, 1e3), st.integers(0, 2**32 - 1))
@_SETTINGS
def test_wide_int_quantize_half_step_in_range_and_packable(name, kg, n, mag, seed):
    fmt = Format.parse(name)
    k = kg * (fmt.group_size or 16)
    g = torch.Generator().manual_seed(seed)
    w = (torch.rand(k, n, generator=g, dtype=torch.float64) * 2 - 1) * mag
    qt = quantize(w, fmt)
    lo, hi = code_range(fmt)
    assert int(qt.codes.min()) >= lo and int(qt.codes.max()) <= hi
    groups = qt.scales.shape[0]
    err = (dequantize(qt) - w).abs().reshape(groups, -1, n)
    assert bool((err <= qt.scales.unsqueeze(1) / 2 * (1 + 1e-9)).all())
    assert torch.equal(unpack(pack(qt.codes, fmt), fmt, qt.codes.shape), qt.codes)


def test_int12_per_channel_scale_is_absmax_over_2047():
    # symmetric INT b: scale = absmax / (2^(b-1) - 1); 2047 * 0.5 is exact in fp16 (0.5 = 2^-1)
    w = torch.tensor([[2047 * 0.5, 1.0], [-3.0, -2.0], [0.25, 0.5]], dtype=torch.float64)
    qt = quantize(w, "int12")
    assert qt.scales[0, 0].item() == 0.5
    assert qt.codes[:, 0].tolist() == [2047, -6, 0]  # 0.25 / 0.5 = 0.5 -> round-half-even 0
