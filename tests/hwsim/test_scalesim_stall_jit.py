"""The compiled stall kernel (`hwsim.scalesim_jit.layer_kernel`, the default of
`scalesim_mem.simulate_layer`) equals the reference path (`simulate_layer(..., oracle=True)`:
SCALE-Sim's demand matrices, the USER window one request and one move at a time, the write
buffer one write at a time, CALC generations one request at a time) on random layers, every
report column and every error; each of its branches is hit by the random cases (USER one-copy
and im2col-copy windows with and without moves, skewed and stationary operands, the CALC
all-new closed form and the per-request scan, write-buffer stalls). numba loads only with the
stall path, not at `import lowbit`.
"""

from __future__ import annotations

import dataclasses
import random
import subprocess
import sys

import numpy as np
import pytest
from lowbit.hwsim import scalesim_mem
from lowbit.hwsim.cores.base import Dataflow
from lowbit.hwsim.scalesim_fast import compact_streams
from lowbit.hwsim.scalesim_io import ScaleSimConfig, ScaleSimLayer
from lowbit.hwsim.scalesim_read import user_read_events
from lowbit.hwsim.scalesim_streams import operand_matrices
from lowbit.kernels_ref.errors import InvalidSpecError

_DATAFLOWS = (Dataflow.OUTPUT_STATIONARY, Dataflow.WEIGHT_STATIONARY, Dataflow.INPUT_STATIONARY)


def _case(rng: random.Random, big: bool = False) -> tuple[ScaleSimLayer, ScaleSimConfig]:
    user = rng.random() < 0.55
    fh, fw = rng.randint(1, 3), rng.randint(1, 3)
    grow = (8, 18) if big else (0, 12)
    ih, iw = fh + rng.randint(*grow), fw + rng.randint(*grow)
    ch = rng.randint(4, 20) if big else rng.randint(1, 10)
    nf = rng.randint(8, 40) if big else rng.randint(1, 30)
    sh, sw = rng.randint(1, 2), rng.randint(1, 3)
    layer = ScaleSimLayer("l", ih, iw, fh, fw, ch, nf, sh, sw)
    bank = rng.choice([1, 2, 5, 10])
    cfg = ScaleSimConfig(
        run_name="r", array_rows=rng.randint(2, 20), array_cols=rng.randint(2, 20),
        ifmap_sram_kb=rng.randint(1, 3), filter_sram_kb=rng.randint(1, 3), ofmap_sram_kb=rng.randint(1, 3),
        ifmap_offset=rng.choice([0, 7, 5000]), filter_offset=10_000_000, ofmap_offset=20_000_000,
        dataflow=rng.choice(_DATAFLOWS), use_user_bandwidth=user,
        bandwidths=(rng.randint(1, 16),) if user else (), memory_banks=1,
        read_request_buffer=60, write_request_buffer=60,
        ifmap_bank_bandwidth=bank * rng.randint(1, 4), ifmap_bank_num=bank,
        filter_bank_bandwidth=bank * rng.randint(1, 4), filter_bank_num=bank)
    if big:
        cfg = dataclasses.replace(cfg, ifmap_sram_kb=1, filter_sram_kb=1, ofmap_sram_kb=1)
    return layer, cfg


