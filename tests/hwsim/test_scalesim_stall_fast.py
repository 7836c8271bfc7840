"""The vectorised pieces of SCALE-Sim's memory mode equal plain reference loops, on random cases,
and the default path (`hwsim.scalesim_fast.compact_streams`, no per-cycle demand matrices)
equals the stream path (`simulate_layer(..., oracle=True)`).

`hwsim.scalesim_mem.generation_ends` (CALC read buffer generations from previous occurrences)
and `hwsim.scalesim_streams._skew` (strided view) replace per-generation `np.unique` calls and
fancy indexing. Each is held to a direct Python transcription of SCALE-Sim's rule, and whole
layers (random arrays, dataflows, SRAM sizes, USER/CALC bandwidths) give the same three report
rows, value for value, or the same error, with the references swapped in.
"""

from __future__ import annotations

import dataclasses
import random

import numpy as np
import pytest
from lowbit.hwsim import scalesim_mem, scalesim_streams
from lowbit.hwsim.cores.base import Dataflow
from lowbit.hwsim.scalesim_fast import OperandStream, compact_streams
from lowbit.hwsim.scalesim_io import ScaleSimConfig, ScaleSimLayer
from lowbit.hwsim.scalesim_mem import generation_ends, simulate_layer
from lowbit.kernels_ref.errors import InvalidSpecError


def _ends_reference(addr: np.ndarray, g: int) -> tuple[list[int], int]:
    """A generation collects distinct addresses; the request that makes it g ends it."""
    ends: list[int] = []
    seen: set[int] = set()
    for i, a in enumerate(addr.tolist()):
        seen.add(a)
        if g > 0 and len(seen) == g:
            ends.append(i)
            seen = set()
    return ends, len(seen)


def _skew_reference(a: np.ndarray) -> np.ndarray:
    rows, cols = a.shape
    out = np.full((rows + cols - 1, cols), -1, dtype=np.int64)
    for i in range(rows):
        for c in range(cols):
            out[i + c, c] = a[i, c]
    return out


