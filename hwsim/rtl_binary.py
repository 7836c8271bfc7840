"""RTL binary tensor core (`rtl_src/binary_tc.sv`) under Verilator: the feeder.

The feeder writes the command stream of `hwsim.cyclesim.binary`'s schedule (pack queue
(plane, row, word), MMA work queue (act plane, weight plane, M tile, N tile, K tile) on
`units` units of `tile_cycles` cycles, shift-add epilogue ops plane-major) with addresses;
the RTL does every bit transpose, AND/XOR-popcount, shift and add, and holds every packed
word, partial sum and output. Weights are packed offline (as the model says) and loaded
before the run, with their column sums; the testbench counts the cycles the core is active.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from lowbit.hwsim.cores.binary_tensor_core import Spec, bit_planes
from lowbit.hwsim.cyclesim.binary import decompose
from lowbit.hwsim.rtl import (
    RtlResult,
    build,
    cycles_line,
    result_values,
    run_testbench,
)
from lowbit.kernels_ref.errors import InvalidSpecError
from lowbit.kernels_ref.formats import Format

__all__ = ["BINARY_LIMITS", "simulate_binary"]

# memory depths of one build (MAXM, MAXN padded rows / columns; MAXKW 32-bit words of K)
BINARY_LIMITS = {"MAXM": 32, "MAXN": 32, "MAXKW": 8}


def _coef(c: int) -> tuple[int, int]:
    """(shift, negate) of a +-2^s coefficient."""
    mag = abs(int(c))
    if mag & (mag - 1) or mag == 0:
        raise InvalidSpecError(f"internal: plane coefficient {c} is not +-2^s")
    return mag.bit_length() - 1, int(c < 0)


def _words(bits: np.ndarray, k_pad: int) -> np.ndarray:
    """0/1 [rows, K] -> uint32 words [rows, k_pad/32], LSB first."""
    rows, k = bits.shape
    p = np.zeros((rows, k_pad), dtype=np.uint8)
    p[:, :k] = bits
    return np.packbits(p.reshape(rows, -1, 32), axis=2, bitorder="little").view("<u4").reshape(rows, -1)


def simulate_binary(x: np.ndarray, w: np.ndarray, wf: Format, af: Format, spec: Spec,
                    cache_dir: Path | None = None) -> RtlResult:
    """x[M,K] @ w[K,N] (integer codes) on the RTL binary tensor core."""
    if not isinstance(spec, Spec):
        raise InvalidSpecError("RTL binary check needs a binary_tensor_core Spec")
    s = spec
    if s.tile_k % 32 or s.tile_k % s.tile_cycles:
        raise InvalidSpecError("RTL binary core needs tile_k a multiple of 32 and of tile_cycles")
    a = np.asarray(x, dtype=np.int64)
    b = np.asarray(w, dtype=np.int64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise InvalidSpecError(f"GEMM shapes do not chain: {a.shape} x {b.shape}")
    m, k = a.shape
    n = b.shape[1]
    a_planes, a_off = decompose(a, af)
    w_planes, w_off = decompose(b, wf)
    if m == 0 or k == 0 or n == 0:
        return RtlResult(np.zeros((m, n), dtype=np.int64), 0, 0)
    tm, tn, tk = -(-m // s.tile_m), -(-n // s.tile_n), -(-k // s.tile_k)
    m_pad, n_pad, k_pad = tm * s.tile_m, tn * s.tile_n, tk * s.tile_k
    kw = k_pad // 32
    lim = BINARY_LIMITS
    if m_pad > lim["MAXM"] or n_pad > lim["MAXN"] or kw > lim["MAXKW"]:
        raise InvalidSpecError(f"RTL binary core holds at most {lim['MAXM']} x {lim['MAXKW'] * 32} x "
                               f"{lim['MAXN']} (padded), got {m_pad} x {k_pad} x {n_pad}")
    pa, pw = len(a_planes), len(w_planes)
    lines: list[str] = []
    # ---- pack: (plane, row, word) queue, pack_words_per_cycle lanes; codes as 0/1 plane source
    # the lanes take the codes' two's-complement bit patterns (binary {-1,+1}: the stored bit)
    # and pick bit `plane` of each: the bit transpose is the RTL's
    u = (a > 0).astype(np.int64) if a_off else a & ((1 << pa) - 1)
    queue = [(pi, r, c) for pi in range(pa) for r in range(m) for c in range(-(-k // 32))]
    for q0 in range(0, len(queue), s.pack_words_per_cycle):
        fields = []
        for lane in range(s.pack_words_per_cycle):
            if q0 + lane < len(queue):
                pi, r, c = queue[q0 + lane]
                sh, neg = _coef(a_planes[pi][0])
                chunk = np.zeros(32, dtype=np.int64)
                part = u[r, c * 32:(c + 1) * 32]
                chunk[:part.size] = part
                fields.append(f"1 {pi} {r} {sh} {neg} {(pi * m_pad + r) * kw + c} {int(pi == 0 and c == 0)} "
                              + " ".join(f"{int(v):x}" for v in chunk))
            else:
                fields.append("0 0 0 0 0 0 0 " + " ".join(["0"] * 32))
        lines.append("1 " + " ".join(fields))
    # ---- MMA: rounds of `units` tiles, each held tile_cycles cycles
    work = [(i, j, bm, bn, bk) for i in range(pa) for j in range(pw)
            for bm in range(tm) for bn in range(tn) for bk in range(tk)]
    wpt = s.tile_k // 32
    for q0 in range(0, len(work), s.units):
        fields = []
        for u in range(s.units):
            if q0 + u < len(work):
                i, j, bm, bn, bk = work[q0 + u]
                fields.append(f"1 {int(bk == 0)} {(i * m_pad + bm * s.tile_m) * kw + bk * wpt} "
                              f"{(j * n_pad + bn * s.tile_n) * kw + bk * wpt} "
                              f"{((i * pw + j) * m_pad + bm * s.tile_m) * n_pad + bn * s.tile_n}")
            else:
                fields.append("0 0 0 0 0")
        lines.append("2 " + " ".join(fields))
        lines += ["0"] * (s.tile_cycles - 1)
    # ---- epilogue: plane-major ops (+ one offset plane), epilogue_ops_per_cycle lanes
    pairs = [(i, j) for i in range(pa) for j in range(pw)]
    offset = a_off != 0 or w_off != 0
    per_plane = m_pad * n_pad
    total = (len(pairs) + int(offset)) * per_plane
    e_lanes = s.epilogue_ops_per_cycle
    for o0 in range(0, total, e_lanes):
        fields = []
        for lane in range(e_lanes):
            op = o0 + lane
            if op >= total:
                fields.append("0 0 0 0 0 0 0 0 0")
                continue
            plane, idx = divmod(op, per_plane)
            r, c = divmod(idx, n_pad)
            if plane < len(pairs):
                i, j = pairs[plane]
                sh, neg = _coef(a_planes[i][0] * w_planes[j][0])
                fields.append(f"1 {int(plane == 0)} 0 {r} {c} {((i * pw + j) * m_pad + r) * n_pad + c} "
                              f"{idx} {sh} {neg}")
            else:
                fields.append(f"1 0 1 {r} {c} 0 {idx} 0 0")
        lines.append("3 " + " ".join(fields))
    # ---- offline weights: packed words and column sums
    wl = []
    for j, (_, p) in enumerate(w_planes):
        words = _words(p.T, k_pad)                       # [n, kw]
        for col in range(n):
            for q in range(kw):
                if words[col, q]:
                    wl.append(f"{(j * n_pad + col) * kw + q} {int(words[col, q]):x}")
    ws = sum(c * p.astype(np.int64) for c, p in w_planes).sum(axis=0)
    wsl = [f"{col} {int(ws[col])}" for col in range(n)]
    header = (f"{len(lines)} {len(wl)} {len(wsl)} {kw} {n_pad} {int(a_off != 0)} {int(w_off != 0)} "
              f"{k * a_off * w_off} {m_pad * n_pad} {int(s.logic_op == 'xor')}\n")
    stream = header + "".join(v + "\n" for v in wl + wsl + lines)
    params = {"TM": s.tile_m, "TN": s.tile_n, "TK": s.tile_k, "TC": s.tile_cycles, "U": s.units,
              "PW": s.pack_words_per_cycle, "E": e_lanes, "AB": 8,
              "NPA": max(8, bit_planes(af)), "NPW": max(8, bit_planes(wf)), "ACCW": s.accumulator_bits,
              **lim}
    binary = build(("bmma_unit.sv", "binary_tc.sv", "tb_binary_tc.sv"), params, cache_dir)
    got = run_testbench(binary, stream)
    vals = result_values(got, m_pad * n_pad, "binary core")
    busy = cycles_line(got)
    return RtlResult(vals.reshape(m_pad, n_pad)[:m, :n].copy(), busy, busy)
