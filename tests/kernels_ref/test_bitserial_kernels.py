"""Bit-serial reference GEMM (kernels_ref.bitserial): exactness and plane algebra."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels_ref.bitserial import (
    Serial,
    bitplanes,
    bitserial_matmul,
    kernels,
    partial_sums,
    plane_products,
)
from kernels_ref.errors import InvalidSpecError, UnsupportedFormatError
from kernels_ref.formats import Format, code_range


def _codes(g: torch.Generator, bits: int, signed: bool, shape: tuple[int, ...]) -> torch.Tensor:
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    return torch.randint(lo, hi + 1, shape, generator=g)


def test_sign_plane_hand_example():
    # int4 code -3 = 0b1101: planes LSB first 1, 0, 1, and sign plane -1 (weight -8):
    # 1 + 4 - 8 = -3
    planes, coefs = bitplanes(torch.tensor([-3, 5]), 4, True)
    assert planes[:, 0].tolist() == [1, 0, 1, -1]
    assert planes[:, 1].tolist() == [1, 0, 1, 0]
    assert coefs == (1, 2, 4, 8)
    # 2 bits per step on int5 code -11 = 0b10101: digits 01, 01, and signed top digit 1 -> -1
    p2, c2 = bitplanes(torch.tensor([-11]), 5, True, 2)
    assert p2[:, 0].tolist() == [1, 1, -1] and c2 == (1, 4, 16)  # 1 + 4 - 16 = -11


@given(st.integers(1, 12), st.booleans(), st.integers(1, 4), st.integers(0, 2**32 - 1))
@settings(max_examples=40, deadline=None)
def test_bitplanes_reconstruct(bits, signed, step, seed):
    step = min(step, bits)
    c = _codes(torch.Generator().manual_seed(seed), bits, signed, (50,))
    planes, coefs = bitplanes(c, bits, signed, step)
    assert torch.equal((planes * torch.tensor(coefs)[:, None]).sum(0), c)


@given(st.integers(1, 8), st.booleans(), st.integers(1, 8), st.booleans(),
       st.sampled_from(list(Serial)), st.integers(1, 3), st.integers(1, 6), st.integers(1, 70),
       st.integers(1, 6), st.integers(0, 2**32 - 1))
@settings(max_examples=60, deadline=None)
def test_equals_torch_integer_matmul(wb, ws, ab, as_, serial, step, m, k, n, seed):
    g = torch.Generator().manual_seed(seed)
    x = _codes(g, ab, as_, (m, k))
    w = _codes(g, wb, ws, (k, n))
    out = bitserial_matmul(x, w, a_bits=ab, a_signed=as_, w_bits=wb, w_signed=ws,
                           serial=serial, step_bits=step)
    assert out.dtype == torch.int64
    assert torch.equal(out, x @ w)


def test_partial_sums_steps_and_last_equals_product():
    g = torch.Generator().manual_seed(3)
    x = _codes(g, 8, True, (3, 40))
    w = _codes(g, 4, True, (40, 5))
    ps = partial_sums(x, w, a_bits=8, w_bits=4, serial="weights")
    assert ps.shape == (4, 3, 5)
    assert torch.equal(ps[-1], x @ w)
    # after the first step only the LSB weight plane has been added
    assert torch.equal(ps[0], x @ (w & 1))
    both = partial_sums(x, w, a_bits=8, w_bits=4, serial="both", step_bits=2)
    assert both.shape == (4 * 2, 3, 5) and torch.equal(both[-1], x @ w)


def test_plane_products_shapes_and_coefficients():
    x = torch.tensor([[3, -2]])
    w = torch.tensor([[1], [-1]])  # int2
    p, ac, wc = plane_products(x, w, a_bits=4, a_signed=True, w_bits=2, w_signed=True, serial="both")
    assert p.shape == (4, 2, 1, 1) and ac == (1, 2, 4, 8) and wc == (1, 2)
    total = sum(ac[i] * wc[j] * p[i, j] for i in range(4) for j in range(2))
    assert total.item() == 3 * 1 + (-2) * (-1)


def test_large_k_uses_exact_path():
    # K * 127 * 2^15 > 2^24: the float64 (or int64) path keeps it exact
    g = torch.Generator().manual_seed(1)
    x = _codes(g, 8, True, (2, 3000))
    w = _codes(g, 16, True, (3000, 3))
    assert torch.equal(bitserial_matmul(x, w, a_bits=8, w_bits=16, serial="acts"), x @ w)
    assert torch.equal(bitserial_matmul(x, w, a_bits=8, w_bits=16, serial="weights", step_bits=4), x @ w)


def test_bad_inputs_raise():
    with pytest.raises(InvalidSpecError, match="outside"):
        bitserial_matmul(torch.tensor([[8]]), torch.tensor([[1]]), a_bits=4, w_bits=4)
    with pytest.raises(InvalidSpecError, match="integer codes"):
        bitserial_matmul(torch.tensor([[1.0]]), torch.tensor([[1]]), a_bits=4, w_bits=4)
    with pytest.raises(InvalidSpecError, match=r"\[M,K\]"):
        bitserial_matmul(torch.ones(2, 3, dtype=torch.int64), torch.ones(2, 3, dtype=torch.int64),
                         a_bits=4, w_bits=4)
    with pytest.raises(ValueError):
        bitserial_matmul(torch.tensor([[1]]), torch.tensor([[1]]), a_bits=4, w_bits=4, serial="rows")


def test_registered_kernels_exact_on_their_formats():
    g = torch.Generator().manual_seed(11)
    ks = kernels()
    assert {k.name for k in ks} >= {"bitserial-weights", "bitserial-acts", "bitserial-both"}
    for kern in ks:
        assert kern.exact
        for wf in kern.weight_formats:
            for af in kern.act_formats:
                w_fmt, a_fmt = Format.parse(wf), Format.parse(af)
                lo, hi = code_range(w_fmt)
                w = torch.randint(lo, hi + 1, (33, 7), generator=g)
                if wf == "binary":
                    w = torch.where(w == 0, 1, w)
                alo, ahi = code_range(a_fmt)
                x = torch.randint(alo, ahi + 1, (4, 33), generator=g)
                assert torch.equal(kern.fn(x, w, w_fmt, a_fmt), x @ w), (kern.name, wf, af)
    with pytest.raises(UnsupportedFormatError):
        ks[0].fn(torch.zeros(1, 1), torch.zeros(1, 1), Format.parse("fp16"), Format.parse("int8"))
