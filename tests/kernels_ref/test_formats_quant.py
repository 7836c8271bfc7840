"""Format quantise / pack / FP / codebook tests (kernels_ref.formats, kernels_ref.quant)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from lowbit.kernels_ref.errors import InvalidSpecError, UnsupportedFormatError
from lowbit.kernels_ref.formats import (
    BITMOD_TABLES,
    NF4_VALUES,
    Format,
    FormatKind,
    ScaleFormat,
    code_range,
    list_formats,
)
from lowbit.kernels_ref.quant import (
    dequantize,
    fp_decode,
    fp_encode,
    fp_values,
    pack,
    quantize,
    round_scale,
    unpack,
)

_SETTINGS = settings(max_examples=40, deadline=None)

_ALL_NAMES = [
    "int1", "int2", "int3g32", "int4", "int4g128", "int5t", "int6", "int7", "int8", "int16",
    "uint1", "uint3", "uint4g64_sfp32", "uint8t", "uint16", "binary", "ternaryg64", "fp4g32",
    "fp6", "fp8e4m3", "fp8e5m2t", "fpe3m4", "fp16", "bf16", "nf4g64", "fp3", "fp3_ea_negg32",
    "fp4_er_pos", "bitmod3g128", "bitmod4g64_spow2", "flint4t", "fpe5m10g32", "fpe8m7t",
]


@pytest.mark.parametrize("name", _ALL_NAMES)
def test_parse_str_round_trip(name):
    f = Format.parse(name)
    assert str(f) == name
    assert Format.parse(str(f)) == f


def test_bits_per_weight_examples():
    assert Format.parse("int4g128").bits_per_weight == 4.125  # 4 + 16/128
    assert Format.parse("int4g128_sfp32").bits_per_weight == 4.25  # 4 + 32/128
    assert Format.parse("int4g128_spow2").bits_per_weight == 4.0625  # 4 + 8/128
    # BitMoD mixture: fp16 scale + 2-bit datatype selector per group of 128
    assert Format.parse("bitmod4g128").bits_per_weight == 4 + 18 / 128
    assert Format.parse("bitmod4g128").storage_bits(256, 2) == 4 * 512 + 2 * 2 * 18


@given(st.sampled_from(_ALL_NAMES), st.integers(1, 70), st.integers(0, 2**32 - 1))
@_SETTINGS
def test_pack_unpack_identity(name, n, seed):
    fmt = Format.parse(name)
    lo, hi = code_range(fmt)
    g = torch.Generator().manual_seed(seed)
    codes = torch.randint(lo, hi + 1, (n,), generator=g)
    if fmt.kind is FormatKind.BINARY:
        codes = torch.where(codes == 0, 1, codes)
    data = pack(codes, fmt)
    assert len(data) == math.ceil(n * fmt.bits / 8)
    assert torch.equal(unpack(data, fmt, (n,)), codes)


def test_pack_bit_order_documented():
    # int4 codes [1, -1]: 0b0001 then 0b1111 (two's complement) -> byte 0xF1
    assert pack(torch.tensor([1, -1]), "int4") == bytes([0xF1])
    # binary +1,-1,+1,+1 -> bits 1,0,1,1 LSB first -> 0b1101
    assert pack(torch.tensor([1, -1, 1, 1]), "binary") == bytes([0b1101])
    # ternary -1, 0, 1 -> 0b11, 0b00, 0b01 -> 0b01_00_11
    assert pack(torch.tensor([-1, 0, 1]), "ternary") == bytes([0b010011])
    # value = 3 | (4 << 3) | (1 << 6) = 3 + 32 + 64 = 99
    assert pack(torch.tensor([3, -4, 1]), "int3") == bytes([99, 0])[:math.ceil(9 / 8)]


def test_pack_rejects_out_of_range_and_bad_length():
    with pytest.raises(InvalidSpecError, match="range"):
        pack(torch.tensor([8]), "int4")
    with pytest.raises(InvalidSpecError, match="binary"):
        pack(torch.tensor([0]), "binary")
    with pytest.raises(InvalidSpecError, match="bytes"):
        unpack(b"\x00", "int4", (3,))


_INT_NAMES = ["int2", "int3g16", "int4", "int4g32", "int8t", "int8", "uint2", "uint4g16", "uint8t",
              "int4g16_sfp32", "int4g16_spow2", "uint3_spow2", "int16"]


@given(st.sampled_from(_INT_NAMES), st.integers(1, 4), st.integers(1, 5),
       st.floats(1e-3, 1e3), st.integers(0, 2**32 - 1))
@_SETTINGS
def test_int_round_trip_half_step(name, kg, n, mag, seed):
    fmt = Format.parse(name)
    k = kg * (fmt.group_size or 8)
    g = torch.Generator().manual_seed(seed)
    w = (torch.rand(k, n, generator=g, dtype=torch.float64) * 2 - 1) * mag
    qt = quantize(w, fmt)
    lo, hi = code_range(fmt)
    assert int(qt.codes.min()) >= lo and int(qt.codes.max()) <= hi
    err = (dequantize(qt) - w).abs().reshape(qt.scales.shape[0], -1, n)
    assert bool((err <= qt.scales.unsqueeze(1) / 2 * (1 + 1e-9)).all())


def test_scale_shapes_and_per_channel_meaning():
    w = torch.tensor([[1.0, -2.0], [0.5, 4.0], [-7.0, 1.0], [0.0, 0.0]])  # K=4, N=2
    qc = quantize(w, "int4")
    assert qc.scales.shape == (1, 2)
    # column 0 absmax 7 -> scale 7/7 = 1 (exact in fp16); column 1 absmax 4 -> 4/7 rounded up to fp16
    assert qc.scales[0, 0].item() == 1.0
    assert qc.scales[0, 1].item() >= 4 / 7
    assert qc.codes[:, 0].tolist() == [1, 0, -7, 0]  # round-half-even: 0.5 -> 0
    qg = quantize(w, "int4g2")
    assert qg.scales.shape == (2, 2)
    qt = quantize(w, "int4t")
    assert qt.scales.shape == (1, 1)


def test_group_must_divide_k():
    with pytest.raises(UnsupportedFormatError, match=r"K=100.*|group size 128.*K=100"):
        quantize(torch.zeros(100, 4), "int4g128")


def test_round_scale_up():
    s = torch.tensor([0.3, 1.0, 3.0e-7])
    r16 = round_scale(s, ScaleFormat.FP16)
    assert bool((r16 >= s.double()).all())
    assert r16[1].item() == 1.0
    assert round_scale(torch.tensor([0.3]), ScaleFormat.POW2).item() == 0.5
    with pytest.raises(UnsupportedFormatError, match="overflows"):
        round_scale(torch.tensor([1e6]), ScaleFormat.FP16)


# ---------------------------------------------------------------- FP formats
def test_fp_tables_known_values():
    # OCP MX spec v1.0 table: E2M1 magnitudes 0,0.5,1,1.5,2,3,4,6
    assert fp_values(Format.parse("fp4"))[:8].tolist() == [0, 0.5, 1, 1.5, 2, 3, 4, 6]
    # E3M2 max 28 (OCP MX), E4M3fn max 448 and code 0x7F NaN, E5M2 max 57344 and 0x7C inf
    assert fp_values(Format.parse("fp6")).max().item() == 28.0
    v43 = fp_values(Format.parse("fp8e4m3"))
    assert v43[0x7E].item() == 448.0 and math.isnan(v43[0x7F].item())
    assert v43[1].item() == 2.0 ** -9  # smallest subnormal 2^(1-7-3)
    v52 = fp_values(Format.parse("fp8e5m2"))
    assert v52[0x7B].item() == 57344.0 and math.isinf(v52[0x7C].item())


def test_fp_encode_round_to_nearest_even_and_saturate():
    f = Format.parse("fp4")
    # 1.25 lies between 1.0 (code 2) and 1.5 (code 3): tie -> even code 2
    # 1.75 between 1.5 (3) and 2.0 (4): tie -> 4; 5 between 4 (6) and 6 (7): tie -> 6
    assert fp_encode(torch.tensor([1.25, 1.75, 5.0, 100.0, -0.5]), f).tolist() == [2, 4, 6, 7, 0b1001]
    # fp16/bf16 bit patterns equal torch's own casts
    x = torch.randn(1000, dtype=torch.float64) * 100
    assert torch.equal(fp_encode(x, Format.parse("fp16")),
                       x.half().view(torch.int16).long() & 0xFFFF)
    assert torch.equal(fp_decode(fp_encode(x, Format.parse("bf16")), Format.parse("bf16")),
                       x.to(torch.bfloat16).double())


@pytest.mark.parametrize("name", ["fp4", "fp6", "fp8e4m3", "fp8e5m2", "fpe3m4", "fpe2m2"])
def test_fp_encode_is_nearest_with_even_ties(name):
    """Brute force: the chosen value is the nearest finite value of the table."""
    f = Format.parse(name)
    vals = fp_values(f)
    finite = vals[torch.isfinite(vals)]
    x = torch.cat([torch.randn(3000, dtype=torch.float64) * finite.max() / 3,
                   (finite[:-1] + finite[1:]) / 2])  # midpoints exercise the ties
    x = x.clamp(-finite.abs().max(), finite.abs().max())
    got = fp_decode(fp_encode(x, f), f)
    best = (x[:, None] - finite[None, :]).abs().min(dim=1).values
    assert torch.equal((got - x).abs(), best)


def test_fp_quant_error_bound_documented():
    # |x - q| <= scale * max(|x/scale| * 2^-(m+1), 2^(-bias-m)) (half ULP incl. subnormals)
    f = Format.parse("fp8e4m3g32")
    w = torch.randn(128, 8, dtype=torch.float64) * 3
    qt = quantize(w, f)
    s = qt.scales.repeat_interleave(32, dim=0)
    bound = s * torch.maximum((w / s).abs() * 2.0 ** -(f.man_bits + 1),
                              torch.full_like(w, 2.0 ** (-7 - 3)))
    assert bool(((dequantize(qt) - w).abs() <= bound * (1 + 1e-12)).all())


# ------------------------------------------------------------ NF4 / BitMoD
def test_nf4_codebook_and_quantize():
    assert len(NF4_VALUES) == 16 and NF4_VALUES[7] == 0.0 and NF4_VALUES[0] == -1.0
    w = torch.tensor([[1.0], [-1.0], [0.0], [0.5626170039176941]])  # absmax 1 -> scale 1
    qt = quantize(w, "nf4t")
    assert qt.codes.flatten().tolist() == [15, 0, 7, 13]
    assert torch.allclose(dequantize(qt), w.double())


def test_bitmod_tables_match_repository():
    # abdelfattah-lab/BitMoD-HPCA-25, bitmod_quant/quant_utils/quant_weight.py:
    # FP3_ER_POS = [-4,-2,-1,0,1,2,3,4]; FP4_EA_NEG = [-16,-12,-8,-6,-4,-3,-2,-1,0,1,2,3,4,6,8,12]
    assert BITMOD_TABLES["fp3_er_pos"] == (-4.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0, 4.0)
    assert BITMOD_TABLES["fp4_ea_neg"][:2] == (-16.0, -12.0)
    assert all(len(BITMOD_TABLES[n]) == 16 for n in ("fp4_er_pos", "fp4_er_neg", "fp4_ea_pos", "fp4_ea_neg"))


def test_bitmod_single_datatype_quantize():
    # quant_datatype in the repository: scale = absmax / max|table|, x <= midpoint -> lower value.
    # fp3_er_pos, one group [4, 3, 2.5, -1.5]: scale 4/4 = 1; 2.5 is the midpoint of 2 and 3 -> 2;
    # -1.5 is the midpoint of -2 and -1 -> -2.
    w = torch.tensor([[4.0], [3.0], [2.5], [-1.5]])
    qt = quantize(w, "fp3_er_post")
    assert dequantize(qt).flatten().tolist() == [4.0, 3.0, 2.0, -2.0]
    assert qt.codes.flatten().tolist() == [7, 6, 5, 1]


def test_bitmod_mixture_picks_least_error_variant():
    # search_datatype(..., 'mixed_bitmod') in the repository: per group keep the variant of
    # least MSE, order er_pos, er_neg, ea_pos, ea_neg. Group 0 holds +10 of 12 -> fp4_er_pos
    # represents it exactly (scale 1); group 1 holds -16 -> only fp4_ea_neg has both
    # -16 and 8 exactly at scale 1; group 2 holds +16 and 12 -> fp4_ea_pos.
    w = torch.tensor([[12.0, -16.0, 16.0], [10.0, 8.0, 12.0], [1.0, -3.0, 3.0], [-2.0, 2.0, -1.0]])
    qt = quantize(w, "bitmod4g4")
    assert qt.variants.tolist() == [[0, 3, 2]]
    assert torch.equal(dequantize(qt), w.double())
    assert qt.fmt.bits_per_weight == 4 + 18 / 4


def test_binary_and_ternary_quantize():
    w = torch.tensor([[0.5, -2.0], [-1.5, 0.0], [0.0, 1.0], [1.0, 3.0]])
    qb = quantize(w, "binary")
    assert qb.codes.tolist() == [[1, -1], [-1, 1], [1, 1], [1, 1]]
    assert qb.scales[0].tolist() == [0.75, 1.5]  # mean |w| per column
    qt = quantize(w, "ternary")
    # column 0: absmean 0.75 -> 0.5/0.75=0.67->1, -2, 0, 1.33->1; column 1: absmean 1.5
    assert qt.codes[:, 0].tolist() == [1, -1, 0, 1]
    assert qt.codes[:, 1].tolist() == [-1, 0, 1, 1]


def test_list_formats_catalog():
    infos = list_formats()
    names = [i.name for i in infos]
    assert "int4g128" in names and "bitmod4g128" in names and "nf4g64" in names
    d = {i.name: i.fmt.bits_per_weight for i in infos}
    assert d["int4g128"] == 4.125 and d["fp16"] == 16.0
    for i in infos:
        assert str(i.fmt) == i.name


def test_unknown_formats_raise():
    for bad in ("int17", "uint0", "fp3_er_zero", "bitmod5", "nf3", "int4g0", "fp16g128"):
        with pytest.raises(UnsupportedFormatError):
            Format.parse(bad)


def test_quantize_rejects_nan():
    with pytest.raises(InvalidSpecError):
        quantize(torch.tensor([[np.nan]]), "int8")


def test_quantize_other_axis_and_shapes():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(3, 64, 5, generator=g, dtype=torch.float64)  # reduce over axis 1
    qt = quantize(w, "int4g16", axis=1)
    assert qt.codes.shape == w.shape and qt.scales.shape == (4, 3, 5)
    err = (dequantize(qt) - w).abs().movedim(1, 0).reshape(4, 16, 3, 5)
    assert bool((err <= qt.scales.unsqueeze(1) / 2 * (1 + 1e-9)).all())
    qu = quantize(w, "uint4t", axis=1)
    assert qu.scales.shape == (1, 1, 1) and qu.zero.shape == (1, 1, 1)
    assert float((dequantize(qu) - w).abs().max()) <= float(qu.scales) / 2 * (1 + 1e-9)
    with pytest.raises(InvalidSpecError, match="axis"):
        quantize(w, "int4", axis=3)


@given(st.sampled_from(_ALL_NAMES), st.integers(1, 3), st.integers(1, 4), st.floats(1e-2, 1e2),
       st.integers(0, 2**32 - 1))
@_SETTINGS
def test_quantize_codes_in_range_and_packable(name, kg, n, mag, seed):
    fmt = Format.parse(name)
    k = kg * (fmt.group_size or 16)
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(k, n, generator=g, dtype=torch.float64) * mag
    qt = quantize(w, fmt)
    lo, hi = code_range(fmt)
    assert int(qt.codes.min()) >= lo and int(qt.codes.max()) <= hi
    assert bool(torch.isfinite(dequantize(qt)).all())
    assert torch.equal(unpack(pack(qt.codes, fmt), fmt, qt.codes.shape), qt.codes)
