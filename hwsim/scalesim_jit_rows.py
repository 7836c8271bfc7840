"""The array rows and the ofmap write buffer of SCALE-Sim 3.0.0 (`memory/write_buffer.py`),
compiled (numba), for `hwsim.scalesim_jit.layer_kernel`: the same rules as
`hwsim.scalesim_rows` (`_Writer.row`'s stretches, trace lines as run lengths), run on every
row, and read_buffer_estimate_bw.py's DRAM window from the CALC generation ends' cycles.
"""

from __future__ import annotations

import numpy as np
from lowbit.hwsim.scalesim_jit_base import INF as _INF
from lowbit.hwsim.scalesim_jit_base import U, cdiv
from numba import njit

__all__ = ["calc_dram", "rows"]


@njit(cache=True, error_model="numpy")
def _offset(mrow: np.ndarray, mk: np.ndarray, nm: int, ptr: int, kprev: int, r: int, cyc: int,
            step: int) -> tuple[int, int, int]:
    """The read offset of row r (its new prefetches complete at -1 + j step, j after kprev up
    to the last move in the row): (offset, next pointer, moves after the row)."""
    o = 1
    while ptr < nm and mrow[U(ptr)] == r:
        k = mk[U(ptr)]
        for j in range(kprev + 1, k + 1):
            psc = -1 + j * step - (cyc + o)
            o += psc
            if psc > 0:
                o += psc
        kprev = k
        ptr += 1
    return o, ptr, kprev


# write buffer state slots (trace lines as run lengths in `runs`, rows head .. tail)
_FREE, _DEND, _LINE, _HEAD, _TAIL, _UND, _ACC, _DLO, _DHI, _ACT, _WANT, _BW, _CUR = range(13)


@njit(cache=True, error_model="numpy")
def _room(runs: np.ndarray, ws: np.ndarray, need: int) -> np.ndarray:
    """`runs` with room for `need` more runs past the tail: the live runs moved to the front,
    into a larger array if they fill half of it (the writer functions never reallocate, so the
    row loop holds one array)."""
    head, tail = ws[_HEAD], ws[_TAIL]
    live = tail - head
    cap = runs.shape[0]
    while 2 * (live + need) > cap:
        cap *= 2
    out = runs if cap == runs.shape[0] else np.empty((cap, 2), dtype=np.int64)
    for i in range(live):
        out[i, 0] = runs[head + i, 0]
        out[i, 1] = runs[head + i, 1]
    ws[_HEAD] = 0
    ws[_TAIL] = live
    return out


@njit(cache=True, error_model="numpy")
def _store(runs: np.ndarray, ws: np.ndarray, j: int) -> None:
    """write_buffer.py storing j elements: full trace lines become undrained runs (merged into
    the last run of full lines)."""
    bw = ws[_BW]
    ws[_FREE] -= j
    v = ws[_LINE] + j
    if v < 4 * bw:  # a few subtractions instead of a 64-bit division (most stores fill 0-3 lines)
        full = 0
        while v >= bw:
            v -= bw
            full += 1
    else:
        full = v // bw
        v -= full * bw
    ws[_LINE] = v
    if full:
        tail = ws[_TAIL]
        if tail > ws[_HEAD] and runs[tail - 1, 0] == bw:
            runs[tail - 1, 1] += full
        else:
            runs[tail, 0] = bw
            runs[tail, 1] = full
            ws[_TAIL] = tail + 1
        ws[_UND] += full


@njit(cache=True, error_model="numpy")
def _flush(runs: np.ndarray, ws: np.ndarray) -> None:
    """The partial trace line, if any, becomes a line of its own."""
    if ws[_LINE]:
        tail = ws[_TAIL]
        runs[tail, 0] = ws[_LINE]
        runs[tail, 1] = 1
        ws[_TAIL] = tail + 1
        ws[_UND] += 1
        ws[_LINE] = 0


@njit(cache=True, error_model="numpy")
def _drain(runs: np.ndarray, ws: np.ndarray, start: int) -> bool:
    """A drain of up to `want` lines from cycle `start` (drain end, DRAM cycles and writes,
    free space updated; a drained line counts as full except the last); False if no lines."""
    nl = min(ws[_WANT], ws[_UND])
    if nl == 0:
        return False
    bw = ws[_BW]
    rest, last, head = nl, 0, ws[_HEAD]
    while rest:
        last = runs[head, 0]
        if runs[head, 1] > rest:
            runs[head, 1] -= rest
            break
        rest -= runs[head, 1]
        head += 1
    ws[_HEAD] = head
    ws[_UND] -= nl
    data = nl * bw - (bw - last)
    ws[_ACC] += data
    ws[_FREE] += data
    end = start + nl - 1
    ws[_DLO] = min(ws[_DLO], start)
    ws[_DHI] = max(ws[_DHI], end)
    ws[_DEND] = end
    return True


