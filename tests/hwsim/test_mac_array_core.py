"""hwsim.cores.mac_array: SCALE-Sim fold formulas by hand, precision modes, tensor cores, errors."""

from __future__ import annotations

import numpy as np
import pytest
from lowbit.hwsim.cores.base import Action, ActionKind, CoreModel, Dataflow
from lowbit.hwsim.cores.mac_array import (
    CoreStyle,
    Model,
    Spec,
    holds,
    pe_area_um2_45nm,
    systolic_fold_cycles,
)
from lowbit.hwsim.spec import load_accelerator
from lowbit.kernels_ref.errors import InvalidSpecError, UnsupportedFormatError
from lowbit.kernels_ref.formats import Format

OS, WS, IS = Dataflow.OUTPUT_STATIONARY, Dataflow.WEIGHT_STATIONARY, Dataflow.INPUT_STATIONARY
I8, I4 = Format.parse("int8"), Format.parse("int4")


def F(s: str) -> Format:
    return Format.parse(s)


def test_protocol_and_defaults():
    model = Model(Spec())
    assert isinstance(model, CoreModel)
    assert model.dataflows == (WS, OS, IS)
    assert model.peak_macs_per_cycle(I8, I8) == 1024.0


# Hand derivations (FIDELITY.md, SCALE-Sim 3.0 per-fold rules), M=100, K=300, N=70 on 32x32:
#   OS: folds ceil(100/32)*ceil(70/32) = 4*3 = 12, per fold T+R+C-2 = 300+62 = 362 -> 4344
#   WS: folds ceil(300/32)*ceil(70/32) = 10*3 = 30, per fold 2R+C+T-2 = 64+32+100-2 = 194 -> 5820
#   IS: folds ceil(300/32)*ceil(100/32) = 10*4 = 40, per fold 64+32+70-2 = 164 -> 6560
@pytest.mark.parametrize("df, expected", [(OS, 4344), (WS, 5820), (IS, 6560)])
def test_systolic_cycles_by_hand(df, expected):
    assert Model(Spec()).compute(100, 300, 70, I8, I8, df).cycles == expected
    # SCALE-Sim reports the 0-based index of the last cycle
    assert Model(Spec(scalesim_mode=True)).compute(100, 300, 70, I8, I8, df).cycles == expected - 1


def test_partial_folds_charge_full_array():
    # M=1 (GEMV) on OS still pays R + C - 2 of skew: 1 fold ceil(1/32)*ceil(1/32), T=5 -> 5+62 = 67
    assert Model(Spec()).compute(1, 5, 1, I8, I8, OS).cycles == 67
    folds, per = systolic_fold_cycles(1, 5, 1, 32, 32, WS)
    assert (int(folds), int(per)) == (1, 2 * 32 + 32 + 1 - 2)


def test_non_square_array_and_batch():
    spec = Spec(rows=16, cols=8)
    # WS: folds ceil(45/16)*ceil(33/8) = 3*5 = 15, per fold 32+8+20-2 = 58 -> 870; batch 3 -> 2610
    assert Model(spec).compute(20, 45, 33, I8, I8, WS, batch=3).cycles == 3 * 870


def test_vectorised_equals_scalar():
    model = Model(Spec(rows=8, cols=12))
    m = np.array([1, 7, 64, 100])
    k = np.array([3, 300, 17, 64])
    n = np.array([9, 1, 50, 12])
    for df in (OS, WS, IS):
        vec = model.compute(m, k, n, I8, I8, df)
        for i in range(4):
            one = model.compute(int(m[i]), int(k[i]), int(n[i]), I8, I8, df)
            assert vec.cycles[i] == one.cycles
            for key, v in one.actions.items():
                assert vec.actions[key][i] == v


def test_widening_reported_and_unsupported():
    model = Model(Spec())  # int8 only
    tc = model.compute(16, 16, 16, I4, I8, OS)
    assert tc.cycles == model.compute(16, 16, 16, I8, I8, OS).cycles
    assert "int8" in tc.ran_as and "int4" in tc.ran_as
    assert Action(ActionKind.MAC_INT, (8, 8)) in tc.actions
    assert model.compute(16, 16, 16, I8, I8, OS).ran_as == ""
    with pytest.raises(UnsupportedFormatError):
        model.compute(16, 16, 16, F("fp16"), F("fp16"), OS)
    with pytest.raises(UnsupportedFormatError):
        model.compute(16, 16, 16, F("int16"), I8, OS)


def test_rates_int4_double_fp16_half():
    spec = Spec(rows=32, cols=32, precisions=("int8", "int4", "fp16", "bf16"), rates=(1.0, 2.0, 0.5, 0.5))
    model = Model(spec)
    # int4 x int4 at 2x: K packs two per PE -> OS T = ceil(300/2) = 150: 12 folds * (150+62) = 2544
    tc4 = model.compute(100, 300, 70, I4, I4, OS)
    assert tc4.cycles == 12 * 212 and tc4.ran_as == ""
    assert Action(ActionKind.MAC_INT, (4, 4)) in tc4.actions
    assert model.peak_macs_per_cycle(I4, I4) == 2048.0
    # int4 weights x int8 activations share the int8 mode
    assert model.compute(100, 300, 70, I4, I8, OS).cycles == 4344
    # fp16 at half rate: every step takes 2 cycles -> 2 * 4344
    tcf = model.compute(100, 300, 70, F("fp16"), F("fp16"), OS)
    assert tcf.cycles == 2 * 4344
    assert Action(ActionKind.MAC_FP, (16, 16)) in tcf.actions
    # int8 weights with fp16 activations run in the fp16 mode (int8 exact in an 11-bit significand)
    assert model.compute(8, 8, 8, I8, F("fp16"), OS).ran_as.startswith("fp16")
    # fp8 widened to fp16; bf16 does not fit fp16 (8 exponent bits) but has its own mode
    assert "core lacks fp8e4m3" in model.compute(8, 8, 8, F("fp8e4m3"), F("fp16"), OS).ran_as
    assert model.compute(8, 8, 8, F("bf16"), F("bf16"), OS).ran_as == ""
    with pytest.raises(UnsupportedFormatError):
        model.compute(8, 8, 8, F("bf16"), F("fp16"), OS)