def test_generation_ends_equals_the_reference_on_random_streams() -> None:
    rng = np.random.default_rng(0)
    cases = 0
    for _ in range(250):
        n = int(rng.integers(0, 3000))
        span = int(rng.integers(1, 400))
        base = int(rng.integers(0, 10**7))
        if rng.random() < 0.5:  # runs of repeats, as a systolic demand stream has
            addr = base + np.repeat(rng.integers(0, span, size=max(n // 4, 1)), 4)[:n]
        else:
            addr = base + rng.integers(0, span, size=n)
        g = int(rng.choice([0, 1, 2, 7, 50, 150, 500, span]))
        assert generation_ends(addr.astype(np.int64), g) == _ends_reference(addr, g), (n, span, g)
        cases += 1
    assert cases == 250


def test_skew_equals_the_reference() -> None:
    rng = np.random.default_rng(1)
    for _ in range(200):
        r, c = int(rng.integers(1, 30)), int(rng.integers(1, 30))
        a = rng.integers(-1, 1000, size=(r, c)).astype(np.int64)
        assert np.array_equal(scalesim_streams._skew(a), _skew_reference(a))


def _random_case(rng: random.Random) -> tuple[ScaleSimLayer, ScaleSimConfig]:
    user = rng.random() < 0.5
    fh = rng.randint(1, 3)
    ih, iw = fh + rng.randint(0, 14), fh + rng.randint(0, 14)
    ch, nf, st = rng.randint(1, 12), rng.randint(1, 32), rng.randint(1, 2)
    layer = ScaleSimLayer("l", ih, iw, fh, fh, ch, nf, st, st)
    bank = rng.choice([1, 2, 5, 10])
    cfg = ScaleSimConfig(
        run_name="r", array_rows=rng.randint(2, 16), array_cols=rng.randint(2, 16),
        ifmap_sram_kb=rng.randint(1, 3), filter_sram_kb=rng.randint(1, 3), ofmap_sram_kb=rng.randint(1, 3),
        ifmap_offset=0, filter_offset=10_000_000, ofmap_offset=20_000_000,
        dataflow=rng.choice([Dataflow.OUTPUT_STATIONARY, Dataflow.WEIGHT_STATIONARY, Dataflow.INPUT_STATIONARY]),
        use_user_bandwidth=user, bandwidths=(rng.randint(1, 12),) if user else (), memory_banks=1,
        read_request_buffer=60, write_request_buffer=60,
        ifmap_bank_bandwidth=bank * rng.randint(1, 4), ifmap_bank_num=bank,
        filter_bank_bandwidth=bank * rng.randint(1, 4), filter_bank_num=bank)
    return layer, cfg


def _rows(layer: ScaleSimLayer, cfg: ScaleSimConfig) -> object:
    try:
        rep = simulate_layer(layer, cfg)
    except InvalidSpecError as exc:
        return f"error: {exc}"
    return rep.compute_row() + rep.bandwidth_row() + rep.detail_row()


def test_whole_layers_equal_with_the_references_swapped_in(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(2)
    cases = [_random_case(rng) for _ in range(60)]
    fast = [_rows(layer, cfg) for layer, cfg in cases]
    generations: list[int] = []

    def reference(addr: np.ndarray, g: int) -> tuple[list[int], int]:
        ends, rem = _ends_reference(addr, g)
        generations.append(len(ends))
        return ends, rem

    monkeypatch.setattr(scalesim_mem, "generation_ends", reference)
    monkeypatch.setattr(scalesim_streams, "_skew", _skew_reference)
    ref = [_rows(layer, cfg) for layer, cfg in cases]
    assert fast == ref
    assert sum(n > 0 for n in generations) >= 5  # CALC cases that finish generations
    ran = [r for r in fast if not isinstance(r, str)]
    assert len(ran) >= 40
    assert any(r[2] > 0 for r in ran)  # some case stalls
    assert {c.use_user_bandwidth for (_, c), r in zip(cases, fast) if not isinstance(r, str)} == {True, False}


def _larger_case(rng: random.Random) -> tuple[ScaleSimLayer, ScaleSimConfig]:
    """Layers of a few 10k requests per operand on 1 kB SRAMs: CALC finishes many read-buffer
    generations and the USER windows wrap around their prefetch several times."""
    _, cfg = _random_case(rng)
    fh = rng.randint(1, 3)
    big = ScaleSimLayer("big", fh + rng.randint(8, 20), fh + rng.randint(8, 20), fh, fh,
                        rng.randint(8, 24), rng.randint(16, 48), 1, 1)
    return big, dataclasses.replace(cfg, ifmap_sram_kb=1, filter_sram_kb=1, ofmap_sram_kb=1)


def test_compact_streams_equal_the_demand_matrices() -> None:
    """`scalesim_fast.compact_streams` (no per-cycle matrices) gives the requests, rows, ofmap
    counts, prefetch orders and report counts read off `scalesim_streams.streams`."""
    rng = random.Random(3)
    for _ in range(80):
        layer, cfg = _random_case(rng)
        ops = scalesim_streams.operand_matrices(
            layer.ifmap_h, layer.ifmap_w, layer.filter_h, layer.filter_w, layer.channels,
            layer.num_filters, layer.stride_h, layer.stride_w, (0, 10_000_000, 20_000_000))
        user = cfg.use_user_bandwidth
        fast = compact_streams(ops[0], ops[1], cfg.array_rows, cfg.array_cols, cfg.dataflow, user)
        ref = scalesim_mem.compact_from_streams(
            scalesim_streams.streams(*ops, cfg.array_rows, cfg.array_cols, cfg.dataflow, user), user)
        for f in dataclasses.fields(fast):
            a, b = getattr(fast, f.name), getattr(ref, f.name)
            if isinstance(a, OperandStream):
                (fa, fr), (ra, rr) = a.arrays(), b.arrays()
                assert np.array_equal(fa, ra) and np.array_equal(fr, rr), (f.name, layer, cfg)
                assert a.size == fa.size
                if fa.size:  # row_at, and the bound on requests a row that _all_new relies on
                    picks = sorted({0, fa.size - 1, *rng.sample(range(fa.size), min(20, fa.size))})
                    assert [a.row_at(e) for e in picks] == fr[picks].tolist()
                    assert int(np.bincount(fr).max()) <= a.width
            elif isinstance(a, np.ndarray):
                assert np.array_equal(a, b), (f.name, layer, cfg)
            else:
                assert a == b, (f.name, layer, cfg)


def test_whole_layers_equal_on_the_stream_path() -> None:
    """The default path (compact streams) and the oracle (demand matrices) give the same three
    report rows, or the same error, on random layers, larger ones included."""
    rng = random.Random(4)
    cases = [_random_case(rng) for _ in range(60)] + [_larger_case(rng) for _ in range(12)]

    def rows(layer: ScaleSimLayer, cfg: ScaleSimConfig, oracle: bool) -> object:
        try:
            rep = simulate_layer(layer, cfg, oracle=oracle)
        except InvalidSpecError as exc:
            return f"error: {exc}"
        return rep.compute_row() + rep.bandwidth_row() + rep.detail_row()

    fast = [rows(layer, cfg, False) for layer, cfg in cases]
    assert fast == [rows(layer, cfg, True) for layer, cfg in cases]
    big = [(c, r) for (_, c), r in zip(cases[60:], fast[60:]) if not isinstance(r, str)]
    assert len(big) >= 8
    assert any(c.use_user_bandwidth and r[2] > 0 for c, r in big)  # a large USER case stalls
    # a large CALC case reads several times its 1 kB SRAM from DRAM (generations finished)
    assert any(not c.use_user_bandwidth and r[23] > 5 * 1024 for c, r in big)  # DRAM IFMAP Reads
