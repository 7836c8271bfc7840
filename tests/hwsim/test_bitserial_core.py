"""bit_serial core family: fast model vs cycle-stepped array, and hand-derived scaling laws."""

import numpy as np
import pytest

from hwsim.cores.base import Action, ActionKind, Dataflow
from hwsim.cores.bit_serial import GemmDim, Model, SerialOperands, Spec, k_segment_for
from hwsim.cyclesim.bit_serial import simulate, split_chunks
from kernels_ref.errors import InvalidSpecError, UnsupportedFormatError
from kernels_ref.formats import Format, FormatKind
from models.ir import ConvGeometry, Layer

STRIPES = Spec(rows=4, cols=3, lanes=2)
LOOM = Spec(serial=SerialOperands.BOTH, rows=3, cols=2, lanes=3, bits_per_cycle_w=2)
BITMOD = Spec(serial=SerialOperands.WEIGHTS, bits_per_cycle_w=2, rows=3, cols=2, lanes=4,
              dequant_cycles_per_group=3)
FUSION = Spec(serial=SerialOperands.NONE, fusion_brick_bits=2, rows=4, cols=3, lanes=1,
              rows_dim=GemmDim.K, cols_dim=GemmDim.N, parallel_bits_w=8, parallel_bits_a=8)
PARALLEL = Spec(serial=SerialOperands.NONE, rows=2, cols=3, lanes=2, parallel_bits_w=4, parallel_bits_a=8)
SPECS = {"stripes": STRIPES, "loom": LOOM, "bitmod": BITMOD, "fusion": FUSION, "parallel": PARALLEL}
FORMATS = [("int4", "int8"), ("int8", "int3"), ("int2", "int2"), ("uint3", "int5"),
           ("int8", "int16"), ("int4g8", "int4"), ("binary", "uint2"), ("ternary", "int1")]


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
    bitserial = pytest.importorskip("kernels_ref.bitserial")
    import torch
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