def test_holds_rules():
    assert holds(I8, I4) and holds(I8, F("uint7")) and not holds(I8, F("uint8"))
    assert holds(I8, F("ternary")) and holds(I8, F("binary"))
    assert holds(F("bf16"), I8) and not holds(F("bf16"), F("int16"))   # 8-bit significand
    assert holds(F("fp16"), F("int8")) and holds(F("fp16"), F("nf4"))
    assert not holds(I8, F("nf4")) and not holds(F("fp16"), F("bf16"))


def test_tensor_core_style():
    # A100-like SM: 4 tensor cores, int8 m8n4k16 per cycle each (8*4*16 = 512 MACs), int4 at 2x
    spec = Spec(style=CoreStyle.TENSOR_CORE, dataflows=(Dataflow.NONE,), tile_m=8, tile_n=4, tile_k=16,
                units=4, precisions=("int8", "int4", "fp16"), rates=(1.0, 2.0, 0.5))
    model = Model(spec)
    # M=64, N=64, K=256: tiles 8*16 = 128 -> 32 waves of 4 units; K steps 256/16 = 16 -> 512
    assert model.compute(64, 256, 64, I8, I8, Dataflow.NONE).cycles == 512
    assert model.compute(64, 256, 64, I4, I4, Dataflow.NONE).cycles == 256
    assert model.compute(64, 256, 64, F("fp16"), F("fp16"), Dataflow.NONE).cycles == 1024
    assert model.peak_macs_per_cycle(I8, I8) == 2048.0
    with pytest.raises(InvalidSpecError):
        model.compute(8, 8, 8, I8, I8, OS)


def test_actions_count_useful_macs():
    tc = Model(Spec()).compute(10, 20, 30, I8, I8, WS, batch=2)
    macs = 2 * 10 * 20 * 30
    assert tc.actions[Action(ActionKind.MAC_INT, (8, 8))] == macs
    assert tc.actions[Action(ActionKind.ADD, (32,))] == macs
    assert tc.actions[Action(ActionKind.REG_READ, (8,))] == 2 * macs
    assert tc.actions[Action(ActionKind.REG_READ, (32,))] == macs   # psums forwarded (ws)
    os_tc = Model(Spec()).compute(10, 20, 30, I8, I8, OS)
    assert Action(ActionKind.REG_READ, (32,)) not in os_tc.actions  # stationary accumulators
    g = Model(Spec()).compute(10, 256, 30, F("int4g128"), I8, OS)
    assert g.actions[Action(ActionKind.DEQUANT, (32,))] == 10 * 30 * 2


def test_area():
    # int8 PE at 45 nm: 282 (mult) + 137 (32b add) + 4.52*(2*8+32) flip-flops = 635.96 um^2
    assert pe_area_um2_45nm(Spec()) == pytest.approx(282 + 137 + 4.52 * 48)
    model = Model(Spec())
    assert model.area_mm2(45) == pytest.approx(1024 * 635.96e-6)
    assert model.area_mm2(7) == pytest.approx(model.area_mm2(45) * (7 / 45) ** 2)
    fp = Spec(precisions=("int8", "fp16"), rates=(1.0, 0.5))
    assert pe_area_um2_45nm(fp) == pytest.approx(282 + 1640 + 1360 + 137 + 4.52 * (2 * 16 + 32))
    assert Model(Spec(pe_area_um2=1000.0)).area_mm2(45) == pytest.approx(1.024)


@pytest.mark.parametrize("kwargs", [
    {"rows": 0}, {"cols": -1}, {"rows": 2.5}, {"dataflows": ()}, {"dataflows": (WS, WS)},
    {"dataflows": (Dataflow.NONE,)}, {"precisions": ("int8", "int4"), "rates": (1.0,)},
    {"precisions": ("nf4",)}, {"precisions": ("int17",)}, {"rates": (1.5,)}, {"rates": (0.0,)}, {"rates": (5e-324,)}, {"rates": (float("inf"),)},
    {"rates": (1e300,)}, {"rates": (float("nan"),)},
    {"precisions": ("int8", "int8t"), "rates": (1.0, 1.0)},
    {"precisions": ("int8", "int8"), "rates": (1.0, 1.0)}, {"style": "systolic"}, {"pe_area_um2": -1.0},
    {"style": CoreStyle.TENSOR_CORE},  # tensor core must declare dataflows (none,)
    {"style": CoreStyle.TENSOR_CORE, "dataflows": (Dataflow.NONE,), "scalesim_mode": True},
])
def test_bad_specs(kwargs):
    with pytest.raises(InvalidSpecError):
        Spec(**kwargs)


def test_bad_calls():
    model = Model(Spec(dataflows=(WS,)))
    with pytest.raises(InvalidSpecError):
        model.compute(8, 8, 8, I8, I8, OS)
    with pytest.raises(InvalidSpecError):
        model.compute(-1, 8, 8, I8, I8, WS)
    assert model.compute(0, 8, 8, I8, I8, WS).cycles == 0


def test_preset_through_hwsim_spec():
    accel = load_accelerator("scalesim-32x32")
    assert accel.core == Spec(rows=32, cols=32, dataflows=(OS, WS, IS), scalesim_mode=True)
    assert accel.freq_hz == 1.0e9 and accel.num_cores == 1
