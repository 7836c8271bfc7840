"""SCALE-Sim 3.0.0's memory mode for one layer as one compiled kernel (numba).

The same rules as the numpy path of `hwsim.scalesim_mem` (compact streams, USER read windows,
CALC generations, the write buffer row by row), ported to plain loops that numba compiles:

- the ifmap (im2col, -1 past the input edge) and filter address matrices are built from the
  layer geometry; each read operand's requests are per-block templates (address, row in the
  fold) as `scalesim_fast.compact_streams` gathers them: a skewed block (element (i, c) of a
  t x W block at fold row lead + i + c, a row's requests by column) or a stationary tile (tile
  row R - 1 - j at fold row j); fold f issues block `block_of[f]` at rows f * L + the
  template's;
- USER (`scalesim_read`): the prefetch order as SCALE-Sim rolls it out (diagonals bottom row
  first, or column blocks row-major), cut into sets of eps entries; one copy per address: the
  request's set against the window [k p, k p + a) mod n and a miss jumps to
  ceil((T - a + 1) / p); several copies (im2col): a stamp per address of the last window that
  held it, and a miss jumps to the first window holding a copy (the copies' sets from a
  counting sort, ascending per address);
- CALC (`read_buffer_estimate_bw.py`): a generation stamp per address, the request that brings
  the generation's distinct count to g = 50 * (size // 100) ends it;
- every row: the read offsets of its new prefetches (`offset += psc; if psc > 0: offset +=
  psc`), the write buffer's `row` (stretches up to the next stall or drain; trace lines as
  run lengths), the stall the max of the three; then `empty_all_buffers`.

`layer_kernel` returns every number `simulate_layer` needs (and an error code for the cases
SCALE-Sim 3.0.0 fails on); `scalesim_mem.simulate_layer` assembles the report. numba is
imported only here, and this module only from the stall path (not at `import lowbit`).
"""

from __future__ import annotations

import numpy as np
from lowbit.hwsim.scalesim_jit_base import PREVIOUS_CACHE_DIR, U, at, cdiv, filled, take
from lowbit.hwsim.scalesim_jit_rows import calc_dram, rows
from lowbit.hwsim.scalesim_jit_user import conv_tables, user_moves
from numba import njit
from numba.core import config as _numba_config

__all__ = ["ERRORS", "OUT_FIELDS", "layer_kernel", "warm"]

# layer_kernel's error codes (0: none) and the message each raises
ERRORS = {
    1: "scalesim: the ifmap prefetch is longer than its whole fetch matrix "
       "(SCALE-Sim 3.0.0 fails here in numpy.column_stack)",
    2: "scalesim: the filter prefetch is longer than its whole fetch matrix "
       "(SCALE-Sim 3.0.0 fails here in numpy.column_stack)",
    3: "scalesim: ofmap drain with no lines (SCALE-Sim 3.0.0 fails here)",
    4: "scalesim: two ifmap prefetch windows end on one cycle (SCALE-Sim 3.0.0 fails here)",
    5: "scalesim: two filter prefetch windows end on one cycle (SCALE-Sim 3.0.0 fails here)",
    6: "scalesim: internal error: the ifmap's closed-form copy counts miss its prefetch order "
       "(a lowbit bug; simulate_layer(..., jit=False) runs the numpy path)",
}

# the int64 output vector of layer_kernel, slot by slot
OUT_FIELDS = ("err", "total", "stall", "if_dram_start", "if_dram_stop", "if_dram_reads",
              "f_dram_start", "f_dram_stop", "f_dram_reads", "of_dram_lo", "of_dram_hi", "of_dram_writes",
              "if_has", "if_sram_start", "if_sram_stop", "f_has", "f_sram_start", "f_sram_stop",
              "of_has", "of_sram_start", "of_sram_stop", "nif", "nf", "nof", "nfold")
_N_OUT = len(OUT_FIELDS)

OS, WS, IS = 0, 1, 2  # dataflow codes


