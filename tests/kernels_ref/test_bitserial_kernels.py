"""Bit-serial reference GEMM (kernels_ref.bitserial): exactness and plane algebra."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from lowbit.kernels_ref.bitserial import (
    Serial,
    bitplanes,
    bitserial_matmul,
    kernels,
    partial_sums,
    plane_products,
)
from lowbit.kernels_ref.errors import InvalidSpecError, UnsupportedFormatError
from lowbit.kernels_ref.formats import Format, code_range

torch.set_num_threads(1)

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


@given(st.integers(1, 16), st.booleans(), st.integers(1, 4), st.integers(0, 2**32 - 1))
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


# ------------------------------------------------------------ 9..16-bit operands
@given(st.integers(9, 16), st.booleans(), st.integers(1, 16), st.booleans(), st.booleans(),
       st.sampled_from(list(Serial)), st.integers(1, 4), st.integers(1, 5), st.integers(1, 90),
       st.integers(1, 5), st.booleans(), st.integers(0, 2**32 - 1))
@settings(max_examples=80, deadline=None)
def test_wide_operands_equal_torch_integer_matmul(wide, wide_signed, other, other_signed, wide_is_w,
                                                  serial, step, m, k, n, extreme, seed):
    wb, ws, ab, as_ = (wide, wide_signed, other, other_signed) if wide_is_w else \
        (other, other_signed, wide, wide_signed)
    g = torch.Generator().manual_seed(seed)
    x = _codes(g, ab, as_, (m, k))
    w = _codes(g, wb, ws, (k, n))
    if extreme:  # the largest-magnitude codes: sign plane set everywhere (or all ones unsigned)
        x = torch.full_like(x, -(1 << (ab - 1)) if as_ else (1 << ab) - 1)
        w = torch.full_like(w, -(1 << (wb - 1)) if ws else (1 << wb) - 1)
    out = bitserial_matmul(x, w, a_bits=ab, a_signed=as_, w_bits=wb, w_signed=ws,
                           serial=serial, step_bits=step)
    assert torch.equal(out, x @ w)


@pytest.mark.parametrize("serial", list(Serial))
def test_int16_accumulators_do_not_overflow(serial):
    # K * 2^(bw-1) * 2^(ba-1) = 4096 * 2^15 * 2^15 = 2^42: past int32 (2^31) and fp32 (2^24);
    # every code -32768, so the exact sum is 4096 * 2^30 = 4398046511104 (positive).
    k = 4096
    x = torch.full((2, k), -32768)
    w = torch.full((k, 3), -32768)
    out = bitserial_matmul(x, w, a_bits=16, w_bits=16, serial=serial)
    assert out.tolist() == [[4398046511104] * 3] * 2
    # uint16 all ones: K * 65535^2 = 2048 * 4294836225 = 8795824588800 (odd addends, so an
    # fp32 accumulation would drop low bits)
    xu, wu = torch.full((1, 2048), 65535), torch.full((2048, 1), 65535)
    got = bitserial_matmul(xu, wu, a_bits=16, a_signed=False, w_bits=16, w_signed=False,
                           serial=serial, step_bits=3)
    assert got.item() == 2048 * 65535 ** 2 == 8795824588800


def test_sums_beyond_2_53_are_exact():
    # uint16 x uint16 with the weight taken whole (step 16): bound K * 65535^2 > 2^53 for
    # K = 3 * 2^20, so the product runs as float64 matmuls over K chunks summed in int64.
    # Exact: 3145728 * 4294836225 = 13510386568396800 (> 2^53 = 9007199254740992).
    k = 3 << 20
    x = torch.full((1, k), 65535)
    w = torch.full((k, 1), 65535)
    out = bitserial_matmul(x, w, a_bits=16, a_signed=False, w_bits=16, w_signed=False,
                           serial="weights", step_bits=16)
    assert out.item() == k * 65535 ** 2 == 13510386568396800
    assert out.item() > 2 ** 53


def test_every_int_width_is_registered_for_the_serial_operand():
    ks = {k.name: k for k in kernels()}
    every = {f"int{b}" for b in range(1, 17)}
    assert every <= set(ks["bitserial-weights"].weight_formats)  # BitMoD-style: weights serial
    assert every <= set(ks["bitserial-acts"].act_formats)  # Stripes: activations serial
    # Loom subset: serial-both verifies narrow weights (int9/int12/int16 took 1.0-1.4 s per
    # 4096x4096 check, over the 1 s target); its wide-weight digits are held by the hypothesis
    # test above (every Serial mode, 9..16-bit operands).
    assert {"int2", "int4"} <= set(ks["bitserial-both"].weight_formats)
    assert {"int9", "int16"} <= set(ks["bitserial-both"].act_formats)
