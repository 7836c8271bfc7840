"""hwsim pricing of i2_s, dbllm, pbllm and salient-channel weights (issue 16 item 4): the binary
tensor core runs all four, the LUT families i2_s and dbllm; the others raise typed errors."""

from __future__ import annotations

import numpy as np
import pytest
from lowbit.hwsim.cores.base import ActionKind
from lowbit.hwsim.cores.binary_tensor_core import Model as BTC
from lowbit.hwsim.cores.binary_tensor_core import Spec as BTCSpec
from lowbit.hwsim.cores.binary_tensor_core import salient_rows
from lowbit.hwsim.cores.lut_tensor_core import Model as LUTTC
from lowbit.hwsim.cores.lut_tensor_core import Spec as LUTSpec
from lowbit.hwsim.evaluate import evaluate
from lowbit.hwsim.spec import load_accelerator
from lowbit.kernels_ref.errors import UnsupportedFormatError
from lowbit.kernels_ref.formats import Format
from lowbit.models.ir import Layer

P = Format.parse
I8 = P("int8")


def _shift_adds(tc) -> int:  # type: ignore[no-untyped-def]
    return int(sum(v for a, v in tc.actions.items() if a.kind is ActionKind.SHIFT_ADD))


def test_binary_core_planes():
    core = BTC(BTCSpec())
    m, k, n = 16, 4096, 256
    tern, i2s = core.compute(m, k, n, P("ternary"), I8), core.compute(m, k, n, P("i2_s"), I8)
    assert (tern.cycles, tern.actions) == (i2s.cycles, i2s.actions)  # I2_S is ternary on the array
    db = core.compute(m, k, n, P("dbllmg64"), I8)
    out_pad = m * n  # tiles 8x8 divide m, n
    assert _shift_adds(db) == (2 * 8 + 1) * out_pad  # two {0,1} planes x 8 act planes + beta row sum
    assert db.ran_as == "16 one-bit GEMMs (2 weight x 8 activation planes)"
    pb = core.compute(m, k, n, P("pbllm10g64"), I8)
    assert pb.ran_as == "80 one-bit GEMMs (10 weight x 8 activation planes)"  # 2 ternary + 8 int8
    assert pb.cycles > core.compute(m, k, n, I8, I8).cycles  # the dense int8 run costs more than int8


def test_salient_channels_split_k():
    core = BTC(BTCSpec())
    m, k, n = 16, 4096, 256
    f = P("salient25g64")  # 16 of every 64 input channels at int4
    assert int(salient_rows(k, f)) == 1024
    sal = core.compute(m, k, n, f, I8)
    hi, lo = core.compute(m, 1024, n, P("int4"), I8), core.compute(m, 3072, n, P("binary"), I8)
    assert sal.cycles == hi.cycles + lo.cycles
    for act, v in sal.actions.items():
        assert v == hi.actions.get(act, 0) + lo.actions.get(act, 0)
    # 1.75 weight planes on average: between binary and int2
    assert core.compute(m, k, n, P("binary"), I8).cycles < sal.cycles < core.compute(m, k, n, P("int2"), I8).cycles
    assert core.peak_macs_per_cycle(f, I8) == pytest.approx(core.peak_macs_per_cycle(P("binary"), I8) / 1.75)
    arr = core.compute(np.array([1, 16]), np.array([4096, 4096]), n, f, I8)
    assert int(arr.cycles[1]) == sal.cycles


def test_lut_tensor_core_runs_i2s_and_dbllm_only():
    core = LUTTC(LUTSpec())
    tern = core.compute(16, 4096, 256, P("ternary"), I8)
    assert core.compute(16, 4096, 256, P("i2_s"), I8).cycles == tern.cycles
    assert core.compute(16, 4096, 256, P("dbllmg64"), I8).cycles == tern.cycles  # 2 planes each
    for name in ("pbllm10g64", "salient25g64"):
        with pytest.raises(UnsupportedFormatError, match=f"not {name}"):
            core.compute(16, 4096, 256, P(name), I8)


@pytest.mark.parametrize("preset,match", [("a100-like", "no datapath mode"), ("loom", "not supported")])
@pytest.mark.parametrize("name", ["dbllmg64", "pbllm10g64", "salient25g64"])
def test_other_families_raise_typed(preset, match, name):
    layer = Layer.linear("fc", 16, 4096, 256)
    with pytest.raises(UnsupportedFormatError, match=match):
        evaluate(layer, name, load_accelerator(preset), act_fmt="int8")


def test_weight_bytes_follow_bits_per_weight():
    acc = load_accelerator("btc-a100-like")
    layer = Layer.linear("fc", 1, 4096, 4096)
    costs = {f: evaluate(layer, f, acc, act_fmt="int8") for f in ("i2_s", "dbllmg64", "pbllm10g64",
                                                                  "salient25g64", "int2g64")}
    assert costs["i2_s"].dram_bytes < costs["int2g64"].dram_bytes < costs["dbllmg64"].dram_bytes \
        < costs["pbllm10g64"].dram_bytes
    # weights dominate a GEMV's traffic: bytes ~ K N bits_per_weight / 8
    for f, c in costs.items():
        w_bytes = 4096 * 4096 * P(f).bits_per_weight / 8
        assert w_bytes <= c.dram_bytes <= w_bytes * 1.01 + 64 * 1024, f