@njit(cache=True, error_model="numpy")
def _write_row(runs: np.ndarray, ws: np.ndarray, cyc: int, count: int) -> None:
    """`_Writer.row`: `count` writes from cycle `cyc`, stored in stretches up to the next one
    that stalls (full during a drain) or drains (below the active half after the last drain
    ended); the serviced cycle in ws[_CUR], -1 there if a drain found no lines. Needs room
    for 2 count + 2 runs."""
    cur = cyc
    left = count
    while left:
        draining = cur < ws[_DEND]
        if draining:
            j = max(1, ws[_FREE])  # the j-th write leaves no free space: wait for the drain
        else:
            j = max(ws[_FREE] - ws[_ACT] + 1, 1)  # the j-th write drops below the half: drain
        if j > left:
            break
        _store(runs, ws, j)
        if draining:
            cur = ws[_DEND]
        else:
            _flush(runs, ws)
            if not _drain(runs, ws, cur):
                ws[_CUR] = -1
                return
        left -= j
    if left:
        _store(runs, ws, left)
    ws[_CUR] = cur


@njit(cache=True, error_model="numpy")
def rows(out: np.ndarray, firsts: np.ndarray, os_counts: bool, R: int, C: int, sr: int, sc: int, t: int,
          L: int, rf: int, cf: int, lead: int, user: bool, if_mr: np.ndarray, if_mk: np.ndarray, nm_if: int,
          step_if: int, f_mr: np.ndarray, f_mk: np.ndarray, nm_f: int, step_f: int, if_ends: np.ndarray,
          ne_if: int, cyc_if_end: np.ndarray, f_ends: np.ndarray, ne_f: int, cyc_f_end: np.ndarray,
          first_if: int, last_if: int, first_f: int, last_f: int, osz: int, of_bw: int) -> None:
    """Every row in order: its read offsets (USER) and writes (each fold's skewed ofmap block
    in closed form), the stall the max of the three; then empty_all_buffers. Fills out[1:3],
    out[9:12], out[13:15], out[16:21] and the cycles of the CALC generation ends (firsts: the
    cycles of each operand's first request row)."""
    ws = np.zeros(13, dtype=np.int64)
    ws[_ACT] = (osz + 1) // 2
    ws[_WANT] = cdiv(osz - ws[_ACT], of_bw)
    ws[_BW] = of_bw
    ws[_FREE] = osz
    ws[_DLO], ws[_DHI] = _INF, -_INF
    runs = np.empty((64, 2), dtype=np.int64)
    stall = 0
    ptr_if = ptr_f = kp_if = kp_f = ci_if = ci_f = 0
    first_w = -1
    cur = first_w_cur = last_w_cur = 0
    s_if0 = s_if1 = s_f0 = s_f1 = c_if0 = c_f0 = 0  # the operands' SRAM start / stop cycles
    # the write buffer's hot state in locals (written back around the calls that need ws)
    free, line, dend, head, tail, und = ws[_FREE], ws[_LINE], ws[_DEND], ws[_HEAD], ws[_TAIL], ws[_UND]
    active = ws[_ACT]
    cap = runs.shape[0]
    for f in range(rf * cf):
        fr, fc = f % rf, f // rf
        nr = min(sr - fr * R, R)
        nc = min(sc - fc * C, C)
        ia, ib = (R - nr, R) if os_counts else (0, t)
        base = f * L
        for jf in range(L):
            r = base + jf
            rho = jf - lead
            count = max(min(nc - 1, rho - ia) - max(0, rho - ib + 1) + 1, 0)
            cyc = r + stall
            o_if = o_f = 1
            if user:
                if ptr_if < nm_if and if_mr[U(ptr_if)] == r:
                    o_if, ptr_if, kp_if = _offset(if_mr, if_mk, nm_if, ptr_if, kp_if, r, cyc, step_if)
                if ptr_f < nm_f and f_mr[U(ptr_f)] == r:
                    o_f, ptr_f, kp_f = _offset(f_mr, f_mk, nm_f, ptr_f, kp_f, r, cyc, step_f)
            else:
                while ci_if < ne_if and if_ends[U(ci_if)] == r:
                    cyc_if_end[U(ci_if)] = cyc
                    ci_if += 1
                while ci_f < ne_f and f_ends[U(ci_f)] == r:
                    cyc_f_end[U(ci_f)] = cyc
                    ci_f += 1
            if r == first_if:
                c_if0, s_if0 = cyc, cyc + o_if
            if r == last_if:
                s_if1 = cyc + o_if
            if r == first_f:
                c_f0, s_f0 = cyc, cyc + o_f
            if r == last_f:
                s_f1 = cyc + o_f
            cur = cyc
            if count:
                if tail + 2 * count + 4 > cap:
                    ws[_HEAD], ws[_TAIL] = head, tail
                    runs = _room(runs, ws, 2 * count + 4)
                    head, tail, cap = ws[_HEAD], ws[_TAIL], runs.shape[0]
                if (free - count >= active) if cyc >= dend else (free > count):
                    # no write drains or waits: the one stretch `_write_row` would store
                    free -= count
                    v = line + count
                    if v >= of_bw:
                        full = 0
                        while v >= of_bw:
                            v -= of_bw
                            full += 1
                        if tail > head and runs[U(tail - 1), 0] == of_bw:  # merged into the last full run
                            runs[U(tail - 1), 1] += full
                        else:
                            runs[U(tail), 0] = of_bw
                            runs[U(tail), 1] = full
                            tail += 1
                        und += full
                    line = v
                else:
                    ws[_FREE], ws[_LINE], ws[_DEND], ws[_HEAD], ws[_TAIL], ws[_UND] = free, line, dend, head, tail, und
                    _write_row(runs, ws, cyc, count)
                    free, line, dend, head, tail, und = ws[_FREE], ws[_LINE], ws[_DEND], ws[_HEAD], ws[_TAIL], ws[_UND]
                    cur = ws[_CUR]
                    if cur < 0:
                        out[0] = 3
                        return
                if first_w < 0:
                    first_w, first_w_cur = r, cur
                last_w_cur = cur
            stall += max(max(cur - cyc, o_if - 1), o_f - 1)
    ws[_FREE], ws[_LINE], ws[_DEND], ws[_HEAD], ws[_TAIL], ws[_UND] = free, line, dend, head, tail, und
    firsts[0], firsts[1] = c_if0, c_f0
    out[13], out[14], out[16], out[17] = s_if0, s_if1, s_f0, s_f1
    if first_w >= 0:
        out[19], out[20] = first_w_cur, last_w_cur
    out[1] = cur
    out[2] = stall
    runs = _room(runs, ws, 2)
    _flush(runs, ws)  # empty_all_buffers: drain until nothing is left
    cycle = cur
    while ws[_UND] > 0:
        _drain(runs, ws, cycle)
        cycle = ws[_DEND] + 1
    out[9], out[10], out[11] = ws[_DLO], ws[_DHI], ws[_ACC]
    out[18] = 1 if first_w >= 0 else 0


@njit(cache=True, error_model="numpy")
def calc_dram(out: np.ndarray, at: int, ne: int, nt: int, rem: int, g: int, npis: int, frc: int,
               cyc: np.ndarray) -> bool:
    """(DRAM start, stop, reads) of a CALC read buffer into out[at:at + 3] from `ne` generation
    ends, the cycles of the last `nt` of them in `cyc` (all, or the last where they are known
    to lie in distinct rows); True where two prefetch windows end on one cycle (SCALE-Sim 3.0.0
    fails there)."""
    out[at + 2] = ne * g + rem
    if ne == 0:  # complete_all_prefetches with no active-buffer prefetch done yet
        num_sets = cdiv(rem, npis) if npis else 0
        out[at] = -cdiv(num_sets * npis, 10)
        out[at + 1] = -1
        return False
    out[at] = (frc - 2 - cdiv(g, 10) + 1) + 1
    win_start = frc - 1
    for j in range(1, nt):
        if cyc[j - 1] - win_start + 1 <= 0:
            return True
        win_start = cyc[j - 1] + 1
    if cyc[nt - 1] - win_start + 1 <= 0:
        return True
    out[at + 1] = cyc[nt - 1] + 1
    return False
