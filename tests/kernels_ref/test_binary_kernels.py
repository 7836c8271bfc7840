"""Binary popcount kernels (kernels_ref.binary): packing, popcount, WxAy, DB-LLM, conv."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from lowbit.kernels_ref.binary import (
    Backend,
    binary_conv2d,
    decompose,
    dual_binarize,
    dual_binary_gemm,
    kernels,
    pack_bits_numpy,
    pack_bits_torch,
    popcount_torch,
    wxay_gemm,
    xnor_gemm,
)
from lowbit.kernels_ref.errors import InvalidSpecError, UnsupportedFormatError
from lowbit.kernels_ref.formats import Format, code_range


def _codes(g: torch.Generator, name: str, shape: tuple[int, ...]) -> torch.Tensor:
    lo, hi = code_range(Format.parse(name))
    c = torch.randint(lo, hi + 1, shape, generator=g)
    return torch.where(c == 0, 1, c) if name == "binary" else c


def test_packing_bit_order_and_backends_agree():
    bits = np.zeros((1, 70), np.uint8)
    bits[0, [0, 3, 64, 69]] = 1
    words = pack_bits_numpy(bits, 64)
    assert words.dtype == np.dtype("<u8") and words.shape == (1, 2)
    assert int(words[0, 0]) == 0b1001 and int(words[0, 1]) == 0b100001
    tw = pack_bits_torch(torch.from_numpy(bits), 64)
    assert tw.dtype == torch.int64 and tw.view(torch.uint8).numpy().tobytes() == words.tobytes()
    w32 = pack_bits_numpy(bits, 32)
    assert w32.shape == (1, 3) and int(w32[0, 2]) == 0b100001
    with pytest.raises(InvalidSpecError):
        pack_bits_numpy(bits, 16)


@given(st.lists(st.integers(-(2**63), 2**63 - 1), min_size=1, max_size=40))
@settings(max_examples=40, deadline=None)
def test_popcount_torch_matches_python(vals):
    t = torch.tensor(vals, dtype=torch.int64)
    expect = [(v & (2**64 - 1)).bit_count() for v in vals]
    assert popcount_torch(t).tolist() == expect
    t32 = torch.tensor([v & 0xFFFFFFFF for v in vals], dtype=torch.int64).to(torch.int32)
    assert popcount_torch(t32).tolist() == [(v & 0xFFFFFFFF).bit_count() for v in vals]


def test_and_popcount_01_encoding_hand_example():
    # {0,1} codes (uint1): x = 1 0 1 1, w = 1 1 0 1 -> AND = 1 0 0 1 -> popcount 2
    x = torch.tensor([[1, 0, 1, 1]])
    w = torch.tensor([[1], [1], [0], [1]])
    for be in ("numpy", "torch"):
        assert wxay_gemm(x, w, "uint1", "uint1", backend=be).item() == 2


def test_xnor_hand_example():
    # x = (+1, -1, +1), w = (+1, +1, -1): dot = 1 - 1 - 1 = -1; XOR has 2 ones: 3 - 2*2 = -1
    x = torch.tensor([[1, -1, 1]])
    w = torch.tensor([[1], [1], [-1]])
    for be in ("numpy", "torch"):
        assert xnor_gemm(x, w, backend=be).item() == -1


@given(st.sampled_from(["binary", "uint1", "ternary", "int1", "int2", "int3", "int4", "uint2", "uint4", "int8"]),
       st.sampled_from(["binary", "uint1", "int2", "int4", "int8", "uint8", "ternary"]),
       st.sampled_from(["numpy", "torch"]), st.sampled_from([32, 64]),
       st.integers(1, 5), st.integers(1, 140), st.integers(1, 5), st.integers(0, 2**32 - 1))
@settings(max_examples=60, deadline=None)
def test_wxay_exact_vs_torch(wf, af, backend, word_bits, m, k, n, seed):
    g = torch.Generator().manual_seed(seed)
    x = _codes(g, af, (m, k))
    w = _codes(g, wf, (k, n))
    out = wxay_gemm(x, w, af, wf, backend=backend, word_bits=word_bits)
    assert out.dtype == torch.int64
    assert torch.equal(out, x @ w)


def test_wxay_zero_points_exact():
    g = torch.Generator().manual_seed(4)
    x = _codes(g, "uint8", (5, 77))
    w = _codes(g, "uint4", (77, 6))
    za = torch.randint(0, 256, (5,), generator=g)
    zw = torch.randint(0, 16, (6,), generator=g)
    ref = (x - za[:, None]) @ (w - zw[None, :])
    assert torch.equal(wxay_gemm(x, w, "uint8", "uint4", a_zero=za, w_zero=zw), ref)
    assert torch.equal(wxay_gemm(x, w, "uint8", "uint4", w_zero=8), x @ (w - 8))
    assert torch.equal(wxay_gemm(x, w, "uint8", "uint4", a_zero=128), (x - 128) @ w)


def test_decompose_x_times_y_planes():
    # W2A8: 2 weight planes x 8 activation planes = 16 one-bit GEMMs (ABQ-LLM)
    assert len(decompose(torch.zeros(2, 3, dtype=torch.int64), Format.parse("int2")).coefs) == 2
    p = decompose(torch.tensor([[-3]]), Format.parse("int4"))  # 0b1101 -> 1 + 4 - 8
    assert p.coefs == (1, 2, 4, -8) and p.bits[:, 0, 0].tolist() == [1, 0, 1, 1]
    pb = decompose(torch.tensor([[-1, 1]]), Format.parse("binary"))
    assert pb.coefs == (2,) and pb.offset == -1 and pb.bits[0, 0].tolist() == [0, 1]


def test_dual_binarization_db_llm():
    g = torch.Generator().manual_seed(8)
    for wf in ("int2", "uint2"):
        w = _codes(g, wf, (64, 9))
        db = dual_binarize(w, wf)
        assert set(db.b1.unique().tolist()) <= {-1, 1} and set(db.b2.unique().tolist()) <= {-1, 1}
        rec = db.b1 * db.alpha1 + db.b2 * db.alpha2 + db.beta
        assert torch.equal(rec, w.double())
        x = _codes(g, "int8", (3, 64))
        assert torch.equal(dual_binary_gemm(x, db, "int8"), (x @ w).double())
    # with a per-column scale, the two binary matrices carry scaled alphas
    s = torch.tensor([0.5, 2.0])
    db = dual_binarize(torch.tensor([[1, -2], [0, 1]]), "int2", scale=s)
    rec = db.b1 * db.alpha1 + db.b2 * db.alpha2 + db.beta
    assert torch.equal(rec, torch.tensor([[1.0, -2.0], [0.0, 1.0]]) * s)
    with pytest.raises(UnsupportedFormatError):
        dual_binarize(torch.zeros(2, 2, dtype=torch.int64), "int4")


@pytest.mark.parametrize("af,wf,stride,padding,pad_value", [
    ("binary", "binary", 1, 1, -1), ("int8", "int2", 2, 1, None), ("int4", "ternary", 1, 0, None),
    ("uint8", "int4", 1, 2, 3)])
def test_binary_conv_via_im2col(af, wf, stride, padding, pad_value):
    g = torch.Generator().manual_seed(1)
    x = _codes(g, af, (2, 3, 7, 6))
    w = _codes(g, wf, (4, 3, 3, 3))
    out = binary_conv2d(x, w, af, wf, stride=stride, padding=padding, pad_value=pad_value)
    xp = F.pad(x.double(), (padding,) * 4, value=float(pad_value or 0)) if padding else x.double()
    ref = F.conv2d(xp, w.double(), stride=stride).round().to(torch.int64)
    assert torch.equal(out, ref)


def test_binary_conv_padding_needs_valid_code():
    x = torch.ones(1, 1, 3, 3, dtype=torch.int64)
    with pytest.raises(InvalidSpecError, match="pad_value"):
        binary_conv2d(x, torch.ones(1, 1, 3, 3, dtype=torch.int64), "binary", "binary", padding=1)


def test_bad_inputs():
    with pytest.raises(InvalidSpecError, match="outside"):
        wxay_gemm(torch.tensor([[9]]), torch.tensor([[1]]), "int4", "int2")
    with pytest.raises(InvalidSpecError, match="integer codes"):
        wxay_gemm(torch.tensor([[1.0]]), torch.tensor([[1]]), "int4", "int2")
    with pytest.raises(UnsupportedFormatError):
        wxay_gemm(torch.tensor([[1]]), torch.tensor([[1]]), "fp8e4m3", "int2")
    with pytest.raises(InvalidSpecError, match="±1"):
        xnor_gemm(torch.tensor([[0]]), torch.tensor([[1]]))
    with pytest.raises(ValueError):
        Backend("cuda")


def test_registered_kernels():
    g = torch.Generator().manual_seed(3)
    ks = kernels()
    assert any("int2" in k.weight_formats and "int8" in k.act_formats for k in ks)
    for kern in ks:
        assert kern.exact
        for wf in kern.weight_formats:
            for af in kern.act_formats:
                x = _codes(g, af, (3, 70))
                w = _codes(g, wf, (70, 5))
                out = kern.fn(x, w, Format.parse(wf), Format.parse(af))
                assert out.dtype == torch.int64 and torch.equal(out, x @ w), (kern.name, wf, af)
