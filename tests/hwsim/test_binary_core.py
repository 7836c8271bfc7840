"""Binary tensor core: fast model vs cycle-stepped popcount array, and x*y scaling."""

import numpy as np
import pytest
import torch
from lowbit.hwsim.cores.base import ActionKind
from lowbit.hwsim.cores.binary_tensor_core import Model, Spec
from lowbit.hwsim.cyclesim.binary import simulate
from lowbit.kernels_ref import binary
from lowbit.kernels_ref.errors import InvalidSpecError, UnsupportedFormatError
from lowbit.kernels_ref.formats import Format, FormatKind

torch.set_num_threads(1)

CASES = [
    # (w fmt, a fmt, M, K, N, logic op) -- odd shapes, all plane kinds, both logic ops
    ("int2", "int8", 5, 200, 11, "and"),
    ("binary", "binary", 9, 130, 7, "xor"),
    ("ternary", "int4", 3, 64, 9, "and"),
    ("uint3", "binary", 4, 40, 5, "and"),
    ("int4", "int4", 8, 256, 8, "xor"),
    ("int1", "uint2", 1, 31, 3, "and"),
]


def _codes(rng, fmt, shape):
    if fmt.kind is FormatKind.BINARY:
        return np.where(rng.integers(0, 2, shape) > 0, 1, -1)
    return rng.integers(fmt.qmin, fmt.qmax + 1, shape)


@pytest.mark.parametrize("wf,af,m,k,n,op", CASES)
def test_stepped_array_output_and_cycles_match(wf, af, m, k, n, op):
    rng = np.random.default_rng(hash((wf, af, m)) % 2**32)
    w_fmt, a_fmt = Format.parse(wf), Format.parse(af)
    x = _codes(rng, a_fmt, (m, k))
    w = _codes(rng, w_fmt, (k, n))
    spec = Spec(units=3, tile_cycles=2, epilogue_ops_per_cycle=7, pack_words_per_cycle=5, logic_op=op)
    res = simulate(x, w, w_fmt, a_fmt, spec)
    np.testing.assert_array_equal(res.output, x @ w)
    assert res.cycles == Model(spec).compute(m, k, n, w_fmt, a_fmt).cycles


def test_stepped_array_equals_reference_kernel():
    rng = np.random.default_rng(7)
    w_fmt, a_fmt = Format.parse("int2"), Format.parse("int8")
    x = _codes(rng, a_fmt, (6, 96))
    w = _codes(rng, w_fmt, (96, 10))
    res = simulate(x, w, w_fmt, a_fmt, Spec())
    ref = next(kn for kn in binary.kernels() if "int2" in kn.weight_formats and "int8" in kn.act_formats)
    out = ref.fn(torch.from_numpy(x), torch.from_numpy(w), w_fmt, a_fmt)
    np.testing.assert_array_equal(res.output, out.numpy())


def test_hand_count_one_mma_tile():
    # binary x binary, M=N=8, K=128 on one unit: 1 MMA of 2 cycles; epilogue (1 plane + 1 offset
    # correction) * 64 outputs / 64 per cycle = 2 cycles; pack 8 rows * 4 words / 32 per cycle = 1.
    spec = Spec(units=1)
    c = Model(spec).compute(8, 128, 8, Format.parse("binary"), Format.parse("binary"))
    assert c.cycles == 2 + 2 + 1


def test_mma_cycles_grow_as_x_times_y_on_compute_bound_shapes():
    spec = Spec()
    model = Model(spec)
    m, k, n = 512, 4096, 4096
    base = model.compute(m, k, n, Format.parse("int1"), Format.parse("int1"))
    logic_base = base.total_actions()
    for x_bits in (1, 2, 4):
        for y_bits in (1, 2, 4, 8):
            c = model.compute(m, k, n, Format.parse(f"int{x_bits}"), Format.parse(f"int{y_bits}"))
            # MMA work (AND/popcount lanes) is exactly x*y times the 1x1 case ...
            for act, v in c.total_actions().items():
                if act.kind is ActionKind.POPCOUNT:
                    assert v == x_bits * y_bits * logic_base[act]
            # ... and total cycles are within 5% of x*y times (epilogue/packing are small here)
            ratio = c.cycles / base.cycles
            assert ratio == pytest.approx(x_bits * y_bits, rel=0.05)


def test_vectorised_over_candidates():
    model = Model(Spec())
    ms = np.array([1, 8, 9, 100])
    c = model.compute(ms, 256, 64, Format.parse("int2"), Format.parse("int8"))
    singles = [model.compute(int(mm), 256, 64, Format.parse("int2"), Format.parse("int8")).cycles for mm in ms]
    np.testing.assert_array_equal(c.cycles, singles)


def test_bad_specs_and_formats():
    with pytest.raises(InvalidSpecError, match="tile_k"):
        Spec(tile_k=0)
    with pytest.raises(InvalidSpecError, match="logic_op"):
        Spec(logic_op="nand")
    with pytest.raises(UnsupportedFormatError, match="bit planes"):
        Model(Spec()).compute(8, 128, 8, Format.parse("fp16"), Format.parse("int8"))
