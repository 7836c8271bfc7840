"""SCALE-Sim 3.0.0's array rows and ofmap write buffer (`memory/write_buffer.py`), for
`hwsim.scalesim_mem`.

A demand row's stall is the max of the three operands' (read events from the USER read
buffers, the write buffer stalling when full during a drain); the array's cycle is row +
stalls so far. Only rows where something happens are visited: a read event, or the write
buffer's next drain or stall, found from the running element count.

- `_Writer` holds write_buffer.py's state with the trace lines as run lengths; `row` stores a
  row's writes in stretches up to the next stall or drain, `row_stepped` one write at a time
  (the reference).
- `_run_rows` walks the event rows calling `_Writer.row` (or `row_stepped`: the reference);
  `run_rows` is the same walk with the writer's state in local variables and its stretches,
  flushes and drains inlined (one Python frame for the whole layer), written back at the end.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections import deque
from dataclasses import dataclass

import numpy as np
from lowbit.kernels_ref.errors import InvalidSpecError

__all__ = ["run_rows"]

_INF = 1 << 62


class _Writer:
    """write_buffer.py with the trace lines held as run lengths."""

    __slots__ = ("access", "active", "bw", "drain_end", "drain_size", "dram_hi", "dram_lo", "free", "line_idx",
                 "rows_total", "runs", "total", "undrained", "want")

    def __init__(self, size_bytes: int, bw: int) -> None:
        self.total = size_bytes
        self.active = math.ceil(size_bytes * 0.5)
        self.drain_size = size_bytes - self.active
        self.bw = bw
        self.want = math.ceil(self.drain_size / bw)  # lines a drain asks for
        self.free = size_bytes
        self.drain_end = 0
        self.line_idx = 0
        self.runs: deque[list[int]] = deque()  # [line length, count] not yet drained
        self.undrained = 0
        self.rows_total = 0
        self.access = 0
        self.dram_lo = _INF
        self.dram_hi = -_INF

    def store(self, j: int) -> None:
        self.free -= j
        full, self.line_idx = divmod(self.line_idx + j, self.bw)
        if full:
            self.runs.append([self.bw, full])
            self.undrained += full
            self.rows_total += full

    def flush(self) -> None:
        if self.line_idx:
            self.runs.append([self.line_idx, 1])
            self.undrained += 1
            self.rows_total += 1
            self.line_idx = 0

    def drain(self, start: int) -> int:
        nl = min(self.undrained, self.want)
        if nl == 0:
            raise InvalidSpecError("scalesim: ofmap drain with no lines (SCALE-Sim 3.0.0 fails here)")
        runs = self.runs
        left, last = nl, 0
        while left:
            run = runs[0]
            last = run[0]
            if run[1] > left:
                run[1] -= left
                break
            left -= run[1]
            runs.popleft()
        self.undrained -= nl
        data = nl * self.bw - (self.bw - last)
        self.access += data
        self.free += data
        end = start + nl - 1
        self.dram_lo = min(self.dram_lo, start)
        self.dram_hi = max(self.dram_hi, end)
        return end

    def row(self, cycle: int, count: int) -> int:
        """One demand row of `count` writes at `cycle`; returns its serviced cycle. Writes are
        stored in stretches up to the next one that stalls (full during a drain) or drains
        (free space below the active half after the last drain ended)."""
        cur = cycle
        left = count
        while left:
            if cur < self.drain_end:
                j = max(self.free, 1)  # the j-th write leaves no free space: wait for the drain
                if j > left:
                    break
                self.store(j)
                cur = self.drain_end
            else:
                j = max(self.free - self.active + 1, 1)  # the j-th write drops below the half
                if j > left:
                    break
                self.store(j)
                self.flush()
                self.drain_end = self.drain(cur)
            left -= j
        self.store(left)
        return cur

    def row_stepped(self, cycle: int, count: int) -> int:
        """`row`, one write at a time as write_buffer.py does (the reference)."""
        cur = cycle
        for _ in range(count):
            self.store(1)
            if cur < self.drain_end:
                if not self.free > 0:
                    cur = self.drain_end
            elif self.free < self.active:
                self.flush()
                self.drain_end = self.drain(cur)
        return cur


@dataclass
class _RowsResult:
    stall: int
    change_rows: list[int]
    change_stall: list[int]  # stall count from change_rows[i] + 1 on
    if_out: dict[int, int]
    f_out: dict[int, int]
    of_out: dict[int, int]
    last_of_out: int


def _offset(events: list[int], cycle: int) -> int:
    o = 1
    for p in events:
        psc = p - (cycle + o)
        o += psc
        if psc > 0:
            o += psc
    return o


def _run_rows(n_rows: int, if_ev: dict[int, list[int]], f_ev: dict[int, list[int]],
              of_counts: np.ndarray, writer: _Writer, stepped: bool = False) -> _RowsResult:
    """The rows where something happens (a read event, or the writer drains or stalls), in
    order; rows between them run at row + stalls so far. `stepped` services each such row's
    writes one at a time (the reference)."""
    starts = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(of_counts, out=starts[1:])
    row_start: list[int] = starts.tolist()
    n_elems = row_start[-1]
    ev_rows = sorted(if_ev.keys() | f_ev.keys())
    ev_rows.append(_INF)
    no_events: list[int] = []
    ei = 0
    stall = 0
    nxt = 0
    e_ptr = 0
    res = _RowsResult(0, [], [], {}, {}, {}, 0)
    if_out, f_out, of_out = res.if_out, res.f_out, res.of_out
    change_rows, change_stall = res.change_rows, res.change_stall
    service = writer.row_stepped if stepped else writer.row
    store = writer.store
    active = writer.active
    while True:
        r_ev = ev_rows[ei]
        r = r_ev
        if e_ptr < n_elems:  # the row of the writer's next drain or stall (as _Writer.row finds it)
            free = writer.free
            e = e_ptr + (free - active if free > active else 0)
            d_row = writer.drain_end - stall
            d_row = max(d_row, nxt)
            e_d = row_start[d_row] if d_row < n_rows else _INF
            e_z = e_ptr + (free - 1 if free > 1 else 0)
            if e_z < e_d:
                e = e_z
            elif e_d > e:
                e = e_d
            if e < n_elems:
                r_of = bisect_right(row_start, e) - 1
                r = min(r, r_of)
        if r >= n_rows:
            break
        store(row_start[r] - e_ptr)
        cyc = r + stall
        o_if = o_f = 1
        if r == r_ev:
            o_if = _offset(if_ev.get(r, no_events), cyc)
            o_f = _offset(f_ev.get(r, no_events), cyc)
            ei += 1
        e_ptr = row_start[r + 1]
        out = service(cyc, e_ptr - row_start[r])
        if_out[r] = cyc + o_if
        f_out[r] = cyc + o_f
        of_out[r] = out
        st = out - cyc
        st = max(st, o_if - 1)
        st = max(st, o_f - 1)
        if st:
            stall += st
            change_rows.append(r)
            change_stall.append(stall)
        nxt = r + 1
    store(n_elems - e_ptr)
    last = n_rows - 1
    res.last_of_out = of_out.get(last, last + stall)  # a row without events: cycle, no stall
    res.stall = stall
    return res


def _cycle_of(rows: _RowsResult, r: int) -> int:
    """Row r's cycle: r + the stalls of the rows before it."""
    i = bisect_left(rows.change_rows, r)
    return r + (rows.change_stall[i - 1] if i else 0)


