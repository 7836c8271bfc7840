"""Cycle-stepped bit-parallel MAC arrays (`hwsim.cores.mac_array`): systolic and tensor core.

Real integer codes move through PE registers every cycle; the output is the
integer GEMM (checked against `x @ w`) and the cycle count is *observed* (the
loop runs until the last product has been formed or the last output has left
the array), then compared with `Model.compute`.

Systolic R x C array, one fold (a mapping of one R x C block of the GEMM):

- OS (rows: M, cols: N). Row i of the array receives the activation row
  A[m0+i, :] from the left edge, delayed by i cycles (the skew); column j
  receives the weight column W[:, n0+j] from the top edge, delayed by j cycles.
  Every cycle operands shift one PE right / down; PE(i, j) multiplies the pair it
  holds and adds it into its stationary accumulator. The operand pair t meets in
  PE(i, j) in cycle t + i + j, so the fold ends when PE(R-1, C-1) has formed its
  T-th product: cycle T-1 + R-1 + C-1, i.e. T + R + C - 2 cycles (T = K). The
  outputs then leave the accumulators (not charged, as in SCALE-Sim 3.0).
- WS (rows: K, cols: N) and IS (rows: K, cols: M). First the stationary block
  (weights W[k0.., n0..] for WS, inputs A[m0.., k0..]^T for IS) shifts down from
  the top edge one row per cycle: R cycles. Then the streaming operand (the
  activation rows for WS, T = M; the weight columns for IS, T = N) enters row i
  from the left, skewed by i cycles, and moves right one PE per cycle; partial
  sums move down one PE per cycle, each PE adding its product; column j's sum for
  stream element t leaves the bottom row in cycle R + t + (R-1) + j. The fold ends
  when the last one has left: R + (T-1) + (R-1) + (C-1), i.e. 2R + C + T - 2
  cycles. WS/IS folds over K add their partial outputs (the accumulator buffer).

Partial folds are padded with zeros to the full R x C block and pay the full
skew (SCALE-Sim's convention). Folds run back to back. With a precision rate
r > 1 each PE holds r-element vectors along K (int4 at 2x: two products per PE
per cycle, K becomes ceil(K/r)); with rate 1/s every wavefront step takes s
cycles (registers hold while the multi-cycle multiplier works).

The count: `busy_cycles` = the cycles the array was busy. `cycles` follows the
`Spec`'s convention: in `scalesim_mode` SCALE-Sim reports the 0-based index of
the last busy cycle, so `cycles = busy_cycles - 1` (its "Total Cycles").

Tensor-core style: output tiles of tile_m x tile_n go to the `units` units in
waves; each cycle every busy unit loads a tile_m x tile_k block of A and a
tile_k x tile_n block of W into its operand registers and adds their product into
its accumulator tile; after ceil(K/tile_k) cycles the wave writes back.

Python loops over cycles are deliberate here (DESIGN.md rule 9); within a cycle
the PEs run as numpy array operations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from lowbit.hwsim.cores.base import Dataflow
from lowbit.hwsim.cores.mac_array import CoreStyle, Model, Spec
from lowbit.kernels_ref.errors import InvalidSpecError, UnsupportedFormatError
from lowbit.kernels_ref.formats import Format

__all__ = ["SimResult", "simulate"]


@dataclass(frozen=True)
class SimResult:
    output: np.ndarray   # int64 (M x N) GEMM result
    cycles: int          # in the Spec's convention (== Model.compute(...).cycles)
    busy_cycles: int     # cycles the array was busy
    folds: int           # folds (systolic) or waves x K steps (tensor core)


def _check_codes(codes: np.ndarray, fmt: Format, what: str) -> np.ndarray:
    if not fmt.is_integer:
        raise UnsupportedFormatError(f"cycle-stepped MAC array needs integer codes for {what}, got {fmt}")
    arr = np.asarray(codes)
    if arr.ndim != 2:
        raise InvalidSpecError(f"{what} must be a 2-D matrix, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer):
        raise InvalidSpecError(f"{what} must hold integer codes, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    if arr.size and (arr.min() < fmt.qmin or arr.max() > fmt.qmax):
        raise InvalidSpecError(f"{what} codes outside {fmt}'s range [{fmt.qmin}, {fmt.qmax}]")
    return arr


def _pack_k(mat: np.ndarray, axis: int, pack: int) -> np.ndarray:
    """Split the K axis into (ceil(K/pack), pack) vectors, zero-padded; K vector axis last."""
    k = mat.shape[axis]
    kp = -(-k // pack)
    pad = [(0, 0), (0, 0)]
    pad[axis] = (0, kp * pack - k)
    m = np.pad(mat, pad)
    if axis == 1:  # (M, K) -> (M, K', p)
        return m.reshape(m.shape[0], kp, pack)
    return m.reshape(kp, pack, m.shape[1]).transpose(0, 2, 1)  # (K, N) -> (K', N, p)


def _block(mat: np.ndarray, r0: int, rows: int, c0: int, cols: int) -> np.ndarray:
    """mat[r0:r0+rows, c0:c0+cols, ...] zero-padded to exactly (rows, cols, ...)."""
    part = mat[r0:r0 + rows, c0:c0 + cols]
    pad = [(0, rows - part.shape[0]), (0, cols - part.shape[1])] + [(0, 0)] * (mat.ndim - 2)
    return np.pad(part, pad)


def _stream_fold(stationary: np.ndarray, stream: np.ndarray, slow: int) -> tuple[np.ndarray, int]:
    """One WS/IS fold. stationary (R, C, p) sits in PE(i, j); stream (T, R, p) enters row i.

    Returns (Y (T, C) with Y[t, j] = sum_i stream[t, i] . stationary[i, j], busy cycles)."""
    rows, cols, p = stationary.shape
    t_len = stream.shape[0]
    s_reg = np.zeros((rows, cols, p), dtype=np.int64)
    x_reg = np.zeros((rows, cols, p), dtype=np.int64)
    x_tag = np.full((rows, cols), -1, dtype=np.int64)
    p_reg = np.zeros((rows, cols), dtype=np.int64)
    p_tag = np.full((rows, cols), -1, dtype=np.int64)
    out = np.zeros((t_len, cols), dtype=np.int64)
    got = np.zeros((t_len, cols), dtype=bool)
    row_idx = np.arange(rows)
    cycle = 0
    # load: the stationary block shifts down from the top edge, one row per cycle
    for step in range(rows):
        s_reg[1:] = s_reg[:-1]
        s_reg[0] = stationary[rows - 1 - step]
        cycle += slow
    step = 0
    while not got.all():
        # operands move right one PE; new skewed elements enter the left column
        x_reg[:, 1:] = x_reg[:, :-1]
        x_tag[:, 1:] = x_tag[:, :-1]
        t_in = step - row_idx
        live = (t_in >= 0) & (t_in < t_len)
        x_reg[:, 0] = 0
        x_reg[live, 0] = stream[t_in[live], row_idx[live]]
        x_tag[:, 0] = np.where(live, t_in, -1)
        # partial sums move down one PE; row 0 starts a new sum
        new_p = np.zeros_like(p_reg)
        new_tag = np.full_like(p_tag, -1)
        new_p[1:] = p_reg[:-1]
        new_tag[1:] = p_tag[:-1]
        new_tag[0] = x_tag[0]
        both = (new_tag >= 0) | (x_tag >= 0)
        if np.any(both & (new_tag != x_tag)):
            raise AssertionError("systolic skew broken: partial sum met the wrong operand")  # pragma: no cover
        new_p += np.einsum("ijq,ijq->ij", x_reg, s_reg)
        p_reg, p_tag = new_p, new_tag
        # the bottom row's sums leave the array
        done = p_tag[rows - 1] >= 0
        if np.any(done):
            t_out = p_tag[rows - 1][done]
            out[t_out, np.nonzero(done)[0]] = p_reg[rows - 1][done]
            got[t_out, np.nonzero(done)[0]] = True
        cycle += slow
        step += 1
    return out, cycle


def _os_fold(a_blk: np.ndarray, w_blk: np.ndarray, slow: int) -> tuple[np.ndarray, int]:
    """One OS fold. a_blk (R, T, p): row i's activation stream; w_blk (T, C, p): column j's."""
    rows, t_len, p = a_blk.shape
    cols = w_blk.shape[1]
    a_reg = np.zeros((rows, cols, p), dtype=np.int64)
    a_tag = np.full((rows, cols), -1, dtype=np.int64)
    w_reg = np.zeros((rows, cols, p), dtype=np.int64)
    w_tag = np.full((rows, cols), -1, dtype=np.int64)
    acc = np.zeros((rows, cols), dtype=np.int64)
    count = np.zeros((rows, cols), dtype=np.int64)
    row_idx, col_idx = np.arange(rows), np.arange(cols)
    cycle = step = 0
    while not np.all(count == t_len):
        a_reg[:, 1:] = a_reg[:, :-1]
        a_tag[:, 1:] = a_tag[:, :-1]
        t_a = step - row_idx
        live_a = (t_a >= 0) & (t_a < t_len)
        a_reg[:, 0] = 0
        a_reg[live_a, 0] = a_blk[row_idx[live_a], t_a[live_a]]
        a_tag[:, 0] = np.where(live_a, t_a, -1)
        w_reg[1:] = w_reg[:-1]
        w_tag[1:] = w_tag[:-1]
        t_w = step - col_idx
        live_w = (t_w >= 0) & (t_w < t_len)
        w_reg[0] = 0
        w_reg[0, live_w] = w_blk[t_w[live_w], col_idx[live_w]]
        w_tag[0] = np.where(live_w, t_w, -1)
        meet = (a_tag >= 0) & (w_tag >= 0)
        if np.any(meet & (a_tag != w_tag)) or np.any((a_tag >= 0) != (w_tag >= 0)):
            raise AssertionError("systolic skew broken: operands of different steps met")  # pragma: no cover
        acc += np.einsum("ijq,ijq->ij", a_reg, w_reg) * meet
        count += meet
        cycle += slow
        step += 1
    return acc, cycle


def _systolic(a: np.ndarray, w: np.ndarray, spec: Spec, dataflow: Dataflow,
              pack: int, slow: int) -> tuple[np.ndarray, int, int]:
    m, n = a.shape[0], w.shape[1]
    rows, cols = spec.rows, spec.cols
    ap = _pack_k(a, 1, pack)          # (M, K', p)
    wp = _pack_k(w, 0, pack)          # (K', N, p)
    kp = ap.shape[1]
    out = np.zeros((m, n), dtype=np.int64)
    busy = folds = 0
    if dataflow is Dataflow.OUTPUT_STATIONARY:
        for m0 in range(0, m, rows):
            for n0 in range(0, n, cols):
                a_blk = _block(ap, m0, rows, 0, kp)                      # (R, K', p)
                w_blk = _block(wp, 0, kp, n0, cols)                      # (K', C, p)
                acc, cyc = _os_fold(a_blk, w_blk, slow)
                mm, nn = min(rows, m - m0), min(cols, n - n0)
                out[m0:m0 + mm, n0:n0 + nn] += acc[:mm, :nn]
                busy += cyc
                folds += 1
    elif dataflow is Dataflow.WEIGHT_STATIONARY:
        for n0 in range(0, n, cols):
            for k0 in range(0, kp, rows):
                stat = _block(wp, k0, rows, n0, cols)                    # (R, C, p)
                stream = _block(ap, 0, m, k0, rows)                      # (M, R, p)
                y, cyc = _stream_fold(stat, stream, slow)                # (M, C)
                nn = min(cols, n - n0)
                out[:, n0:n0 + nn] += y[:, :nn]
                busy += cyc
                folds += 1
    elif dataflow is Dataflow.INPUT_STATIONARY:
        at = ap.transpose(1, 0, 2)                                       # (K', M, p)
        wt = wp.transpose(1, 0, 2)                                       # (N, K', p)
        for m0 in range(0, m, cols):
            for k0 in range(0, kp, rows):
                stat = _block(at, k0, rows, m0, cols)                    # (R, C, p)
                stream = _block(wt, 0, n, k0, rows)                      # (N, R, p)
                y, cyc = _stream_fold(stat, stream, slow)                # (N, C)
                mm = min(cols, m - m0)
                out[m0:m0 + mm, :] += y[:, :mm].T
                busy += cyc
                folds += 1
    else:
        raise InvalidSpecError(f"systolic array has no dataflow {getattr(dataflow, 'value', dataflow)!r}")
    return out, busy, folds


def _tensor_core(a: np.ndarray, w: np.ndarray, spec: Spec, pack: int, slow: int) -> tuple[np.ndarray, int, int]:
    m, n = a.shape[0], w.shape[1]
    tm, tn, tk = spec.tile_m, spec.tile_n, spec.tile_k * pack
    k = a.shape[1]
    tiles = [(m0, n0) for m0 in range(0, m, tm) for n0 in range(0, n, tn)]
    out = np.zeros((m, n), dtype=np.int64)
    busy = steps = 0
    for wave0 in range(0, len(tiles), spec.units):
        wave = tiles[wave0:wave0 + spec.units]
        acc = [np.zeros((tm, tn), dtype=np.int64) for _ in wave]
        for k0 in range(0, k, tk):
            for u, (m0, n0) in enumerate(wave):   # every unit, same cycle
                a_reg = _block(a, m0, tm, k0, tk)
                w_reg = _block(w, k0, tk, n0, tn)
                acc[u] += a_reg @ w_reg
            busy += slow
            steps += 1
        for u, (m0, n0) in enumerate(wave):
            mm, nn = min(tm, m - m0), min(tn, n - n0)
            out[m0:m0 + mm, n0:n0 + nn] = acc[u][:mm, :nn]
    return out, busy, steps


def simulate(x: np.ndarray, w: np.ndarray, wf: Format, af: Format, spec: Spec,
             dataflow: Dataflow | None = None) -> SimResult:
    """Run the (M x K) activation codes `x` times the (K x N) weight codes `w` on the array.

    `dataflow` defaults to the spec's first. The precision mode (and its rate) is the one
    `Model(spec).mode(wf, af)` picks."""
    if not isinstance(spec, Spec):
        raise InvalidSpecError(f"simulate needs a mac_array Spec, got {type(spec).__name__}")
    a = _check_codes(x, af, "activations")
    b = _check_codes(w, wf, "weights")
    if a.shape[1] != b.shape[0]:
        raise InvalidSpecError(f"GEMM shapes do not chain: {a.shape} x {b.shape}")
    model = Model(spec)
    if dataflow is None:
        dataflow = spec.dataflows[0]
    if dataflow not in spec.dataflows:
        raise InvalidSpecError(f"this core runs {[d.value for d in spec.dataflows]}, not {dataflow.value!r}")
    _, rate = model.mode(wf, af)
    pack = round(rate) if rate >= 1 else 1
    slow = round(1.0 / rate) if rate < 1 else 1
    m, k, n = a.shape[0], a.shape[1], b.shape[1]
    if m == 0 or k == 0 or n == 0:
        return SimResult(np.zeros((m, n), dtype=np.int64), 0, 0, 0)
    if spec.style is CoreStyle.SYSTOLIC:
        out, busy, folds = _systolic(a, b, spec, dataflow, pack, slow)
    elif spec.style is CoreStyle.TENSOR_CORE:
        out, busy, folds = _tensor_core(a, b, spec, pack, slow)
    else:
        raise InvalidSpecError(f"unknown mac_array style {spec.style!r}")
    cycles = busy - 1 if spec.scalesim_mode else busy
    return SimResult(out, cycles, busy, folds)
