"""The stall kernel's USER ifmap without the im2col matrix (`scalesim_jit_user.conv_tables`):
for os and ws the skewed ifmap's prefetch order is generated from the conv geometry and its
copies per address counted in closed form; one-copy operands are scanned set by set. Held to
the matrix-read walk entry for entry (random geometries: strides that leave -1 at the edge,
non-square, 1x1 and GEMM shapes, both orientations) and, through whole layers, to the numpy
path and the reference on random os/ws/is layers with the ifmap smaller and larger than its
SRAM."""

from __future__ import annotations

import dataclasses
import math
import random

import numpy as np
from lowbit.hwsim.cores.base import Dataflow
from lowbit.hwsim.scalesim_io import ScaleSimConfig, ScaleSimLayer
from lowbit.hwsim.scalesim_mem import LayerReport, simulate_layer
from lowbit.hwsim.scalesim_streams import operand_matrices

_DATAFLOWS = (Dataflow.OUTPUT_STATIONARY, Dataflow.WEIGHT_STATIONARY, Dataflow.INPUT_STATIONARY)


def _geometry(rng: random.Random) -> tuple[int, ...]:
    """(ih, iw, fh, fw, ch, sh, sw): often a stride that leaves -1 past the edge."""
    fh, fw = rng.randint(1, 4), rng.randint(1, 4)
    ih, iw = fh + rng.randint(0, 9), fw + rng.randint(0, 9)
    return ih, iw, fh, fw, rng.randint(1, 6), rng.randint(1, 3), rng.randint(1, 3)


def test_generated_prefetch_order_equals_the_matrix_walk() -> None:
    """pf, the copies per address (closed form), chunk starts and segments of the generated
    walk equal those of the walk reading operand_matrix.py's im2col matrix, both orientations
    (ws: pixel-major blocks; os: the source transposed), blocks narrower and wider than t."""
    from lowbit.hwsim import scalesim_jit_user as jit_user

    rng = random.Random(17)
    holes = 0
    for _ in range(150):
        ih, iw, fh, fw, ch, sh, sw = _geometry(rng)
        lo = rng.choice([0, 3, 5000])
        ifm = operand_matrices(ih, iw, fh, fw, ch, 1, sh, sw, (lo, 10**7, 2 * 10**7), with_ofmap=False)[0]
        oh, ow = math.ceil((ih - fh + sh) / sh), math.ceil((iw - fw + sw) / sw)
        holes += int((ifm == -1).any())
        span = ih * iw * ch
        for trans in (False, True):
            w = rng.randint(1, 12)
            t = ifm.shape[1] if trans else ifm.shape[0]
            nb = -(-(ifm.shape[0] if trans else ifm.shape[1]) // w)
            got = []
            for gen in (False, True):
                mem = np.zeros(16 * (ifm.size + span + nb * (t + w) + 64), dtype=np.int64)
                mem[0] = 1
                if gen:
                    tab = jit_user.conv_tables(mem, ih, iw, fh, fw, ch, sh, sw, oh, ow)
                    src = np.zeros((0, 0), dtype=np.int64)
                else:
                    tab, src = np.zeros(0, dtype=np.int64), np.ascontiguousarray(ifm)
                out = jit_user._prefetch(mem, src, tab, trans, True, nb, t, w, 0, lo, span, True)
                got.append([x.copy() for x in out])
            for name, a, b in zip(("pf", "cnt", "pstart", "seg"), *got):
                assert np.array_equal(a, b), (name, ih, iw, fh, fw, ch, sh, sw, trans, w)
    assert holes >= 30  # the checked branch, not only the no-hole one


def _user_case(rng: random.Random, df: Dataflow) -> tuple[ScaleSimLayer, ScaleSimConfig]:
    kind = rng.random()
    if kind < 0.15:  # a GEMM as SCALE-Sim reads it (M x K ifmap, 1 x K filter windows)
        m, k = rng.randint(1, 40), rng.randint(1, 40)
        layer = ScaleSimLayer("g", m, k, 1, k, 1, rng.randint(1, 30), 1, 1, gemm=True)
    else:
        ih, iw, fh, fw, ch, sh, sw = _geometry(rng)
        if kind < 0.3:
            fh = fw = 1  # 1x1: one copy an address
        layer = ScaleSimLayer("l", ih + 6, iw + 4, fh, fw, 3 * ch, rng.randint(1, 30), sh, sw)
    bank = rng.choice([1, 2, 5])
    cfg = ScaleSimConfig(
        run_name="r", array_rows=rng.randint(2, 16), array_cols=rng.randint(2, 16),
        ifmap_sram_kb=rng.choice([1, 1, 1, 64]), filter_sram_kb=rng.choice([1, 1, 64]),
        ofmap_sram_kb=rng.randint(1, 2), ifmap_offset=rng.choice([0, 9, 4000]), filter_offset=10_000_000,
        ofmap_offset=20_000_000, dataflow=df, use_user_bandwidth=True, bandwidths=(rng.randint(1, 12),),
        memory_banks=1, read_request_buffer=60, write_request_buffer=60,
        ifmap_bank_bandwidth=bank * rng.randint(1, 4), ifmap_bank_num=bank,
        filter_bank_bandwidth=bank * rng.randint(1, 4), filter_bank_num=bank)
    return layer, cfg


def test_user_layers_equal_the_numpy_path_and_the_reference(stall_rows) -> None:
    """Whole USER layers, os / ws (generated ifmap) and is (matrix ifmap), ifmaps smaller than
    the SRAM (64 kB: no move) and far larger (1 kB: windows lapping the buffer): the kernel
    equals the numpy path on every case and the reference on a quarter of them; enough of them
    stall, move windows and take the one-copy set scan."""
    rng = random.Random(23)
    stalls = moved = ran = 0
    for i in range(180):
        layer, cfg = _user_case(rng, _DATAFLOWS[i % 3])
        got = stall_rows(layer, cfg)
        assert got == stall_rows(layer, cfg, jit=False), (layer, cfg)
        if i % 4 == 0:
            assert got == stall_rows(layer, cfg, oracle=True), (layer, cfg)
        if not isinstance(got, str):
            ran += 1
            stalls += got[2] > 0
            moved += got[22] >= 0  # ifmap DRAM stop -1 + K (lines + 1): K > 0 windows moved
    assert ran >= 150 and stalls >= 40 and moved >= 60, (ran, stalls, moved)


def test_the_kernel_report_is_a_plain_layer_report() -> None:
    """The jit path stores its fields straight into the frozen instance: the same object
    LayerReport's constructor builds (equal, same hash and repr), which needs LayerReport to
    keep no __post_init__."""
    assert not hasattr(LayerReport, "__post_init__")
    layer, cfg = _user_case(random.Random(3), Dataflow.WEIGHT_STATIONARY)
    rep = simulate_layer(layer, cfg)
    built = LayerReport(**{f.name: getattr(rep, f.name) for f in dataclasses.fields(LayerReport)})
    assert rep == built and hash(rep) == hash(built) and repr(rep) == repr(built)
    assert rep == simulate_layer(layer, cfg, jit=False)
