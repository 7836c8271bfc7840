"""SCALE-Sim 3.0.0's memory system, exactly: double-buffered ifmap/filter read buffers, the
ofmap write buffer, USER and CALC bandwidth modes, prefetch and stall accounting.

This is a SCALE-Sim-compatible memory mode, not lowbit's own memory model (`hwsim.memory`,
used by `hwsim.evaluate`, prices tiles against buffers and DRAM bandwidth in its own way).
It follows `single_layer_sim.run`, `memory/double_buffered_scratchpad_mem.py`
(`service_memory_requests`), `memory/read_buffer.py` (USER), `memory/read_buffer_estimate_bw.py`
(CALC) and `memory/write_buffer.py` rule by rule, including their quirks, but runs event by
event instead of address by address:

- Bandwidths (single_layer_sim.py): USER takes the ifmap/filter fill bandwidth from
  `[layout] IfmapSRAMBankBandwidth` / `FilterSRAMBankBandwidth` and only the ofmap drain from
  `Bandwidth[0]`; CALC uses 10 words/cycle for ifmap/filter and ArrayWidth for the ofmap.
- USER read buffer: the prefetch matrix is cut into sets of ceil(size/100) requests; the
  active window holds ceil(active/set) sets and moves by the prefetch-buffer's sets on each
  miss. Every new prefetch completes ceil(prefetch/bw) + 1 cycles after the last one, so its
  completion cycle depends only on how many came before; a row's stall follows SCALE-Sim's
  offset update (`offset += psc; if psc > 0: offset += psc`).
- CALC read buffer never stalls; it records each address not seen in the current "generation"
  of 50 sets and times prefetches between generation ends.
- The write buffer drains ceil(drain/bw) trace lines when free space drops below the active
  half and the last drain has ended, and stalls the row when it is full during a drain;
  a drained line counts as full except the last of a drain (its -1 entries are subtracted).
- A row's stall is the max of the three operands'; the array's cycle is row + stalls so far.

`simulate_layer(row, cfg)` returns a `LayerReport` with every column of SCALE-Sim's
COMPUTE_REPORT, BANDWIDTH_REPORT and DETAILED_ACCESS_REPORT. By default the rules run as one
compiled kernel per layer (`hwsim.scalesim_jit`, numba, imported on the first stall-mode
layer); `jit=False` runs them as the numpy calls of this module, `oracle=True` as the
reference (SCALE-Sim's demand matrices, one request / one write at a time).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
from lowbit.hwsim.cores.base import Dataflow
from lowbit.hwsim.scalesim_fast import Compact, OperandStream, compact_streams
from lowbit.hwsim.scalesim_read import user_read_events, user_read_events_stepped
from lowbit.hwsim.scalesim_rows import _cycle_of, _RowsResult, _run_rows, _Writer, run_rows
from lowbit.hwsim.scalesim_streams import Streams, address_dtype, operand_matrices, streams
from lowbit.kernels_ref.errors import InvalidSpecError, LowbitError

if TYPE_CHECKING:
    from lowbit.hwsim.scalesim_io import ScaleSimConfig, ScaleSimLayer

__all__ = ["LayerReport", "compact_from_streams", "generation_ends", "generation_ends_plain", "generation_ends_prev",
           "previous_by_blocks", "previous_occurrence", "simulate_layer", "stream_previous_occurrence"]

_INF = 1 << 62


@dataclass(frozen=True)
class LayerReport:
    """One layer's row of each SCALE-Sim report (names follow its column headers)."""

    total_cycles_incl_prefetch: int
    total_cycles: int
    stall_cycles: int
    overall_util_pct: float
    mapping_efficiency_pct: float
    compute_util_pct: float
    avg_ifmap_sram_bw: float
    avg_filter_sram_bw: float
    avg_ofmap_sram_bw: float
    avg_ifmap_dram_bw: float
    avg_filter_dram_bw: float
    avg_ofmap_dram_bw: float
    ifmap_sram_start: float
    ifmap_sram_stop: float
    ifmap_sram_reads: int
    filter_sram_start: float
    filter_sram_stop: float
    filter_sram_reads: int
    ofmap_sram_start: float
    ofmap_sram_stop: float
    ofmap_sram_writes: int
    ifmap_dram_start: float
    ifmap_dram_stop: float
    ifmap_dram_reads: int
    filter_dram_start: float
    filter_dram_stop: float
    filter_dram_reads: int
    ofmap_dram_start: float
    ofmap_dram_stop: float
    ofmap_dram_writes: int

    def compute_row(self) -> list[object]:
        return [self.total_cycles_incl_prefetch, self.total_cycles, self.stall_cycles,
                self.overall_util_pct, self.mapping_efficiency_pct, self.compute_util_pct]

    def bandwidth_row(self) -> list[object]:
        return [self.avg_ifmap_sram_bw, self.avg_filter_sram_bw, self.avg_ofmap_sram_bw,
                self.avg_ifmap_dram_bw, self.avg_filter_dram_bw, self.avg_ofmap_dram_bw]

    def detail_row(self) -> list[object]:
        return [self.ifmap_sram_start, self.ifmap_sram_stop, self.ifmap_sram_reads,
                self.filter_sram_start, self.filter_sram_stop, self.filter_sram_reads,
                self.ofmap_sram_start, self.ofmap_sram_stop, self.ofmap_sram_writes,
                self.ifmap_dram_start, self.ifmap_dram_stop, self.ifmap_dram_reads,
                self.filter_dram_start, self.filter_dram_stop, self.filter_dram_reads,
                self.ofmap_dram_start, self.ofmap_dram_stop, self.ofmap_dram_writes]


