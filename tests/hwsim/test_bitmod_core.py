"""BitMoD and its bit-parallel baselines on the bit_serial core: compute cycles by hand.

FIDELITY.md / abdelfattah-lab/BitMoD-HPCA-25 bitmod_sim (accelerator.py `_calc_tile_fc`):
compute = ceil(K/dp) * ceil(N/rows) * ceil(tokens/cols) * PE latency, PE latency
ceil(floor(w_bits)/2) for BitMoD (dp 4), 1 for FP16 / ANT / OliVe (dp 1). Arrays
(rows x cols) prefill/decode: BitMoD 32x32/64x16, ANT 32x32/64x16, OliVe 36x32/72x16,
FP16 32x24/64x12. LLaMA-2-7B decoder linear shapes (K, N) from its public config
(hidden 4096, intermediate 11008): q/k/v/o 4096x4096, gate/up 4096x11008, down 11008x4096.
"""

import pytest
from lowbit.hwsim.cores.bit_serial import GemmDim, Model, SerialOperands, Spec
from lowbit.hwsim.spec import load_accelerator
from lowbit.kernels_ref.formats import Format

LLAMA2_7B = [(4096, 4096)] * 4 + [(4096, 11008)] * 2 + [(11008, 4096)]
FP16 = Format.parse("fp16")


def _core(rows, cols, serial):
    if serial:
        return Spec(serial=SerialOperands.WEIGHTS, bits_per_cycle_w=2, parallel_bits_w=8, parallel_bits_a=16,
                    float_datapath=True, rows=rows, cols=cols, lanes=4, rows_dim=GemmDim.N, cols_dim=GemmDim.M)
    return Spec(serial=SerialOperands.NONE, parallel_bits_w=16, parallel_bits_a=16, float_datapath=True,
                rows=rows, cols=cols, lanes=1, rows_dim=GemmDim.N, cols_dim=GemmDim.M)


def _cycles(spec, tokens, wfmt):
    return sum(Model(spec).compute(tokens, k, n, Format.parse(wfmt), FP16).cycles for k, n in LLAMA2_7B)


def _formula(tokens, rows, cols, dp, lat):
    return sum(-(-k // dp) * -(-n // rows) * -(-tokens // cols) * lat for k, n in LLAMA2_7B)


@pytest.mark.parametrize("name,rows,cols,serial,wfmt,dp,lat", [
    ("bitmod-prefill", 32, 32, True, "int4g128", 4, 2),
    ("bitmod-decode", 64, 16, True, "int3g128", 4, 2),
    ("ant-prefill", 32, 32, False, "int5", 1, 1),
    ("olive-decode", 72, 16, False, "int4", 1, 1),
    ("fp16-prefill", 32, 24, False, "fp16", 1, 1),
])
def test_compute_cycles_follow_bitmod_sim_formula(name, rows, cols, serial, wfmt, dp, lat):
    tokens = 256 if name.endswith("prefill") else 1
    assert _cycles(_core(rows, cols, serial), tokens, wfmt) == _formula(tokens, rows, cols, dp, lat)


def test_prefill_compute_speedups():
    bitmod = _cycles(_core(32, 32, True), 256, "int4g128")
    ant = _cycles(_core(32, 32, False), 256, "int5")
    olive = _cycles(_core(36, 32, False), 256, "int4")
    # same 32x32 array, dp 4 at 2 cycles vs dp 1 at 1 cycle: exactly 2x
    assert ant / bitmod == 2.0
    # OliVe has 36 rows: sum K*ceil(N/36)*8 = 45,035,520 vs BitMoD's 25,296,896 (hand count
    # over the 7 linears: 4096*114*8*4 + 4096*306*8*2 + 11008*114*8 = 45,035,520)
    assert olive == 45_035_520 and bitmod == 25_296_896
    assert olive / bitmod == pytest.approx(1.7803, abs=1e-4)


def test_presets_match_the_arrays():
    assert load_accelerator("bitmod").core == _core(32, 32, True)
    assert load_accelerator("bitmod-decode").core == _core(64, 16, True)
    for name, rows, cols in (("bitmod-ant", 32, 32), ("bitmod-ant-decode", 64, 16), ("bitmod-olive", 36, 32),
                             ("bitmod-olive-decode", 72, 16), ("bitmod-fp16-baseline", 32, 24),
                             ("bitmod-fp16-baseline-decode", 64, 12)):
        assert load_accelerator(name).core == _core(rows, cols, False), name


@pytest.mark.parametrize("fmt,ref", [("bitmod3g128", "int3g128"), ("bitmod4g128", "int4g128"),
                                     ("fp3_er_posg128", "int3g128"), ("fp4_ea_negg128", "int4g128")])
def test_bitmod_datatypes_run_bit_serially_like_their_width(fmt, ref):
    # BitMoD's per-group datatypes stream as their 3/4-bit codes (decoded per group by the
    # dequantisation unit): same PE latency as an integer of that width, one DEQUANT per group
    model = Model(load_accelerator("bitmod").core)
    c = model.compute(256, 4096, 4096, Format.parse(fmt), FP16)
    r = model.compute(256, 4096, 4096, Format.parse(ref), FP16)
    assert c.cycles == r.cycles == 1024 * 128 * 8 * 2
    dq = [v for a, v in c.actions.items() if a.kind.value == "dequant"]
    assert dq == [256 * 4096 * 32]
