"""Cycle-stepped binary (AND/XOR + popcount) MMA array.

Moves real bits: activation codes are bit-transposed into packed 32-bit words
(`pack_words_per_cycle` words per cycle), then each of `units` MMA units takes
one (tile_m x tile_k) x (tile_k x tile_n) one-bit tile from the work queue and
holds it `tile_cycles` cycles, producing AND/XOR-popcount partial sums of packed
words; finally the shift-add epilogue retires `epilogue_ops_per_cycle`
accumulations per cycle into the int64 output. The cycle count equals
`hwsim.cores.binary_tensor_core.Model.compute` and the output equals the
integer GEMM of the codes (tests hold both).

Plane decomposition (value = sum_i coef_i * bit_i + offset):
INT b two's complement: coef 2^i, sign plane -2^(b-1); UINT b: 2^i;
ternary (2-bit two's complement): coefs (1, -2); binary {-1,+1}: coef 2, offset -1.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
from lowbit.hwsim.cores.binary_tensor_core import Spec, bit_planes
from lowbit.kernels_ref.errors import InvalidSpecError
from lowbit.kernels_ref.formats import Format, FormatKind

__all__ = ["SimResult", "decompose", "simulate"]


@dataclass(frozen=True)
class SimResult:
    output: np.ndarray
    cycles: int
    pack_cycles: int
    mma_cycles: int
    epilogue_cycles: int


def decompose(codes: np.ndarray, fmt: Format) -> tuple[list[tuple[int, np.ndarray]], int]:
    """Split integer codes into (coefficient, 0/1 plane) pairs plus a constant offset."""
    codes = np.asarray(codes, dtype=np.int64)
    n = bit_planes(fmt)
    if fmt.kind is FormatKind.BINARY:
        return [(2, (codes > 0).astype(np.uint8))], -1
    lo, hi = fmt.qmin, fmt.qmax
    if codes.size and (codes.min() < lo or codes.max() > hi):
        raise InvalidSpecError(f"codes outside {fmt}'s range [{lo}, {hi}]")
    u = codes & ((1 << n) - 1)  # two's complement bit pattern
    signed = fmt.kind is not FormatKind.UINT
    planes = []
    for i in range(n):
        coef = -(1 << i) if (signed and i == n - 1) else (1 << i)
        planes.append((coef, ((u >> i) & 1).astype(np.uint8)))
    return planes, 0


def _pack_rows(bits: np.ndarray, k_pad: int) -> list[list[int]]:
    """Pack a 0/1 matrix [rows, K] into per-row lists of 32-bit words (LSB first)."""
    rows, k = bits.shape
    padded = np.zeros((rows, k_pad), dtype=np.uint8)
    padded[:, :k] = bits
    words = np.packbits(padded.reshape(rows, -1, 32), axis=2, bitorder="little")
    as_u32 = words.view("<u4").reshape(rows, -1)
    return [[int(v) for v in r] for r in as_u32]


def simulate(x_codes: np.ndarray, w_codes: np.ndarray, w_fmt: Format, a_fmt: Format,
             spec: Spec) -> SimResult:
    """Run x[M,K] @ w[K,N] on one binary core, cycle by cycle."""
    x = np.asarray(x_codes, dtype=np.int64)
    w = np.asarray(w_codes, dtype=np.int64)
    if x.ndim != 2 or w.ndim != 2 or x.shape[1] != w.shape[0]:
        raise InvalidSpecError(f"shapes {x.shape} and {w.shape} do not multiply")
    s = spec
    m, k = x.shape
    n = w.shape[1]
    if s.tile_k % 32:
        raise InvalidSpecError("cycle-stepped binary array needs tile_k to be a multiple of 32")
    a_planes, a_off = decompose(x, a_fmt)
    w_planes, w_off = decompose(w, w_fmt)
    tm = -(-m // s.tile_m)
    tn = -(-n // s.tile_n)
    tk = -(-k // s.tile_k)
    m_pad, n_pad, k_pad = tm * s.tile_m, tn * s.tile_n, tk * s.tile_k
    words_per_tile = s.tile_k // 32

    # Weights are packed offline (column-major: one word list per output column).
    w_words = [_pack_rows(p.T, k_pad) + [[0] * (k_pad // 32)] * (n_pad - n) for _, p in w_planes]

    # ---- phase 1: run-time bit-transpose of activations, pack_words_per_cycle words/cycle
    pack_queue = deque((pi, r, c) for pi in range(len(a_planes)) for r in range(m) for c in range(-(-k // 32)))
    a_words = [[[0] * (k_pad // 32) for _ in range(m_pad)] for _ in a_planes]
    cycle = 0
    while pack_queue:
        cycle += 1
        for _ in range(min(s.pack_words_per_cycle, len(pack_queue))):
            pi, r, c = pack_queue.popleft()
            bits = a_planes[pi][1][r, c * 32:(c + 1) * 32]
            a_words[pi][r][c] = int(sum(int(b) << j for j, b in enumerate(bits)))
    pack_cycles = cycle

    # ---- phase 2: one-bit MMAs on `units` units, each busy tile_cycles cycles
    partial = np.zeros((len(a_planes), len(w_planes), m_pad, n_pad), dtype=np.int64)
    work = deque((i, j, bm, bn, bk) for i in range(len(a_planes)) for j in range(len(w_planes))
                 for bm in range(tm) for bn in range(tn) for bk in range(tk))
    busy: list[tuple[int, tuple[int, int, int, int, int]]] = []  # (cycles left, tile)
    xor = s.logic_op == "xor"
    start = cycle
    while work or busy:
        cycle += 1
        while work and len(busy) < s.units:
            busy.append((s.tile_cycles, work.popleft()))
        still = []
        for left, tile in busy:
            if left > 1:
                still.append((left - 1, tile))
                continue
            i, j, bm, bn, bk = tile
            for r in range(bm * s.tile_m, (bm + 1) * s.tile_m):
                arow = a_words[i][r][bk * words_per_tile:(bk + 1) * words_per_tile]
                for col in range(bn * s.tile_n, (bn + 1) * s.tile_n):
                    wcol = w_words[j][col][bk * words_per_tile:(bk + 1) * words_per_tile]
                    if xor:  # popc(a XOR w) counts mismatches: a.w = popc(a) + popc(w) - popc(a^w) over 2
                        acc = sum((aw.bit_count() + ww.bit_count() - (aw ^ ww).bit_count()) // 2
                                  for aw, ww in zip(arow, wcol))
                    else:
                        acc = sum((aw & ww).bit_count() for aw, ww in zip(arow, wcol))
                    partial[i, j, r, col] += acc
        busy = still
    mma_cycles = cycle - start

    # ---- phase 3: shift-add epilogue, epilogue_ops_per_cycle accumulations per cycle
    out = np.zeros((m_pad, n_pad), dtype=np.int64)
    ops = deque((i, j) for i in range(len(a_planes)) for j in range(len(w_planes)))
    offset = a_off != 0 or w_off != 0
    xs = sum(c * p.astype(np.int64) for c, p in a_planes).sum(axis=1)  # row sums, found while packing
    ws = sum(c * p.astype(np.int64) for c, p in w_planes).sum(axis=0)  # column sums, packed offline
    per_plane = m_pad * n_pad
    total_ops = (len(ops) + int(offset)) * per_plane
    done = 0
    start = cycle
    flat_out = out.reshape(-1)
    while done < total_ops:
        cycle += 1
        hi = min(done + s.epilogue_ops_per_cycle, total_ops)
        for op in range(done, hi):
            plane, idx = divmod(op, per_plane)
            r, col = divmod(idx, n_pad)
            if plane < len(ops):
                i, j = ops[plane]
                flat_out[idx] += a_planes[i][0] * w_planes[j][0] * partial[i, j, r, col]
            elif r < m and col < n:
                flat_out[idx] += w_off * xs[r] + a_off * ws[col] + k * a_off * w_off
        done = hi
    epilogue_cycles = cycle - start
    return SimResult(out[:m, :n].copy(), cycle, pack_cycles, mma_cycles, epilogue_cycles)
