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
from numba import njit

__all__ = ["ERRORS", "OUT_FIELDS", "layer_kernel"]

# layer_kernel's error codes (0: none) and the message each raises
ERRORS = {
    1: "scalesim: the ifmap prefetch is longer than its whole fetch matrix "
       "(SCALE-Sim 3.0.0 fails here in numpy.column_stack)",
    2: "scalesim: the filter prefetch is longer than its whole fetch matrix "
       "(SCALE-Sim 3.0.0 fails here in numpy.column_stack)",
    3: "scalesim: ofmap drain with no lines (SCALE-Sim 3.0.0 fails here)",
    4: "scalesim: two ifmap prefetch windows end on one cycle (SCALE-Sim 3.0.0 fails here)",
    5: "scalesim: two filter prefetch windows end on one cycle (SCALE-Sim 3.0.0 fails here)",
}

# the int64 output vector of layer_kernel, slot by slot
OUT_FIELDS = ("err", "total", "stall", "if_dram_start", "if_dram_stop", "if_dram_reads",
              "f_dram_start", "f_dram_stop", "f_dram_reads", "of_dram_lo", "of_dram_hi", "of_dram_writes",
              "if_has", "if_sram_start", "if_sram_stop", "f_has", "f_sram_start", "f_sram_stop",
              "of_has", "of_sram_start", "of_sram_stop", "nif", "nf", "nof", "nfold")
_N_OUT = len(OUT_FIELDS)
_INF = 1 << 62

OS, WS, IS = 0, 1, 2  # dataflow codes


