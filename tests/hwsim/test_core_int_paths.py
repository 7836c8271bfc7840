"""The core models' plain-int `compute` paths (the mapper's whole-GEMM calls, issue 19 item 1)
equal their numpy paths: the same cycles, actions (keys, order, values, Python int types),
ran_as and steps, or the same error, on random GEMMs x every catalogue format pair x every
dataflow, for every core family's default spec, every preset, and varied random specs."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from lowbit.hwsim.cores import binary_tensor_core, bit_serial, lut_cpu, lut_tensor_core
from lowbit.hwsim.cores.base import CoreFamily
from lowbit.hwsim.cores.checks import CATALOGUE, family_module, family_specs
from lowbit.kernels_ref.errors import LowbitError
from lowbit.kernels_ref.formats import Format

_PAIRS = [(Format.parse(w), Format.parse(a)) for w, a in CATALOGUE] + \
    [(Format.parse(w), Format.parse(a)) for w, a in (("int3g64", "int8"), ("int4", "int2"), ("int8", "int4"),
                                                       ("binary", "int4"), ("ternary", "ternary"))]


def _outcome(model, m, k, n, w, a, df, batch, seg):
    try:
        tc = model.compute(m, k, n, w, a, df, batch, k_segment=seg)
    except LowbitError as exc:
        return ("error", type(exc).__name__, str(exc))
    acts = [(key, type(v).__name__, int(v) if isinstance(v, (int, np.integer)) else float(v))
            for key, v in tc.actions.items()]
    steps = None if tc.steps is None else (type(tc.steps).__name__, tc.steps)
    return (type(tc.cycles).__name__, tc.cycles, acts, tc.ran_as, steps)


def _gemms(rng: np.random.Generator, count: int) -> list[tuple[int, int, int, int]]:
    out = [(1, 1, 1, 1), (0, 64, 8, 1), (7, 0, 3, 2), (196, 1152, 256, 1), (2048, 4096, 11008, 1),
           (1, 4096, 4096, 1), (49, 576, 64, 4), (33, 300, 17, 32)]
    for _ in range(count):
        out.append(tuple(int(v) for v in (rng.integers(1, 5000), rng.integers(1, 12000), rng.integers(1, 12000),
                                          rng.choice([1, 1, 2, 8, 32]))))
    return out


def _random_bit_serial(rng: np.random.Generator) -> list[bit_serial.Spec]:
    dims = list(bit_serial.GemmDim)
    out = []
    while len(out) < 12:
        try:
            out.append(bit_serial.Spec(
                serial=rng.choice(list(bit_serial.SerialOperands)), bits_per_cycle_w=int(rng.integers(1, 5)),
                bits_per_cycle_a=int(rng.integers(1, 5)), parallel_bits_w=int(rng.choice([4, 8, 16])),
                parallel_bits_a=int(rng.choice([8, 16])), rows=int(rng.integers(1, 70)),
                cols=int(rng.integers(1, 40)), lanes=int(rng.integers(1, 20)), rows_dim=rng.choice(dims),
                cols_dim=rng.choice(dims), dequant_cycles_per_group=int(rng.integers(0, 3)),
                float_datapath=bool(rng.integers(0, 2)), accumulator_bits=int(rng.choice([16, 24, 32]))))
        except LowbitError:
            continue
    fused = [bit_serial.Spec(serial=bit_serial.SerialOperands.NONE, fusion_brick_bits=2, rows=16, cols=32,
                             rows_dim=bit_serial.GemmDim.K, cols_dim=bit_serial.GemmDim.N, conv_channelwise=True)]
    return out + fused


def _random_lut(rng: np.random.Generator) -> list:
    tc = [lut_tensor_core.Spec(tile_m=int(rng.choice([1, 2, 4])), tile_n=int(rng.choice([16, 64, 100])),
                               tile_k=int(rng.integers(2, 6)), units=int(rng.integers(1, 9)),
                               table_bits=int(rng.choice([8, 32])), fused_precompute=bool(i % 2),
                               precompute_adders=int(rng.integers(1, 100)),
                               precompute_bytes_per_cycle=float(rng.choice([3.0, 16.0, 7.5])),
                               launch_cycles=int(rng.integers(0, 500)), pipeline_depth=int(rng.integers(0, 4)),
                               mac_int8_macs_per_cycle=int(rng.choice([0, 64, 4096, 10 ** 6])),
                               mac_fp16_macs_per_cycle=int(rng.choice([0, 512, 10 ** 6])))
          for i in range(8)]
    cpu = [lut_cpu.Spec(isa="avx2", vector_bits=int(rng.choice([128, 256])), lookups_per_cycle=int(rng.integers(1, 4)),
                        simd_ops_per_cycle=int(rng.integers(1, 5)), unpack_ops=float(rng.choice([0.5, 1.0, 1.3])),
                        add_ops=float(rng.choice([1.0, 0.7])), build_ops_per_entry=float(rng.choice([2.0, 1.1])),
                        g=int(rng.integers(2, 9)), cores=int(rng.integers(1, 9)),
                        call_overhead_cycles=int(rng.integers(0, 1000)),
                        fp_macs_per_cycle=int(rng.choice([0, 16, 10 ** 6])))
           for _ in range(8)]
    return tc + cpu


def _specs(family: CoreFamily, rng: np.random.Generator) -> list:
    specs = [s for _, s in family_specs(family)]
    if family is CoreFamily.BIT_SERIAL:
        specs += _random_bit_serial(rng)
    if family is CoreFamily.LUT_TENSOR_CORE:
        specs += [s for s in _random_lut(rng) if isinstance(s, lut_tensor_core.Spec)]
    if family is CoreFamily.BINARY_TENSOR_CORE:
        specs += [binary_tensor_core.Spec(tile_m=int(rng.choice([4, 8, 16])), tile_n=int(rng.choice([8, 32])),
                                          tile_k=int(rng.choice([64, 128, 256])), tile_cycles=int(rng.integers(1, 5)),
                                          units=int(rng.integers(1, 9)), logic_op=("and", "xor")[i % 2],
                                          epilogue_ops_per_cycle=int(rng.integers(1, 130)),
                                          pack_words_per_cycle=int(rng.integers(1, 64)),
                                          accumulator_bits=int(rng.choice([16, 32])))
                  for i in range(6)]
    if family is CoreFamily.LUT_CPU:
        specs += [s for s in _random_lut(rng) if isinstance(s, lut_cpu.Spec)]
    return specs


@pytest.mark.parametrize("family", [pytest.param(f, marks=pytest.mark.slow) if f is CoreFamily.BIT_SERIAL else f
                                    for f in CoreFamily], ids=lambda f: f.value)   # bit_serial 1.5 s: slow lane
def test_int_compute_equals_numpy_compute(family: CoreFamily) -> None:
    rng = np.random.default_rng(19 + list(CoreFamily).index(family))
    mod = family_module(family)
    compared = fast_path_cases = 0
    for spec in _specs(family, rng):
        model = mod.Model(spec)
        gemms = _gemms(rng, 6)
        for w, a in _PAIRS:
            for df in model.dataflows:
                for m, k, n, batch in gemms:
                    segs = [None]
                    if family is CoreFamily.BIT_SERIAL and k:
                        segs += [int(rng.integers(1, k + 1)), 0]
                    for seg in segs:
                        ref = _outcome(model, np.array(m), np.array(k), np.array(n), w, a, df, np.array(batch),
                                       None if seg is None else np.array(seg))
                        for args in ((m, k, n, batch, seg),
                                     tuple(None if v is None else np.int64(v) for v in (m, k, n, batch, seg))):
                            got = _outcome(model, args[0], args[1], args[2], w, a, df, args[3], args[4])
                            assert got == ref, (spec, w, a, df, args)
                            compared += 1
                            fast_path_cases += got[0] != "error"
    assert compared > 200 and fast_path_cases > 50


def test_int_compute_errors_equal_numpy_errors() -> None:
    model = bit_serial.Model(bit_serial.Spec())
    w, a = Format.parse("int4"), Format.parse("int8")
    for args in ((-1, 4, 4, 1, None), (4, 4, 4, 1, -3), (4, -4, 4, 1, None)):
        ref = _outcome(model, *(np.array(v) for v in args[:3]), w, a, None, np.array(args[3]),
                       None if args[4] is None else np.array(args[4]))
        assert ref[0] == "error"
        assert _outcome(model, *args[:3], w, a, None, args[3], args[4]) == ref


def test_plan_memo_is_bounded_and_keyed_by_formats() -> None:
    model = bit_serial.Model(dataclasses.replace(bit_serial.Spec(), serial=bit_serial.SerialOperands.BOTH))
    a = Format.parse("int8")
    first = model.compute(64, 256, 64, Format.parse("int4"), a)
    other = model.compute(64, 256, 64, Format.parse("int2"), a)
    assert first.cycles == 2 * other.cycles  # 4 vs 2 weight bits at 1 bit per cycle
    for bits in range(2, 16):
        for abits in range(2, 17):
            model.compute(8, 8, 8, Format.parse(f"int{bits}"), Format.parse(f"int{abits}"))
    assert len(model._plans) <= 256


def test_memoised_mapping_hints_equal_fresh_ones() -> None:
    """Each model keeps its layer-free `mapping_hints` (the layer does not enter them, or, on
    bit_serial, only through the K segment): every call equals a fresh model's, in any order."""
    from lowbit.models import zoo
    from lowbit.models.ir import OpKind

    layers = [None] + [lay for name in ("resnet18", "minilm-l6") for lay in zoo.get(name).layers
                       if lay.op is not OpKind.EMBEDDING]
    channelwise = bit_serial.Spec(serial=bit_serial.SerialOperands.NONE, fusion_brick_bits=2, rows=16, cols=32,
                                  rows_dim=bit_serial.GemmDim.K, cols_dim=bit_serial.GemmDim.N,
                                  conv_channelwise=True, im2col_max_in_channels=3)
    segmented = 0
    for family in CoreFamily:
        mod = family_module(family)
        specs = [s for _, s in family_specs(family)] + ([channelwise] if family is CoreFamily.BIT_SERIAL else [])
        for spec in specs:
            model = mod.Model(spec)
            for layer in layers + layers[::-1]:
                got = model.mapping_hints(layer) if layer is not None else model.mapping_hints()
                fresh = mod.Model(spec)
                assert got == (fresh.mapping_hints(layer) if layer is not None else fresh.mapping_hints())
                segmented += got.k_segment > 0
            assert model.mapping_hints().k_segment == 0
    assert segmented > 10  # the channel-wise convs' K segments are not memoised away