def _branches(layer: ScaleSimLayer, cfg: ScaleSimConfig) -> set[str]:
    """Which of the kernel's branches a case takes, read off the numpy path's pieces."""
    geo = (layer.ifmap_h, layer.ifmap_w, layer.filter_h, layer.filter_w, layer.channels, layer.num_filters)
    ifm, flt, _ = operand_matrices(*geo, layer.stride_h, layer.stride_w, (0, 10**7, 2 * 10**7), with_ofmap=False)
    user = cfg.use_user_bandwidth
    cs = compact_streams(ifm, flt, cfg.array_rows, cfg.array_cols, cfg.dataflow, with_prefetch=user)
    out = {cfg.dataflow.value}
    sizes = (cfg.ifmap_sram_kb * 1024, cfg.filter_sram_kb * 1024)
    if user:
        bws = (cfg.ifmap_bank_bandwidth, cfg.filter_bank_bandwidth)
        for pf, pfs, st, size, bw in ((cs.if_pf, cs.if_pf_size, cs.ifmap, sizes[0], bws[0]),
                                      (cs.f_pf, cs.f_pf_size, cs.filt, sizes[1], bws[1])):
            multi = pf.size > 0 and int(np.bincount(pf - pf.min()).max()) > 1
            try:
                _, k, _, _ = user_read_events(pf, pfs, st, size, bw, "x", trusted=True)
            except InvalidSpecError:
                continue
            out.add(f"user {'copies' if multi else 'one copy'} {'moves' if k else 'no move'}")
    else:
        for st, size in ((cs.ifmap, sizes[0]), (cs.filt, sizes[1])):
            g = 50 * (size // 100)
            out.add("calc all-new" if scalesim_mem._all_new(st, g) else "calc scan")
            if st.size >= g:
                out.add("calc generation ends")
    return out


def test_kernel_equals_the_reference_on_random_layers(stall_rows) -> None:
    rng = random.Random(41)
    cases = [_case(rng) for _ in range(120)] + [_case(rng, big=True) for _ in range(20)]
    got = [stall_rows(layer, cfg) for layer, cfg in cases]
    assert got == [stall_rows(layer, cfg, oracle=True) for layer, cfg in cases]
    assert got == [stall_rows(layer, cfg, jit=False) for layer, cfg in cases]
    ran = [(c, r) for (_, c), r in zip(cases, got) if not isinstance(r, str)]
    assert len(ran) >= 100
    assert sum(r[2] > 0 for _, r in ran) >= 10  # cases that stall
    seen: set[str] = set()
    for layer, cfg in cases:
        seen |= _branches(layer, cfg)
    want = {"os", "ws", "is", "user copies moves", "user one copy moves", "user one copy no move",
            "calc all-new", "calc scan", "calc generation ends"}
    assert want <= seen, want - seen


def test_kernel_user_windows_equal_the_numpy_path_on_many_layers(stall_rows) -> None:
    """USER layers only, a third of them large (1 kB SRAMs, windows moving by one set group
    at a time over im2col copies): the kernel equals the numpy path (itself held to the
    reference above and in test_scalesim_stall_fast.py). Enough moves that a window answer
    kept one move too long (an im2col address's hit from the previous window) shows."""
    rng = random.Random(7)
    n = 0
    for i in range(600):
        layer, cfg = _case(rng, big=i % 3 == 0)
        if cfg.use_user_bandwidth:
            assert stall_rows(layer, cfg) == stall_rows(layer, cfg, jit=False), (layer, cfg)
            n += 1
    assert n >= 300


def test_kernel_raises_what_the_reference_raises(stall_rows) -> None:
    """A case SCALE-Sim 3.0.0 fails on (an array row of more requests than a CALC generation:
    two prefetch windows end on one cycle) gives the same error from the kernel as from the
    reference; the same cases with a narrow array run, equal to the reference."""
    layer = ScaleSimLayer("l", 36, 26, 1, 1, 3, 3, 1, 1)
    for df, (rows, cols), what in ((Dataflow.INPUT_STATIONARY, (3, 756), "ifmap"),):
        cfg = ScaleSimConfig(
            run_name="r", array_rows=rows, array_cols=cols, ifmap_sram_kb=1, filter_sram_kb=1, ofmap_sram_kb=1,
            ifmap_offset=0, filter_offset=10_000_000, ofmap_offset=20_000_000, dataflow=df,
            use_user_bandwidth=False, bandwidths=(), memory_banks=1, read_request_buffer=60,
            write_request_buffer=60)
        got = stall_rows(layer, cfg)
        assert got == stall_rows(layer, cfg, oracle=True)
        assert isinstance(got, str) and f"two {what} prefetch windows end on one cycle" in got, got
        narrow = dataclasses.replace(cfg, array_cols=cols // 100)
        ok = stall_rows(layer, narrow)
        assert not isinstance(ok, str) and ok == stall_rows(layer, narrow, oracle=True)


def test_kernel_matches_the_golden_shapes_at_large_offsets(stall_rows) -> None:
    """Addresses past 2**31 (int64 in the kernel throughout) equal the reference."""
    layer = ScaleSimLayer("l", 9, 7, 3, 2, 5, 6, 1, 2)
    for df in _DATAFLOWS:
        for user in (True, False):
            cfg = ScaleSimConfig(
                run_name="r", array_rows=4, array_cols=3, ifmap_sram_kb=1, filter_sram_kb=1, ofmap_sram_kb=1,
                ifmap_offset=2**33 + 5, filter_offset=2**34, ofmap_offset=2**35, dataflow=df,
                use_user_bandwidth=user, bandwidths=(3,) if user else (), memory_banks=1,
                read_request_buffer=60, write_request_buffer=60,
                ifmap_bank_bandwidth=2, ifmap_bank_num=1, filter_bank_bandwidth=2, filter_bank_num=1)
            assert stall_rows(layer, cfg) == stall_rows(layer, cfg, oracle=True)


@pytest.mark.slow   # 0.9-1.3 s: out of the fast lane (make test runs it)
def test_numba_loads_with_the_stall_path_only() -> None:
    code = ("import sys, lowbit, lowbit.cli, lowbit.hwsim, lowbit.hwsim.scalesim_mem, "
            "lowbit.hwsim.scalesim_reports\n"
            "assert 'numba' not in sys.modules, 'numba imported without the stall path'\n"
            "from lowbit.hwsim.scalesim_io import ScaleSimConfig, ScaleSimLayer\n"
            "from lowbit.hwsim.cores.base import Dataflow\n"
            "cfg = ScaleSimConfig(run_name='r', array_rows=4, array_cols=4, ifmap_sram_kb=1, filter_sram_kb=1,"
            " ofmap_sram_kb=1, ifmap_offset=0, filter_offset=10**7, ofmap_offset=2 * 10**7,"
            " dataflow=Dataflow.OUTPUT_STATIONARY, use_user_bandwidth=False, bandwidths=(), memory_banks=1,"
            " read_request_buffer=60, write_request_buffer=60)\n"
            "lowbit.hwsim.scalesim_mem.simulate_layer(ScaleSimLayer('l', 5, 5, 2, 2, 2, 3, 1, 1), cfg)\n"
            "assert 'numba' in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)


def test_warm_compiles_the_kernel_for_both_modes(stall_rows) -> None:
    """`scalesim_jit.warm` (run by `make install`) leaves the kernel compiled for the one
    signature every layer uses, so a layer right after it compiles nothing more."""
    from lowbit.hwsim import scalesim_jit

    scalesim_jit.warm()
    assert len(scalesim_jit.layer_kernel.signatures) == 1
    layer, cfg = _case(random.Random(5))
    stall_rows(layer, cfg)
    assert len(scalesim_jit.layer_kernel.signatures) == 1


def test_the_kernel_cache_is_named_by_every_jit_module(tmp_path) -> None:
    """numba keys a cached function on its own file's stamp only: an edit of a sibling module
    compiled into `layer_kernel` must move the cache, or the old machine code would load."""
    import os
    import shutil
    from pathlib import Path

    from lowbit.hwsim import scalesim_jit, scalesim_jit_base, scalesim_jit_user
    from numba.core import config

    here = Path(scalesim_jit_base.__file__).resolve().parent
    for name in scalesim_jit_base.JIT_MODULES:
        shutil.copy(here / name, tmp_path / name)
    tag = scalesim_jit_base.source_tag(tmp_path)
    assert tag == scalesim_jit_base.source_tag(here)
    seen = {tag}
    for name in scalesim_jit_base.JIT_MODULES:  # one byte more in any module: another cache
        (tmp_path / name).write_bytes((here / name).read_bytes() + b"\n")
        seen.add(scalesim_jit_base.source_tag(tmp_path))
        shutil.copy(here / name, tmp_path / name)
    assert len(seen) == 1 + len(scalesim_jit_base.JIT_MODULES)
    for fn in (scalesim_jit.layer_kernel, scalesim_jit_user.user_moves):
        assert f"{tag}{os.sep}" in fn._cache._cache_path
    assert config.CACHE_DIR == scalesim_jit_base.PREVIOUS_CACHE_DIR  # put back after the kernel
    got = scalesim_jit_base.cache_dir(tmp_path, str(tmp_path / "user"))
    assert got == str(tmp_path / "user" / tag) and Path(got).is_dir()
