"""SCALE-Sim 3.0.0's USER-mode read buffer (`memory/read_buffer.py`) on a request stream.

The prefetch order (non-null entries) is cut into sets of `eps = ceil(size/100)` entries; the
active window holds `a` sets and each miss moves it by `p` sets (mod the `n` sets). After k
moves the window is sets [k p, k p + a) mod n, so in unwrapped set coordinates it starts at
W = k p. A request whose address has a copy in set s hits iff some s + j n (j >= 0) lies in
[W, W + a); on a miss SCALE-Sim moves until it does. With T the first unwrapped copy at or
after W, the first k' > k that hits is ceil((T - a + 1) / p) (a >= p always: the active half
is at least the prefetch half; p = 0 only when the window holds every set).

`user_read_events` runs that rule two ways, both exact:

- one copy per address (filters, GEMM and non-overlapping conv ifmaps): a request's set is a
  table lookup, and consecutive requests of one set hit or miss together, so the rule runs in
  plain integers once per run of equal sets; a skewed block's runs are found once and
  replayed for every fold that issues the block;
- several copies (im2col duplicates of an overlapping conv ifmap): each address carries the
  move count of the last window that held it, each fold's block is scanned for the next miss
  in chunks, and a miss jumps straight to the first window holding a copy of its address (T
  from the copies sorted by (address, set)).

`user_read_events_stepped` is read_buffer.py's loop, one request and one move at a time
(window counts moved with `np.add.at`), kept as the reference (`simulate_layer(oracle=True)`).
"""

from __future__ import annotations

import math

import numpy as np
from lowbit.hwsim.scalesim_fast import OperandStream
from lowbit.kernels_ref.errors import InvalidSpecError

__all__ = ["UserBuffer", "events_from_moves", "user_buffer", "user_read_events", "user_read_events_stepped"]

Events = dict[int, list[int]]


class UserBuffer:
    """read_buffer.py's sizes for one operand: sets of `eps` prefetch entries, `n` sets, an
    active window of `a` sets moved by `p` sets per miss; `n0` lines fill the active buffer
    and each new prefetch is `nlp` lines of `fetch_rows`."""

    __slots__ = ("a", "eps", "fetch_rows", "n", "n0", "nlp", "p")

    def __init__(self, pf_entries: int, pf_size: int, size_bytes: int, bw: int) -> None:
        active = math.ceil(size_bytes * 0.5)
        pre = size_bytes - active
        self.eps = math.ceil(size_bytes / 100)
        self.fetch_rows = math.ceil(pf_size / bw)
        self.n = pf_entries // self.eps + 1
        self.a = min(math.ceil(active / self.eps), self.n)
        self.p = min(math.ceil(pre / self.eps), self.n - self.a)
        self.n0 = min(math.ceil(active / bw), self.fetch_rows)
        self.nlp = math.ceil(pre / bw)


def user_buffer(pf: np.ndarray, pf_size: int, size_bytes: int, bw: int) -> UserBuffer:
    return UserBuffer(pf.size, pf_size, size_bytes, bw)


def _checked_ids(pf: np.ndarray, stream: OperandStream, what: str,
                 trusted: bool = False) -> tuple[np.ndarray, int, int, np.ndarray]:
    """(prefetch ids, offset, span, copies per id): addresses shifted by the offset to start
    at 0; every demanded address must be in the prefetch order (not checked if `trusted`:
    the caller knows it is, and the ids span the prefetch order's addresses)."""
    if trusted and pf.size:
        lo = int(pf.min())
        ids = pf - lo
        return ids, lo, int(ids.max()) + 1, np.bincount(ids)
    vals = [v for v, _ in stream.blocks if v.size]
    dem = np.concatenate(vals) if len(vals) > 1 else vals[0]  # every address a block demands
    lo, hi = int(dem.min()), int(dem.max())
    if pf.size:
        lo, hi = min(lo, int(pf.min())), max(hi, int(pf.max()))
    ids = pf - lo
    cnt = np.bincount(ids, minlength=hi - lo + 1)
    if not cnt[dem - lo].all():
        raise _not_present(what)
    return ids, lo, hi - lo + 1, cnt


