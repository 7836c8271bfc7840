"""The vectorised pieces of SCALE-Sim's memory mode equal plain reference loops, on random cases,
and the numpy path (`simulate_layer(..., jit=False)`; the compiled default is held to the same
reference in test_scalesim_stall_jit.py and here) equals the reference path (`simulate_layer(..., oracle=True)`: SCALE-Sim's
demand matrices, the USER read window one request and one move at a time, the write buffer one
write at a time, CALC generations one request at a time).

Each shortcut is also held to its reference directly: `scalesim_fast.compact_streams` (per-block
templates) to the demand matrices; `scalesim_read.user_read_events` (one-copy runs, im2col
copies as a mask with jumps) to `user_read_events_stepped` on random streams; `_Writer.row`
(stretches) to `_Writer.row_stepped`; `generation_ends` (radix-sorted previous occurrences,
fast-forward over all-new stretches) and the `_all_new` closed form to the plain count; and
the reference path itself to the 35 SCALE-Sim goldens.
"""

from __future__ import annotations

import dataclasses
import random

import numpy as np
import pytest
from lowbit.hwsim import scalesim_fast, scalesim_mem, scalesim_read, scalesim_streams
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


def _rows(layer: ScaleSimLayer, cfg: ScaleSimConfig, jit: bool = False) -> object:
    """The three report rows (or the error) of the numpy path (`jit=False`: the pieces these
    tests swap or hold to references) or of the compiled kernel."""
    try:
        rep = simulate_layer(layer, cfg, jit=jit)
    except InvalidSpecError as exc:
        return f"error: {exc}"
    return rep.compute_row() + rep.bandwidth_row() + rep.detail_row()


def _prev_reference(addr: np.ndarray) -> np.ndarray:
    last: dict[int, int] = {}
    out = []
    for i, x in enumerate(addr.tolist()):
        out.append(last.get(x, -1))
        last[x] = i
    return np.asarray(out, dtype=np.int64)


def _ends_from_prev_reference(prev: np.ndarray, g: int) -> tuple[list[int], int]:
    """A request is new to the generation starting at pos iff its previous occurrence is
    before pos; the g-th new request ends the generation."""
    ends: list[int] = []
    pos = new = 0
    for i, p in enumerate(prev.tolist()):
        new += p < pos
        if g > 0 and new == g:
            ends.append(i)
            pos, new = i + 1, 0
    return ends, new


def _skew_blocks_reference(blocks: np.ndarray) -> np.ndarray:
    nb, t, w = blocks.shape
    out = np.full((nb, t + w - 1, w), -1, dtype=np.int64)
    for b in range(nb):
        out[b] = _skew_reference(blocks[b])
    return out


def test_whole_layers_equal_with_the_references_swapped_in(monkeypatch: pytest.MonkeyPatch) -> None:
    """The numpy path with plain loops swapped in for the block-by-block previous
    occurrences, the generation scan and the strided skew gives the same reports."""
    rng = random.Random(2)
    cases = [_random_case(rng) for _ in range(60)] + [_larger_case(rng) for _ in range(6)]
    fast = [_rows(layer, cfg) for layer, cfg in cases]
    generations: list[int] = []

    def ends_reference(prev: np.ndarray, g: int) -> tuple[list[int], int]:
        ends, rem = _ends_from_prev_reference(prev, g)
        generations.append(len(ends))
        return ends, rem

    monkeypatch.setattr(scalesim_mem, "generation_ends_prev", ends_reference)
    monkeypatch.setattr(scalesim_mem, "stream_previous_occurrence", lambda st: _prev_reference(st.arrays()[0]))
    monkeypatch.setattr(scalesim_fast, "_skew_blocks", _skew_blocks_reference)
    ref = [_rows(layer, cfg) for layer, cfg in cases]
    assert fast == ref
    assert sum(n > 0 for n in generations) >= 5  # CALC cases that finish generations
    ran = [r for r in fast if not isinstance(r, str)]
    assert len(ran) >= 40
    assert any(r[2] > 0 for r in ran)  # some case stalls
    assert {c.use_user_bandwidth for (_, c), r in zip(cases, fast) if not isinstance(r, str)} == {True, False}


