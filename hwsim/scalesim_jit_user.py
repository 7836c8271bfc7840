"""SCALE-Sim 3.0.0's USER-mode read buffer (`memory/read_buffer.py`) for one operand, compiled
(numba), for `hwsim.scalesim_jit.layer_kernel`.

The same rule as `hwsim.scalesim_read`: the prefetch order's non-null entries are cut into sets
of eps; after k moves the window holds sets [k p, k p + a) mod n; a request hits iff one of
its address's copies is in the window, and a miss jumps to the first window holding the copy
at the least offset from the window start (ceil((T - a + 1) / p), T that copy's unwrapped set).

The requests are walked straight from the operand's address matrix (no per-request stream):

- a skewed operand's prefetch matrix is its blocks stacked (nb t x w); the prefetch order rolls
  it out diagonal by diagonal, and fold f issues block b's diagonal d (elements (i, d - i) by
  column) at fold row lead + d. The request's own copy (its element in the prefetch order)
  lies in the global diagonal b t + d, whose entries are one contiguous stretch of the
  prefetch order;
- a stationary operand's prefetch matrix (rows x cf C) is read column block after column
  block, row-major; fold f (fr, fc) issues source row fr R + R - 1 - j of block fc at fold
  row j, one contiguous stretch of the prefetch order.

So each such chunk (a diagonal, a tile row) has its own copies within the sets of one stretch:
where that set range lies in the window the whole chunk hits (checked in O(1)); other chunks
are scanned: set by set where each address has one copy (a request's only copy is its own,
so a set's requests hit or miss together), else request by request (im2col duplicates: their
sets ascending in a CSR). A skewed im2col ifmap is generated from the conv geometry
(`conv_tables`), its copies per address counted in closed form.
"""

from __future__ import annotations

import numpy as np
from lowbit.hwsim.scalesim_jit_base import U, at, cdiv, filled, take
from numba import njit

__all__ = ["conv_tables", "user_moves", "user_sizes"]


@njit(cache=True, error_model="numpy")
def user_sizes(pf_entries: int, pf_size: int, size: int, bw: int) -> tuple[int, int, int, int, int, int, int]:
    """read_buffer.py's sizes (scalesim_read.UserBuffer): (eps, fetch rows, n, a, p, N0, lines a
    prefetch)."""
    active = (size + 1) // 2
    pre = size - active
    eps = cdiv(size, 100)
    fetch_rows = cdiv(pf_size, bw)
    n = pf_entries // eps + 1
    a = min(cdiv(active, eps), n)
    p = min(cdiv(pre, eps), n - a)
    return eps, fetch_rows, n, a, p, min(cdiv(active, bw), fetch_rows), cdiv(pre, bw)