@njit(cache=True, error_model="numpy")
def _cdiv(a: int, b: int) -> int:
    return -((-a) // b)


@njit(cache=True, error_model="numpy")
def _take(mem: np.ndarray, n: int) -> np.ndarray:
    """n int64 from the layer's one work array (mem[0]: the next free slot)."""
    p = mem[0]
    mem[0] = p + n
    return mem[p:p + n]


@njit(cache=True, error_model="numpy")
def _filled(mem: np.ndarray, n: int, v: int) -> np.ndarray:
    out = _take(mem, n)
    for i in range(n):
        out[i] = v
    return out


@njit(cache=True, error_model="numpy")
def _matrices(mem: np.ndarray, ih: int, iw: int, fh: int, fw: int, ch: int, nf: int, sh: int, sw: int,
              oh: int, ow: int, off_if: int, off_f: int) -> tuple[np.ndarray, np.ndarray]:
    """operand_matrix.py: ifmap (Mpx x K, -1 past the edge) and filter (K x N) addresses."""
    npx, win = oh * ow, fh * fw * ch
    ifm = _take(mem, npx * win).reshape((npx, win))
    for p in range(npx):
        irow = (p // ow) * sh
        icol = (p % ow) * sw
        base = (irow * iw + icol) * ch + off_if
        k = 0
        for cr in range(fh):
            for cc in range(fw):
                ok = cr + irow < ih and cc + icol < iw
                a0 = base + (cr * iw + cc) * ch
                for c in range(ch):
                    ifm[p, k] = a0 + c if ok else -1
                    k += 1
    flt = _take(mem, win * nf).reshape((win, nf))
    for k in range(win):
        for n in range(nf):
            flt[k, n] = n * win + k + off_f
    return ifm, flt


@njit(cache=True, error_model="numpy")
def _at(a: np.ndarray, trans: bool, r: int, c: int) -> int:
    """a[r, c] (a.T[r, c] if trans), -1 outside (the -1 padding)."""
    if trans:
        r, c = c, r
    if r < a.shape[0] and c < a.shape[1]:
        return a[r, c]
    return -1


@njit(cache=True, error_model="numpy")
def _skew_templates(mem: np.ndarray, a: np.ndarray, trans: bool, nb: int, t: int, w: int, lead: int,
                    with_mid: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Skewed blocks: block b's element (i, c) is the source's (b w + c, i) (trans) or
    (i, b w + c), requested at fold row lead + i + c; a row's requests by column. With
    `with_mid`, each request's element of the prefetch matrix (b t + i) w + c too."""
    addr = _take(mem, nb * t * w)
    row = _take(mem, nb * t * w)
    mid = _take(mem, nb * t * w if with_mid else 0)
    start = _filled(mem, nb + 1, 0)
    n = 0
    for b in range(nb):
        for d in range(t + w - 1):
            c0 = max(0, d - t + 1)
            c1 = min(w - 1, d)
            for c in range(c0, c1 + 1):
                i = d - c
                v = _at(a, trans, i, b * w + c)
                if v != -1:
                    addr[n] = v
                    row[n] = lead + d
                    if with_mid:
                        mid[n] = (b * t + i) * w + c
                    n += 1
        start[b + 1] = n
    return addr[:n], row[:n], start, mid[:n if with_mid else 0]


@njit(cache=True, error_model="numpy")
def _stationary_templates(mem: np.ndarray, a: np.ndarray, trans: bool, R: int, C: int, rf: int, cf: int,
                          with_mid: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Stationary tiles, one per fold f = fc rf + fr: tile row R - 1 - j (source row fr R +
    R - 1 - j, columns fc C ..) at fold row j. With `with_mid`, each request's element of the
    prefetch matrix (source row) cf C + column too."""
    nfold = rf * cf
    addr = _take(mem, nfold * R * C)
    row = _take(mem, nfold * R * C)
    mid = _take(mem, nfold * R * C if with_mid else 0)
    start = _filled(mem, nfold + 1, 0)
    n = 0
    for f in range(nfold):
        fr, fc = f % rf, f // rf
        for j in range(R):
            sr = fr * R + R - 1 - j
            for c in range(C):
                v = _at(a, trans, sr, fc * C + c)
                if v != -1:
                    addr[n] = v
                    row[n] = j
                    if with_mid:
                        mid[n] = sr * cf * C + fc * C + c
                    n += 1
        start[f + 1] = n
    return addr[:n], row[:n], start, mid[:n if with_mid else 0]


@njit(cache=True, error_model="numpy")
def _pf_diag(mem: np.ndarray, a: np.ndarray, trans: bool, nb: int, t: int, w: int, eps: int,
             pos: np.ndarray) -> np.ndarray:
    """The skewed operand's prefetch matrix (nb t x w, block b's rows b t ..) rolled out along
    its diagonals, each from its bottom row up (non-null entries); pos[element] = its set
    (entries cut into sets of eps)."""
    m = nb * t
    out = _take(mem, m * w)
    n = st = j = 0
    for d in range(m + w - 1):
        c0 = max(0, d - m + 1)
        c1 = min(w - 1, d)
        ii = d - c0
        b, i = ii // t, ii % t
        mi = ii * w + c0
        for c in range(c0, c1 + 1):
            v = _at(a, trans, i, b * w + c)
            if v != -1:
                out[n] = v
                n += 1
                pos[mi] = st
                j += 1
                if j == eps:
                    st += 1
                    j = 0
            mi -= w - 1
            i -= 1
            if i < 0:
                i = t - 1
                b -= 1
    return out[:n]


@njit(cache=True, error_model="numpy")
def _pf_blocks(mem: np.ndarray, a: np.ndarray, trans: bool, rows: int, cf: int, C: int, eps: int,
               pos: np.ndarray) -> np.ndarray:
    """The stationary operand's prefetch matrix (rows x cf C) column block after column
    block, each row-major (non-null entries); pos[element] = its set."""
    out = _take(mem, rows * cf * C)
    n = st = j = 0
    for b in range(cf):
        for r in range(rows):
            for c in range(C):
                v = _at(a, trans, r, b * C + c)
                if v != -1:
                    out[n] = v
                    n += 1
                    pos[r * cf * C + b * C + c] = st
                    j += 1
                    if j == eps:
                        st += 1
                        j = 0
    return out[:n]


_CHUNK = 32  # requests per chunk of a template: a chunk whose own sets all lie in the window hits


@njit(cache=True, error_model="numpy")
def user_sizes(pf_entries: int, pf_size: int, size: int, bw: int) -> tuple[int, int, int, int, int, int, int]:
    """read_buffer.py's sizes (scalesim_read.UserBuffer): (eps, fetch rows, n, a, p, N0, lines a
    prefetch)."""
    active = (size + 1) // 2
    pre = size - active
    eps = _cdiv(size, 100)
    fetch_rows = _cdiv(pf_size, bw)
    n = pf_entries // eps + 1
    a = min(_cdiv(active, eps), n)
    p = min(_cdiv(pre, eps), n - a)
    return eps, fetch_rows, n, a, p, min(_cdiv(active, bw), fetch_rows), _cdiv(pre, bw)


@njit(cache=True, error_model="numpy")
def _user_moves(mem: np.ndarray, pf: np.ndarray, pf_size: int, size: int, bw: int, addr: np.ndarray,
                row: np.ndarray, start: np.ndarray, mid: np.ndarray, pos: np.ndarray, block_of: np.ndarray,
                L: int, lo: int, span: int) -> tuple[np.ndarray, np.ndarray, int, int, int, int]:
    """read_buffer.py: (row of each request that moves the window, move count after it, how
    many, K, N0, lines per prefetch); K = -1 where the prefetch is longer than its matrix.
    `mid`/`pos`: each request's own element of the prefetch order and that element's set.

    The window after k moves holds sets [k p, k p + a) mod n. A chunk of a template whose
    requests' own sets (the copy each request reads in the prefetch order) all lie in the
    window hits as a whole; other chunks are scanned request by request: one copy per
    address, the request's set against the window (a miss jumps to the first window holding
    it); several copies, a stamp per address of the last window that held it (a miss jumps to
    the first window holding a copy, from the copies' sets in a CSR)."""
    eps, fetch_rows, n, a, p, n0, nlp = user_sizes(pf.size, pf_size, size, bw)
    nb = start.size - 1
    nreq = 0
    for f in range(block_of.size):
        nreq += start[block_of[f] + 1] - start[block_of[f]]
    if nreq == 0 or p == 0 or pf.size == 0:
        return _take(mem, 0), _take(mem, 0), 0, 0, n0, nlp
    cnt = _filled(mem, span + 1, 0)
    for e in range(pf.size):
        cnt[pf[e] - lo + 1] += 1
    multi = False
    for x in range(1, span + 1):
        if cnt[x] > 1:
            multi = True
        cnt[x] += cnt[x - 1]  # cnt[x]: first copy of address x in the CSR
    # each template chunk's own sets: [cmin, cmax]
    cstart = _take(mem, nb + 1)
    nch = 0
    for b in range(nb):
        cstart[b] = nch
        nch += _cdiv(start[b + 1] - start[b], _CHUNK)
    cstart[nb] = nch
    cmin = _take(mem, nch)
    cspan = _take(mem, nch)
    for b in range(nb):
        ch = cstart[b]
        for e0 in range(start[b], start[b + 1], _CHUNK):
            mn, mx = _INF, -1
            for e in range(e0, min(e0 + _CHUNK, start[b + 1])):
                sv = pos[mid[e]]
                mn = min(mn, sv)
                mx = max(mx, sv)
            cmin[ch] = mn
            cspan[ch] = mx - mn
            ch += 1
    mrow = _take(mem, nreq)
    mk = _take(mem, nreq)
    nm = 0
    k = w = q = 0
    sets = stamp = _take(mem, 0)
    if multi:
        sets = _take(mem, pf.size)  # each copy's set, address-major, ascending
        fill = _take(mem, span)
        for x in range(span):
            fill[x] = cnt[x]
        st = j = 0
        for e in range(pf.size):
            x = pf[e] - lo
            sets[fill[x]] = st
            fill[x] += 1
            j += 1
            if j == eps:
                st += 1
                j = 0
        stamp = _filled(mem, span, -1)
        _enter(stamp, pf, lo, k, p, a, n, eps)
    for f in range(block_of.size):
        b = block_of[f]
        base = f * L
        ch = cstart[b]
        for e0 in range(start[b], start[b + 1], _CHUNK):
            d = cmin[ch] - q
            if d < 0:
                d += n
            ch += 1
            if d + cspan[ch - 1] < a:  # every own copy of the chunk is in the window
                continue
            for e in range(e0, min(e0 + _CHUNK, start[b + 1])):
                if not multi:  # the own copy is the only one
                    d = pos[mid[e]] - q
                    if d < 0:
                        d += n
                    if d < a:
                        continue
                    k = -((a - 1 - w - d) // p)  # miss: the first window holding w + d
                else:
                    x = addr[e] - lo
                    if stamp[x] == k:
                        continue
                    c0, c1 = cnt[x], cnt[x + 1]
                    c = c0
                    while c < c1 and sets[c] < q:
                        c += 1
                    if c < c1:
                        tt = w - q + sets[c]
                    else:  # past the last copy: the first copy, one lap on
                        tt = w - q + n + sets[c0]
                    k = -((a - 1 - tt) // p)
                    _enter(stamp, pf, lo, k, p, a, n, eps)
                w = k * p
                q = w % n
                mrow[nm] = base + row[e]
                mk[nm] = k
                nm += 1
    if k and nlp > fetch_rows:
        return mrow, mk, nm, -1, n0, nlp
    return mrow, mk, nm, k, n0, nlp


@njit(cache=True, error_model="numpy")
def _enter(stamp: np.ndarray, pf: np.ndarray, lo: int, k: int, p: int, a: int, n: int, eps: int) -> None:
    """Stamp the window after k moves (sets [k p, k p + a) mod n) with k."""
    s0 = (k * p) % n
    hi = s0 + a
    for e in range(s0 * eps, min(min(hi, n) * eps, pf.size)):
        stamp[pf[e] - lo] = k
    if hi > n:
        for e in range(min((hi - n) * eps, pf.size)):
            stamp[pf[e] - lo] = k


@njit(cache=True, error_model="numpy")
def _calc_generations(mem: np.ndarray, size: int, addr: np.ndarray, row: np.ndarray, start: np.ndarray,
                      block_of: np.ndarray, L: int, lo: int, span: int) -> tuple[np.ndarray, int, int, int, int]:
    """read_buffer_estimate_bw.py's generations: (row of each generation's last request, how
    many, distinct addresses of the unfinished one, g, npis)."""
    npis = size // 100
    g = 50 * npis
    nreq = 0
    for f in range(block_of.size):
        b = block_of[f]
        nreq += start[b + 1] - start[b]
    ends = _take(mem, nreq // g + 1 if g > 0 else 1)
    if nreq == 0:
        return ends, 0, 0, g, npis
    stamp = _filled(mem, span, -1)
    gen = cnt = ne = 0
    for f in range(block_of.size):
        b = block_of[f]
        base = f * L
        for e in range(start[b], start[b + 1]):
            x = addr[e] - lo
            if stamp[x] != gen:
                stamp[x] = gen
                cnt += 1
                if cnt == g:
                    ends[ne] = base + row[e]
                    ne += 1
                    gen += 1
                    cnt = 0
    return ends, ne, cnt, g, npis


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
def _offset(mrow: np.ndarray, mk: np.ndarray, nm: int, ptr: int, kprev: int, r: int, cyc: int,
            step: int) -> tuple[int, int, int]:
    """The read offset of row r (its new prefetches complete at -1 + j step, j after kprev up
    to the last move in the row): (offset, next pointer, moves after the row)."""
    o = 1
    while ptr < nm and mrow[ptr] == r:
        k = mk[ptr]
        for j in range(kprev + 1, k + 1):
            psc = -1 + j * step - (cyc + o)
            o += psc
            if psc > 0:
                o += psc
        kprev = k
        ptr += 1
    return o, ptr, kprev


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
    n = npx * win + win * nf + 2 * (cap_if + cap_f) + 2 * nfold + 4
    if user:  # own elements, prefetch orders and sets; per operand counts, chunks, CSR, stamps, moves
        n += 4 * (cap_if + cap_f) + 3 * (span_if + span_f) + 4 + 2 * (req_if + req_f)
        n += 2 * (cap_if + cap_f) + 4 * nfold + 4  # template chunks
    else:  # stamps and generation ends
        n += span_if + span_f + req_if + req_f + 2
    return n


@njit(cache=True, error_model="numpy")
def layer_kernel(geo: np.ndarray, df: int, R: int, C: int, user: bool, sizes: np.ndarray,
                 bws: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One layer: `geo` = (ifmap h, w, filter h, w, channels, filters, stride h, w, ifmap
    offset, filter offset), `sizes` = SRAM bytes (ifmap, filter, ofmap), `bws` = DRAM words a
    cycle (ifmap, filter, ofmap). Returns (the OUT_FIELDS ints, [sum of per-fold mapping
    efficiency, sum of per-fold compute utilisation])."""
    out = np.zeros(_N_OUT, dtype=np.int64)
    fl = np.zeros(2, dtype=np.float64)
    ih, iw, fh, fw, ch, nf, sh, sw = geo[0], geo[1], geo[2], geo[3], geo[4], geo[5], geo[6], geo[7]
    oh, ow = _cdiv(ih - fh + sh, sh), _cdiv(iw - fw + sw, sw)
    npx, win = oh * ow, fh * fw * ch
    if df == OS:
        sr, sc, t = npx, nf, win
    elif df == WS:
        sr, sc, t = win, nf, npx
    else:
        sr, sc, t = win, npx, nf
    rf, cf = _cdiv(sr, R), _cdiv(sc, C)
    nfold = rf * cf
    mem = np.empty(1 + _work_size(df, user, R, C, t, rf, cf, npx, win, nf, ih * iw * ch), dtype=np.int64)
    mem[0] = 1
    ifm, flt = _matrices(mem, ih, iw, fh, fw, ch, nf, sh, sw, oh, ow, geo[8], geo[9])
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
    if df != IS:
        if_a, if_r, if_s, if_m = _skew_templates(mem, ifm, if_tr, rf, t, R, lead_sk, user)
        if_of = fr_of
    else:
        if_a, if_r, if_s, if_m = _stationary_templates(mem, ifm, if_tr, R, C, rf, cf, user)
        if_of = ident
    nb_f, w_f = (cf, C) if os_ else (rf, R)
    if not ws_:
        f_a, f_r, f_s, f_m = _skew_templates(mem, flt, f_tr, nb_f, t, w_f, lead_sk, user)
        f_of = fc_of if os_ else fr_of
    else:
        f_a, f_r, f_s, f_m = _stationary_templates(mem, flt, f_tr, R, C, rf, cf, user)
        f_of = ident
    out[24] = nfold
    for f in range(nfold):
        nr = min(sr - fr_of[f] * R, R)
        nc = min(sc - fc_of[f] * C, C)
        fl[0] += (nr * nc) / (R * C)
        fl[1] += (nr * nc * t) / denom
    # ---- read buffers (timing-independent): USER window moves, CALC generation ends
    isz, fsz, osz = sizes[0], sizes[1], sizes[2]
    if_bw, f_bw, of_bw = bws[0], bws[1], bws[2]
    step_if = step_f = 1
    n0_if = n0_f = nl_if = nl_f = 0
    empty = np.empty(0, dtype=np.int64)
    if_mr, if_mk, f_mr, f_mk = empty, empty, empty, empty
    nm_if = nm_f = 0
    g_if_ends, g_f_ends = empty, empty
    ne_if = ne_f = rem_if = rem_f = g_if = g_f = np_if = np_f = 0
    if user:
        eps_if, eps_f = _cdiv(isz, 100), _cdiv(fsz, 100)
        if df != IS:
            pos_if = _take(mem, rf * t * R)
            pf_if, pfs_if = _pf_diag(mem, ifm, if_tr, rf, t, R, eps_if, pos_if), rf * t * R
        else:
            pos_if = _take(mem, sr * cf * C)
            pf_if, pfs_if = _pf_blocks(mem, ifm, if_tr, sr, cf, C, eps_if, pos_if), cf * sr * C
        if not ws_:
            pos_f = _take(mem, nb_f * t * w_f)
            pf_f, pfs_f = _pf_diag(mem, flt, f_tr, nb_f, t, w_f, eps_f, pos_f), nb_f * t * w_f
        else:
            pos_f = _take(mem, sr * cf * C)
            pf_f, pfs_f = _pf_blocks(mem, flt, f_tr, sr, cf, C, eps_f, pos_f), cf * sr * C
        if_mr, if_mk, nm_if, k_if, n0_if, nl_if = _user_moves(mem, pf_if, pfs_if, isz, if_bw, if_a, if_r,
                                                              if_s, if_m, pos_if, if_of, L, geo[8], ih * iw * ch)
        if k_if < 0:
            out[0] = 1
            return out, fl
        f_mr, f_mk, nm_f, k_f, n0_f, nl_f = _user_moves(mem, pf_f, pfs_f, fsz, f_bw, f_a, f_r, f_s, f_m, pos_f,
                                                        f_of, L, geo[9], win * nf)
        if k_f < 0:
            out[0] = 2
            return out, fl
        step_if, step_f = nl_if + 1, nl_f + 1
        out[3], out[4], out[5] = -n0_if, -1 + k_if * (nl_if + 1), (n0_if + k_if * nl_if) * if_bw
        out[6], out[7], out[8] = -n0_f, -1 + k_f * (nl_f + 1), (n0_f + k_f * nl_f) * f_bw
    else:
        g_if_ends, ne_if, rem_if, g_if, np_if = _calc_generations(mem, isz, if_a, if_r, if_s, if_of, L, geo[8],
                                                                  ih * iw * ch)
        g_f_ends, ne_f, rem_f, g_f, np_f = _calc_generations(mem, fsz, f_a, f_r, f_s, f_of, L, geo[9], win * nf)
    has_if, first_if, last_if = _span(if_r, if_s, if_of, L)
    has_f, first_f, last_f = _span(f_r, f_s, f_of, L)
    # ---- the rows, with the write buffer; then the CALC DRAM windows from the rows' cycles
    cyc_if_end = np.empty(ne_if, dtype=np.int64)
    cyc_f_end = np.empty(ne_f, dtype=np.int64)
    firsts = np.zeros(2, dtype=np.int64)
    _rows(out, firsts, df == OS, R, C, sr, sc, t, L, rf, cf, lead, user,
          if_mr, if_mk, nm_if, step_if, f_mr, f_mk, nm_f, step_f, g_if_ends, ne_if, cyc_if_end,
          g_f_ends, ne_f, cyc_f_end, first_if, last_if, first_f, last_f, osz, of_bw)
    if out[0]:
        return out, fl
    out[12], out[15] = has_if, has_f
    if not user:  # read_buffer_estimate_bw.py's DRAM start / stop
        if _calc_dram(out, 3, ne_if, rem_if, g_if, np_if, firsts[0], cyc_if_end):
            out[0] = 4
            return out, fl
        if _calc_dram(out, 6, ne_f, rem_f, g_f, np_f, firsts[1], cyc_f_end):
            out[0] = 5
            return out, fl
    return out, fl


# write buffer state slots (trace lines as run lengths in `runs`, rows head .. tail)
_FREE, _DEND, _LINE, _HEAD, _TAIL, _UND, _ACC, _DLO, _DHI, _ACT, _WANT, _BW, _CUR = range(13)


@njit(cache=True, error_model="numpy")
def _push(runs: np.ndarray, ws: np.ndarray, length: int, count: int) -> np.ndarray:
    """Append a run of `count` lines of `length`; the live runs moved to the front, and the
    array doubled if full, when out of room."""
    tail = ws[_TAIL]
    if tail == runs.shape[0]:
        head = ws[_HEAD]
        live = tail - head
        cap = runs.shape[0] * 2 if live * 2 > runs.shape[0] else runs.shape[0]
        grown = np.empty((cap, 2), dtype=np.int64)
        for i in range(live):
            grown[i, 0] = runs[head + i, 0]
            grown[i, 1] = runs[head + i, 1]
        runs = grown
        ws[_HEAD] = 0
        tail = live
    runs[tail, 0] = length
    runs[tail, 1] = count
    ws[_TAIL] = tail + 1
    return runs


@njit(cache=True, error_model="numpy")
def _store(runs: np.ndarray, ws: np.ndarray, j: int) -> np.ndarray:
    """write_buffer.py storing j elements: full trace lines become undrained runs."""
    bw = ws[_BW]
    ws[_FREE] -= j
    v = ws[_LINE] + j
    full = v // bw
    ws[_LINE] = v - full * bw
    if full:
        tail = ws[_TAIL]
        if tail > ws[_HEAD] and runs[tail - 1, 0] == bw:  # merged into the last run of full lines
            runs[tail - 1, 1] += full
        else:
            runs = _push(runs, ws, bw, full)
        ws[_UND] += full
    return runs


@njit(cache=True, error_model="numpy")
def _flush(runs: np.ndarray, ws: np.ndarray) -> np.ndarray:
    """The partial trace line, if any, becomes a line of its own."""
    if ws[_LINE]:
        runs = _push(runs, ws, ws[_LINE], 1)
        ws[_UND] += 1
        ws[_LINE] = 0
    return runs


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
def _write_row(runs: np.ndarray, ws: np.ndarray, cyc: int, count: int) -> np.ndarray:
    """`_Writer.row`: `count` writes from cycle `cyc`, stored in stretches up to the next one
    that stalls (full during a drain) or drains (below the active half after the last drain
    ended); the serviced cycle in ws[_CUR], -1 there if a drain found no lines."""
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
        runs = _store(runs, ws, j)
        if draining:
            cur = ws[_DEND]
        else:
            runs = _flush(runs, ws)
            if not _drain(runs, ws, cur):
                ws[_CUR] = -1
                return runs
        left -= j
    if left:
        runs = _store(runs, ws, left)
    ws[_CUR] = cur
    return runs


@njit(cache=True, error_model="numpy")
def _rows(out: np.ndarray, firsts: np.ndarray, os_counts: bool, R: int, C: int, sr: int, sc: int, t: int,
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
    ws[_WANT] = _cdiv(osz - ws[_ACT], of_bw)
    ws[_BW] = of_bw
    ws[_FREE] = osz
    ws[_DLO], ws[_DHI] = _INF, -_INF
    runs = np.empty((64, 2), dtype=np.int64)
    stall = 0
    ptr_if = ptr_f = kp_if = kp_f = ci_if = ci_f = 0
    first_w = -1
    cur = 0
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
                if ptr_if < nm_if and if_mr[ptr_if] == r:
                    o_if, ptr_if, kp_if = _offset(if_mr, if_mk, nm_if, ptr_if, kp_if, r, cyc, step_if)
                if ptr_f < nm_f and f_mr[ptr_f] == r:
                    o_f, ptr_f, kp_f = _offset(f_mr, f_mk, nm_f, ptr_f, kp_f, r, cyc, step_f)
            else:
                while ci_if < ne_if and if_ends[ci_if] == r:
                    cyc_if_end[ci_if] = cyc
                    ci_if += 1
                while ci_f < ne_f and f_ends[ci_f] == r:
                    cyc_f_end[ci_f] = cyc
                    ci_f += 1
            if r == first_if:
                firsts[0] = cyc
                out[13] = cyc + o_if
            if r == last_if:
                out[14] = cyc + o_if
            if r == first_f:
                firsts[1] = cyc
                out[16] = cyc + o_f
            if r == last_f:
                out[17] = cyc + o_f
            if count:
                runs = _write_row(runs, ws, cyc, count)
                cur = ws[_CUR]
                if cur < 0:
                    out[0] = 3
                    return
                if first_w < 0:
                    first_w = r
                    out[19] = cur
                out[20] = cur
            else:
                cur = cyc
            stall += max(max(cur - cyc, o_if - 1), o_f - 1)
    out[1] = cur
    out[2] = stall
    runs = _flush(runs, ws)  # empty_all_buffers: drain until nothing is left
    cycle = cur
    while ws[_UND] > 0:
        _drain(runs, ws, cycle)
        cycle = ws[_DEND] + 1
    out[9], out[10], out[11] = ws[_DLO], ws[_DHI], ws[_ACC]
    out[18] = 1 if first_w >= 0 else 0


@njit(cache=True, error_model="numpy")
def _calc_dram(out: np.ndarray, at: int, ne: int, rem: int, g: int, npis: int, frc: int,
               cyc: np.ndarray) -> bool:
    """(DRAM start, stop, reads) of a CALC read buffer into out[at:at + 3]; True where two
    prefetch windows end on one cycle (SCALE-Sim 3.0.0 fails there)."""
    out[at + 2] = ne * g + rem
    if ne == 0:  # complete_all_prefetches with no active-buffer prefetch done yet
        num_sets = _cdiv(rem, npis) if npis else 0
        out[at] = -_cdiv(num_sets * npis, 10)
        out[at + 1] = -1
        return False
    out[at] = (frc - 2 - _cdiv(g, 10) + 1) + 1
    win_start = frc - 1
    for j in range(1, ne):
        if cyc[j - 1] - win_start + 1 <= 0:
            return True
        win_start = cyc[j - 1] + 1
    if cyc[ne - 1] - win_start + 1 <= 0:
        return True
    out[at + 1] = cyc[ne - 1] + 1
    return False