def test_stream_previous_occurrence_equals_the_whole_stream_sort() -> None:
    """`scalesim_mem.previous_by_blocks` (block by block, with a last-seen table) equals
    the previous occurrences of the materialised stream, on compact streams of random layers
    and on random block streams with copies and reused blocks."""
    rng = random.Random(16)
    nprng = np.random.default_rng(16)
    reused = 0
    streams = []
    for _ in range(40):
        layer, cfg = _random_case(rng)
        ops = scalesim_streams.operand_matrices(
            layer.ifmap_h, layer.ifmap_w, layer.filter_h, layer.filter_w, layer.channels,
            layer.num_filters, layer.stride_h, layer.stride_w, (0, 10_000_000, 20_000_000))
        cs = compact_streams(ops[0], ops[1], cfg.array_rows, cfg.array_cols, cfg.dataflow, False)
        streams += [cs.ifmap, cs.filt]
    streams += [_random_stream(nprng, i % 2 == 1)[1] for i in range(40)]
    for st in streams:
        addr, _ = st.arrays()
        if addr.size == 0:
            continue
        want = _prev_reference(addr)
        assert np.array_equal(scalesim_mem.previous_by_blocks(st), want)
        assert np.array_equal(scalesim_mem.stream_previous_occurrence(st), want)
        assert np.array_equal(scalesim_mem.previous_occurrence(addr), want)
        reused += len(set(st.fold_of)) < len(st.fold_of) and bool((want >= 0).any())
    assert reused >= 30


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
    """The numpy path (compact streams), the compiled kernel and the oracle (demand matrices)
    give the same three report rows, or the same error, on random layers, larger ones included."""
    rng = random.Random(4)
    cases = [_random_case(rng) for _ in range(60)] + [_larger_case(rng) for _ in range(12)]

    def rows(layer: ScaleSimLayer, cfg: ScaleSimConfig, oracle: bool, jit: bool = False) -> object:
        try:
            rep = simulate_layer(layer, cfg, oracle=oracle, jit=jit)
        except InvalidSpecError as exc:
            return f"error: {exc}"
        return rep.compute_row() + rep.bandwidth_row() + rep.detail_row()

    fast = [rows(layer, cfg, False) for layer, cfg in cases]
    assert fast == [rows(layer, cfg, True) for layer, cfg in cases]
    assert fast == [rows(layer, cfg, False, jit=True) for layer, cfg in cases]  # the compiled kernel
    big = [(c, r) for (_, c), r in zip(cases[60:], fast[60:]) if not isinstance(r, str)]
    assert len(big) >= 8
    assert any(c.use_user_bandwidth and r[2] > 0 for c, r in big)  # a large USER case stalls
    # a large CALC case reads several times its 1 kB SRAM from DRAM (generations finished)
    assert any(not c.use_user_bandwidth and r[23] > 5 * 1024 for c, r in big)  # DRAM IFMAP Reads


