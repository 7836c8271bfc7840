"""LUT reference GEMM (kernels_ref.lut): table algebra, exactness, INT8 table bound."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from lowbit.kernels_ref.errors import InvalidSpecError, UnsupportedFormatError
from lowbit.kernels_ref.formats import Format, code_range
from lowbit.kernels_ref.lut import (
    Scheme,
    build_tables,
    full_table,
    kernels,
    lut_gemm,
    lut_matmul,
    table_index,
    weight_planes,
)


def _w(g: torch.Generator, name: str, shape: tuple[int, int]) -> torch.Tensor:
    fmt = Format.parse(name)
    lo, hi = code_range(fmt)
    w = torch.randint(lo, hi + 1, shape, generator=g)
    return torch.where(w == 0, 1, w) if name == "binary" else w


def test_table_hand_example_g2():
    # x = (3, 5), g = 2: entries for sign patterns (s0, s1) indexed b0 + 2 b1,
    # s = 2b - 1: idx0 (-,-) = -8, idx1 (+,-) = -2, idx2 (-,+) = 2, idx3 (+,+) = 8.
    x = torch.tensor([[3, 5]])
    full = build_tables(x, "bitplane", g=2, symmetric=False)
    assert full[0, 0].tolist() == [-8, -2, 2, 8]
    half = build_tables(x, "bitplane", g=2, symmetric=True)  # only the top-bit-set half
    assert half[0, 0].tolist() == [2, 8]
    assert torch.equal(full_table(half, "bitplane", True), full)


def test_ternary_tables_tl1_tl2():
    x = torch.tensor([[2, -7, 4]])
    # TL2: base-3 index of (w0, w1, w2) = 9(w0+1) + 3(w1+1) + (w2+1); the 14 stored
    # entries are indices 13..26 (13 = all zero); the mirror 26 - i is the negation.
    half = build_tables(x, "tl2", g=3, symmetric=True)
    assert half.shape == (1, 1, 14) and half[0, 0, 0].item() == 0
    full = full_table(half, "tl2", True)
    assert full.shape[-1] == 27
    w = torch.tensor([[1], [-1], [0]])  # index 9*2 + 3*0 + 1 = 19
    assert table_index(w, "tl2", 3).item() == 19
    assert full[0, 0, 19].item() == 2 * 1 + (-7) * (-1) + 4 * 0
    assert full[0, 0, 26 - 19].item() == -9
    tl1 = build_tables(x[:, :2], "tl1", g=2, symmetric=False)
    assert tl1.shape == (1, 1, 9)  # TL1 keeps the full 9-entry table


def test_weight_planes_reconstruct():
    g = torch.Generator().manual_seed(0)
    for name in ("int1", "int3", "uint4", "ternary", "binary", "int8"):
        w = _w(g, name, (9, 4))
        planes, coefs, off = weight_planes(w, Format.parse(name))
        rec = (planes.long() * torch.tensor(coefs).view(-1, 1, 1)).sum(0) + off
        assert torch.equal(rec, w), name


@given(st.sampled_from(["int1", "int2", "int3", "int4", "uint2", "uint4", "ternary", "binary"]),
       st.integers(1, 8), st.booleans(), st.integers(1, 5), st.integers(1, 50), st.integers(1, 5),
       st.integers(0, 2**32 - 1))
@settings(max_examples=50, deadline=None)
def test_bitplane_exact_vs_torch(wname, g, symmetric, m, k, n, seed):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randint(-128, 128, (m, k), generator=gen)
    w = _w(gen, wname, (k, n))
    res = lut_gemm(x, w, wname, g=g, symmetric=symmetric)
    assert res.output.dtype == torch.int64
    assert torch.equal(res.output, x @ w)
    assert float(res.error_bound.abs().max()) == 0.0


@given(st.sampled_from(["tl1", "tl2"]), st.integers(1, 4), st.integers(1, 40), st.integers(1, 4),
       st.integers(0, 2**32 - 1))
@settings(max_examples=30, deadline=None)
def test_bitnet_ternary_schemes_exact(scheme, m, k, n, seed):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randint(-128, 128, (m, k), generator=gen)
    w = torch.randint(-1, 2, (k, n), generator=gen)
    assert torch.equal(lut_matmul(x, w, "ternary", scheme=scheme), x @ w)


def test_int8_table_quantisation_within_reported_bound():
    gen = torch.Generator().manual_seed(5)
    for wname in ("int4", "int2", "ternary"):
        x = torch.randint(-128, 128, (6, 256), generator=gen)
        w = _w(gen, wname, (256, 9))
        res = lut_gemm(x, w, wname, table_quant="int8")
        err = (res.output - (x @ w).double()).abs()
        assert bool((err <= res.error_bound.view(-1, 1)).all()), wname
        assert float(err.max()) > 0  # it is lossy
        # bound = sum|coef|/2 * G * scale/2 per row; int4: (1+2+4+8)/2 * 64 groups * s/2
        if wname == "int4":
            tables = build_tables(x, "bitplane", 4, True)
            s = tables.abs().amax(dim=(1, 2)) / 127
            assert torch.allclose(res.error_bound, 7.5 * 64 * s / 2)
    wt = torch.randint(-1, 2, (256, 9), generator=gen)
    tl2 = lut_gemm(x, wt, "ternary", scheme="tl2", table_quant="int8")
    assert bool(((tl2.output - (x @ wt).double()).abs() <= tl2.error_bound.view(-1, 1)).all())


def test_float_activations_within_tolerance():
    gen = torch.Generator().manual_seed(9)
    x = torch.randn(4, 300, generator=gen).half()
    for wname, scheme in (("int4", "bitplane"), ("ternary", "tl2"), ("binary", "bitplane")):
        w = _w(gen, wname, (300, 7))
        out = lut_matmul(x.double(), w, wname, scheme=scheme)
        ref = x.double() @ w.double()
        denom = x.double().abs() @ w.double().abs()
        assert float(((out - ref).abs() / denom).max()) < 1e-12
    x32 = torch.randn(4, 300, generator=gen)  # fp32 activations
    w = _w(gen, "int3", (300, 7))
    out = lut_matmul(x32, w, "int3")
    ref = x32.double() @ w.double()
    assert float(((out - ref).abs() / (x32.double().abs() @ w.double().abs())).max()) < 1e-12


def test_bad_inputs():
    with pytest.raises(UnsupportedFormatError, match="ternary"):
        lut_matmul(torch.ones(1, 3, dtype=torch.int64), torch.ones(3, 1, dtype=torch.int64), "int2", scheme="tl1")
    with pytest.raises(InvalidSpecError, match="outside"):
        lut_matmul(torch.ones(1, 3, dtype=torch.int64), torch.full((3, 1), 9), "int4")
    with pytest.raises(UnsupportedFormatError):
        lut_matmul(torch.ones(1, 3, dtype=torch.int64), torch.ones(3, 1, dtype=torch.int64), "fp4")
    with pytest.raises(InvalidSpecError, match="table_quant"):
        lut_matmul(torch.ones(1, 3, dtype=torch.int64), torch.ones(3, 1, dtype=torch.int64), "int2",
                   table_quant="int4")
    with pytest.raises(ValueError):
        Scheme("tl3")


def test_registered_kernels():
    gen = torch.Generator().manual_seed(2)
    ks = kernels()
    names = {k.name for k in ks}
    assert {"lut-tmac-g4", "lut-bitnet-tl1", "lut-bitnet-tl2"} <= names
    for kern in ks:
        for wf in kern.weight_formats:
            for af in kern.act_formats:
                a_fmt = Format.parse(af)
                w = _w(gen, wf, (21, 5))
                if kern.exact:
                    lo, hi = code_range(a_fmt)
                    x = torch.randint(lo, hi + 1, (3, 21), generator=gen)
                    assert torch.equal(kern.fn(x, w, Format.parse(wf), a_fmt), x @ w), (kern.name, wf, af)
                else:
                    x = torch.randn(3, 21, generator=gen).to(torch.float16 if af == "fp16" else torch.bfloat16)
                    out = kern.fn(x, w, Format.parse(wf), a_fmt)
                    ref = x.double() @ w.double()
                    assert torch.allclose(out.double(), ref, rtol=0, atol=1e-9), (kern.name, wf, af)


def test_float64_activations_hi_lo_split_accuracy():
    # full-precision inputs with a wide dynamic range: tables are not float32-representable,
    # the exactly-summed high part + low part keeps the error far below rel_tol (1e-9)
    gen = torch.Generator().manual_seed(12)
    x = torch.randn(3, 960, generator=gen, dtype=torch.float64) * torch.rand(3, 960, generator=gen,
                                                                             dtype=torch.float64) ** 8
    w = _w(gen, "int4", (960, 6))
    out = lut_matmul(x, w, "int4")
    ref = x @ w.double()
    assert float(((out - ref).abs() / (x.abs() @ w.double().abs())).max()) < 1e-10
