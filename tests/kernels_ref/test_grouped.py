"""Per-group popcount GEMMs (kernels_ref.grouped, popc_jit) and the composite kernel built on them."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from lowbit.kernels_ref import grouped, popc_jit
from lowbit.kernels_ref.binary import _pack_columns, _plane_bits, wxay_gemm
from lowbit.kernels_ref.composite import composite_gemm, draw_composite
from lowbit.kernels_ref.errors import InvalidSpecError
from lowbit.kernels_ref.formats import Format, code_range
from lowbit.kernels_ref.grouped import grouped_wxay_gemm
from lowbit.kernels_ref.quant_binary import CompositeWeight, dequantize_composite

torch.set_num_threads(1)


def _codes(gen: torch.Generator, name: str, shape: tuple[int, ...], dtype=torch.int64) -> torch.Tensor:
    lo, hi = code_range(Format.parse(name))
    c = torch.randint(lo, hi + 1, shape, generator=gen)
    return (torch.where(c == 0, 1, c) if name == "binary" else c).to(dtype)


def _per_group(x: torch.Tensor, w: torch.Tensor, g: int) -> torch.Tensor:
    k = x.shape[1]
    return torch.stack([x[:, i:i + g].to(torch.int64) @ w[i:i + g].to(torch.int64) for i in range(0, k, g)])


CASES = [  # (act, weight, m, k, n, group)
    ("int8", "int8", 3, 128, 5, 64), ("int8", "ternary", 2, 120, 7, 40), ("int4", "binary", 4, 256, 9, 128),
    ("uint4", "uint1", 1, 100, 3, 100), ("int8", "int4", 5, 90, 4, 30), ("int16", "int8", 2, 64, 3, 16),
    ("int8", "int16", 3, 192, 6, 64), ("uint8", "binary", 2, 70, 1, 7), ("int8", "uint1", 1, 64, 2, 1),
]


@pytest.mark.parametrize("af,wf,m,k,n,g", CASES)
@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_grouped_equals_the_per_group_product(af, wf, m, k, n, g, backend):
    gen = torch.Generator().manual_seed(m * 1000 + k + g)
    x, w = _codes(gen, af, (m, k)), _codes(gen, wf, (k, n))
    out = grouped_wxay_gemm(x, w, af, wf, g, backend=backend)
    assert out.dtype == torch.int64 and out.shape == (k // g, m, n)
    assert torch.equal(out, _per_group(x, w, g))
    if k // g <= 4:  # and to wxay_gemm run group by group
        assert torch.equal(out, torch.stack([wxay_gemm(x[:, i:i + g], w[i:i + g], af, wf) for i in range(0, k, g)]))


def test_grouped_takes_int8_codes_and_transposed_operands():
    gen = torch.Generator().manual_seed(5)
    x, w = _codes(gen, "int8", (4, 128), torch.int8), _codes(gen, "int8", (128, 6), torch.int8)
    ref = _per_group(x, w, 64)
    assert torch.equal(grouped_wxay_gemm(x, w, "int8", "int8", 64), ref)
    wt = w.T.contiguous().T  # a column-major view
    assert torch.equal(grouped_wxay_gemm(x, wt, "int8", "int8", 64), ref)


def test_grouped_rejects_bad_groups_and_codes():
    x, w = torch.ones(2, 64, dtype=torch.int64), torch.ones(64, 3, dtype=torch.int64)
    for bad in (0, -64, 48, 64.0, True):
        with pytest.raises(InvalidSpecError, match="group size"):
            grouped_wxay_gemm(x, w, "int8", "int8", bad)
    with pytest.raises(InvalidSpecError, match="outside"):
        grouped_wxay_gemm(x, w * 9, "int8", "int4", 64)
    assert grouped_wxay_gemm(torch.ones(2, 0, dtype=torch.int64), torch.ones(0, 3, dtype=torch.int64),
                             "int8", "int8", 5).shape == (0, 2, 3)


@pytest.mark.parametrize("name,k,n", [("int8", 128, 5), ("ternary", 64, 1), ("uint1", 192, 33), ("int4", 72, 3)])
def test_compiled_packer_gives_the_per_plane_words(name, k, n):
    gen = torch.Generator().manual_seed(k + n)
    codes = _codes(gen, name, (k, n))
    planes, _, _ = _plane_bits(codes, Format.parse(name))
    per_plane = [_pack_columns(p, 64) for p in planes]
    small = (codes & 0xFF).to(torch.uint8)
    kp = -(-k // 64) * 64  # the compiled packer takes whole words along K: zero padded here
    padded = torch.cat([small, small.new_zeros(kp - k, n)]).numpy()
    out = np.empty((len(planes), kp // 64, n, 8), dtype=np.uint8)
    popc_jit.pack_planes_kernel(padded, len(planes), out)
    jw = out.view(np.uint64).reshape(len(planes), kp // 64, n)  # the same words, N innermost
    for j, b in enumerate(per_plane):
        assert np.array_equal(jw[j].T, b.numpy().view(np.uint64))


def test_compiled_product_loop_hand_example():
    aw = np.array([[[0b1011, 0b1]], [[0b0110, 0b0]]], dtype=np.uint64)  # 2 planes, M = 1, 2 words
    ww = np.array([[[0b0011, 0b1111], [0b1, 0b0]]], dtype=np.uint64)     # 1 plane, 2 words, N = 2
    acc = np.zeros((1, 1, 2), dtype=np.int64)                            # one group of both words
    popc_jit.grouped_popc_kernel(aw, np.array([1, -2], dtype=np.int64), ww, np.array([3], dtype=np.int64), 2, acc)
    # column 0: 3 * (popc(1011&0011) + popc(1&1)) - 6 * (popc(0110&0011) + 0) = 3*3 - 6*1
    # column 1: 3 * (popc(1011&1111) + 0) - 6 * popc(0110&1111) = 3*3 - 6*2
    assert acc.tolist() == [[[3, -3]]]


def test_no_numba_falls_back_to_torch_with_one_warning(monkeypatch, caplog):
    gen = torch.Generator().manual_seed(2)
    x, w = _codes(gen, "int8", (2, 128)), _codes(gen, "int4", (128, 3))
    ref = _per_group(x, w, 64)

    def broken() -> None:
        raise RuntimeError("no LLVM here")
    monkeypatch.setattr(grouped, "_JIT", [])
    monkeypatch.setattr(popc_jit, "warm", broken)
    with caplog.at_level(logging.WARNING, logger="lowbit.kernels_ref.grouped"):
        assert torch.equal(grouped_wxay_gemm(x, w, "int8", "int4", 64, backend="numpy"), ref)
        assert torch.equal(grouped_wxay_gemm(x, w, "int8", "int4", 64, backend="numpy"), ref)
    assert [r.getMessage() for r in caplog.records] == [
        "kernels_ref: the compiled grouped popcount is unavailable (RuntimeError: no LLVM here); using torch"]
    assert grouped._JIT == [None]


def test_auto_loads_the_compiled_loops_only_for_large_products(monkeypatch):
    gen = torch.Generator().manual_seed(4)
    monkeypatch.setattr(grouped, "_JIT", [])
    x, w = _codes(gen, "int8", (4, 256)), _codes(gen, "uint1", (256, 16))
    assert torch.equal(grouped_wxay_gemm(x, w, "int8", "uint1", 64), _per_group(x, w, 64))
    assert grouped._JIT == []  # small: the torch path, numba not imported for it
    monkeypatch.setattr(grouped, "JIT_FROM_MACS", 4 * 256 * 16)
    assert torch.equal(grouped_wxay_gemm(x, w, "int8", "uint1", 64), _per_group(x, w, 64))
    assert grouped._JIT == [popc_jit]


# ---------------------------------------------------------------- composite kernel
@pytest.mark.parametrize("name", ["dbllmg64", "dbllm", "pbllm10g64", "salient25g64", "pbllm20g32", "salient50g40"])
@pytest.mark.parametrize("extreme", [False, True])
def test_composite_kernel_is_bit_exact_on_drawn_weights(name, extreme):
    fmt = Format.parse(name)
    k = 320 if fmt.group_size in (32, 40, 64) else 256
    gen = torch.Generator().manual_seed(11)
    cw, v = draw_composite(fmt, k, 24, gen, extreme)
    x = _codes(gen, "int8", (5, k))
    if extreme:
        x = torch.full((5, k), -128)
    assert torch.equal(composite_gemm(x, cw, "int8"), x.double() @ v)
    assert torch.equal(v, dequantize_composite(cw))


def test_drawn_masks_keep_exactly_the_salient_count():
    gen = torch.Generator().manual_seed(3)
    cw, _ = draw_composite(Format.parse("pbllm10g64"), 256, 40, gen)
    kc = Format.parse("pbllm10g64").salient_count
    per = cw.mask.view(4, 64, 40).sum(dim=1)
    assert bool((per == kc).all())
    assert bool((cw.hi[~cw.mask] == 0).all()) and bool((cw.lo[cw.mask] == 0).all())
    assert bool((cw.lo[~cw.mask].abs() == 1).all())
    cs, _ = draw_composite(Format.parse("salient25g64"), 256, 8, gen, extreme=True)
    assert bool((cs.mask.view(4, 64).sum(dim=1) == Format.parse("salient25g64").salient_count).all())
    assert bool((cs.hi[cs.mask] == -8).all()) and bool((cs.hi[~cs.mask] == 0).all())
    assert bool((cs.lo[cs.mask] == 0).all()) and bool((cs.lo[~cs.mask] == -1).all())


def test_salient_mask_with_uneven_groups_runs_group_by_group():
    gen = torch.Generator().manual_seed(8)
    fmt = Format.parse("salient25g64")
    k, n = 128, 6
    mask = torch.zeros(k, dtype=torch.bool)
    mask[[1, 5, 9]] = True           # 3 salient channels in group 0
    mask[64:64 + 20] = True          # 20 in group 1
    sign = _codes(gen, "binary", (k, n))
    codes = _codes(gen, "int4", (k, n))
    lo = torch.where(mask[:, None], 0, sign)
    hi = torch.where(mask[:, None], codes, 0)
    steps = torch.randint(1, 256, (4, 2, n), generator=gen).double() / 256
    cw = CompositeWeight(fmt, lo, hi, steps[0], steps[1], None, mask)
    x = _codes(gen, "int8", (3, k))
    assert torch.equal(composite_gemm(x, cw, "int8"), x.double() @ dequantize_composite(cw))