# ------------------------------------------------------------------ each shortcut against its reference
def _random_stream(rng: np.random.Generator, multi: bool) -> tuple[np.ndarray, OperandStream]:
    """A prefetch order and a demand stream over it, shaped like a systolic operand: blocks of
    the prefetch order (optionally shuffled locally, reversed, or im2col-style copies) issued
    by folds that reuse them."""
    n_addr = int(rng.integers(50, 4000))
    base = int(rng.integers(0, 10**7))
    addrs = base + rng.permutation(n_addr)
    if multi:  # every address a few times, copies near each other as im2col makes them
        reps = int(rng.integers(2, 5))
        pf = np.concatenate([np.roll(addrs, int(rng.integers(0, 60)) * j) for j in range(reps)])
    else:
        pf = addrs
    nb = int(rng.integers(1, 6))
    cuts = np.sort(rng.choice(np.arange(1, pf.size), size=nb - 1, replace=False)) if nb > 1 else []
    blocks = []
    for part in np.split(pf, cuts):
        v = part.copy()
        kind = rng.integers(0, 3)
        if kind == 1:  # local shuffles, like a diagonal roll-out against a row-major prefetch
            w = int(rng.integers(2, 40))
            for s in range(0, v.size, w):
                v[s:s + w] = rng.permutation(v[s:s + w])
        elif kind == 2:
            v = v[::-1].copy()
        rows = np.sort(rng.integers(0, max(1, v.size // 3), size=v.size))
        blocks.append((v.astype(np.int64), rows.astype(np.int64)))
    pattern = rng.integers(0, 3)
    reps = int(rng.integers(1, 4))
    if pattern == 0:
        fold_of = list(range(nb)) * reps
    elif pattern == 1:
        fold_of = [b for b in range(nb) for _ in range(reps)]
    else:
        fold_of = rng.integers(0, nb, size=nb * reps).tolist()
    fold_len = max(int(r[-1]) + 1 for v, r in blocks if v.size) if pf.size else 1
    width = max(int(np.bincount(r).max()) for v, r in blocks if v.size)
    return pf.astype(np.int64), OperandStream(blocks, fold_of, fold_len, width)


def test_user_read_events_equal_the_stepped_window_on_random_streams() -> None:
    """`scalesim_read.user_read_events` (one copy per address: the rule once per run of equal
    sets, replayed per fold; copies: counts moved per miss) against the per-request stepped
    window, on streams with one and with several copies per address."""
    rng = np.random.default_rng(11)
    moved = {True: 0, False: 0}
    wraps = 0
    for i in range(100):
        multi = i % 2 == 1
        pf, stream = _random_stream(rng, multi)
        size = int(rng.choice([1024, 2048, 3072]))
        bw = int(rng.integers(1, 12))
        pf_size = pf.size + int(rng.integers(0, 30))
        got = scalesim_read.user_read_events(pf, pf_size, stream, size, bw, "x")
        want = scalesim_read.user_read_events_stepped(pf, pf_size, stream, size, bw, "x")
        assert got == want, (i, multi, size, bw)
        moved[multi] += got[1] > 0
        buf = scalesim_read.user_buffer(pf, pf_size, size, bw)
        wraps += got[1] * buf.p > buf.n  # the window went round the prefetch order
    assert moved[True] >= 20 and moved[False] >= 20
    assert wraps >= 10


def test_user_read_events_reject_a_missing_address_like_the_reference() -> None:
    rng = np.random.default_rng(12)
    pf, stream = _random_stream(rng, False)
    v, r = stream.blocks[0]
    bad = OperandStream([(np.append(v, pf.max() + 5), np.append(r, r[-1]))], [0], stream.fold_len, stream.width)
    for fn in (scalesim_read.user_read_events, scalesim_read.user_read_events_stepped):
        with pytest.raises(InvalidSpecError, match="not in its prefetch stream"):
            fn(pf, pf.size, bad, 1024, 4, "ifmap")


def _writer_state(w: scalesim_mem._Writer) -> tuple[object, ...]:
    lines: list[list[int]] = []  # undrained trace lines as [length, count], equal lengths merged
    for length, count in w.runs:
        if lines and lines[-1][0] == length:
            lines[-1][1] += count
        elif count:
            lines.append([length, count])
    return (w.free, w.drain_end, w.line_idx, w.undrained, w.rows_total, w.access, w.dram_lo, w.dram_hi, lines)


def test_writer_rows_in_stretches_equal_one_write_at_a_time() -> None:
    """`_Writer.row` (writes stored in stretches up to the next stall or drain) leaves the same
    state and serviced cycle as `_Writer.row_stepped` (write_buffer.py, one write at a time)."""
    rng = random.Random(13)
    stalls = drains = 0
    for _ in range(120):
        size, bw = rng.choice([1024, 2048, 1500]), rng.randint(1, 40)
        a, b = scalesim_mem._Writer(size, bw), scalesim_mem._Writer(size, bw)
        cycle = 0
        for _ in range(rng.randint(1, 80)):
            cycle += rng.randint(0, 3)
            count = rng.choice([0, 1, rng.randint(1, 64), rng.randint(100, 900)])
            try:
                got = a.row(cycle, count)
            except InvalidSpecError as exc:
                with pytest.raises(InvalidSpecError, match=str(exc)):
                    b.row_stepped(cycle, count)
                break
            drains += a.access != b.access
            want = b.row_stepped(cycle, count)
            assert got == want and _writer_state(a) == _writer_state(b)
            stalls += got > cycle
            cycle = got
    assert stalls >= 30 and drains >= 100


def test_calc_closed_form_generations_equal_the_plain_count() -> None:
    """Where `_all_new` holds (one copy per block, blocks reused >= g requests apart, <= g
    requests a row) the generations are every g requests, in distinct rows, as the plain
    per-request count finds them; where it does not, at least one random case differs."""
    rng = random.Random(14)
    held = differs = 0
    for _ in range(150):
        layer, cfg = _random_case(rng)
        ops = scalesim_streams.operand_matrices(
            layer.ifmap_h, layer.ifmap_w, layer.filter_h, layer.filter_w, layer.channels,
            layer.num_filters, layer.stride_h, layer.stride_w, (0, 10_000_000, 20_000_000))
        cs = compact_streams(ops[0], ops[1], cfg.array_rows, cfg.array_cols, cfg.dataflow, False)
        for stream in (cs.ifmap, cs.filt):
            addr, rows = stream.arrays()
            g = rng.choice([1, 5, 50, 500, 1000])
            ends, rem = scalesim_mem.generation_ends_plain(addr, g)
            closed = list(range(g - 1, addr.size - addr.size % g, g)), addr.size % g
            if scalesim_mem._all_new(stream, g):
                held += 1
                assert (ends, rem) == closed
                assert len(set(rows[ends].tolist())) == len(ends)
            else:
                differs += (ends, rem) != closed or len(set(rows[ends].tolist())) != len(ends)
    assert held >= 60 and differs >= 20


@pytest.mark.slow
def test_oracle_path_equals_scalesim_on_the_goldens() -> None:
    """The reference path (`simulate_layer(..., oracle=True)`: demand matrices, stepped read
    windows, one write at a time, per-request generations) also gives every golden column."""
    import json
    from pathlib import Path

    from lowbit.hwsim.scalesim_io import read_config, read_topology

    data = Path(__file__).resolve().parents[1] / "data"
    golden = json.loads((data / "scalesim_stall_golden.json").read_text())
    layers = 0
    for run in golden["runs"]:
        cfg = read_config(data / run["cfg"])
        for lid, layer in enumerate(read_topology(data / run["topology"], gemm=run["gemm"])):
            rep = simulate_layer(layer, cfg, oracle=True)
            for key, row in (("compute_report", rep.compute_row()), ("bandwidth_report", rep.bandwidth_row()),
                             ("detailed_access_report", rep.detail_row())):
                assert [str(v) for v in row] == run[key][lid][1:], (run["cfg"], lid, key)
            layers += 1
    assert layers == 35


def test_operand_matrices_equal_a_plain_im2col() -> None:
    """`scalesim_streams.operand_matrices` (with its no-null shortcut when every window is
    inside the input) against operand_matrix.py's rule, element by element: window position
    (orow, ocol) reads pixel (orow*sh + r, ocol*sw + c), channel ch, or -1 past the edge."""
    rng = random.Random(15)
    edge = 0
    for _ in range(120):
        fh, fw = rng.randint(1, 4), rng.randint(1, 4)
        ih, iw = fh + rng.randint(0, 9), fw + rng.randint(0, 9)
        ch, nf, sh, sw = rng.randint(1, 4), rng.randint(1, 5), rng.randint(1, 3), rng.randint(1, 3)
        ifmap, filt, _ = scalesim_streams.operand_matrices(ih, iw, fh, fw, ch, nf, sh, sw, (7, 1000, 2000))
        oh, ow = -(-(ih - fh + sh) // sh), -(-(iw - fw + sw) // sw)
        want = np.full((oh * ow, fh * fw * ch), -1, dtype=np.int64)
        for px in range(oh * ow):
            orow, ocol = divmod(px, ow)
            for r in range(fh):
                for c in range(fw):
                    for k in range(ch):
                        y, x = orow * sh + r, ocol * sw + c
                        if y < ih and x < iw:
                            want[px, (r * fw + c) * ch + k] = (y * iw + x) * ch + k + 7
        assert np.array_equal(ifmap, want), (ih, iw, fh, fw, ch, sh, sw)
        assert filt.shape == (fh * fw * ch, nf) and filt[0, 0] == 1000
        edge += bool((want == -1).any())
    assert edge >= 20


def test_int32_streams_equal_int64_and_every_demand_is_prefetched() -> None:
    """The numpy path gathers int32 addresses where `address_dtype` allows: the compact
    streams equal the int64 ones request for request, and every demanded address is in its
    operand's prefetch order (why `user_read_events(trusted=True)` may skip the check), so the
    trusted read windows equal the checked ones. Offsets past 2**31 fall back to int64."""
    rng = random.Random(16)
    trusted = 0
    for _ in range(80):
        layer, cfg = _random_case(rng)
        geo = (layer.ifmap_h, layer.ifmap_w, layer.filter_h, layer.filter_w, layer.channels, layer.num_filters)
        offs = (0, 10_000_000, 20_000_000)
        assert scalesim_streams.address_dtype(*geo, offs) is np.int32
        got = {}
        for dt in (np.int32, np.int64):
            ifm, flt, of = scalesim_streams.operand_matrices(*geo, layer.stride_h, layer.stride_w, offs,
                                                             dtype=dt, with_ofmap=False)
            assert of is None and ifm.dtype == dt and flt.dtype == dt
            got[dt] = compact_streams(ifm, flt, cfg.array_rows, cfg.array_cols, cfg.dataflow, True)
        a, b = got[np.int32], got[np.int64]
        for sa, sb, pa, pb in ((a.ifmap, b.ifmap, a.if_pf, b.if_pf), (a.filt, b.filt, a.f_pf, b.f_pf)):
            assert sa.fold_of == sb.fold_of and np.array_equal(pa, pb)
            for (va, ra), (vb, rb) in zip(sa.blocks, sb.blocks):
                assert np.array_equal(va, vb) and np.array_equal(ra, rb)
            demanded = np.concatenate([v for v, _ in sa.blocks])
            assert np.isin(demanded, pa).all()
            size = cfg.ifmap_sram_kb * 1024
            for bw in (1, 7):
                want = scalesim_read.user_read_events(pb, pb.size + 5, sb, size, bw, "x")
                assert scalesim_read.user_read_events(pa, pa.size + 5, sa, size, bw, "x", trusted=True) == want
                trusted += 1
    assert trusted == 320
    big = ScaleSimLayer("l", 6, 6, 3, 3, 4, 5, 1, 1)
    assert scalesim_streams.address_dtype(6, 6, 3, 3, 4, 5, (2**31 - 100, 0, 0)) is np.int64
    assert scalesim_streams.address_dtype(6, 6, 3, 3, 4, 5, (2**31 - 145, 0, 0)) is np.int32
    for user in (True, False):
        cfg = ScaleSimConfig(
            run_name="r", array_rows=4, array_cols=3, ifmap_sram_kb=1, filter_sram_kb=1, ofmap_sram_kb=1,
            ifmap_offset=2**31 - 100, filter_offset=2**32, ofmap_offset=2**33,
            dataflow=Dataflow.WEIGHT_STATIONARY, use_user_bandwidth=user, bandwidths=(3,) if user else (),
            memory_banks=1, read_request_buffer=60, write_request_buffer=60,
            ifmap_bank_bandwidth=2, ifmap_bank_num=1, filter_bank_bandwidth=2, filter_bank_num=1)
        want = simulate_layer(big, cfg, oracle=True)
        assert simulate_layer(big, cfg, jit=False) == want and simulate_layer(big, cfg) == want


def test_inlined_rows_equal_the_writer_rows_and_one_write_at_a_time() -> None:
    """`scalesim_rows.run_rows` (the writer's state in locals, stretches/flush/drain inlined,
    adjacent full lines merged) gives the same rows result and leaves the same writer state as
    `_run_rows` with `_Writer.row` and with `_Writer.row_stepped`, on random read events and
    write counts (small buffers, drains and stalls), errors included."""
    from lowbit.hwsim import scalesim_rows

    rng = random.Random(17)
    stalls = drains = errors = 0
    for _ in range(150):
        n_rows = rng.randint(1, 400)
        of_counts = np.array([rng.choice([0, 0, 1, rng.randint(0, 40), rng.randint(50, 300)])
                              for _ in range(n_rows)], dtype=np.int64)
        evs = []
        for _ in range(2):
            ev: dict[int, list[int]] = {}
            for r in sorted(rng.sample(range(n_rows), min(n_rows, rng.randint(0, 12)))):
                ev[r] = sorted(rng.randint(-1, 3 * n_rows) for _ in range(rng.randint(1, 3)))
            evs.append(ev)
        size, bw = rng.choice([64, 100, 1024, 1500]), rng.randint(1, 40)
        got = []
        for fn in ("inline", "row", "stepped"):
            w = scalesim_mem._Writer(size, bw)
            try:
                if fn == "inline":
                    res = scalesim_rows.run_rows(n_rows, evs[0], evs[1], of_counts, w)
                else:
                    res = scalesim_rows._run_rows(n_rows, evs[0], evs[1], of_counts, w, stepped=fn == "stepped")
            except InvalidSpecError as exc:
                got.append(("error", str(exc)))
                continue
            got.append((dataclasses.astuple(res), _writer_state(w)))
        assert got[0] == got[1] == got[2]
        if got[0][0] == "error":
            errors += 1
        else:
            stalls += got[0][0][0] > 0
            drains += got[0][1][5] > 0
    assert stalls >= 40 and drains >= 80 and errors < 50


def test_fold_periods_skipped_equal_every_row_visited() -> None:
    """`run_rows(fold_len=L, keep=...)` (periods of folds whose writer state at the boundary
    recurs, with no read event, taken at once) equals the plain walk: stalls, every stall-change
    row, the kept rows' serviced cycles and the writer's final state (drains, DRAM cycles and
    writes), on folds tiled from 1-3 write patterns, with read events in none, some or all
    folds; and it does skip (fewer rows visited) in some of them."""
    from lowbit.hwsim import scalesim_rows

    rng = random.Random(18)
    skipped = stalled = 0
    for _ in range(500):
        fold = rng.randint(4, 60)
        nfold = rng.randint(2, 40)
        c = rng.randint(2, 32)
        kind = rng.random()
        if kind < 0.35:  # c writes every row into a narrower writer: it stalls every drain
            pats = [np.full(fold, c)]
            bw = rng.randint(1, c - 1)
        elif kind < 0.45:  # random writes per row
            pats = [np.array([rng.choice([0, 0, rng.randint(1, c), c]) for _ in range(fold)])
                    for _ in range(rng.randint(1, 3))]
            bw = rng.randint(1, 2 * c)
        else:  # a skewed fold's writes (ramp up, c a row, ramp down) drained c a line, as in CALC
            lead, plateau = rng.randint(0, 8), rng.randint(1, 40)
            ramp = list(range(1, c)) + [c] * plateau + list(range(c - 1, 0, -1))
            pats = [np.array([0] * lead + ramp[:fold - lead] + [0] * (fold - lead - len(ramp)))]
            pats.append(np.minimum(pats[0], rng.randint(1, c)))  # a fold with fewer columns
            bw = c if rng.random() < 0.5 else rng.randint(1, c)  # narrower: the writer stalls
        order = [rng.randrange(len(pats)) if rng.random() < 0.3 else 0 for _ in range(nfold)]
        if rng.random() < 0.5:  # a partial fold last, as an edge fold is
            order = [0] * (nfold - 1) + [len(pats) - 1]
        of_counts = np.concatenate([pats[i] for i in order]).astype(np.int64)
        n_rows = of_counts.size
        evs: list[dict[int, list[int]]] = [{}, {}]
        n_ev = 0 if kind < 0.35 else rng.choice([0, 0, 0, 2, 10, n_rows // 3])  # stalls: none
        for r in rng.sample(range(n_rows), n_ev):
            evs[r % 2][r] = sorted(rng.randint(-1, 2 * n_rows) for _ in range(rng.randint(1, 2)))
        written = np.flatnonzero(of_counts)
        keep = (int(written[0]), int(written[-1]), n_rows - 1) if written.size else (n_rows - 1,)
        size = rng.choice([40, 64, 100, 256] if kind < 0.35 else [40, 64, 100, 256, 1024])
        got = []
        for fl in (0, fold):
            w = scalesim_mem._Writer(size, bw)
            try:
                res = scalesim_rows.run_rows(n_rows, evs[0], evs[1], of_counts, w, fold_len=fl, keep=keep)
            except InvalidSpecError as exc:
                got.append(("error", str(exc)))
                continue
            got.append(((res.stall, res.change_rows, res.change_stall, res.last_of_out,
                         [res.of_out.get(k) for k in keep]), _writer_state(w), len(res.of_out), set(res.of_out)))
        assert got[0][:2] == got[1][:2]
        if got[0][0] != "error" and got[1][2] < got[0][2]:
            skipped += 1
            stalled += bool(set(got[0][0][1]) - got[1][3])  # stall rows inside skipped periods
    assert skipped >= 55 and stalled >= 20