def _not_present(what: str) -> InvalidSpecError:
    return InvalidSpecError(f"scalesim: a {what} demand is not in its prefetch stream "
                            "(SCALE-Sim 3.0.0 would loop forever)")


def _check_prefetch_length(buf: UserBuffer, k: int, what: str) -> None:
    if k and buf.nlp > buf.fetch_rows:
        raise InvalidSpecError(f"scalesim: the {what} prefetch is longer than its whole fetch matrix "
                               "(SCALE-Sim 3.0.0 fails here in numpy.column_stack)")


def events_from_moves(rows: list[int], ks: list[int], step: int) -> Events:
    """{row: [completion cycle of each new prefetch made in it]} from the rows of the requests
    that move the window and the move count after each (prefetch k completes at -1 + k * step)."""
    events: Events = {}
    prev = 0
    for r, k in zip(rows, ks):
        new = list(range(-1 + (prev + 1) * step, k * step, step))
        lst = events.get(r)
        if lst is None:
            events[r] = new
        else:
            lst.extend(new)
        prev = k
    return events


def user_read_events(pf: np.ndarray, pf_size: int, stream: OperandStream, size_bytes: int,
                     bw: int, what: str, trusted: bool = False) -> tuple[Events, int, int, int]:
    """read_buffer.py on the non-null prefetch order `pf` (`pf_size` entries with the nulls) and
    the requests: ({row: [completion cycle of each new prefetch in it]}, K, N0, lines/prefetch).
    `trusted`: every demanded address is known to be in `pf` (not checked)."""
    buf = user_buffer(pf, pf_size, size_bytes, bw)
    if stream.size == 0:
        return {}, 0, buf.n0, buf.nlp
    ids, lo, span, cnt = _checked_ids(pf, stream, what, trusted)
    if buf.p == 0:  # the window holds every set: every present address hits
        return {}, 0, buf.n0, buf.nlp
    if int(cnt.max()) <= 1:
        sid = np.empty(span, dtype=np.int64)
        sid[ids] = np.arange(ids.size, dtype=np.int64) // buf.eps
        rows, ks = _moves_single(stream, sid, lo, buf)
    else:
        rows, ks = _moves_multi(stream, ids, lo, cnt, buf)
    k = ks[-1] if ks else 0
    _check_prefetch_length(buf, k, what)
    return events_from_moves(rows, ks, buf.nlp + 1), k, buf.n0, buf.nlp