def _valid_stream(demand: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(addresses, row of each) of the non-null requests, in SCALE-Sim's service order."""
    flat = demand.reshape(-1)
    idx = np.flatnonzero(flat != -1)
    return flat[idx], idx // demand.shape[1]


# ------------------------------------------------------------------ CALC read buffer
def previous_occurrence(addr: np.ndarray) -> np.ndarray:
    """Index of each request's previous occurrence in the stream (-1 for a first one), from
    one stable sort (a radix sort when the addresses span at most 2**16)."""
    n = addr.size
    lo = int(addr.min())
    span = int(addr.max()) - lo
    keys = (addr - lo).astype(np.uint16) if span < 1 << 16 else addr
    order = np.argsort(keys, kind="stable")
    so = addr[order]
    same = so[1:] == so[:-1]
    prev = np.full(n, -1, dtype=np.int64)
    prev[order[1:][same]] = order[:-1][same]
    return prev


def _block_occurrences(v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One block: (previous occurrence of each request within it, each distinct address, the
    index of its last request)."""
    lo = int(v.min())
    keys = (v - lo).astype(np.uint16) if int(v.max()) - lo < 1 << 16 else v
    order = np.argsort(keys, kind="stable")
    so = v[order]
    same = so[1:] == so[:-1]
    prev = np.full(v.size, -1, dtype=np.int64)
    prev[order[1:][same]] = order[:-1][same]
    tail = np.append(np.flatnonzero(~same), v.size - 1)  # the last of each run of one address
    return prev, so[tail], order[tail]


def stream_previous_occurrence(stream: OperandStream) -> np.ndarray:
    """`previous_occurrence` of a whole stream: block by block (`previous_by_blocks`) where
    blocks are large and reused, else one sort of the whole stream."""
    nb, nf = len(stream.blocks), len(stream.fold_of)
    if nf < 2 * nb or stream.size < 2048 * nf:  # blocks seldom reused, or small: one sort is cheaper
        return previous_occurrence(stream.addresses())
    return previous_by_blocks(stream)


def previous_by_blocks(stream: OperandStream) -> np.ndarray:
    """`previous_occurrence` of a whole stream, block by block: within a fold's block from the
    block's own sort (done once per block), and a block's first request of an address from a
    table of each address's last request so far."""
    vals = [v for v, _ in stream.blocks]
    lo = min(int(v.min()) for v in vals if v.size)
    hi = max(int(v.max()) for v in vals if v.size)
    info = [(_block_occurrences(v), v - lo) if v.size else None for v in vals]
    last = np.full(hi - lo + 1, -1, dtype=np.int64)
    out = np.empty(stream.size, dtype=np.int64)
    for f, b in enumerate(stream.fold_of):
        blk = info[b]
        if blk is None:
            continue
        (prev_b, uniq, tail), ids = blk
        start = stream.starts[f]
        out[start:start + ids.size] = np.where(prev_b >= 0, prev_b + start, last[ids])
        last[uniq - lo] = tail + start
    return out


def generation_ends(addr: np.ndarray, g: int) -> tuple[list[int], int]:
    """read_buffer_estimate_bw.py's generations over a request stream: a generation starts at
    `pos` and ends at the request that brings its count of distinct addresses to `g` (the next
    starts after it). Returns (index of each generation's last request, distinct addresses of
    the unfinished last generation)."""
    if addr.size == 0:
        return [], 0
    return generation_ends_prev(previous_occurrence(addr), g)


def generation_ends_prev(prev: np.ndarray, g: int) -> tuple[list[int], int]:
    """`generation_ends` from each request's previous occurrence: a request is new to the
    generation starting at `pos` iff its previous occurrence is before `pos`, so each
    generation is one vectorised scan. Where every request of a stretch is new to its
    generation (no address repeats within g requests), the generations there are every g
    requests: after a generation of exactly g requests, a window of the stream is checked
    against that closed form and all generations it holds are taken at once."""
    n = prev.size
    if n == 0:
        return [], 0
    if g <= 0:
        return [], int(np.count_nonzero(prev < 0))
    ends: list[int] = []
    pos, w = 0, max(4 * g, 4096)
    ff = max(16 * g, 8192)  # fast-forward window
    lane = np.arange(ff, dtype=np.int64) // g * g  # offset of each request's generation start
    dense = True  # the last generation was exactly g requests
    while pos < n:
        if dense:
            seg = prev[pos:pos + ff]
            bad = seg >= pos + lane[:seg.size]
            v = int(np.argmax(bad)) if seg.size else 0
            if seg.size and not bad[v]:
                v = seg.size
            j = v // g
            more = v == seg.size and pos + seg.size < n  # all new, and the stream goes on
            if j:
                ends.extend(range(pos + g - 1, pos + j * g, g))
                pos += j * g
                if more:
                    continue
            dense = False
            if pos >= n:
                break
        new = np.flatnonzero(prev[pos:pos + w] < pos)
        if new.size >= g:
            e = pos + int(new[g - 1])
            ends.append(e)
            dense = e + 1 - pos == g
            w = max(2 * (e + 1 - pos), 4096)
            pos = e + 1
        elif pos + w >= n:
            return ends, int(new.size)
        else:
            w *= 2
    return ends, 0


def generation_ends_plain(addr: np.ndarray, g: int) -> tuple[list[int], int]:
    """`generation_ends` as read_buffer_estimate_bw.py counts it, one request at a time (the
    reference)."""
    ends: list[int] = []
    seen: set[int] = set()
    for i, x in enumerate(addr.tolist()):
        seen.add(x)
        if g > 0 and len(seen) == g:
            ends.append(i)
            seen = set()
    return ends, len(seen)


def _all_new(stream: OperandStream, g: int) -> bool:
    """Whether every request is new to its generation and no row ends two generations: each
    address once per block, a block reused only g or more requests later, at most g requests
    a row. Then the generations are every g requests (reads = requests)."""
    if g <= 0 or stream.width > g or stream.reuse_distance() < g:
        return False
    vals = [v for v, _ in stream.blocks if v.size]
    if not vals:
        return True
    flat = np.concatenate(vals) if len(vals) > 1 else vals[0]
    lo = int(flat.min())
    return int(np.bincount(flat - lo).max()) <= 1


def _calc_read(stream: OperandStream, size_bytes: int, rows: _RowsResult, what: str,
               plain: bool = False) -> tuple[float, float, int]:
    """read_buffer_estimate_bw.py on a request stream: (DRAM start cycle, stop cycle, reads).
    `plain` counts generations one request at a time (the reference)."""
    npis = size_bytes // 100
    g = 50 * npis
    n = stream.size
    if not plain and _all_new(stream, g):
        n_ends, rem = n // g, n % g
        ends = [stream.row_at(n_ends * g - 1)] if n_ends else []  # the ends are in distinct rows
        first = stream.row_at(0) if n else 0
    elif plain:
        addr, arow = stream.arrays()
        end_idx, rem = generation_ends_plain(addr, g)
        ends = arow[end_idx].tolist() if end_idx else []
        n_ends = len(ends)
        first = int(arow[0]) if n else 0
    else:
        end_idx, rem = generation_ends_prev(stream_previous_occurrence(stream), g) if n else ([], 0)
        ends = [stream.row_at(e) for e in end_idx]
        n_ends = len(ends)
        first = stream.row_at(0) if n else 0
    reads = n_ends * g + rem
    if not ends:  # complete_all_prefetches with no active-buffer prefetch done yet
        num_sets = -(-rem // npis) if npis else 0
        cycles = math.ceil(num_sets * npis / 10)
        return float(-cycles), -1.0, reads
    frc = _cycle_of(rows, first)
    cyc = [_cycle_of(rows, r) for r in ends]
    c1 = math.ceil(g / 10)
    dram_start = (frc - 2 - c1 + 1) + 1
    win_start = frc - 1
    for j in range(1, len(ends)):
        if cyc[j - 1] - win_start + 1 <= 0:
            raise InvalidSpecError(f"scalesim: two {what} prefetch windows end on one cycle "
                                   "(SCALE-Sim 3.0.0 fails here)")
        win_start = cyc[j - 1] + 1
    if cyc[-1] - win_start + 1 <= 0:
        raise InvalidSpecError(f"scalesim: two {what} prefetch windows end on one cycle "
                               "(SCALE-Sim 3.0.0 fails here)")
    return float(dram_start), float(cyc[-1] + 1), reads


# ------------------------------------------------------------------ one layer
def compact_from_streams(st: Streams, user: bool) -> Compact:
    """The compact request streams read off SCALE-Sim's demand matrices (the oracle path)."""
    ifs = OperandStream.whole(*_valid_stream(st.ifmap_demand), st.ifmap_demand.shape[1])
    fs = OperandStream.whole(*_valid_stream(st.filter_demand), st.filter_demand.shape[1])
    return Compact(
        ifmap=ifs, filt=fs,
        of_counts=(st.ofmap_demand != -1).sum(axis=1),
        if_pf=st.ifmap_prefetch[st.ifmap_prefetch != -1], f_pf=st.filter_prefetch[st.filter_prefetch != -1],
        if_pf_size=st.ifmap_prefetch.size if user else 0, f_pf_size=st.filter_prefetch.size if user else 0,
        ifmap_reads=st.ifmap_reads, filter_reads=st.filter_reads, ofmap_writes=st.ofmap_writes,
        mapping_eff_per_fold=np.asarray(st.mapping_eff_per_fold),
        compute_util_per_fold=np.asarray(st.compute_util_per_fold))


def _simulate_jit(layer: ScaleSimLayer, cfg: ScaleSimConfig) -> LayerReport:
    """`simulate_layer` through the compiled kernel (`hwsim.scalesim_jit`, numba imported here,
    on the first stall-mode layer, not at `import lowbit`)."""
    from lowbit.hwsim import scalesim_jit as jit

    user = cfg.use_user_bandwidth
    df = {Dataflow.OUTPUT_STATIONARY: jit.OS, Dataflow.WEIGHT_STATIONARY: jit.WS,
          Dataflow.INPUT_STATIONARY: jit.IS}.get(cfg.dataflow)
    if df is None:
        raise InvalidSpecError(f"scalesim: no dataflow {getattr(cfg.dataflow, 'value', cfg.dataflow)!r}")
    if user:
        bws = (cfg.ifmap_bank_bandwidth, cfg.filter_bank_bandwidth, cfg.bandwidths[0])
    else:
        bws = (1, 1, cfg.array_cols)
    prm = np.array((layer.ifmap_h, layer.ifmap_w, layer.filter_h, layer.filter_w, layer.channels,
                    layer.num_filters, layer.stride_h, layer.stride_w, cfg.ifmap_offset, cfg.filter_offset,
                    cfg.ifmap_sram_kb * 1024, cfg.filter_sram_kb * 1024, cfg.ofmap_sram_kb * 1024, *bws),
                   dtype=np.int64)
    o, fl = jit.layer_kernel(prm, df, cfg.array_rows, cfg.array_cols, user)
    (err, total, stall, ids, idt, idr, fds, fdt, fdr, odl, odh, odw, if_has, iss, ist, f_has, fss, fst,
     of_has, oss, ost, nif, nf, nof, nfold) = o.tolist()
    if err:
        raise (LowbitError if err == 6 else InvalidSpecError)(jit.ERRORS[err])
    macs = layer.ofmap_h * layer.ofmap_w * layer.num_filters * layer.filter_h * layer.filter_w * layer.channels
    overall = int(float(odh) - min(float(ids), float(fds)))
    # the report's fields straight into the frozen instance (LayerReport has no __post_init__;
    # its __init__ only stores them, one object.__setattr__ each): same object, a third the time
    rep = object.__new__(LayerReport)
    rep.__dict__.update(
        total_cycles_incl_prefetch=overall, total_cycles=total, stall_cycles=stall,
        overall_util_pct=(macs * 100) / (total * cfg.array_rows * cfg.array_cols),
        mapping_efficiency_pct=float(fl[0]) / nfold * 100,
        compute_util_pct=float(fl[1]) / nfold * 100,
        avg_ifmap_sram_bw=nif / total, avg_filter_sram_bw=nf / total, avg_ofmap_sram_bw=nof / total,
        avg_ifmap_dram_bw=idr / (float(idt) - float(ids) + 1), avg_filter_dram_bw=fdr / (float(fdt) - float(fds) + 1),
        avg_ofmap_dram_bw=odw / (float(odh) - float(odl) + 1),
        ifmap_sram_start=float(iss) if if_has else 0.0, ifmap_sram_stop=float(ist) if if_has else 0.0,
        ifmap_sram_reads=nif,
        filter_sram_start=float(fss) if f_has else 0.0, filter_sram_stop=float(fst) if f_has else 0.0,
        filter_sram_reads=nf,
        ofmap_sram_start=float(oss) if of_has else 0.0, ofmap_sram_stop=float(ost) if of_has else 0.0,
        ofmap_sram_writes=nof,
        ifmap_dram_start=float(ids), ifmap_dram_stop=float(idt), ifmap_dram_reads=idr,
        filter_dram_start=float(fds), filter_dram_stop=float(fdt), filter_dram_reads=fdr,
        ofmap_dram_start=float(odl), ofmap_dram_stop=float(odh), ofmap_dram_writes=odw,
    )
    return rep


def simulate_layer(layer: ScaleSimLayer, cfg: ScaleSimConfig, oracle: bool = False,
                   jit: bool = True) -> LayerReport:
    """SCALE-Sim 3.0.0's three report rows for one topology row under one cfg.

    `oracle=True` is the reference: the requests read off SCALE-Sim's per-cycle demand
    matrices (`scalesim_streams.streams`), the USER read buffers one miss at a time
    (`scalesim_read.user_read_events_stepped`), the write buffer one write at a time and the
    CALC generations one request at a time. The default gathers the same requests fold by
    fold (`hwsim.scalesim_fast.compact_streams`) and takes the shortcuts of `user_read_events`,
    `_Writer.row` and `generation_ends`/`_all_new`. Both give the same report (tests hold
    them equal on random layers). With `jit` (the default, unless `oracle`) the numpy path's
    rules run as one compiled kernel (`hwsim.scalesim_jit.layer_kernel`); `jit=False` runs
    them as numpy calls."""
    if jit and not oracle:
        return _simulate_jit(layer, cfg)
    geo = (layer.ifmap_h, layer.ifmap_w, layer.filter_h, layer.filter_w, layer.channels, layer.num_filters)
    offsets = (cfg.ifmap_offset, cfg.filter_offset, cfg.ofmap_offset)
    user = cfg.use_user_bandwidth
    if oracle:
        ops = operand_matrices(*geo, layer.stride_h, layer.stride_w, offsets)
        cs = compact_from_streams(streams(*ops, cfg.array_rows, cfg.array_cols, cfg.dataflow,  # type: ignore[arg-type]
                                          with_prefetch=user), user)
    else:
        ifm, flt, _ = operand_matrices(*geo, layer.stride_h, layer.stride_w, offsets,
                                       dtype=address_dtype(*geo, offsets), with_ofmap=False)
        cs = compact_streams(ifm, flt, cfg.array_rows, cfg.array_cols, cfg.dataflow, with_prefetch=user)
    isz, fsz, osz = cfg.ifmap_sram_kb * 1024, cfg.filter_sram_kb * 1024, cfg.ofmap_sram_kb * 1024
    n_rows = cs.of_counts.size
    if user:
        if_bw, f_bw, of_bw = cfg.ifmap_bank_bandwidth, cfg.filter_bank_bandwidth, cfg.bandwidths[0]
        # the compact streams take requests and prefetch orders from the same padded matrices,
        # so every demanded address is in its prefetch order (the oracle checks it)
        read = user_read_events_stepped if oracle else partial(user_read_events, trusted=True)
        if_ev, k_if, n0_if, nl_if = read(cs.if_pf, cs.if_pf_size, cs.ifmap, isz, if_bw, "ifmap")
        f_ev, k_f, n0_f, nl_f = read(cs.f_pf, cs.f_pf_size, cs.filt, fsz, f_bw, "filter")
    else:
        of_bw = cfg.array_cols
        if_ev, f_ev = {}, {}
    writer = _Writer(osz, of_bw)
    written = np.flatnonzero(cs.of_counts)
    if oracle:
        rows = _run_rows(n_rows, if_ev, f_ev, cs.of_counts, writer, stepped=True)
    else:  # periods of folds skipped; the rows whose serviced cycle is read below are kept
        keep = (int(written[0]), int(written[-1]), n_rows - 1) if written.size else (n_rows - 1,)
        rows = run_rows(n_rows, if_ev, f_ev, cs.of_counts, writer,
                        fold_len=max(cs.ifmap.fold_len, cs.filt.fold_len), keep=keep)
    # empty_all_buffers from the last row's serviced cycle
    writer.flush()
    cycle = rows.last_of_out
    while writer.undrained > 0:
        writer.drain_end = writer.drain(cycle)
        cycle = writer.drain_end + 1
    total = int(rows.last_of_out)
    if user:
        if_dram = (float(-n0_if), float(-1 + k_if * (nl_if + 1)), (n0_if + k_if * nl_if) * if_bw)
        f_dram = (float(-n0_f), float(-1 + k_f * (nl_f + 1)), (n0_f + k_f * nl_f) * f_bw)
    else:
        if_dram = _calc_read(cs.ifmap, isz, rows, "ifmap", plain=oracle)
        f_dram = _calc_read(cs.filt, fsz, rows, "filter", plain=oracle)
    of_dram = (float(writer.dram_lo), float(writer.dram_hi), writer.access)

    def sram(fl: tuple[int, int] | None, out: dict[int, int], lat: int) -> tuple[float, float]:
        if fl is None:
            return 0.0, 0.0
        return tuple(float(out[r]) if r in out else float(_cycle_of(rows, r) + lat) for r in fl)  # type: ignore[return-value]

    def span(st: OperandStream) -> tuple[int, int] | None:
        return (st.row_at(0), st.row_at(st.size - 1)) if st.size else None

    if_s = sram(span(cs.ifmap), rows.if_out, 1)
    f_s = sram(span(cs.filt), rows.f_out, 1)
    of_s = sram((int(written[0]), int(written[-1])) if written.size else None, rows.of_out, 0)
    macs = layer.ofmap_h * layer.ofmap_w * layer.num_filters * layer.filter_h * layer.filter_w * layer.channels
    overall = int(of_dram[1] - min(if_dram[0], f_dram[0]))
    eff, util = cs.mapping_eff_per_fold.tolist(), cs.compute_util_per_fold.tolist()

    def bw(d: tuple[float, float, int]) -> float:
        return d[2] / (d[1] - d[0] + 1)

    return LayerReport(
        total_cycles_incl_prefetch=overall, total_cycles=total, stall_cycles=rows.stall,
        overall_util_pct=(macs * 100) / (total * cfg.array_rows * cfg.array_cols),
        mapping_efficiency_pct=sum(eff) / len(eff) * 100,
        compute_util_pct=sum(util) / len(util) * 100,
        avg_ifmap_sram_bw=cs.ifmap_reads / total, avg_filter_sram_bw=cs.filter_reads / total,
        avg_ofmap_sram_bw=cs.ofmap_writes / total,
        avg_ifmap_dram_bw=bw(if_dram), avg_filter_dram_bw=bw(f_dram), avg_ofmap_dram_bw=bw(of_dram),
        ifmap_sram_start=if_s[0], ifmap_sram_stop=if_s[1], ifmap_sram_reads=cs.ifmap_reads,
        filter_sram_start=f_s[0], filter_sram_stop=f_s[1], filter_sram_reads=cs.filter_reads,
        ofmap_sram_start=of_s[0], ofmap_sram_stop=of_s[1], ofmap_sram_writes=cs.ofmap_writes,
        ifmap_dram_start=if_dram[0], ifmap_dram_stop=if_dram[1], ifmap_dram_reads=if_dram[2],
        filter_dram_start=f_dram[0], filter_dram_stop=f_dram[1], filter_dram_reads=f_dram[2],
        ofmap_dram_start=of_dram[0], ofmap_dram_stop=of_dram[1], ofmap_dram_writes=of_dram[2],
    )