def _no_lines() -> InvalidSpecError:
    return InvalidSpecError("scalesim: ofmap drain with no lines (SCALE-Sim 3.0.0 fails here)")


def _fold_patterns(of_counts: np.ndarray, fold_len: int) -> list[int]:
    """An id per fold: folds with the same writes per row share it."""
    ids: dict[bytes, int] = {}
    return [ids.setdefault(f.tobytes(), len(ids)) for f in of_counts.reshape(-1, fold_len)]


def run_rows(n_rows: int, if_ev: dict[int, list[int]], f_ev: dict[int, list[int]],
             of_counts: np.ndarray, writer: _Writer, fold_len: int = 0,
             keep: tuple[int, ...] = ()) -> _RowsResult:
    """`_run_rows(..., stepped=False)` with `_Writer.row`, `store`, `flush` and `drain` inlined
    on local copies of the writer's state (written back at the end); same visits, same
    arithmetic. Adjacent full lines are merged into one run (the same line sequence).

    With `fold_len` (n_rows a multiple of it), whole periods of folds are skipped: at each fold
    boundary that no event row crosses, the rows before it are stored and the writer's state
    relative to the boundary (free space, partial line, undrained lines, cycles left in the
    drain) is keyed with the fold's pattern of writes per row. When a key recurs with no read
    event since, the folds in between are a period: the same writes with the same state give
    the same drains and stalls, shifted by the period's rows and stalls. As many further periods
    as repeat the folds' patterns with no read event and no row of `keep` (rows whose serviced
    cycle the caller reads) are taken at once: stalls, stall-change rows, drains, DRAM cycles
    and writes advance by the period's, the state stays. `of_out` then holds only the rows
    visited, which include `keep`."""
    starts = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(of_counts, out=starts[1:])
    row_start: list[int] = starts.tolist()
    fold = fold_len if fold_len and n_rows % fold_len == 0 and n_rows > fold_len else 0
    if fold and row_start[-1] < 2 * writer.drain_size * (n_rows // fold):
        fold = 0  # under about two drains a fold: boundaries would cost more than they skip
    pid: list[int] = []  # the folds' write patterns, made at the first boundary keyed
    next_b = fold if fold else _INF
    kept = sorted(keep)
    seen: dict[tuple[object, ...], tuple[int, ...]] = {}
    n_drains = misses = 0  # misses: boundaries keyed since the last recurrence (12: stop keying)
    n_elems = row_start[-1]
    ev_rows = sorted(if_ev.keys() | f_ev.keys())
    ev_rows.append(_INF)
    no_events: list[int] = []
    ei = stall = nxt = e_ptr = 0
    res = _RowsResult(0, [], [], {}, {}, {}, 0)
    if_out, f_out, of_out = res.if_out, res.f_out, res.of_out
    change_rows, change_stall = res.change_rows, res.change_stall
    bw, active, want = writer.bw, writer.active, writer.want
    free, drain_end, line_idx = writer.free, writer.drain_end, writer.line_idx
    runs, undrained, rows_total = writer.runs, writer.undrained, writer.rows_total
    access, d_lo, d_hi = writer.access, writer.dram_lo, writer.dram_hi
    append, popleft = runs.append, runs.popleft
    while True:
        r_ev = ev_rows[ei]
        r = r_ev
        if e_ptr < n_elems:  # the row of the writer's next drain or stall
            e = e_ptr + (free - active if free > active else 0)
            d_row = drain_end - stall
            d_row = max(d_row, nxt)
            e_d = row_start[d_row] if d_row < n_rows else _INF
            e_z = e_ptr + (free - 1 if free > 1 else 0)
            if e_z < e_d:
                e = e_z
            elif e_d > e:
                e = e_d
            if e < n_elems:
                r_of = bisect_right(row_start, e) - 1
                r = min(r, r_of)
        skipped = False
        while r >= next_b and next_b < n_rows:  # fold boundaries before the next event row
            j = row_start[next_b] - e_ptr  # store the rows before it (the same state)
            if j:
                free -= j
                full, line_idx = divmod(line_idx + j, bw)
                if full:
                    if runs and runs[-1][0] == bw:
                        runs[-1][1] += full
                    else:
                        append([bw, full])
                    undrained += full
                    rows_total += full
            e_ptr = row_start[next_b]
            if misses < 12 and ev_rows[ei] > next_b + fold and len(runs) <= 16:
                fb = next_b // fold
                if not pid:
                    pid = _fold_patterns(of_counts, fold)
                key = (pid[fb], free, line_idx, max(drain_end - stall - next_b, 0), tuple(tuple(x) for x in runs))
                got = seen.get(key)
                if got is None or got[5] != ei:
                    seen[key] = (fb, stall, access, rows_total, len(change_rows), ei, n_drains)
                    misses += 1
                else:  # a period of folds with no read event
                    f0, s0, a0, t0, c0, _, nd0 = got
                    pf = fb - f0
                    per = pf * fold
                    ki = bisect_left(kept, next_b)
                    limit = min(ev_rows[ei], kept[ki] if ki < len(kept) else _INF, n_rows)
                    pat = pid[f0:fb]
                    m = 0
                    while next_b + (m + 1) * per <= limit and pid[fb + m * pf:fb + (m + 1) * pf] == pat:
                        m += 1
                    misses = 0
                    if m:
                        d_s = stall - s0
                        seg_r, seg_s = change_rows[c0:], change_stall[c0:]
                        for i in range(1, m + 1):
                            change_rows.extend(x + i * per for x in seg_r)
                            change_stall.extend(x + i * d_s for x in seg_s)
                        if n_drains > nd0:  # the last drain, m periods on (ends only grow)
                            drain_end += m * (per + d_s)
                            d_hi = max(d_hi, drain_end)
                        n_drains += m * (n_drains - nd0)
                        stall += m * d_s
                        access += m * (access - a0)
                        rows_total += m * (rows_total - t0)
                        nxt += m * per
                        next_b += m * per
                        e_ptr = row_start[next_b]
                        skipped = True
                        break
            next_b += fold if misses < 12 else _INF  # 12 boundaries without a recurrence: stop
        if skipped:  # the next event row from the state after the periods
            continue
        if r >= n_rows:
            break
        j = row_start[r] - e_ptr  # the rows before r: stored, nothing happens
        if j:
            free -= j
            full, line_idx = divmod(line_idx + j, bw)
            if full:
                if runs and runs[-1][0] == bw:
                    runs[-1][1] += full
                else:
                    append([bw, full])
                undrained += full
                rows_total += full
        cyc = r + stall
        o_if = o_f = 1
        if r == r_ev:
            o_if = _offset(if_ev.get(r, no_events), cyc)
            o_f = _offset(f_ev.get(r, no_events), cyc)
            ei += 1
        e_ptr = row_start[r + 1]
        cur = cyc
        left = e_ptr - row_start[r]
        while left:  # _Writer.row
            draining = cur < drain_end
            if draining:
                j = max(1, free)  # the j-th write leaves no free space: wait for the drain
            else:
                j = free - active + 1  # the j-th write drops below the half: drain
                j = max(j, 1)
            if j > left:
                break
            free -= j
            full, line_idx = divmod(line_idx + j, bw)
            if full:
                if runs and runs[-1][0] == bw:
                    runs[-1][1] += full
                else:
                    append([bw, full])
                undrained += full
                rows_total += full
            if draining:
                cur = drain_end
            else:
                if line_idx:  # flush
                    append([line_idx, 1])
                    undrained += 1
                    rows_total += 1
                    line_idx = 0
                nl = min(want, undrained)
                if nl == 0:
                    raise _no_lines()
                rest, last = nl, 0
                while rest:
                    run = runs[0]
                    last = run[0]
                    if run[1] > rest:
                        run[1] -= rest
                        break
                    rest -= run[1]
                    popleft()
                undrained -= nl
                data = nl * bw - (bw - last)
                access += data
                free += data
                d_lo = min(d_lo, cur)
                n_drains += 1
                drain_end = cur + nl - 1
                d_hi = max(d_hi, drain_end)
            left -= j
        if left:
            free -= left
            full, line_idx = divmod(line_idx + left, bw)
            if full:
                if runs and runs[-1][0] == bw:
                    runs[-1][1] += full
                else:
                    append([bw, full])
                undrained += full
                rows_total += full
        if_out[r] = cyc + o_if
        f_out[r] = cyc + o_f
        of_out[r] = cur
        st = cur - cyc
        st = max(st, o_if - 1)
        st = max(st, o_f - 1)
        if st:
            stall += st
            change_rows.append(r)
            change_stall.append(stall)
        nxt = r + 1
        if r >= next_b:  # an event row crossed the boundary: the next one after it
            next_b = (r // fold + 1) * fold
    writer.free, writer.drain_end, writer.line_idx = free, drain_end, line_idx
    writer.undrained, writer.rows_total = undrained, rows_total
    writer.access, writer.dram_lo, writer.dram_hi = access, d_lo, d_hi
    writer.store(n_elems - e_ptr)
    last_row = n_rows - 1
    res.last_of_out = of_out.get(last_row, last_row + stall)  # a row without events: cycle, no stall
    res.stall = stall
    return res
