"""Cycle-stepped LUT Tensor Core cluster: builds tables and looks them up cycle by cycle.

Moves real values. Phase 1 (table precompute): `precompute_adders` adders each own
one table (one activation row x one group of K activations) at a time and do one
add per cycle: the first stored entry (pattern -..-+, top weight bit set) takes
K-1 adds, then the other 2^(K-1) - 1 entries follow in Gray-code order, each the
previous one +-2x_j. Unfused, the precompute is a kernel of its own: `launch_cycles`
idle cycles, then the adders run while activations are read and tables written at
`precompute_bytes_per_cycle`; the phase ends when both are done. Fused, the same adds run
in the previous operator (reported as `precompute_cycles`, not in `cycles`). Phase 2 (lookups):
`units` LUT units each take one tile operation (weight plane i, M-tile, N-tile,
K-tile) per cycle and, for each of its M x N lanes, read the table entry indexed
by the K plane bits of the lane's column (the mirrored half negated) and shift-add
it (coefficient of plane i) into the lane's accumulator; `pipeline_depth` cycles of fill
follow the last lookup (0 by default; 1 for the RTL tile, `rtl_src/lut_tc.sv`). Finally each output gets
its offset correction from the row sum (the all-ones entries):
out = (acc + sum_i coef_i * rowsum) / 2 + offset * rowsum.

The cycle count equals `hwsim.cores.lut_tensor_core.Model.compute` and the output
equals `kernels_ref.lut.lut_gemm` (tests hold both). A GEMM that the fast model sends to
the side MMA path (`mac_*_macs_per_cycle`, when it finishes sooner or the LUT units cannot
take the formats) is stepped there instead: `rate` products accumulated per cycle. Tables are kept exact (the
INT8 table quantisation of the hardware is `kernels_ref.lut`'s `table_quant`;
here `table_bits` prices storage only).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace

import numpy as np
from lowbit.hwsim.cores.lut_tensor_core import Model, Spec, table_bits_for, weight_planes
from lowbit.kernels_ref.errors import InvalidSpecError
from lowbit.kernels_ref.formats import Format, FormatKind

__all__ = ["SimResult", "plane_split", "simulate"]


@dataclass(frozen=True)
class SimResult:
    output: np.ndarray
    cycles: int
    precompute_cycles: int
    lookup_cycles: int


def plane_split(codes: np.ndarray, fmt: Format) -> tuple[list[tuple[int, np.ndarray]], int]:
    """(coefficient, 0/1 plane) pairs and a constant offset with codes == sum coef*plane + offset."""
    codes = np.asarray(codes, dtype=np.int64)
    n = weight_planes(fmt)
    if fmt.kind is FormatKind.BINARY:
        if codes.size and np.any((codes != 1) & (codes != -1)):
            raise InvalidSpecError("binary weight codes must be -1 or +1")
        return [(2, (codes > 0).astype(np.int64))], -1
    lo, hi = fmt.qmin, fmt.qmax
    if codes.size and (codes.min() < lo or codes.max() > hi):
        raise InvalidSpecError(f"weight codes outside {fmt}'s range [{lo}, {hi}]")
    u = codes & ((1 << n) - 1)
    signed = fmt.kind is not FormatKind.UINT
    return [(-(1 << i) if (signed and i == n - 1) else (1 << i), (u >> i) & 1) for i in range(n)], 0


def _build_tables(x: np.ndarray, s: Spec, groups: int, a: Format, fused: bool) -> tuple[np.ndarray, int]:
    """Stored half tables [m, groups, 2^(K-1)] built add by add; (tables, cycles)."""
    m = x.shape[0]
    kk = s.tile_k
    half = 1 << (kk - 1)
    xp = np.zeros((m, groups * kk), dtype=x.dtype)
    xp[:, : x.shape[1]] = x
    xg = xp.reshape(m, groups, kk)
    tables = np.zeros((m, groups, half), dtype=x.dtype)
    # the add program of one table: (entry to write or None for the running first entry, j, sign)
    program: list[tuple[int, int, int]] = []
    for j in range(kk - 2, -1, -1):             # first entry: x_{K-1} - sum_{j<K-1} x_j
        program.append((-1, j, -1))
    prev = 0
    for t in range(1, half):                    # Gray code over the K-1 low bits
        gray = t ^ (t >> 1)
        j = (gray ^ prev).bit_length() - 1
        program.append((gray, j, 1 if gray & (1 << j) else -1))
        prev = gray
    work = deque((r, g) for r in range(m) for g in range(groups))
    adders: list[tuple[int, int, int] | None] = [None] * s.precompute_adders  # (row, group, step)
    running = np.zeros((m, groups), dtype=x.dtype)
    cycles = 0
    bytes_left = 0.0
    if not fused:
        cycles += s.launch_cycles                # idle while the kernel launches
        tbits = table_bits_for(s, a)
        bytes_left = float(m * x.shape[1] * -(-a.bits // 8) + m * groups * half * tbits // 8)

    def start(p: int) -> None:
        adders[p] = None
        while work:
            r, g = work.popleft()
            running[r, g] = xg[r, g, kk - 1]
            tables[r, g, 0] = running[r, g]
            if program:
                adders[p] = (r, g, 0)
                return
            # K = 1: the one entry is the activation itself, no add to do

    for p in range(len(adders)):
        start(p)
    while any(a_ is not None for a_ in adders) or bytes_left > 0:
        cycles += 1
        bytes_left -= s.precompute_bytes_per_cycle
        for p, job in enumerate(adders):
            if job is None:
                continue
            r, g, step = job
            entry, j, sign = program[step]
            delta = xg[r, g, j] if entry < 0 else 2 * xg[r, g, j]
            running[r, g] = running[r, g] + sign * delta
            tables[r, g, max(entry, 0)] = running[r, g]
            if step + 1 < len(program):
                adders[p] = (r, g, step + 1)
            else:
                start(p)
    return tables, cycles


def _simulate_mac(x: np.ndarray, w: np.ndarray, w_fmt: Format, a_fmt: Format, rate: int) -> SimResult:
    """The side MMA path: `rate` multiply-accumulates per cycle over the (m, n, k) products."""
    fp = w_fmt.kind is FormatKind.FP or a_fmt.kind is FormatKind.FP
    dt = np.float64 if fp else np.int64
    if w_fmt.kind is FormatKind.BINARY or w_fmt.is_integer:
        plane_split(w, w_fmt)  # range check of integer codes
    x, w = x.astype(dt), w.astype(dt)
    m, k = x.shape
    n = w.shape[1]
    acc = np.zeros((m, n), dtype=dt)
    total, done, cycles = m * n * k, 0, 0
    while done < total:
        cycles += 1
        idx = np.arange(done, min(done + rate, total))
        i, rem = np.divmod(idx, n * k)
        j, l_ = np.divmod(rem, k)
        np.add.at(acc, (i, j), x[i, l_] * w[l_, j])
        done = int(idx[-1]) + 1
    return SimResult(output=acc, cycles=cycles, precompute_cycles=0, lookup_cycles=0)


def simulate(x: np.ndarray, w: np.ndarray, w_fmt: Format, a_fmt: Format, spec: Spec,
             fused: bool | None = None) -> SimResult:
    """Run x [m, k] (activation codes, or floats for fp activations) @ w [k, n] (weight codes)."""
    s = spec
    fused = s.fused_precompute if fused is None else fused
    x = np.asarray(x)
    w = np.asarray(w)
    if x.ndim != 2 or w.ndim != 2 or x.shape[1] != w.shape[0]:
        raise InvalidSpecError(f"LUT sim needs x [m,k] and w [k,n], got {x.shape} and {w.shape}")
    model = Model(replace(s, fused_precompute=fused))
    rate = model.mac_rate(w_fmt, a_fmt)
    if rate and model.compute(x.shape[0], x.shape[1], w.shape[1], w_fmt, a_fmt).ran_as.startswith("side MMA"):
        return _simulate_mac(x, w, w_fmt, a_fmt, rate)  # the dispatch rule of the fast model
    table_bits_for(s, a_fmt)  # rejects activation formats the core does not take
    x = x.astype(np.float64) if a_fmt.kind is FormatKind.FP else x.astype(np.int64)
    m, k = x.shape
    n = w.shape[1]
    kk, half = s.tile_k, 1 << (s.tile_k - 1)
    groups = -(-k // kk)
    planes, offset = plane_split(w, w_fmt)
    tables, pre_cycles = _build_tables(x, s, groups, a_fmt, fused)

    # plane bits -> full-table index per (plane, group, column); padded K rows are 0 bits
    idx = []
    for _, bits in planes:
        bp = np.zeros((groups * kk, n), dtype=np.int64)
        bp[:k] = bits
        idx.append(np.sum(bp.reshape(groups, kk, n) << np.arange(kk).reshape(1, kk, 1), axis=1))
    acc = np.zeros((m, n), dtype=x.dtype)
    mt, nt = -(-m // s.tile_m), -(-n // s.tile_n)
    queue = deque((i, a, b, g) for i in range(len(planes)) for a in range(mt)
                  for b in range(nt) for g in range(groups))
    look_cycles = 0
    while queue:
        look_cycles += 1
        for _ in range(s.units):
            if not queue:
                break
            i, a, b, g = queue.popleft()
            rows = slice(a * s.tile_m, min((a + 1) * s.tile_m, m))
            cols = slice(b * s.tile_n, min((b + 1) * s.tile_n, n))
            e = idx[i][g, cols]                               # [cols] full indices
            top = e >= half
            stored = np.where(top, e - half, (2 * half - 1 - e) - half)
            vals = tables[rows, g][:, stored]                 # [rows, cols] lookups
            vals = np.where(top[None, :], vals, -vals)
            acc[rows, cols] += planes[i][0] * vals           # shift-add into the lane
    if look_cycles:
        look_cycles += s.pipeline_depth                   # the last lookups' way to the accumulators
    rowsum = tables[:, :, half - 1].sum(axis=1, keepdims=True)  # all-ones entries
    coef_sum = sum(c for c, _ in planes)
    total = (acc + coef_sum * rowsum)
    out = total // 2 + offset * rowsum if x.dtype == np.int64 else total / 2 + offset * rowsum
    cycles = look_cycles if fused else pre_cycles + look_cycles  # fused: the previous operator's time
    return SimResult(output=out, cycles=cycles, precompute_cycles=pre_cycles, lookup_cycles=look_cycles)