@njit(cache=True, error_model="numpy")
def conv_tables(mem: np.ndarray, ih: int, iw: int, fh: int, fw: int, ch: int, sh: int, sw: int, oh: int,
                ow: int) -> np.ndarray:
    """The im2col ifmap of operand_matrix.py in factored form: element (p, k) (pixel p, window
    element k = (cr fw + cc) ch + c) is base[p] + koff[k] (offset not added), -1 where
    pixel row + cr >= ih or pixel col + cc >= iw. Layout: [npx, win, ih, iw, holes (any -1),
    fh, fw, ch, sh, sw, oh, ow], then pixel row, pixel col, base (npx each), cr, cc, koff (win
    each)."""
    npx, win = oh * ow, fh * fw * ch
    tab = take(mem, _TAB + 3 * npx + 3 * win)
    tab[0], tab[1], tab[2], tab[3] = npx, win, ih, iw
    tab[4] = int((oh - 1) * sh + fh - 1 >= ih or (ow - 1) * sw + fw - 1 >= iw)
    tab[5], tab[6], tab[7], tab[8], tab[9], tab[10], tab[11] = fh, fw, ch, sh, sw, oh, ow
    for p in range(npx):
        irow = (p // ow) * sh
        icol = (p % ow) * sw
        tab[_TAB + p] = irow
        tab[_TAB + npx + p] = icol
        tab[_TAB + 2 * npx + p] = (irow * iw + icol) * ch
    k = _TAB + 3 * npx
    for cr in range(fh):
        for cc in range(fw):
            for c in range(ch):
                tab[k] = cr
                tab[k + win] = cc
                tab[k + 2 * win] = (cr * iw + cc) * ch + c
                k += 1
    return tab


_TAB = 12  # conv_tables' header


@njit(cache=True, error_model="numpy")
def _conv_counts(tab: np.ndarray, cnt: np.ndarray) -> int:
    """The copies of each im2col address in closed form (cnt[x + 1], x = (y iw + xw) ch + c:
    the windows (oy, cr) with oy sh + cr = y times those (ox, cc) with ox sw + cc = xw; an
    element past the input edge is -1, no copy); returns their sum."""
    ih, iw, fh, fw, ch, sh, sw, oh, ow = tab[2], tab[3], tab[5], tab[6], tab[7], tab[8], tab[9], tab[10], tab[11]
    cov_r = np.zeros(ih, dtype=np.int64)  # small: not from the work array
    cov_c = np.zeros(iw, dtype=np.int64)
    for oy in range(oh):
        for cr in range(fh):
            if oy * sh + cr < ih:
                cov_r[U(oy * sh + cr)] += 1
    for ox in range(ow):
        for cc in range(fw):
            if ox * sw + cc < iw:
                cov_c[U(ox * sw + cc)] += 1
    col_sum = 0
    for xw in range(iw):
        col_sum += cov_c[U(xw)]
    x, total = 1, 0
    for y in range(ih):
        r = cov_r[U(y)]
        total += r * col_sum
        if ch == 1:
            for xw in range(iw):
                cnt[U(x + xw)] = r * cov_c[U(xw)]
            x += iw
        else:
            for xw in range(iw):
                v = r * cov_c[U(xw)]
                for c in range(ch):
                    cnt[U(x + c)] = v
                x += ch
    return total * ch


@njit(cache=True, error_model="numpy")
def _gen_run(tab: np.ndarray, trans: bool, r: int, col: int, m: int, pf: np.ndarray, n: int) -> int:
    """m entries of an im2col source diagonal from conv_tables (source (r - j, col + j), j < m;
    the source is (pixel, k), or (k, pixel) if trans) appended to pf from n (not counted:
    _conv_counts); the new n."""
    npx, win, ih, iw = tab[0], tab[1], tab[2], tab[3]
    pr, pc, pb = _TAB, _TAB + npx, _TAB + 2 * npx
    kr, kc, ko = _TAB + 3 * npx, _TAB + 3 * npx + win, _TAB + 3 * npx + 2 * win
    if trans:  # pixel col + j, window element r - j
        p0, k0, dp, dk = col, r, 1, -1
    else:
        p0, k0, dp, dk = r, col, -1, 1
    if tab[4] == 0:  # no -1 in the matrix: one add a copy (strides as literals: vectorised)
        if trans:
            for j in range(m):
                pf[U(n + j)] = tab[U(pb + p0 + j)] + tab[U(ko + k0 - j)]
        else:
            for j in range(m):
                pf[U(n + j)] = tab[U(pb + p0 - j)] + tab[U(ko + k0 + j)]
        return n + m
    for j in range(m):
        p, k = p0 + j * dp, k0 + j * dk
        if tab[U(pr + p)] + tab[U(kr + k)] < ih and tab[U(pc + p)] + tab[U(kc + k)] < iw:
            pf[U(n)] = tab[U(pb + p)] + tab[U(ko + k)]
            n += 1
    return n


@njit(cache=True, error_model="numpy")
def _prefetch(mem: np.ndarray, a: np.ndarray, tab: np.ndarray, trans: bool, skewed: bool, nb: int, t: int,
              w: int, rows: int, lo: int, span: int,
              count: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The prefetch order's non-null entries (address - lo), a count per address (span + 1
    slots, counts at x + 1; empty unless `count`), the prefetch index where each chunk's stretch starts (skewed:
    one per global diagonal; stationary: one per (column block, row); one more at the end)
    and, skewed, where block b's diagonal d (the requests of a fold issuing b at its row lead
    + d, in the same order) lies in the prefetch order: entries [seg[2 (b nd + d)], seg[2 (b
    nd + d) + 1]), nd = t + w - 1 (stationary: empty; a chunk's requests are its stretch). A
    skewed source given by `tab` (conv_tables: the im2col ifmap, offset lo) is generated, not
    read from `a`."""
    if skewed:
        m = nb * t
        nchunk = m + w - 1
    else:
        nchunk = nb * rows
    pf = take(mem, nb * t * w if skewed else nb * rows * w)
    cnt = filled(mem, span + 1 if count else 0, 0)
    pstart = take(mem, nchunk + 1)
    n = 0
    seg = take(mem, 0)
    if skewed:  # a diagonal's segments, one per block, each with its bounds clipped
        nd = t + w - 1
        seg = take(mem, 2 * nb * nd)
        gen = tab.size > 0
        if gen:
            sh0, sh1 = (tab[1], tab[0]) if trans else (tab[0], tab[1])
        elif trans:
            sh0, sh1 = a.shape[1], a.shape[0]
        else:
            sh0, sh1 = a.shape[0], a.shape[1]
        for dg in range(nchunk):
            pstart[dg] = n
            c = max(0, dg - m + 1)
            c1 = min(w - 1, dg)
            while c <= c1:
                ii = dg - c
                b = ii // t
                i = ii - b * t
                ce = min(c1, c + i)  # block b's part: i down to 0
                lc = max(c, c + i - sh0 + 1)  # rows past the source's edge: -1
                hc = min(ce, sh1 - b * w - 1)  # columns past it: -1
                r, col = i - (lc - c), b * w + lc
                s0 = 2 * (b * nd + i + c)  # segment (b, d = dg - b t = i + c)
                seg[s0] = n
                if gen:
                    if hc >= lc:
                        n = _gen_run(tab, trans, r, col, hc - lc + 1, pf, n)
                    seg[s0 + 1] = n
                    c = ce + 1
                    continue
                for _ in range(lc, hc + 1):
                    v = a[U(col), U(r)] if trans else a[U(r), U(col)]
                    if v != -1:
                        pf[U(n)] = v - lo
                        if count:
                            cnt[U(v - lo + 1)] += 1
                        n += 1
                    r -= 1
                    col += 1
                seg[s0 + 1] = n
                c = ce + 1
    else:
        for b in range(nb):
            for r in range(rows):
                pstart[b * rows + r] = n
                for c in range(w):
                    v = at(a, trans, r, b * w + c)
                    if v != -1:
                        pf[U(n)] = v - lo
                        if count:
                            cnt[U(v - lo + 1)] += 1
                        n += 1
    pstart[nchunk] = n
    if count and skewed and tab.size > 0 and _conv_counts(tab, cnt) != n:
        cnt[0] = -1  # a lowbit bug (the tests hold the counts equal): no CSR is built on them
    return pf[:n], cnt, pstart, seg


@njit(cache=True, error_model="numpy")
def _offset_of(x: int, q: int, n: int, cnt: np.ndarray, sets: np.ndarray) -> int:
    """The least (s - q) mod n over the sets s of address x's copies."""
    c0, c1 = cnt[U(x)], cnt[U(x + 1)]
    c = c0
    while c < c1 and sets[U(c)] < q:
        c += 1
    if c < c1:
        return sets[U(c)] - q
    return sets[U(c0)] + n - q  # past the last copy: the first copy, one lap on


@njit(cache=True, error_model="numpy")
def user_moves(mem: np.ndarray, a: np.ndarray, tab: np.ndarray, trans: bool, skewed: bool, nb: int, t: int,
               w: int, rows: int, R: int, rf: int, block_of: np.ndarray, L: int, lead: int, size: int, bw: int,
               lo: int, span: int, distinct: bool) -> tuple[np.ndarray, np.ndarray, int, int, int, int, int, int]:
    """read_buffer.py for one operand: (row of each request that moves the window, move count
    after it, how many, K (-1 where the prefetch is longer than its whole matrix; -2 where the
    closed-form copy counts miss the walk's entries, a bug), N0, lines a prefetch, row of the
    first request, row of the last; -1, -1 without requests).

    Skewed: blocks of t x w from source `a` (element (i, c) of block b = `at(a, trans, i, b w +
    c)`), fold f issuing block block_of[f]; where `tab` is not empty the source is the im2col
    ifmap it describes (conv_tables), `a` unread. Stationary: the source is rows x nb w (nb = cf
    column blocks of w = C), fold f = fc rf + fr issuing tile rows of R. `distinct`: the
    source's addresses are known to differ (the filter), so none is counted."""
    pf, cnt, pstart, seg = _prefetch(mem, a, tab, trans, skewed, nb, t, w, rows, lo, span, not distinct)
    pf_size = nb * t * w if skewed else nb * rows * w
    eps, fetch_rows, n, aa, p, n0, nlp = user_sizes(pf.size, pf_size, size, bw)
    if cnt.size and cnt[0] < 0:
        return take(mem, 0), take(mem, 0), 0, -2, n0, nlp, -1, -1
    nfold = block_of.size
    first, last = _first_last(a, trans, skewed, t, w, R, rf, block_of, L, lead, seg)
    if first < 0 or p == 0:  # no request, or the window holds every set: every request hits
        return take(mem, 0), take(mem, 0), 0, 0, n0, nlp, first, last
    multi = False
    for x in range(1, span + 1 if not distinct else 0):
        if cnt[U(x)] > 1:
            multi = True
        cnt[U(x)] += cnt[U(x - 1)]  # cnt[x]: the first copy of address x in the CSR
    nchunk = pstart.size - 1
    slo = take(mem, nchunk)  # each stretch's sets: slo .. slo + sext (sext -1: empty)
    sext = take(mem, nchunk)
    for ch in range(nchunk):
        if pstart[ch + 1] > pstart[ch]:
            slo[ch] = pstart[ch] // eps
            sext[ch] = (pstart[ch + 1] - 1) // eps - slo[ch]
        else:
            slo[ch] = 0
            sext[ch] = -1
    sets = memo = take(mem, 0)
    npf = pf.size
    if multi:  # (one copy an address: a request's only copy is its own, set e // eps)
        memo = filled(mem, span, -1)  # per address: the last move count whose window held it
        sets = take(mem, npf)  # each copy's set, address-major, ascending within one
        _fill_sets(pf, cnt, sets, take(mem, span), eps)
    cap = 64
    mrow = np.empty(cap, dtype=np.int64)
    mk = np.empty(cap, dtype=np.int64)
    nm = k = ww = q = 0
    b = fr = fc = r_s = 0
    for f in range(nfold):
        base = f * L
        if skewed:
            b = block_of[f]
            nrow = t + w - 1
        else:
            fr, fc = f % rf, f // rf
            nrow = R
        for d in range(nrow):
            if skewed:
                ch = b * t + d
            else:
                r_s = fr * R + R - 1 - d  # the source row of tile row R - 1 - d
                if r_s >= rows:
                    continue
                ch = fc * rows + r_s
            ext = sext[ch]
            if ext < 0:
                continue
            o = slo[ch] - q
            if o < 0:
                o += n
            if o + ext < aa:  # every own copy of the chunk is in the window
                continue
            if skewed:  # the chunk's requests: its entries in the prefetch order
                e0, e1 = seg[2 * (b * nrow + d)], seg[2 * (b * nrow + d) + 1]
            else:
                e0, e1 = pstart[ch], pstart[ch + 1]
            row = base + lead + d if skewed else base + d
            if not multi:  # one copy each: a set's requests hit or miss together, in order
                for st in range(e0 // eps, (e1 - 1) // eps + 1 if e1 > e0 else 0):
                    o = st - q
                    if o < 0:
                        o += n
                    if o >= aa:  # the set's first request misses, the window then holds it
                        mrow, mk, nm, cap, k, ww, q = _miss(mrow, mk, nm, cap, row, aa, ww, o, p, n)
                continue
            e = e0
            while e < e1:
                e, o = _scan_copies(pf, memo, cnt, sets, e, e1, k, q, n, aa)
                if e == e1:
                    break
                mrow, mk, nm, cap, k, ww, q = _miss(mrow, mk, nm, cap, row, aa, ww, o, p, n)
                e += 1
    if k and nlp > fetch_rows:
        return mrow, mk, nm, -1, n0, nlp, first, last
    return mrow, mk, nm, k, n0, nlp, first, last


@njit(cache=True, error_model="numpy")
def _fill_sets(pf: np.ndarray, cnt: np.ndarray, sets: np.ndarray, fill: np.ndarray, eps: int) -> None:
    """The CSR: each copy's set (its prefetch index // eps), address-major from cnt's starts,
    ascending within an address."""
    for x in range(fill.size):
        fill[U(x)] = cnt[U(x)]
    npf = pf.size
    for st in range(cdiv(npf, eps)):  # set st: entries st eps .. (st + 1) eps
        for e in range(st * eps, min(npf, st * eps + eps)):
            x = pf[U(e)]
            sets[U(fill[U(x)])] = st
            fill[U(x)] += 1


@njit(cache=True, error_model="numpy")
def _scan_copies(pf: np.ndarray, memo: np.ndarray, cnt: np.ndarray, sets: np.ndarray, e: int, e1: int, k: int,
                 q: int, n: int, aa: int) -> tuple[int, int]:
    """Requests pf[e:e1] (im2col copies) after k moves, window start q, up to the first that
    misses: (its index and offset; e1 if none). An address found in the window after k moves
    keeps k (memo), so its copies are scanned once a window."""
    while e < e1:
        x = pf[U(e)]
        if memo[U(x)] != k:
            o = _offset_of(x, q, n, cnt, sets)
            if o >= aa:
                return e, o
            memo[U(x)] = k
        e += 1
    return e1, 0


@njit(cache=True, error_model="numpy")
def _miss(mrow: np.ndarray, mk: np.ndarray, nm: int, cap: int, row: int, aa: int, ww: int, o: int, p: int,
          n: int) -> tuple[np.ndarray, np.ndarray, int, int, int, int, int]:
    """A read miss at offset o past the window start ww: the first window k holding ww + o, its
    start and phase, recorded as (row, k) at nm (the records grown to twice `cap` when full)."""
    k = -((aa - 1 - ww - o) // p)
    ww = k * p
    if nm == cap:
        cap *= 2
        mrow = _grown(mrow, cap)
        mk = _grown(mk, cap)
    mrow[nm] = row
    mk[nm] = k
    return mrow, mk, nm + 1, cap, k, ww, ww % n


@njit(cache=True, error_model="numpy")
def _grown(x: np.ndarray, cap: int) -> np.ndarray:
    out = np.empty(cap, dtype=np.int64)
    for i in range(x.size):
        out[i] = x[i]
    return out


@njit(cache=True, error_model="numpy")
def _first_last(a: np.ndarray, trans: bool, skewed: bool, t: int, w: int, R: int, rf: int,
                block_of: np.ndarray, L: int, lead: int, seg: np.ndarray) -> tuple[int, int]:
    """Rows of the operand's first and last requests (-1, -1 if none)."""
    nfold = block_of.size
    first = last = -1
    for f in range(nfold):
        r = _fold_row(a, trans, skewed, t, w, R, rf, block_of, f, False, seg)
        if r >= 0:
            first = f * L + (lead + r if skewed else r)
            break
    for f in range(nfold - 1, -1, -1):
        r = _fold_row(a, trans, skewed, t, w, R, rf, block_of, f, True, seg)
        if r >= 0:
            last = f * L + (lead + r if skewed else r)
            break
    return first, last


@njit(cache=True, error_model="numpy")
def _fold_row(a: np.ndarray, trans: bool, skewed: bool, t: int, w: int, R: int, rf: int,
              block_of: np.ndarray, f: int, from_end: bool, seg: np.ndarray) -> int:
    """The first (or last) row of fold f, relative to its chunk rows, with a request; -1 if none
    (skewed: block b's diagonal d has one iff its segment of the prefetch order is not empty)."""
    nrow = t + w - 1 if skewed else R
    for dd in range(nrow):
        d = nrow - 1 - dd if from_end else dd
        if skewed:
            s0 = 2 * (block_of[f] * nrow + d)
            if seg[s0 + 1] > seg[s0]:
                return d
        else:
            fr, fc = f % rf, f // rf
            for c in range(w):
                if at(a, trans, fr * R + R - 1 - d, fc * w + c) != -1:
                    return d
    return -1