@njit(cache=True, error_model="numpy")
def _matrices(mem: np.ndarray, ih: int, iw: int, fh: int, fw: int, ch: int, nf: int, sh: int, sw: int,
              oh: int, ow: int, off_if: int, off_f: int, with_ifm: bool) -> tuple[np.ndarray, np.ndarray]:
    """operand_matrix.py: ifmap (Mpx x K, -1 past the edge; 0 x 0 unless with_ifm) and filter
    (K x N) addresses."""
    npx, win = oh * ow, fh * fw * ch
    ifm = take(mem, npx * win if with_ifm else 0).reshape((npx, win) if with_ifm else (0, 0))
    for p in range(npx if with_ifm else 0):
        irow = (p // ow) * sh
        icol = (p % ow) * sw
        base = (irow * iw + icol) * ch + off_if
        k = 0
        for cr in range(fh):
            for cc in range(fw):
                ok = cr + irow < ih and cc + icol < iw
                a0 = base + (cr * iw + cc) * ch
                for c in range(ch):
                    ifm[U(p), U(k)] = a0 + c if ok else -1
                    k += 1
    flt = take(mem, win * nf).reshape((win, nf))
    for k in range(win):
        for n in range(nf):
            flt[U(k), U(n)] = n * win + k + off_f
    return ifm, flt


@njit(cache=True, error_model="numpy")
def _skew_templates(mem: np.ndarray, a: np.ndarray, trans: bool, nb: int, t: int, w: int,
                    lead: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Skewed blocks: block b's element (i, c) is the source's (b w + c, i) (trans) or
    (i, b w + c), requested at fold row lead + i + c; a row's requests by column."""
    addr = take(mem, nb * t * w)
    row = take(mem, nb * t * w)
    start = filled(mem, nb + 1, 0)
    n = 0
    for b in range(nb):
        for d in range(t + w - 1):
            c0 = max(0, d - t + 1)
            c1 = min(w - 1, d)
            for c in range(c0, c1 + 1):
                i = d - c
                v = at(a, trans, i, b * w + c)
                if v != -1:
                    addr[U(n)] = v
                    row[U(n)] = lead + d
                    n += 1
        start[b + 1] = n
    return addr[:n], row[:n], start


@njit(cache=True, error_model="numpy")
def _stationary_templates(mem: np.ndarray, a: np.ndarray, trans: bool, R: int, C: int, rf: int,
                          cf: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stationary tiles, one per fold f = fc rf + fr: tile row R - 1 - j (source row fr R +
    R - 1 - j, columns fc C ..) at fold row j."""
    nfold = rf * cf
    addr = take(mem, nfold * R * C)
    row = take(mem, nfold * R * C)
    start = filled(mem, nfold + 1, 0)
    n = 0
    for f in range(nfold):
        fr, fc = f % rf, f // rf
        for j in range(R):
            sr = fr * R + R - 1 - j
            for c in range(C):
                v = at(a, trans, sr, fc * C + c)
                if v != -1:
                    addr[U(n)] = v
                    row[U(n)] = j
                    n += 1
        start[f + 1] = n
    return addr[:n], row[:n], start


@njit(cache=True, error_model="numpy")
def _calc_generations(mem: np.ndarray, size: int, addr: np.ndarray, row: np.ndarray, start: np.ndarray,
                      block_of: np.ndarray, L: int, lo: int, span: int,
                      width: int) -> tuple[np.ndarray, int, int, int, int, int]:
    """read_buffer_estimate_bw.py's generations: (rows of the generation ends to time, how many
    of them, how many generations ended, distinct addresses of the unfinished one, g, npis).

    Where every request is new to its generation (each address in one block, once; a block
    reused only g or more requests later; at most g = `width` requests a row) the generations
    are every g requests, in distinct rows (`scalesim_mem._all_new`): only the last end is
    timed. Otherwise each request is checked against a stamp per address of the generation
    that last saw it."""
    npis = size // 100
    g = 50 * npis
    nb, nfold = start.size - 1, block_of.size
    nreq = 0
    for f in range(nfold):
        b = block_of[f]
        nreq += start[b + 1] - start[b]
    ends = take(mem, nreq // g + 1 if g > 0 else 1)
    if nreq == 0:
        return ends, 0, 0, 0, g, npis
    stamp = filled(mem, span, -1)
    all_new = g > 0 and width <= g
    if all_new:  # blocks reused at least g requests apart
        last = filled(mem, nb, -1)
        pos = 0
        for f in range(nfold):
            b = block_of[f]
            if start[b + 1] > start[b]:
                if last[b] >= 0 and pos - last[b] < g:
                    all_new = False
                    break
                last[b] = pos
                pos += start[b + 1] - start[b]
    if all_new:  # each address in one block, once (marks 0: the scan's generations start at 1)
        for e in range(start[nb]):
            x = addr[U(e)] - lo
            if stamp[U(x)] == 0:
                all_new = False
                break
            stamp[U(x)] = 0
    if all_new:
        ne = nreq // g
        if ne:  # the row of request ne g - 1
            target, pos = ne * g - 1, 0
            for f in range(nfold):
                b = block_of[f]
                size_b = start[b + 1] - start[b]
                if target < pos + size_b:
                    ends[0] = f * L + row[start[b] + target - pos]
                    break
                pos += size_b
        return ends, min(ne, 1), ne, nreq - ne * g, g, npis
    gen, cnt, ne = 1, 0, 0
    for f in range(nfold):
        b = block_of[f]
        base = f * L
        for e in range(start[b], start[b + 1]):
            x = addr[U(e)] - lo
            if stamp[U(x)] != gen:
                stamp[U(x)] = gen
                cnt += 1
                if cnt == g:
                    ends[U(ne)] = base + row[U(e)]
                    ne += 1
                    gen += 1
                    cnt = 0
    return ends, ne, ne, cnt, g, npis


@njit(cache=True, error_model="numpy")
def _span(row: np.ndarray, start: np.ndarray, block_of: np.ndarray, L: int) -> tuple[int, int, int]:
    """(has requests, row of the first, row of the last)."""
    first = last = -1
    for f in range(block_of.size):
        b = block_of[f]
        if start[b + 1] > start[b]:
            if first < 0:
                first = f * L + row[start[b]]
            last = f * L + row[start[b + 1] - 1]
    return (1 if first >= 0 else 0), first, last


@njit(cache=True, error_model="numpy")
def _work_size(df: int, user: bool, R: int, C: int, t: int, rf: int, cf: int, npx: int, win: int, nf: int,
               span_if: int) -> int:
    """An upper bound of the int64 slots a layer takes from its work array (one allocation per
    layer: glibc keeps a freed chunk of that size in the heap, where many large arrays would
    each be mapped and unmapped, and every page faulted again, on every call)."""
    nfold = rf * cf
    stat = nfold * R * C  # a stationary operand's tiles
    cap_if = stat if df == IS else rf * t * R
    cap_f = stat if df == WS else (cf * t * C if df == OS else rf * t * R)
    req_if = stat if df == IS else nfold * t * R  # requests at most
    req_f = stat if df == WS else nfold * t * (C if df == OS else R)
    span_f = win * nf
    n = npx * win + win * nf + 3 * (npx + win) + 12  # the matrices or the ifmap's conv_tables
    if user:  # per operand: prefetch order, counts, stretches, segments, sets or a set per address
        n += 6 * (cap_if + cap_f) + 4 * (span_if + span_f) + 8 * (R + C) + 16
        n += 4 * (rf + cf + 2) * (t + R + C)  # a skewed operand's segments (2 nb (t + w - 1))
    else:  # templates, stamps and generation ends
        n += 2 * (cap_if + cap_f) + 4 * nfold + 8 + span_if + span_f + req_if + req_f + 2
    return n


@njit(cache=True, error_model="numpy")
def layer_kernel(prm: np.ndarray, df: int, R: int, C: int, user: bool) -> tuple[np.ndarray, np.ndarray]:
    """One layer: `prm` = (ifmap h, w, filter h, w, channels, filters, stride h, w, ifmap
    offset, filter offset; SRAM bytes: ifmap, filter, ofmap; DRAM words a cycle: ifmap,
    filter, ofmap). Returns (the OUT_FIELDS ints, [sum of per-fold mapping efficiency, sum of
    per-fold compute utilisation])."""
    geo, sizes, bws = prm[:10], prm[10:13], prm[13:16]
    out = np.zeros(_N_OUT, dtype=np.int64)
    fl = np.zeros(2, dtype=np.float64)
    ih, iw, fh, fw, ch, nf, sh, sw = geo[0], geo[1], geo[2], geo[3], geo[4], geo[5], geo[6], geo[7]
    oh, ow = cdiv(ih - fh + sh, sh), cdiv(iw - fw + sw, sw)
    npx, win = oh * ow, fh * fw * ch
    if df == OS:
        sr, sc, t = npx, nf, win
    elif df == WS:
        sr, sc, t = win, nf, npx
    else:
        sr, sc, t = win, npx, nf
    rf, cf = cdiv(sr, R), cdiv(sc, C)
    nfold = rf * cf
    mem = np.empty(1 + _work_size(df, user, R, C, t, rf, cf, npx, win, nf, ih * iw * ch), dtype=np.int64)
    mem[0] = 1
    # USER, skewed ifmap (os, ws): its prefetch order generated from the conv geometry
    # (conv_tables), the im2col matrix not built
    gen_if = user and df != IS
    ifm, flt = _matrices(mem, ih, iw, fh, fw, ch, nf, sh, sw, oh, ow, geo[8], geo[9], not gen_if)
    tab_if = conv_tables(mem, ih, iw, fh, fw, ch, sh, sw, oh, ow) if gen_if else take(mem, 0)
    fr_of = np.empty(nfold, dtype=np.int64)
    fc_of = np.empty(nfold, dtype=np.int64)
    ident = np.empty(nfold, dtype=np.int64)
    for f in range(nfold):
        fr_of[f] = f % rf
        fc_of[f] = f // rf
        ident[f] = f
    # ifmap: skewed (os: the source transposed; ws) or stationary (is: transposed); filter:
    # skewed (os; is: transposed) or stationary (ws). Flags as runtime values, one compile each.
    os_, ws_ = df == OS, df == WS
    lead_sk = R * (1 - int(os_))  # skewed blocks start at fold row 0 (os) or R (ws, is)
    if os_:
        L = t + R + C - 2
        lead, denom = t - 1, R * C * L
        out[21], out[22], out[23] = t * cf * sr, t * rf * sc, sr * sc + nfold * (R + C)
    else:
        L = 2 * R + t + C - 2
        lead, denom = 2 * R - 1, R * C * (2 * R + 2 * C + t - 3)
        if ws_:
            out[21], out[22], out[23] = t * cf * sr, sr * sc, t * rf * sc
        else:
            out[21], out[22], out[23] = sr * sc, t * cf * sr, t * rf * sc
    if_tr, f_tr = df != WS, df == IS
    nb_f, w_f = (cf, C) if os_ else (rf, R)
    if_of = fr_of if df != IS else ident
    f_of = (fc_of if os_ else fr_of) if not ws_ else ident
    out[24] = nfold
    for f in range(nfold):
        nr = min(sr - fr_of[f] * R, R)
        nc = min(sc - fc_of[f] * C, C)
        fl[0] += (nr * nc) / (R * C)
        fl[1] += (nr * nc * t) / denom
    # ---- read buffers (timing-independent): USER window moves, CALC generation ends
    isz, fsz, osz = sizes[0], sizes[1], sizes[2]
    if_bw, f_bw, of_bw = bws[0], bws[1], bws[2]
    span_if, span_f = ih * iw * ch, win * nf
    step_if = step_f = 1
    empty = np.empty(0, dtype=np.int64)
    if_mr, if_mk, f_mr, f_mk = empty, empty, empty, empty
    nm_if = nm_f = 0
    g_if_ends, g_f_ends = empty, empty
    ne_if = ne_f = nt_if = nt_f = rem_if = rem_f = g_if = g_f = np_if = np_f = 0
    if user:
        # ifmap: skewed blocks rf x (t x R), or (is) stationary tiles of the sr x cf C source;
        # filter: skewed blocks nb_f x (t x w_f), or (ws) stationary tiles. One call site each,
        # the shape flags as runtime values (one compiled user_moves, not one per literal).
        sk_if, sk_f = df != IS, not ws_
        if_mr, if_mk, nm_if, k_if, n0_if, nl_if, first_if, last_if = user_moves(
            mem, ifm, tab_if, if_tr, sk_if, rf if sk_if else cf, t, R if sk_if else C, 0 if sk_if else sr, R, rf,
            if_of, L, lead_sk if sk_if else 0, isz, if_bw, geo[8], span_if, False)
        if k_if < 0:
            out[0] = 1 if k_if == -1 else 6
            return out, fl
        f_mr, f_mk, nm_f, k_f, n0_f, nl_f, first_f, last_f = user_moves(
            mem, flt, empty, f_tr, sk_f, nb_f if sk_f else cf, t, w_f if sk_f else C, 0 if sk_f else sr, R, rf,
            f_of, L, lead_sk if sk_f else 0, fsz, f_bw, geo[9], span_f, True)
        if k_f < 0:
            out[0] = 2
            return out, fl
        step_if, step_f = nl_if + 1, nl_f + 1
        out[3], out[4], out[5] = -n0_if, -1 + k_if * (nl_if + 1), (n0_if + k_if * nl_if) * if_bw
        out[6], out[7], out[8] = -n0_f, -1 + k_f * (nl_f + 1), (n0_f + k_f * nl_f) * f_bw
        has_if, has_f = int(first_if >= 0), int(first_f >= 0)
    else:
        if df != IS:
            if_a, if_r, if_s = _skew_templates(mem, ifm, if_tr, rf, t, R, lead_sk)
        else:
            if_a, if_r, if_s = _stationary_templates(mem, ifm, if_tr, R, C, rf, cf)
        if not ws_:
            f_a, f_r, f_s = _skew_templates(mem, flt, f_tr, nb_f, t, w_f, lead_sk)
        else:
            f_a, f_r, f_s = _stationary_templates(mem, flt, f_tr, R, C, rf, cf)
        g_if_ends, nt_if, ne_if, rem_if, g_if, np_if = _calc_generations(
            mem, isz, if_a, if_r, if_s, if_of, L, geo[8], span_if, C if df == IS else R)
        g_f_ends, nt_f, ne_f, rem_f, g_f, np_f = _calc_generations(
            mem, fsz, f_a, f_r, f_s, f_of, L, geo[9], span_f, C if ws_ else w_f)
        has_if, first_if, last_if = _span(if_r, if_s, if_of, L)
        has_f, first_f, last_f = _span(f_r, f_s, f_of, L)
    # ---- the rows, with the write buffer; then the CALC DRAM windows from the rows' cycles
    cyc_if_end = np.empty(nt_if, dtype=np.int64)
    cyc_f_end = np.empty(nt_f, dtype=np.int64)
    firsts = np.zeros(2, dtype=np.int64)
    rows(out, firsts, df == OS, R, C, sr, sc, t, L, rf, cf, lead, user,
         if_mr, if_mk, nm_if, step_if, f_mr, f_mk, nm_f, step_f, g_if_ends, nt_if, cyc_if_end,
         g_f_ends, nt_f, cyc_f_end, first_if, last_if, first_f, last_f, osz, of_bw)
    if out[0]:
        return out, fl
    out[12], out[15] = has_if, has_f
    if not user:  # read_buffer_estimate_bw.py's DRAM start / stop
        if calc_dram(out, 3, ne_if, nt_if, rem_if, g_if, np_if, firsts[0], cyc_if_end):
            out[0] = 4
            return out, fl
        if calc_dram(out, 6, ne_f, nt_f, rem_f, g_f, np_f, firsts[1], cyc_f_end):
            out[0] = 5
            return out, fl
    return out, fl


def warm() -> None:
    """Compile (or load from numba's cache) the kernel on a tiny layer, USER and CALC: `make
    install` runs this so that the first stall-mode layer, and the first test run, does not
    pay the ~12 s cold compile."""
    prm = np.array([5, 5, 2, 2, 2, 3, 1, 1, 0, 1000, 1024, 1024, 1024, 10, 10, 4], dtype=np.int64)
    for user in (True, False):
        layer_kernel(prm, OS, 4, 4, user)


_numba_config.CACHE_DIR = PREVIOUS_CACHE_DIR  # every kernel function is decorated by now