def _moves_single(stream: OperandStream, sid: np.ndarray, lo: int, buf: UserBuffer) -> tuple[list[int], list[int]]:
    """Requests whose addresses have one copy each (set of address x: sid[x - lo]): (row of
    each request that moves the window, move count after it). Consecutive requests of one set
    hit or miss together, so the rule runs once per run of equal sets, in plain integers; the
    runs of a block are found once and replayed for each fold that issues it."""
    n, a, p = buf.n, buf.a, buf.p
    runs = []
    for v, r in stream.blocks:
        s = sid[v - lo]
        st = np.flatnonzero(np.diff(s, prepend=-1))
        runs.append((s[st].tolist(), r[st].tolist()))
    rows: list[int] = []
    ks: list[int] = []
    k = w = q = 0
    for f, b in enumerate(stream.fold_of):
        base = f * stream.fold_len
        sets, at = runs[b]
        for sv, r in zip(sets, at):
            d = (sv - q) % n
            if d >= a:  # miss: the first window holding w + d
                k = -((a - 1 - w - d) // p)
                w = k * p
                q = w % n
                rows.append(base + r)
                ks.append(k)
    return rows, ks


def _moves_multi(stream: OperandStream, ids: np.ndarray, lo: int, cnt: np.ndarray,
                 buf: UserBuffer) -> tuple[list[int], list[int]]:
    """Requests whose addresses may have several copies: (row of each request that moves the
    window, move count after it). Which addresses the window holds is a stamp per address
    (the move count of the last window that held it), each fold's block is scanned for the
    next miss in chunks, and a miss jumps straight to the first window holding a copy (T from
    the copies sorted by (address, set)); only the new window is stamped."""
    n, a, p, eps = buf.n, buf.a, buf.p, buf.eps
    span = cnt.size
    order = np.argsort(ids.astype(np.uint16) if span <= 1 << 16 else ids, kind="stable")
    order //= eps  # the set of each copy, address-major (sets ascending within an address)
    ids = ids.astype(np.intp, copy=False)  # index arrays: intp once, not a cast per window
    first = np.zeros(span + 1, dtype=np.int64)
    np.cumsum(cnt, out=first[1:])
    stamp = np.full(span, -1, dtype=np.int64)

    def enter(k: int) -> None:  # the window after k moves: sets [k p, k p + a) mod n
        s0 = (k * p) % n
        hi = s0 + a
        stamp[ids[s0 * eps:min(hi, n) * eps]] = k
        if hi > n:
            stamp[ids[:(hi - n) * eps]] = k

    enter(0)
    rows: list[int] = []
    ks: list[int] = []
    k = 0
    chunk = 2048
    blocks = [((v - lo).astype(np.intp, copy=False), r) for v, r in stream.blocks]
    for f, b in enumerate(stream.fold_of):
        dem, brow = blocks[b]
        base = f * stream.fold_len
        m = dem.size
        pos = 0
        while pos < m:
            hit = stamp[dem[pos:pos + chunk]] == k
            j = int(hit.argmin())  # the first miss, if any
            if hit[j]:
                pos += hit.size
                chunk = min(chunk * 2, 1 << 20)
                continue
            e = pos + j
            x = int(dem[e])
            w = k * p
            q = w % n
            c0, c1 = int(first[x]), int(first[x + 1])
            c = c0 + int(order[c0:c1].searchsorted(q))  # the first copy in a set >= q
            if c < c1:
                t = w - q + int(order[c])
            else:  # past the last copy: the first copy, one lap on
                t = w - q + n + int(order[c0])
            k = -((a - 1 - t) // p)  # ceil((t - a + 1) / p): the first window holding t
            rows.append(base + int(brow[e]))
            ks.append(k)
            enter(k)
            chunk = max(256, 2 * (e + 1 - pos))  # about twice the stretch to this miss
            pos = e + 1
    return rows, ks


def user_read_events_stepped(pf: np.ndarray, pf_size: int, stream: OperandStream,
                             size_bytes: int, bw: int, what: str) -> tuple[Events, int, int, int]:
    """The same as `user_read_events`, one miss at a time: the window's content is held as a
    count per address and moved with `np.add.at` (the reference)."""
    buf = user_buffer(pf, pf_size, size_bytes, bw)
    n_sets, a_sets, p_sets, eps, nlp = buf.n, buf.a, buf.p, buf.eps, buf.nlp
    events: Events = {}
    if stream.size == 0:
        return events, 0, buf.n0, nlp
    addr, rows = stream.arrays()
    ids, lo, span, _ = _checked_ids(pf, stream, what)
    dem = addr - lo
    cnt = np.zeros(span, dtype=np.int64)  # int64: np.add.at is ~100x faster than on int32

    def move(first_set: int, count: int, delta: int) -> None:
        s = first_set % n_sets
        while count > 0:
            take = min(count, n_sets - s)
            lo, hi = s * eps, min((s + take) * eps, pf.size)
            if lo < hi:
                np.add.at(cnt, ids[lo:hi], delta)
            count -= take
            s = 0

    move(0, a_sets, 1)
    k = 0
    step = nlp + 1
    for e in range(dem.size):
        x = dem[e]
        tries = 0
        while cnt[x] == 0:
            if p_sets == 0 or tries > n_sets:
                raise InvalidSpecError(f"scalesim: the {what} buffer cannot reach a demanded address "
                                       "(SCALE-Sim 3.0.0 would loop forever)")
            start = k * p_sets
            move(start, p_sets, -1)
            move(start + a_sets, p_sets, 1)
            k += 1
            tries += 1
            events.setdefault(int(rows[e]), []).append(-1 + k * step)
    _check_prefetch_length(buf, k, what)
    return events, k, buf.n0, nlp
