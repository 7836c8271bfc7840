"""bit_serial core family: fast model vs cycle-stepped array, and hand-derived scaling laws."""

import json

import numpy as np
import pytest
import torch
from lowbit.hwsim.cores.base import Action, ActionKind, Dataflow
from lowbit.hwsim.cores.bit_serial import GemmDim, Model, SerialOperands, Spec, k_segment_for
from lowbit.hwsim.cyclesim.bit_serial import simulate, split_chunks
from lowbit.kernels_ref import bitserial
from lowbit.kernels_ref.errors import InvalidSpecError, UnsupportedFormatError
from lowbit.kernels_ref.formats import Format, FormatKind
from lowbit.models.ir import ConvGeometry, Layer

torch.set_num_threads(1)

STRIPES = Spec(rows=4, cols=3, lanes=2)
LOOM = Spec(serial=SerialOperands.BOTH, rows=3, cols=2, lanes=3, bits_per_cycle_w=2)
BITMOD = Spec(serial=SerialOperands.WEIGHTS, bits_per_cycle_w=2, rows=3, cols=2, lanes=4,
              dequant_cycles_per_group=3)
FUSION = Spec(serial=SerialOperands.NONE, fusion_brick_bits=2, rows=4, cols=3, lanes=1,
              rows_dim=GemmDim.K, cols_dim=GemmDim.N, parallel_bits_w=8, parallel_bits_a=8)
PARALLEL = Spec(serial=SerialOperands.NONE, rows=2, cols=3, lanes=2, parallel_bits_w=4, parallel_bits_a=8)
SPECS = {"stripes": STRIPES, "loom": LOOM, "bitmod": BITMOD, "fusion": FUSION, "parallel": PARALLEL}
FORMATS = [("int4", "int8"), ("int8", "int3"), ("int2", "int2"), ("uint3", "int5"),
           ("int8", "int16"), ("int4g8", "int4"), ("binary", "uint2"), ("ternary", "int1"),
           ("int12", "int9"), ("uint13", "int16"), ("int16", "uint11"), ("int15", "int10")]


def _codes(rng, fmt, shape):
    if fmt.kind is FormatKind.BINARY:
        return np.where(rng.integers(0, 2, shape) > 0, 1, -1)
    return rng.integers(fmt.qmin, fmt.qmax + 1, shape)


@pytest.mark.parametrize("name", sorted(SPECS))
@pytest.mark.parametrize("wf,af", FORMATS)
def test_stepped_array_matches_gemm_and_fast_model(name, wf, af):
    spec = SPECS[name]
    w_fmt, a_fmt = Format.parse(wf), Format.parse(af)
    rng = np.random.default_rng(abs(hash((name, wf, af))) % 2**32)
    m, k, n = 5, 19, 7
    x, w = _codes(rng, a_fmt, (m, k)), _codes(rng, w_fmt, (k, n))
    res = simulate(x, w, w_fmt, a_fmt, spec)
    np.testing.assert_array_equal(res.output, x @ w)
    assert res.cycles == Model(spec).compute(m, k, n, w_fmt, a_fmt).cycles


@pytest.mark.parametrize("name", ["fusion", "stripes", "bitmod"])
@pytest.mark.parametrize("k,seg", [(27, 9), (25, 9), (5, 9)])
def test_stepped_channelwise_segments_and_batch(name, k, seg):
    spec = SPECS[name]
    w_fmt, a_fmt = Format.parse("int4g6"), Format.parse("int2")
    rng = np.random.default_rng(3)
    x, w = _codes(rng, a_fmt, (2, 4, k)), _codes(rng, w_fmt, (2, k, 5))
    res = simulate(x, w, w_fmt, a_fmt, spec, k_segment=seg)
    np.testing.assert_array_equal(res.output, x @ w)
    fast = Model(spec).compute(4, k, 5, w_fmt, a_fmt, batch=2, k_segment=seg)
    assert res.cycles == fast.cycles


