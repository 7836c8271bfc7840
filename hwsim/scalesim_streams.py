"""SCALE-Sim 3.0.0's request streams, built with numpy: operand address matrices, the
per-cycle SRAM demand matrices of the os/ws/is systolic dataflows, and the DRAM prefetch
order of each read operand.

Mirrors `scalesim/compute/operand_matrix.py` and `compute/systolic_compute_{os,ws,is}.py`
(sparsity off), fold by fold, including their conventions:

- an ifmap window position past the input edge (SCALE-Sim's ceil output size) is the
  null request -1;
- folds run column-fold outer, row-fold inner; each fold's demand carries the fill/drain
  gaps and the systolic skew of SCALE-Sim (`skew_matrix`);
- the OFMAP write count adds R + C per os fold (`ofmap_writes += shape[0] + shape[1]` in
  `systolic_compute_os.create_ofmap_demand_mat`), as SCALE-Sim's report does;
- prefetch matrices of the operands SCALE-Sim "rolls out along the diagonal" are read
  diagonal by diagonal, bottom row first (os: both; ws: ifmap; is: filter).

`streams(layer, cfg)` returns a `Streams`; `hwsim.scalesim_mem` runs the memory model on it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from lowbit.hwsim.cores.base import Dataflow
from lowbit.kernels_ref.errors import InvalidSpecError

__all__ = ["Streams", "address_dtype", "operand_matrices", "streams"]


@dataclass(frozen=True)
class Streams:
    """Demand matrices (rows = cycles, -1 = no request), prefetch orders and report counts."""

    ifmap_demand: np.ndarray
    filter_demand: np.ndarray
    ofmap_demand: np.ndarray
    ifmap_prefetch: np.ndarray  # 1-D, SCALE-Sim's prefetch matrix flattened (with -1 entries)
    filter_prefetch: np.ndarray
    ifmap_reads: int
    filter_reads: int
    ofmap_writes: int
    mapping_eff_per_fold: tuple[float, ...]
    compute_util_per_fold: tuple[float, ...]


def address_dtype(ifmap_h: int, ifmap_w: int, filter_h: int, filter_w: int, channels: int,
                  num_filters: int, offsets: tuple[int, int, int]) -> type:
    """int32 where every ifmap/filter address (and the -1 null) fits it, else int64: the
    request streams carry addresses only, and half the bytes halve their copies."""
    top = max(offsets[0] + ifmap_h * ifmap_w * channels,
              offsets[1] + filter_h * filter_w * channels * num_filters)
    return np.int32 if top < 1 << 31 and min(offsets[:2]) >= 0 else np.int64


def operand_matrices(ifmap_h: int, ifmap_w: int, filter_h: int, filter_w: int, channels: int,
                     num_filters: int, stride_h: int, stride_w: int, offsets: tuple[int, int, int],
                     dtype: type = np.int64,
                     with_ofmap: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(ifmap Mpx x K, filter K x N, ofmap Mpx x N) address matrices (operand_matrix.py), the
    ifmap and filter in `dtype` (int64, or int32 where `address_dtype` allows); the ofmap
    matrix only if `with_ofmap` (the compact path never reads it)."""
    oh = math.ceil((ifmap_h - filter_h + stride_h) / stride_h)
    ow = math.ceil((ifmap_w - filter_w + stride_w) / stride_w)
    npx, win = oh * ow, filter_h * filter_w * channels
    i = np.arange(npx, dtype=dtype)[:, None]
    j = np.arange(win, dtype=dtype)[None, :]
    orow, ocol = np.divmod(i, ow)
    irow, icol = orow * stride_h, ocol * stride_w
    window_addr = (irow * ifmap_w + icol) * channels
    c_row, k = np.divmod(j, filter_w * channels)
    c_col, c_ch = np.divmod(k, channels)
    internal = (c_row * ifmap_w + c_col) * channels + c_ch + offsets[0]
    if (oh - 1) * stride_h + filter_h <= ifmap_h and (ow - 1) * stride_w + filter_w <= ifmap_w:
        ifmap = window_addr + internal  # every window inside the input: no null entry
    else:
        valid = (c_row + irow < ifmap_h) & (c_col + icol < ifmap_w)
        ifmap = np.where(valid, window_addr + internal, -1)
    filt = (np.arange(num_filters, dtype=dtype)[None, :] * win
            + np.arange(win, dtype=dtype)[:, None] + offsets[1])
    if not with_ofmap:
        return ifmap, filt, None
    ofmap = (num_filters * np.arange(npx, dtype=np.int64)[:, None]
             + np.arange(num_filters, dtype=np.int64)[None, :] + offsets[2])
    return ifmap, filt, ofmap


