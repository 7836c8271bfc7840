"""SCALE-Sim 3.0.0's request streams without the per-cycle demand matrices.

`hwsim.scalesim_streams.streams` builds SCALE-Sim's demand matrices fold by fold (rows =
cycles, -1 = no request); the memory model (`hwsim.scalesim_mem`) only reads, per operand, the
non-null requests in service order with their row, the ofmap's writes per row and the
prefetch order. A systolic fold's demand is regular: each operand is either a skewed block
(element (i, c) of a t x W matrix at fold row lead + i + c, column c) or a stationary block
(row r of an R x C tile, reversed, at fold row R - 1 - r). `compact_streams` gathers those
requests per block once (a skewed block through a strided view, as SCALE-Sim's skew_matrix
lays it out) and keeps them as templates that each fold replays (`OperandStream`); the ofmap's
per-row counts come in closed form. The stream path stays as the oracle (tests hold the two
equal on random layers).
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

import numpy as np
from lowbit.hwsim.cores.base import Dataflow
from lowbit.hwsim.scalesim_streams import _pad
from lowbit.kernels_ref.errors import InvalidSpecError

__all__ = ["Compact", "OperandStream", "compact_streams"]


class OperandStream:
    """One read operand's requests in service order, as blocks: fold F issues block
    `fold_of[F]`'s addresses at rows F * fold_len + that block's rows. A skewed operand has one
    block per operand tile and folds that reuse it; a stationary operand (or a stream read off
    SCALE-Sim's matrices) is one block holding the whole stream. `arrays()` gives the whole
    stream (address and row of each request)."""

    __slots__ = ("_flat", "blocks", "counts", "fold_len", "fold_of", "starts", "width")

    def __init__(self, blocks: list[tuple[np.ndarray, np.ndarray]], fold_of: list[int], fold_len: int,
                 width: int) -> None:
        self.blocks = blocks
        self.width = width  # at most this many requests a row
        self.fold_of = fold_of
        self.fold_len = fold_len
        sizes = [int(v.size) for v, _ in blocks]
        self.counts = [sizes[b] for b in fold_of]
        self.starts = [0]
        for c in self.counts:
            self.starts.append(self.starts[-1] + c)
        self._flat: tuple[np.ndarray, np.ndarray] | None = None

    @classmethod
    def whole(cls, addr: np.ndarray, row: np.ndarray, width: int) -> OperandStream:
        return cls([(addr, row)], [0], 0, width)

    @property
    def size(self) -> int:
        return self.starts[-1]

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        if self._flat is None:
            if len(self.fold_of) == 1:
                v, r = self.blocks[self.fold_of[0]]
                self._flat = (v, r)
            else:
                self._flat = (np.concatenate([self.blocks[b][0] for b in self.fold_of]),
                              np.concatenate([self.blocks[b][1] + f * self.fold_len
                                              for f, b in enumerate(self.fold_of)]))
        return self._flat

    def addresses(self) -> np.ndarray:
        """The whole stream's addresses in service order (`arrays()[0]` without the rows)."""
        if self._flat is not None:
            return self._flat[0]
        if len(self.fold_of) == 1:
            return self.blocks[self.fold_of[0]][0]
        return np.concatenate([self.blocks[b][0] for b in self.fold_of])

    def row_at(self, e: int) -> int:
        """Row of request e (0 <= e < size)."""
        f = bisect_right(self.starts, e) - 1
        return int(self.blocks[self.fold_of[f]][1][e - self.starts[f]]) + f * self.fold_len

    def reuse_distance(self) -> int:
        """Fewest requests from one use of a block to its next (a large number if none is
        reused): with every address once per block, the least distance between two requests
        of one address."""
        last: dict[int, int] = {}
        best = 1 << 62
        for f, b in enumerate(self.fold_of):
            if self.counts[f]:
                if b in last:
                    best = min(best, self.starts[f] - self.starts[last[b]])
                last[b] = f
        return best


@dataclass(frozen=True)
class Compact:
    """Per operand, the non-null requests in service order (address, row), the ofmap writes
    per row, the prefetch order (non-null entries; its full size with nulls), report counts."""

    ifmap: OperandStream
    filt: OperandStream
    of_counts: np.ndarray
    if_pf: np.ndarray
    f_pf: np.ndarray
    if_pf_size: int
    f_pf_size: int
    ifmap_reads: int
    filter_reads: int
    ofmap_writes: int
    mapping_eff_per_fold: np.ndarray
    compute_util_per_fold: np.ndarray


def _skew_blocks(blocks: np.ndarray) -> np.ndarray:
    """Each (t, w) block skewed as SCALE-Sim's skew_matrix does: element (i, c) of block b at
    (b, i + c, c) of a (nb, t + w - 1, w) array of -1 (a strided view, one copy). Read
    row-major, a skewed block is its diagonal roll-out: diagonal i + c ascending, then c."""
    nb, t, w = blocks.shape
    out = np.full((nb, t + w - 1, w), -1, dtype=blocks.dtype)
    sz = out.itemsize
    view = np.lib.stride_tricks.as_strided(out, shape=(nb, t, w),
                                           strides=((t + w - 1) * w * sz, w * sz, (w + 1) * sz))
    view[...] = blocks
    return out


def _skewed(blocks: np.ndarray, fold_of: np.ndarray, lead: int, fold_len: int) -> OperandStream:
    """Requests of skewed blocks (nb, t, W): fold F uses block fold_of[F]."""
    nb, _, w = blocks.shape
    flat = _skew_blocks(blocks).reshape(nb, -1)  # (nb, (t+w-1)*w) in service order
    rows = lead + np.arange(flat.shape[1], dtype=np.int64) // w
    keep = flat != -1
    parts = [(flat[b][keep[b]], rows[keep[b]]) for b in range(nb)]
    return OperandStream(parts, fold_of.tolist(), fold_len, w)


def _stationary(tiles: np.ndarray, fold_len: int) -> OperandStream:
    """Requests of stationary tiles (nF, R, C), row r at fold row R - 1 - r."""
    nf, r, c = tiles.shape
    vals = tiles[:, ::-1, :].reshape(-1)
    rows = (np.arange(nf, dtype=np.int64)[:, None] * fold_len
            + np.repeat(np.arange(r, dtype=np.int64), c)[None, :]).reshape(-1)
    keep = vals != -1
    return OperandStream.whole(vals[keep], rows[keep], c)


def _skew_counts(lead: int, ia: np.ndarray, ib: np.ndarray, nc: np.ndarray, fold_len: int) -> np.ndarray:
    """Writes per row of skewed blocks whose valid part is rows [ia, ib) x cols [0, nc)."""
    rho = np.arange(fold_len, dtype=np.int64)[None, :] - lead
    hi = np.minimum(nc[:, None] - 1, rho - ia[:, None])
    lo = np.maximum(0, rho - ib[:, None] + 1)
    return np.maximum(hi - lo + 1, 0).reshape(-1)


def _pf_diag(m: np.ndarray) -> np.ndarray:
    """A prefetch matrix rolled out along its diagonals, each from its bottom row up, with
    -1 entries between them (the callers keep the non-null ones)."""
    return _skew_blocks(m[None]).reshape(-1)


def _pf_blocks(m: np.ndarray, nb: int, w: int) -> np.ndarray:
    """The column blocks of `m` (rows x nb*w) one after the other, each row-major."""
    return m.reshape(m.shape[0], nb, w).transpose(1, 0, 2).reshape(-1)


def compact_streams(ifmap: np.ndarray, filt: np.ndarray, rows: int, cols: int, dataflow: Dataflow,
                    with_prefetch: bool = True) -> Compact:
    """The requests of `scalesim_streams.streams(ifmap, filt, ofmap, rows, cols, dataflow)`."""
    R, C = rows, cols
    empty = np.zeros(0, dtype=np.int64)
    if dataflow is Dataflow.OUTPUT_STATIONARY:
        sr, sc, t = ifmap.shape[0], filt.shape[1], ifmap.shape[1]
    elif dataflow is Dataflow.WEIGHT_STATIONARY:
        sr, sc, t = ifmap.shape[1], filt.shape[1], ifmap.shape[0]
    elif dataflow is Dataflow.INPUT_STATIONARY:
        sr, sc, t = ifmap.shape[1], ifmap.shape[0], filt.shape[1]
    else:
        raise InvalidSpecError(f"scalesim: no dataflow {getattr(dataflow, 'value', dataflow)!r}")
    rf, cf = -(-sr // R), -(-sc // C)
    nfold = rf * cf
    fr_of = np.tile(np.arange(rf, dtype=np.int64), cf)
    fc_of = np.repeat(np.arange(cf, dtype=np.int64), rf)
    nr = np.minimum(sr - fr_of * R, R)
    nc = np.minimum(sc - fc_of * C, C)
    used = nr * nc
    sum_nr, sum_nc = int(nr.sum()), int(nc.sum())
    if_pf = f_pf = empty
    pre = with_prefetch
    if dataflow is Dataflow.OUTPUT_STATIONARY:
        L = t + R + C - 2
        ip = _pad(ifmap, rf * R, t).reshape(rf, R, t).transpose(0, 2, 1)  # (rf, t, R)
        fp = _pad(filt, t, cf * C).reshape(t, cf, C).transpose(1, 0, 2)  # (cf, t, C)
        if pre:
            if_pf, f_pf = _pf_diag(ip.reshape(rf * t, R)), _pf_diag(fp.reshape(cf * t, C))
        ifs = _skewed(ip, fr_of, 0, L)
        fs = _skewed(fp, fc_of, 0, L)
        of_counts = _skew_counts(t - 1, R - nr, np.full(nfold, R, dtype=np.int64), nc, L)
        nif, nf, nof = t * sum_nr, t * sum_nc, int(used.sum()) + nfold * (R + C)
        denom = R * C * L
        if_size, f_size = rf * t * R, cf * t * C
    elif dataflow is Dataflow.WEIGHT_STATIONARY:
        L = 2 * R + t + C - 2
        ip = _pad(ifmap, t, rf * R).reshape(t, rf, R).transpose(1, 0, 2)  # (rf, t, R)
        fsrc = _pad(filt, sr, cf * C)
        if pre:
            if_pf, f_pf = _pf_diag(ip.reshape(rf * t, R)), _pf_blocks(fsrc, cf, C)
        ifs = _skewed(ip, fr_of, R, L)
        tiles = _pad(fsrc, rf * R, cf * C).reshape(rf, R, cf, C).transpose(2, 0, 1, 3).reshape(nfold, R, C)
        fs = _stationary(tiles, L)
        of_counts = _skew_counts(2 * R - 1, np.zeros(nfold, dtype=np.int64),
                                 np.full(nfold, t, dtype=np.int64), nc, L)
        nif, nf, nof = t * sum_nr, int(used.sum()), t * sum_nc
        denom = R * C * (2 * R + 2 * C + t - 3)
        if_size, f_size = rf * t * R, cf * sr * C
    else:
        L = 2 * R + t + C - 2
        isrc = _pad(ifmap.T, sr, cf * C)
        fp = _pad(filt, rf * R, t).reshape(rf, R, t).transpose(0, 2, 1)  # (rf, t, R)
        if pre:
            if_pf, f_pf = _pf_blocks(isrc, cf, C), _pf_diag(fp.reshape(rf * t, R))
        tiles = _pad(isrc, rf * R, cf * C).reshape(rf, R, cf, C).transpose(2, 0, 1, 3).reshape(nfold, R, C)
        ifs = _stationary(tiles, L)
        fs = _skewed(fp, fr_of, R, L)
        of_counts = _skew_counts(2 * R - 1, np.zeros(nfold, dtype=np.int64),
                                 np.full(nfold, t, dtype=np.int64), nc, L)
        nif, nf, nof = int(used.sum()), t * sum_nr, t * sum_nc
        denom = R * C * (2 * R + 2 * C + t - 3)
        if_size, f_size = cf * sr * C, rf * t * R
    if pre:
        if_pf, f_pf = if_pf[if_pf != -1], f_pf[f_pf != -1]
    else:
        if_size = f_size = 0
    return Compact(ifmap=ifs, filt=fs, of_counts=of_counts,
                   if_pf=if_pf, f_pf=f_pf, if_pf_size=if_size, f_pf_size=f_size,
                   ifmap_reads=nif, filter_reads=nf, ofmap_writes=nof,
                   mapping_eff_per_fold=used / (R * C), compute_util_per_fold=used * t / denom)