def test_split_chunks_sign_plane_is_negative():
    # -3 in int4 = 1101b; two 2-bit chunks: low 01 = 1 (unsigned), high 11 = -1 (signed): 1 - 4 = -3
    fmt = Format.parse("int4")
    parts = split_chunks(np.array([-3, 7, -8]), fmt, 2, 2)
    assert [(s, v.tolist()) for s, v in parts] == [(0, [1, 3, 0]), (2, [-1, 1, -2])]
    with pytest.raises(InvalidSpecError):
        split_chunks(np.array([9]), fmt, 2, 2)


def test_reference_kernel_agrees():
    rng = np.random.default_rng(11)
    w_fmt, a_fmt = Format.parse("int4"), Format.parse("int6")
    x, w = _codes(rng, a_fmt, (6, 40)), _codes(rng, w_fmt, (40, 9))
    res = simulate(x, w, w_fmt, a_fmt, LOOM)
    ref = bitserial.bitserial_matmul(torch.from_numpy(x), torch.from_numpy(w), a_bits=6, w_bits=4,
                                     serial="both", step_bits=1)
    np.testing.assert_array_equal(res.output, ref.numpy())


# ---------------------------------------------------------------- scaling laws (hand-derived)
def test_stripes_cycles_fall_as_pa_over_16():
    # default Spec = one Stripes chip: P_m = 16 windows, P_k = 16 lanes, P_n = 256 filters.
    # m=64, k=128, n=512 -> steps = 4 * 8 * 2 = 64; one step = p_a cycles; weights 16-bit parallel.
    model = Model(Spec())
    w16 = Format.parse("int16")
    base = model.compute(64, 128, 512, w16, Format.parse("int16")).cycles
    assert base == 64 * 16
    for p in (1, 2, 3, 5, 7, 8):
        c = model.compute(64, 128, 512, w16, Format.parse(f"int{p}")).cycles
        assert c == 64 * p
        assert c / base == pytest.approx(p / 16)
    # weight precision does not matter on Stripes
    assert model.compute(64, 128, 512, Format.parse("int4"), Format.parse("int8")).cycles == 64 * 8


def test_loom_conv_cycles_fall_as_one_over_pw_pa():
    # Loom-like: 128 filters x 16 windows x 16 lanes, both operands 1 bit/cycle
    spec = Spec(serial=SerialOperands.BOTH, rows=128, cols=16, lanes=16)
    model = Model(spec)
    layer = Layer.conv2d("c", ConvGeometry(64, 256, 16, 16, 3, 3, pad_h=1, pad_w=1))
    # M = 256 windows -> 16, K = 576 -> 36, N = 256 -> 2: 1152 steps; 16x16 bits -> 256 cycles each
    full = model.compute(layer.m, layer.k, layer.n, Format.parse("int16"), Format.parse("int16")).cycles
    assert full == 1152 * 256
    for pw, pa in ((8, 8), (4, 6), (2, 16), (1, 1), (5, 7)):
        c = model.compute(layer.m, layer.k, layer.n, Format.parse(f"int{pw}"), Format.parse(f"int{pa}")).cycles
        assert full / c == pytest.approx(256 / (pw * pa))


@pytest.mark.parametrize("bw,ba,macs_per_fu", [
    (8, 8, 1), (4, 4, 4), (2, 2, 16), (8, 4, 2), (4, 8, 2), (8, 2, 4), (2, 8, 4), (4, 2, 8), (2, 4, 8),
    (1, 1, 16), (1, 2, 16), (3, 3, 4), (5, 2, 4), (6, 8, 1), (16, 8, 0.5), (16, 16, 0.25)])
