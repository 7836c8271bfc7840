"""The cycle-stepped T-MAC kernel (hwsim/cyclesim/lut_cpu.py): its output equals
kernels_ref's LUT kernel and its cycles equal the fast model (hwsim/cores/lut_cpu.py)."""

from __future__ import annotations

import zlib
from dataclasses import replace

import numpy as np
import pytest
import torch
from lowbit.hwsim.cores.lut_cpu import Model, Spec
from lowbit.hwsim.cyclesim.lut_cpu import simulate
from lowbit.hwsim.spec import load_accelerator
from lowbit.kernels_ref.errors import InvalidSpecError, UnsupportedFormatError
from lowbit.kernels_ref.formats import Format, FormatKind
from lowbit.kernels_ref.lut import lut_gemm

torch.set_num_threads(1)

AVX2 = load_accelerator("tmac-avx2").core
NEON = load_accelerator("tmac-m2-neon").core
SPECS = {
    "default": Spec(),
    "avx2": AVX2,
    "neon": NEON,
    "g3-3cores-overhead": replace(Spec(), g=3, cores=3, call_overhead_cycles=7),
    "avx2-6cores": replace(AVX2, cores=6),   # simd_ops_per_cycle 3 over 6 cores: non-dyadic costs
    "g2-cheap-lookups": replace(Spec(), g=2, unpack_ops=0.0, add_ops=0.5, build_ops_per_entry=0.0),
}


def _codes(rng: np.random.Generator, fmt: Format, shape: tuple[int, ...]) -> np.ndarray:
    if fmt.kind is FormatKind.BINARY:
        return np.where(rng.integers(0, 2, shape) > 0, 1, -1)
    return rng.integers(fmt.qmin, fmt.qmax + 1, shape)


@pytest.mark.parametrize("name", list(SPECS))
@pytest.mark.parametrize("wf,af", [("int4", "int8"), ("int2", "int2"), ("int1", "uint8"), ("uint2", "int8"),
                                   ("ternary", "int8"), ("binary", "int4"), ("int8", "int8")])
def test_stepped_equals_reference_kernel_and_fast_model(name, wf, af):
    spec = SPECS[name]
    w_fmt, a_fmt = Format.parse(wf), Format.parse(af)
    rng = np.random.default_rng(zlib.crc32(f"{name} {wf} {af}".encode()))
    for m, k, n in ((1, 96, 40), (3, 37, 33), (2, 8, 1)):
        x, w = _codes(rng, a_fmt, (m, k)), _codes(rng, w_fmt, (k, n))
        res = simulate(x, w, w_fmt, a_fmt, spec)
        ref = lut_gemm(torch.from_numpy(x), torch.from_numpy(w), w_fmt, g=spec.g).output.numpy()
        np.testing.assert_array_equal(res.output, ref)
        np.testing.assert_array_equal(res.output, x @ w)
        assert res.cycles == Model(spec).compute(m, k, n, w_fmt, a_fmt).cycles, (m, k, n)


def test_lut_path_retires_every_table_entry_lookup_and_combine():
    spec = Spec()  # no FMA path
    w_fmt, a_fmt = Format.parse("int3"), Format.parse("int8")
    m, k, n = 2, 37, 40
    rng = np.random.default_rng(3)
    res = simulate(_codes(rng, a_fmt, (m, k)), _codes(rng, w_fmt, (k, n)), w_fmt, a_fmt, spec)
    groups, half, planes = -(-k // spec.g), 1 << (spec.g - 1), 3
    lookups = planes * m * groups * -(-n // spec.lanes)
    assert res.path == "lut"
    assert res.instructions == m * groups * half + lookups + planes * m * n
    # lookups dominate: 3 SIMD ops each on 4 pipes -> 0.75 core-cycle per lookup
    assert res.cycles == int(np.ceil(lookups * 0.75 + m * groups * half * 2 / 8 / 4 + planes * m * n / 4 / 4))


def test_fma_path_where_it_is_faster():
    w_fmt, a_fmt = Format.parse("int4"), Format.parse("int8")
    rng = np.random.default_rng(4)
    x, w = _codes(rng, a_fmt, (16, 64)), _codes(rng, w_fmt, (64, 3))  # batched: FMA wins on AVX2
    res = simulate(x, w, w_fmt, a_fmt, AVX2)
    fast = Model(AVX2).compute(16, 64, 3, w_fmt, a_fmt)
    assert res.path == "fma" and fast.ran_as.startswith("fp32 FMA path")
    assert res.cycles == fast.cycles == -(-16 * 64 * 3 // 16)
    np.testing.assert_array_equal(res.output, x @ w)
    # one token on NEON: the LUT kernel wins (on AVX2 its derived 4.6 cycles per lookup lose to the FMA path)
    gemv = simulate(x[:1], np.tile(w, (1, 20)), w_fmt, a_fmt, NEON)
    assert gemv.path == "lut" and simulate(x[:1], np.tile(w, (1, 20)), w_fmt, a_fmt, AVX2).path == "fma"


def test_formats_only_the_fma_path_takes():
    w_fmt, a_fmt = Format.parse("int12"), Format.parse("int9")  # no LUT kernel for 12-bit weights
    rng = np.random.default_rng(5)
    x, w = _codes(rng, a_fmt, (3, 20)), _codes(rng, w_fmt, (20, 4))
    res = simulate(x, w, w_fmt, a_fmt, NEON)
    assert res.path == "fma" and res.cycles == Model(NEON).compute(3, 20, 4, w_fmt, a_fmt).cycles
    np.testing.assert_array_equal(res.output, x @ w)
    with pytest.raises(UnsupportedFormatError):
        simulate(x, w, w_fmt, a_fmt, Spec())  # no FMA path: nothing can run it


def test_float_activations():
    w_fmt, a_fmt = Format.parse("int2"), Format.parse("fp16")
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 45)).astype(np.float16).astype(np.float64)
    w = _codes(rng, w_fmt, (45, 17))
    res = simulate(x, w, w_fmt, a_fmt, Spec())
    ref = lut_gemm(torch.from_numpy(x), torch.from_numpy(w), w_fmt, g=4).output.numpy()
    np.testing.assert_allclose(res.output, ref, rtol=1e-12, atol=1e-12)
    assert res.cycles == Model(Spec()).compute(2, 45, 17, w_fmt, a_fmt).cycles


def test_typed_errors():
    i4, i8 = Format.parse("int4"), Format.parse("int8")
    with pytest.raises(InvalidSpecError, match="x \\[m,k\\]"):
        simulate(np.zeros((2, 3), dtype=np.int64), np.zeros((4, 2), dtype=np.int64), i4, i8, Spec())
    with pytest.raises(InvalidSpecError, match="range"):
        simulate(np.zeros((1, 4), dtype=np.int64), np.full((4, 2), 9), i4, i8, Spec())
    with pytest.raises(InvalidSpecError, match="integer codes"):
        simulate(np.zeros((1, 4)), np.zeros((4, 2), dtype=np.int64), i4, i8, Spec())
    with pytest.raises(UnsupportedFormatError):
        simulate(np.zeros((1, 4)), np.zeros((4, 2)), Format.parse("fp16"), Format.parse("fp16"), Spec())
    with pytest.raises(InvalidSpecError, match="lut_cpu Spec"):
        simulate(np.zeros((1, 4), dtype=np.int64), np.zeros((4, 2), dtype=np.int64), i4, i8, object())
