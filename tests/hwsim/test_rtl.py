"""RTL cross-check (issue 18): our SystemVerilog arrays under Verilator equal kernels_ref bit
for bit, and their observed cycle counts equal the cycle-stepped simulators' and the fast
models' cycle for cycle.

These tests need Debian's `verilator` (`make test` installs it). Without it they FAIL,
saying so; they do not skip. Builds are cached (keyed by source hash and parameters), one
Verilator build per array configuration."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from lowbit.hwsim.cores import binary_tensor_core as btc
from lowbit.hwsim.cores import bit_serial as bs
from lowbit.hwsim.cores import lut_tensor_core as ltc
from lowbit.hwsim.cores.base import Dataflow
from lowbit.hwsim.cores.mac_array import Model, Spec
from lowbit.hwsim.cyclesim import binary as bin_sim
from lowbit.hwsim.cyclesim import bit_serial as bs_sim
from lowbit.hwsim.cyclesim import lut as lut_sim
from lowbit.hwsim.cyclesim.systolic import simulate
from lowbit.hwsim.rtl import default_cache_dir, simulate_bit_serial, simulate_systolic
from lowbit.hwsim.rtl_binary import simulate_binary
from lowbit.hwsim.rtl_bitfusion import simulate_bitfusion
from lowbit.hwsim.rtl_check import agreement, random_codes
from lowbit.hwsim.rtl_lut import rtl_spec, simulate_lut
from lowbit.kernels_ref.errors import InvalidSpecError
from lowbit.kernels_ref.formats import Format

from lowbit.cli import main

pytestmark = pytest.mark.slow

OS, WS, IS = Dataflow.OUTPUT_STATIONARY, Dataflow.WEIGHT_STATIONARY, Dataflow.INPUT_STATIONARY
I4, I8, I16 = Format.parse("int4"), Format.parse("int8"), Format.parse("int16")


@pytest.fixture(scope="session")
def rtl_cache() -> Path:
    """The Verilator build cache for this session (builds are keyed by source hash)."""
    assert shutil.which("verilator"), (
        "verilator is not installed: `apt-get install verilator` (Debian package `verilator`; "
        "`make test` installs it). The RTL cross-check cannot run without it.")
    return default_cache_dir()


def _clean(rows):  # type: ignore[no-untyped-def]
    return [(r.config, r.output_mismatches, r.cycle_mismatches, r.model_mismatches) for r in rows]


def test_systolic_all_dataflows_agree(rtl_cache):
    for scalesim in (False, True):
        rows = agreement("systolic", 4, 3, cases=5, seed=11 + scalesim, scalesim_mode=scalesim,
                         cache_dir=rtl_cache)
        assert [r.config.split()[0] for r in rows] == ["ws", "os", "is"]
        assert all(r.cases == 5 for r in rows)
        assert _clean(rows) == [(r.config, 0, 0, 0) for r in rows]


def test_systolic_cycles_by_hand(rtl_cache):
    # one fold each: OS T + R + C - 2, WS / IS 2R + C + T - 2 (R=4, C=3)
    spec = Spec(rows=4, cols=3)
    x, w = np.ones((4, 4), dtype=np.int64), np.ones((4, 3), dtype=np.int64)
    r = simulate_systolic(x, w, I8, I8, spec, OS, rtl_cache)
    assert r.busy_cycles == 4 + 4 + 3 - 2
    np.testing.assert_array_equal(r.output, np.full((4, 3), 4))
    assert simulate_systolic(x, w, I8, I8, spec, WS, rtl_cache).busy_cycles == 2 * 4 + 3 + 4 - 2
    x3 = np.ones((3, 4), dtype=np.int64)  # IS: cols hold M
    assert simulate_systolic(x3, w, I8, I8, spec, IS, rtl_cache).busy_cycles == 2 * 4 + 3 + 3 - 2


def test_systolic_packed_and_slow_modes(rtl_cache):
    # int4 at rate 2: 2-lane PEs along K; int16 at rate 1/2: every step two cycles
    spec = Spec(rows=4, cols=3, precisions=("int8", "int4", "int16"), rates=(1.0, 2.0, 0.5),
                accumulator_bits=48)
    model = Model(spec)
    rng = np.random.default_rng(5)
    for fmt, df in ((I4, WS), (I4, IS), (I16, OS)):
        for m, k, n in ((1, 1, 1), (6, 9, 5), (9, 4, 7)):
            x, w = random_codes(rng, fmt, (m, k)), random_codes(rng, fmt, (k, n))
            r = simulate_systolic(x, w, fmt, fmt, spec, df, rtl_cache)
            np.testing.assert_array_equal(r.output, x @ w)
            assert r.cycles == simulate(x, w, fmt, fmt, spec, df).cycles == \
                model.compute(m, k, n, fmt, fmt, df).cycles, (fmt, df, m, k, n)


def test_systolic_accumulator_wraps_at_its_width(rtl_cache):
    # The RTL accumulator is accumulator_bits wide and wraps like hardware; the Python models
    # compute in int64. 3 x (-128 * -128) = 49152 does not fit a 16-bit signed accumulator.
    spec = Spec(rows=4, cols=3, accumulator_bits=16)
    x, w = np.full((2, 3), -128), np.full((3, 2), -128)
    r = simulate_systolic(x, w, I8, I8, spec, OS, rtl_cache)
    exact = x @ w
    assert exact[0, 0] == 49152
    wrapped = ((exact + (1 << 15)) % (1 << 16)) - (1 << 15)
    np.testing.assert_array_equal(r.output, wrapped)
    assert not np.array_equal(r.output, simulate(x, w, I8, I8, spec, OS).output)


def test_bit_serial_agrees(rtl_cache):
    rows = agreement("bit_serial", 2, 3, lanes=4, cases=5, seed=3, weights="int4", activations="int8",
                     serial=("activations", "both"), cache_dir=rtl_cache)
    assert [r.config.split()[0] for r in rows] == ["serial=activations", "serial=both"]
    assert _clean(rows) == [(r.config, 0, 0, 0) for r in rows]


def test_bit_serial_formats_one_build(rtl_cache):
    # Stripes: serial activations, 8-bit parallel weights; signed, unsigned, binary, ternary codes
    spec = bs.Spec(serial=bs.SerialOperands.ACTIVATIONS, rows=2, cols=3, lanes=4,
                   parallel_bits_w=8, parallel_bits_a=8)
    model = bs.Model(spec)
    rng = np.random.default_rng(9)
    for wn, an in (("int8", "uint8"), ("int2", "int4"), ("binary", "int8"), ("ternary", "uint4")):
        wf, af = Format.parse(wn), Format.parse(an)
        x, w = random_codes(rng, af, (5, 11)), random_codes(rng, wf, (11, 4))
        r = simulate_bit_serial(x, w, wf, af, spec, rtl_cache)
        np.testing.assert_array_equal(r.output, x @ w)
        assert r.cycles == bs_sim.simulate(x, w, wf, af, spec).cycles == \
            model.compute(5, 11, 4, wf, af).cycles, (wn, an)


def test_bad_input_is_typed(rtl_cache):
    with pytest.raises(InvalidSpecError, match="unknown family"):
        agreement("lut9000")
    with pytest.raises(InvalidSpecError, match="rows"):
        agreement("systolic", 17, 4)
    with pytest.raises(InvalidSpecError, match="range"):
        simulate_systolic(np.full((2, 2), 300), np.ones((2, 2), dtype=np.int64), I8, I8, Spec(rows=4, cols=3),
                          OS, rtl_cache)


def test_cli_rtl_check(rtl_cache, capsys):
    rc = main(["rtl", "check", "systolic", "--rows", "4", "--cols", "3", "--cases", "2",
               "--dataflow", "os,is", "--cache-dir", str(rtl_cache)])
    out = capsys.readouterr().out
    assert rc == 0
    lines = out.strip().splitlines()
    assert lines[0].startswith("family") and len(lines) == 3
    assert lines[1].split()[:2] == ["systolic", "os"] and lines[2].split()[:2] == ["systolic", "is"]
    assert main(["rtl", "check", "nosuch"]) == 2
    assert "unknown family" in capsys.readouterr().err
    assert main(["rtl", "check", "systolic", "--dataflow", "diagonal"]) == 2


# ------------------------------------------------------------------ binary tensor core
def test_binary_agrees(rtl_cache):
    # one build: AND and XOR popcount are a run-time input of the same RTL
    rows = agreement("binary", 2, 2, lanes=2, cases=4, seed=21, weights="int2", activations="int3",
                     cache_dir=rtl_cache)
    rows += agreement("binary", 2, 2, lanes=2, cases=3, seed=22, weights="binary", activations="binary",
                      cache_dir=rtl_cache)
    assert [r.config.split()[0] for r in rows] == ["and-popcount", "xor-popcount"] * 2
    assert _clean(rows) == [(r.config, 0, 0, 0) for r in rows]


def test_binary_formats_and_phases(rtl_cache):
    spec = btc.Spec(tile_m=2, tile_n=2, tile_k=32, tile_cycles=2, units=2, epilogue_ops_per_cycle=4,
                    pack_words_per_cycle=2)
    model = btc.Model(spec)
    rng = np.random.default_rng(23)
    for wn, an in (("ternary", "uint2"), ("binary", "int2"), ("uint1", "binary")):
        wf, af = Format.parse(wn), Format.parse(an)
        x, w = random_codes(rng, af, (3, 45)), random_codes(rng, wf, (45, 5))
        r = simulate_binary(x, w, wf, af, spec, rtl_cache)
        np.testing.assert_array_equal(r.output, x @ w)
        s = bin_sim.simulate(x, w, wf, af, spec)
        assert r.cycles == s.cycles == model.compute(3, 45, 5, wf, af).cycles, (wn, an)
        assert r.cycles == s.pack_cycles + s.mma_cycles + s.epilogue_cycles


# ------------------------------------------------------------------ LUT tensor core tile
def test_lut_agrees_with_pipeline_depth(rtl_cache):
    rows = agreement("lut", 2, 4, lanes=2, cases=5, seed=31, weights="int2", activations="int8",
                     cache_dir=rtl_cache)
    assert rows[0].config.startswith("unfused pipeline_depth=1")
    assert _clean(rows) == [(r.config, 0, 0, 0) for r in rows]


def test_lut_fill_is_the_models_pipeline_depth(rtl_cache):
    # The RTL registers each lookup before the shift-add: one cycle more than a model without
    # the pipeline stage; Spec.pipeline_depth = 1 closes exactly that gap (and 0 does not).
    spec = rtl_spec(ltc.Spec(tile_m=2, tile_n=4, tile_k=4, units=2, precompute_adders=4))
    flat = replace(spec, pipeline_depth=0)
    rng = np.random.default_rng(33)
    for wn in ("binary", "ternary", "int1", "uint3"):
        wf, af = Format.parse(wn), Format.parse("int8")
        x, w = random_codes(rng, af, (3, 10)), random_codes(rng, wf, (10, 7))
        r = simulate_lut(x, w, wf, af, spec, rtl_cache)
        np.testing.assert_array_equal(r.output, x @ w)
        s = lut_sim.simulate(x, w, wf, af, spec)
        assert r.cycles == s.cycles == ltc.Model(spec).compute(3, 10, 7, wf, af).cycles, wn
        assert r.cycles == lut_sim.simulate(x, w, wf, af, flat).cycles + 1
        assert r.cycles == ltc.Model(flat).compute(3, 10, 7, wf, af).cycles + 1


# ------------------------------------------------------------------ Bit Fusion
def test_bitfusion_agrees(rtl_cache):
    rows = agreement("bitfusion", 2, 3, cases=4, seed=41, weights="int4", activations="int8",
                     cache_dir=rtl_cache)
    rows += agreement("bitfusion", 2, 3, cases=3, seed=42, weights="int2", activations="int2",
                      cache_dir=rtl_cache)
    assert [r.config.split()[0] for r in rows] == ["F=2", "F=16"]
    assert _clean(rows) == [(r.config, 0, 0, 0) for r in rows]


def test_bitfusion_modes_one_build(rtl_cache):
    # one RTL, the BitBrick routing set at run time: F = 16, 4, 1 and 1/2 (int16: 2 cycles/MAC)
    spec = bs.Spec(serial=bs.SerialOperands.NONE, fusion_brick_bits=2, fusion_bricks=16, fusion_max_bits=8,
                   parallel_bits_w=8, parallel_bits_a=8, rows=2, cols=3, lanes=1, rows_dim=bs.GemmDim.K,
                   cols_dim=bs.GemmDim.N)
    model = bs.Model(spec)
    rng = np.random.default_rng(43)
    for wn, an in (("binary", "uint2"), ("ternary", "uint4"), ("uint8", "int8"), ("int16", "int3")):
        wf, af = Format.parse(wn), Format.parse(an)
        x, w = random_codes(rng, af, (2, 37)), random_codes(rng, wf, (37, 4))
        r = simulate_bitfusion(x, w, wf, af, spec, rtl_cache)
        np.testing.assert_array_equal(r.output, x @ w)
        assert r.cycles == bs_sim.simulate(x, w, wf, af, spec).cycles == \
            model.compute(2, 37, 4, wf, af).cycles, (wn, an)


def test_new_families_typed_errors(rtl_cache):
    with pytest.raises(InvalidSpecError, match="rows"):
        agreement("lut", 9, 4)
    with pytest.raises(InvalidSpecError, match="tile_k"):
        agreement("binary", 2, 2, tile_k=48)
    with pytest.raises(InvalidSpecError, match="fused_precompute"):
        simulate_lut(np.ones((1, 1), dtype=np.int64), np.ones((1, 1), dtype=np.int64), Format.parse("int2"),
                     Format.parse("int8"), ltc.Spec(), rtl_cache)
    assert main(["rtl", "check", "lut", "--rows", "9"]) == 2


def test_cli_rtl_check_new_family(rtl_cache, capsys):
    rc = main(["rtl", "check", "bitfusion", "--rows", "2", "--cols", "3", "--cases", "2", "--weights", "int4",
               "--cache-dir", str(rtl_cache)])
    lines = capsys.readouterr().out.strip().splitlines()
    assert rc == 0 and len(lines) == 2
    assert lines[1].split()[:2] == ["bitfusion", "F=2"]