def _pad(a: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """`a` padded with -1 to rows x cols (bottom / right)."""
    if a.shape == (rows, cols):
        return a
    out = np.full((rows, cols), -1, dtype=a.dtype)
    out[: a.shape[0], : a.shape[1]] = a
    return out


def _skew(a: np.ndarray) -> np.ndarray:
    """SCALE-Sim's skew_matrix: column c delayed by c rows."""
    rows, cols = a.shape
    out = np.full((rows + cols - 1, cols), -1, dtype=np.int64)
    # element (i, c) goes to (i + c, c): flat i * cols + c * (cols + 1), a strided view of `out`
    view = np.lib.stride_tricks.as_strided(out, shape=(rows, cols),
                                           strides=(cols * out.itemsize, (cols + 1) * out.itemsize))
    view[...] = a
    return out


def _gap(rows: int, cols: int) -> np.ndarray:
    return np.full((rows, cols), -1, dtype=np.int64)


def _diag(a: np.ndarray) -> np.ndarray:
    """SCALE-Sim's diagonal roll-out: diagonals in order, each from its bottom row up."""
    m, n = a.shape
    r = np.arange(m)[:, None]
    c = np.arange(n)[None, :]
    key = (r + c) * m + (m - 1 - r)  # diagonal, then row descending; unique per element
    order = np.argsort(key, axis=None, kind="stable")
    return a.reshape(-1)[order]


def _cat_folds(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts, axis=0) if len(parts) > 1 else parts[0]


def streams(ifmap: np.ndarray, filt: np.ndarray, ofmap: np.ndarray, rows: int, cols: int,
            dataflow: Dataflow, with_prefetch: bool = True) -> Streams:
    """SCALE-Sim's demand and prefetch matrices for one layer on an R x C array."""
    R, C = rows, cols
    ifd, fd, od, ifp, fp = [], [], [], [], []
    eff: list[float] = []
    util: list[float] = []
    nif = nf = nof = 0
    if dataflow is Dataflow.OUTPUT_STATIONARY:
        sr, sc, t = ifmap.shape[0], filt.shape[1], ifmap.shape[1]
        ift = ifmap.T
        rf, cf = -(-sr // R), -(-sc // C)
        for fc in range(cf):
            c0, c1 = fc * C, min(fc * C + C, sc)
            for fr in range(rf):
                r0, r1 = fr * R, min(fr * R + R, sr)
                nif += t * (r1 - r0)
                ifd.append(_skew(np.vstack((_pad(ift[:, r0:r1], t, R), _gap(C - 1, R)))))
                nf += t * (c1 - c0)
                fd.append(_skew(np.vstack((_pad(filt[:, c0:c1], t, C), _gap(R - 1, C)))))
                tile = ofmap[r0:r1, c0:c1]
                nof += tile.size + R + C
                tile = np.vstack((_gap(t - 1, C), _pad(tile, R, C)[::-1]))
                used = (r1 - r0) * (c1 - c0)
                eff.append(used / (R * C))
                util.append(used * t / (R * C * (tile.shape[0] + C - 1)))
                od.append(_skew(tile))
        if with_prefetch:
            ifp = [_diag(_cat_folds([_pad(ift[:, fr * R:min(fr * R + R, sr)], t, R) for fr in range(rf)]))]
            fp = [_diag(_cat_folds([_pad(filt[:, fc * C:min(fc * C + C, sc)], t, C) for fc in range(cf)]))]
    elif dataflow is Dataflow.WEIGHT_STATIONARY:
        sr, sc, t = ifmap.shape[1], filt.shape[1], ifmap.shape[0]
        rf, cf = -(-sr // R), -(-sc // C)
        for fc in range(cf):
            c0, c1 = fc * C, min(fc * C + C, sc)
            for fr in range(rf):
                r0, r1 = fr * R, min(fr * R + R, sr)
                nif += t * (r1 - r0)
                ifd.append(_skew(np.vstack((_gap(R, R), _pad(ifmap[:, r0:r1], t, R), _gap(C - 1, R)))))
                used = (r1 - r0) * (c1 - c0)
                nf += used
                tile = np.vstack((_pad(filt[r0:r1, c0:c1], R, C)[::-1], _gap(R + C + t - 2, C)))
                eff.append(((R * C) - (R * C - used)) / (R * C))
                util.append(used * t / (R * C * (tile.shape[0] + C - 1)))
                fd.append(tile)
                nof += t * (c1 - c0)
                od.append(_skew(np.vstack((_gap(2 * R - 1, C), _pad(ofmap[:, c0:c1], t, C)))))
        if with_prefetch:
            ifp = [_diag(_cat_folds([_pad(ifmap[:, fr * R:min(fr * R + R, sr)], t, R) for fr in range(rf)]))]
            fp = [_cat_folds([_pad(filt[:, fc * C:min(fc * C + C, sc)], sr, C) for fc in range(cf)]).reshape(-1)]
    elif dataflow is Dataflow.INPUT_STATIONARY:
        ift = ifmap.T
        sr, sc, t = ifmap.shape[1], ifmap.shape[0], filt.shape[1]
        rf, cf = -(-sr // R), -(-sc // C)
        for fc in range(cf):
            c0, c1 = fc * C, min(fc * C + C, sc)
            for fr in range(rf):
                r0, r1 = fr * R, min(fr * R + R, sr)
                used = (r1 - r0) * (c1 - c0)
                nif += used
                tile = np.vstack((_pad(ift[r0:r1, c0:c1], R, C)[::-1], _gap(R + C + t - 2, C)))
                eff.append(used / (R * C))
                util.append(used * t / (R * C * (tile.shape[0] + C - 1)))
                ifd.append(tile)
                nf += t * (r1 - r0)
                fd.append(_skew(np.vstack((_gap(R, R), _pad(filt[r0:r1, :].T, t, R), _gap(C - 1, R)))))
                nof += t * (c1 - c0)
                od.append(_skew(np.vstack((_gap(2 * R - 1, C), _pad(ofmap[c0:c1, :].T, t, C)))))
        if with_prefetch:
            ifp = [_cat_folds([_pad(ift[:, fc * C:min(fc * C + C, sc)], sr, C) for fc in range(cf)]).reshape(-1)]
            fp = [_diag(_cat_folds([_pad(filt[fr * R:min(fr * R + R, sr), :].T, t, R) for fr in range(rf)]))]
    else:
        raise InvalidSpecError(f"scalesim: no dataflow {getattr(dataflow, 'value', dataflow)!r}")
    empty = np.zeros(0, dtype=np.int64)
    return Streams(
        ifmap_demand=_cat_folds(ifd), filter_demand=_cat_folds(fd), ofmap_demand=_cat_folds(od),
        ifmap_prefetch=ifp[0] if ifp else empty, filter_prefetch=fp[0] if fp else empty,
        ifmap_reads=nif, filter_reads=nf, ofmap_writes=nof,
        mapping_eff_per_fold=tuple(eff), compute_util_per_fold=tuple(util))