def test_bitfusion_follows_fusion_table(bw, ba, macs_per_fu):
    # Sharma et al. 2018: a fusion unit of 16 2-bit BitBricks does 1 8x8, 4 4x4 or 16 2x2 MACs
    # per cycle (16 / (ceil(bw/2) * ceil(ba/2)), bricks fusing in powers of two); 16-bit
    # operands are composed over several cycles.
    model = Model(FUSION.__class__(serial=SerialOperands.NONE, fusion_brick_bits=2, rows=16, cols=32,
                                   lanes=1, rows_dim=GemmDim.K, cols_dim=GemmDim.N))
    fmt = {1: "binary"}
    w, a = Format.parse(fmt.get(bw, f"int{bw}")), Format.parse(fmt.get(ba, f"int{ba}"))
    assert model.peak_macs_per_cycle(w, a) == 512 * macs_per_fu
    # hand count: M=16 images*1, K=1024, N=64 -> 16 * ceil(1024 / (16 * F)) * 2 steps
    c = model.compute(16, 1024, 64, w, a).cycles
    if macs_per_fu >= 1:
        assert c == 16 * -(-1024 // int(16 * macs_per_fu)) * 2
    else:
        assert c == 16 * 64 * 2 * int(1 / macs_per_fu)


def test_bitfusion_channelwise_conv():
    # AlexNet-WRPN conv2 on the 16x32 array, 4/4 bits (F = 4): Bit Fusion's
    # get_compute_cycles(im2col=False) = b * ceil(oc/32) * oh*ow * kh*kw * ceil(ic/(16*4))
    # = 16 * 8 * 729 * 25 * 2 = 4,665,600 (also the published simulator's compute cycles).
    spec = Spec(serial=SerialOperands.NONE, fusion_brick_bits=2, rows=16, cols=32, lanes=1,
                rows_dim=GemmDim.K, cols_dim=GemmDim.N, conv_channelwise=True, im2col_max_in_channels=3)
    layer = Layer.conv2d("conv2_a", ConvGeometry(96, 256, 27, 27, 5, 5, pad_h=2, pad_w=2), images=16)
    seg = k_segment_for(layer, spec)
    assert seg == 96
    i4 = Format.parse("int4")
    assert Model(spec).compute(layer.m, layer.k, layer.n, i4, i4, k_segment=seg).cycles == 4_665_600
    # as a plain im2col GEMM it would be ceil(2400/64) = 38 instead of 25 * 2 = 50 K-steps
    assert Model(spec).compute(layer.m, layer.k, layer.n, i4, i4).cycles == 16 * 8 * 729 * 38
    first = Layer.conv2d("conv1", ConvGeometry(3, 96, 227, 227, 11, 11, 4, 4), images=16)
    assert k_segment_for(first, spec) is None


def test_bitmod_pe_latency_and_dequant_actions():
    # FIDELITY.md BitMoD: compute = ceil(K/dp) * ceil(N/rows) * ceil(tokens/cols) * ceil(bits/2)
    spec = Spec(serial=SerialOperands.WEIGHTS, bits_per_cycle_w=2, rows=32, cols=32, lanes=4,
                float_datapath=True)
    model = Model(spec)
    fp16 = Format.parse("fp16")
    k, n, t = 4096, 11008, 256
    for wf, lat in (("int4g128", 2), ("int3g128", 2), ("int6g128", 3), ("int8", 4), ("fp4g128", 2)):
        c = model.compute(t, k, n, Format.parse(wf), fp16)
        assert c.cycles == 1024 * 344 * 8 * lat
    c = model.compute(t, k, n, Format.parse("int4g128"), fp16)
    assert c.actions[Action(ActionKind.DEQUANT, (32,))] == t * n * (k // 128)
    assert c.actions[Action(ActionKind.SHIFT_ADD, (32,))] == t * k * n * 2
    # a dequantisation unit that is not hidden costs its cycles per group per output tile
    slow = Model(Spec(**{**spec.__dict__, "dequant_cycles_per_group": 5}))
    assert slow.compute(t, k, n, Format.parse("int4g128"), fp16).cycles == 1024 * 344 * 8 * 2 + 344 * 8 * 32 * 5


def test_vectorised_shapes_and_actions_non_negative():
    model = Model(Spec())
    m = np.array([1, 16, 17, 300])
    c = model.compute(m, 64, 256, Format.parse("int16"), Format.parse("int8"))
    assert c.cycles.tolist() == [32, 32, 64, 19 * 32]
    for v in c.actions.values():
        assert np.all(np.asarray(v) >= 0)


def test_spec_validation_and_unsupported_formats():
    with pytest.raises(InvalidSpecError, match="rows"):
        Spec(rows=0)
    with pytest.raises(InvalidSpecError, match="fusion"):
        Spec(serial=SerialOperands.ACTIVATIONS, fusion_brick_bits=2)
    with pytest.raises(InvalidSpecError, match="rows_dim"):
        Spec(rows_dim=GemmDim.N, cols_dim=GemmDim.N)
    with pytest.raises(InvalidSpecError, match="fusion_bricks"):
        Spec(serial=SerialOperands.NONE, fusion_brick_bits=2, fusion_bricks=12)
    with pytest.raises(UnsupportedFormatError):
        Model(Spec()).compute(4, 4, 4, Format.parse("int8"), Format.parse("fp16"))
    with pytest.raises(UnsupportedFormatError):
        Model(FUSION).compute(4, 4, 4, Format.parse("fp4"), Format.parse("int8"))
    with pytest.raises(InvalidSpecError):
        Model(Spec()).compute(4, 4, 4, Format.parse("int8"), Format.parse("int8"),
                              dataflow=Dataflow.WEIGHT_STATIONARY)


def test_area_positive_and_scales_with_node():
    model = Model(Spec())
    assert 0 < model.area_mm2(28) < model.area_mm2(65)


# ---------------------------------------------------------------- 9..16-bit layers (hand-derived)
W16 = Format.parse("int16")


def test_stripes_cycles_scale_as_p_for_9_to_16_bits():
    # default Spec = one Stripes chip; m=64, k=128, n=512 -> 4 * 8 * 2 = 64 steps of ceil(p/1) cycles
    model = Model(Spec())
    for p in range(9, 17):
        assert model.compute(64, 128, 512, W16, Format.parse(f"int{p}")).cycles == 64 * p
        assert model.compute(64, 128, 512, W16, Format.parse(f"uint{p}")).cycles == 64 * p


def test_loom_and_bitmod_wide_precisions():
    # Loom, both operands 1 bit/cycle: ceil(pw/1) * ceil(pa/1) cycles per step;
    # m=16, k=48, n=128 on 128 x 16 x 16 -> 1 * 3 * 1 = 3 steps
    loom = Model(Spec(serial=SerialOperands.BOTH, rows=128, cols=16, lanes=16))
    for pw, pa in ((9, 16), (12, 12), (16, 16), (15, 2), (10, 11)):
        c = loom.compute(16, 48, 128, Format.parse(f"int{pw}"), Format.parse(f"int{pa}")).cycles
        assert c == 3 * pw * pa
    # BitMoD-style weights at 2 bits per cycle: PE latency ceil(p/2) -> 5, 6, 8 for 9, 12, 16 bits;
    # m=32, k=128, n=32 on 32 x 32 x 4 lanes -> 32 steps
    bitmod = Model(Spec(serial=SerialOperands.WEIGHTS, bits_per_cycle_w=2, rows=32, cols=32, lanes=4))
    for p, lat in ((9, 5), (10, 5), (12, 6), (15, 8), (16, 8)):
        assert bitmod.compute(32, 128, 32, Format.parse(f"int{p}"), Format.parse("int8")).cycles == 32 * lat


@pytest.mark.parametrize("bw,ba,fuse,per_step", [(12, 8, 1, 2), (9, 9, 1, 4), (16, 4, 1, 1), (10, 2, 2, 1),
                                                 (16, 16, 1, 4)])
def test_bitfusion_decomposes_operands_wider_than_8_bits(bw, ba, fuse, per_step):
    # A fusion unit has 16 2-bit BitBricks that fuse in powers of two per operand (Bit Fusion
    # runs 1/2/4/8-bit operands spatially and 16-bit ones over several cycles): an operand of
    # 9..16 bits takes ceil(p/2) -> 8 bricks, i.e. it runs as a 16-bit operand. Hand table:
    # 12x8 -> 8*4 = 32 bricks = 2 cycles per MAC; 9x9 -> 64 = 4 cycles; 16x4 -> 8*2 = 16 = one
    # MAC per cycle; 10x2 -> 8*1 = 8 bricks = 2 MACs per cycle; 16x16 -> 4 cycles (0.25/cycle,
    # as in test_bitfusion_follows_fusion_table).
    spec = Spec(serial=SerialOperands.NONE, fusion_brick_bits=2, rows=16, cols=32, lanes=1,
                rows_dim=GemmDim.K, cols_dim=GemmDim.N)
    model = Model(spec)
    w, a = Format.parse(f"int{bw}"), Format.parse(f"int{ba}")
    assert model.pass_cycles(w, a) == (fuse, per_step)
    assert model.peak_macs_per_cycle(w, a) == 512 * fuse / per_step
    # M=16, K=1024, N=64 on 16 (K) x 32 (N) units: 16 * ceil(1024 / (16 * F)) * 2 steps
    assert model.compute(16, 1024, 64, w, a).cycles == 16 * -(-1024 // (16 * fuse)) * 2 * per_step


# torchvision AlexNet convs on the `stripes` preset (P_m = 16 windows, P_k = 16 lanes,
# P_n = 256 filters): steps = ceil(M/16) * ceil(K/16) * ceil(N/256)
ALEXNET_STEPS = {
    "features.0": 190 * 23 * 1,   # M = 55*55 = 3025, K = 3*11*11 = 363, N = 64
    "features.3": 46 * 100 * 1,   # M = 27*27 = 729, K = 64*5*5 = 1600, N = 192
    "features.6": 11 * 108 * 2,   # M = 13*13 = 169, K = 192*9 = 1728, N = 384
    "features.8": 11 * 216 * 1,   # K = 384*9 = 3456, N = 256
    "features.10": 11 * 144 * 1,  # K = 256*9 = 2304, N = 256
}


def test_cli_simulate_stripes_alexnet_int9_acts(capsys):
    from lowbit.cli import main

    rc = main(["simulate", "--hw", "stripes", "--model", "alexnet", "--acts", "int9", "--weights", "int16",
               "--json"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    layers = {r["name"]: r for r in json.loads(out)["layers"]}
    for name, steps in ALEXNET_STEPS.items():
        assert layers[name]["compute_cycles"] == steps * 9  # ceil(9 / 1 bit per cycle) per step
        assert layers[name]["stall_cycles"] <= 1e-3 * layers[name]["cycles"]  # compute-bound


def test_stripes_preset_compute_bound_layer_scales_as_p():
    from lowbit.hwsim.evaluate import evaluate
    from lowbit.hwsim.spec import load_accelerator
    from lowbit.models.zoo import get

    acc = load_accelerator("stripes")
    layer = next(lay for lay in get("alexnet").layers if lay.name == "features.8")
    full = evaluate(layer, "int16", acc, act_fmt="int16")
    assert full.compute_cycles == 2376 * 16
    for p in range(9, 17):
        c = evaluate(layer, "int16", acc, act_fmt=f"int{p}")
        assert c.compute_cycles == 2376 * p  # 2376 steps x ceil(p/1) cycles
        assert c.cycles / full.cycles == pytest.approx(p / 16, rel=1e-3)
