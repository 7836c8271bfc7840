"""Cycle-stepped T-MAC CPU kernel (`hwsim.cores.lut_cpu`): table build, bit-plane lookups,
plane combine, cycle by cycle, moving real values.

The kernel is a queue of SIMD instructions in program order:

- build (one per stored table entry): for every group of g activations of a token, the
  2^(g-1) stored entries sum_j x_j s_j (s_j = +-1, top sign +1; the other half of the
  table is their negation). The first entry is x_{g-1} - sum_{j<g-1} x_j, each later one
  the previous entry +- 2 x_j in Gray-code order. Cost: `build_ops_per_entry` int16 lane
  ops, `vector_bits / 16` lanes per SIMD op.
- lookup (one per weight plane x token x activation group x block of `lanes` columns):
  the g plane bits of each column's weight group index the table (the mirrored half read
  negated) and the value is added into that plane's accumulator of the column. Cost: one
  table-lookup port slot (`lookups_per_cycle`) or `1 + unpack_ops + add_ops` SIMD ops,
  whichever is the bottleneck; or `cycles_per_lookup` where the spec gives it.
- combine (one per plane x output): the plane's accumulator plus the row sum (the
  all-ones entries) times the plane's coefficient is added into the output; the last
  plane's combine also halves it and adds the offset: out = sum_i coef_i (T_i + rowsum)/2
  + offset * rowsum. Cost: one fp32 lane op, `vector_bits / 32` lanes per SIMD op.

The `cores` cores share the queue evenly (T-MAC splits the GEMM over threads), so every
cycle the machine retires `cores` core-cycles of instructions; an instruction that
straddles a cycle boundary completes, and its value lands, in the cycle where its last
share is paid (costs are exact fractions). `call_overhead_cycles` idle cycles come first.

A GEMM that the core's fp32 FMA path (`fp_macs_per_cycle` per core) finishes sooner, or
one the LUT kernel cannot take, is stepped on that path instead: `fp_macs_per_cycle *
cores` products accumulated per cycle. Both paths are stepped and the shorter one kept
(the LUT kernel on a tie).

`simulate` returns the output (== `kernels_ref.lut.lut_gemm` with exact tables, i.e. the
GEMM of the codes) and the cycle count (== `Model.compute`). Tables are kept exact: T-MAC
quantises them to INT8 (`kernels_ref.lut`'s `table_quant`); `table_bits` prices storage only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from lowbit.hwsim.cores.lut_cpu import Spec
from lowbit.hwsim.cores.lut_tensor_core import weight_planes
from lowbit.hwsim.cyclesim.lut import plane_split
from lowbit.kernels_ref.errors import InvalidSpecError, UnsupportedFormatError
from lowbit.kernels_ref.formats import Format, FormatKind

__all__ = ["SimResult", "simulate"]


@dataclass(frozen=True)
class SimResult:
    output: np.ndarray
    cycles: int
    path: str          # "lut" or "fma"
    instructions: int  # instructions retired (table entries + lookups + combines, or FMA cycles)


def _lut_formats_ok(w: Format, a: Format) -> bool:
    try:
        weight_planes(w)
    except UnsupportedFormatError:
        return False
    return (a.kind in (FormatKind.INT, FormatKind.UINT) and a.bits <= 8) or \
        (a.kind is FormatKind.FP and a.bits <= 16)


def _run_queue(work: Iterator[tuple[Fraction, Callable[[], None]]], cores: int, idle: int) -> tuple[int, int]:
    """Retire (cost in core-cycles, effect) instructions in order, `cores` core-cycles per
    cycle after `idle` idle cycles; (cycles, instructions)."""
    cycles, done = idle, 0
    head = next(work, None)
    left = head[0] if head is not None else Fraction(0)
    while head is not None:
        cycles += 1
        avail = Fraction(cores)
        while head is not None and (avail > 0 or left == 0):
            if left <= avail:
                avail -= left
                head[1]()  # the instruction's last share is paid this cycle: its value lands
                done += 1
                head = next(work, None)
                left = head[0] if head is not None else Fraction(0)
            else:
                left -= avail
                avail = Fraction(0)
    return cycles, done


def _lut(x: np.ndarray, w: np.ndarray, w_fmt: Format, s: Spec) -> tuple[np.ndarray, int, int]:
    m, k = x.shape
    n = w.shape[1]
    g, half, lanes = s.g, 1 << (s.g - 1), s.lanes
    groups = -(-k // g)
    planes, offset = plane_split(w, w_fmt)
    xp = np.zeros((m, groups * g), dtype=x.dtype)
    xp[:, :k] = x
    xg = xp.reshape(m, groups, g)
    # plane bits -> full-table index per (plane, group, column); padded K rows are 0 bits
    idx = []
    for _, bits in planes:
        bp = np.zeros((groups * g, n), dtype=np.int64)
        bp[:k] = bits
        idx.append(np.sum(bp.reshape(groups, g, n) << np.arange(g).reshape(1, g, 1), axis=1))
    tables = np.zeros((m, groups, half), dtype=x.dtype)
    acc = np.zeros((len(planes), m, n), dtype=x.dtype)
    out2 = np.zeros((m, n), dtype=x.dtype)   # twice the output until the last plane's combine
    out = np.zeros((m, n), dtype=x.dtype)
    rowsum = np.zeros(m, dtype=x.dtype)

    c_build = Fraction(s.build_ops_per_entry) / (s.vector_bits // 16) / s.simd_ops_per_cycle
    c_look = Fraction(s.cycles_per_lookup) if s.cycles_per_lookup else \
        max(Fraction(1, s.lookups_per_cycle), (1 + Fraction(s.unpack_ops) + Fraction(s.add_ops)) / s.simd_ops_per_cycle)
    c_comb = Fraction(1, s.vector_bits // 32) / s.simd_ops_per_cycle

    gray = [t ^ (t >> 1) for t in range(half)]

    def build(r: int, grp: int, t: int) -> Callable[[], None]:
        def run() -> None:
            v = xg[r, grp]
            if t == 0:                       # pattern: top weight +1, the others -1
                tables[r, grp, 0] = v[g - 1] - v[: g - 1].sum()
                return
            j = (gray[t] ^ gray[t - 1]).bit_length() - 1
            sign = 1 if gray[t] & (1 << j) else -1
            tables[r, grp, gray[t]] = tables[r, grp, gray[t - 1]] + sign * 2 * v[j]
        return run

    def lookup(i: int, r: int, grp: int, c0: int) -> Callable[[], None]:
        def run() -> None:
            cols = slice(c0, min(c0 + lanes, n))
            e = idx[i][grp, cols]
            top = e >= half
            stored = np.where(top, e - half, half - 1 - e)   # mirror: index e <-> 2^g - 1 - e
            vals = tables[r, grp, stored]
            acc[i, r, cols] += np.where(top, vals, -vals)
        return run

    def combine(i: int, r: int, c: int) -> Callable[[], None]:
        def run() -> None:
            if i == 0 and c == 0:            # the row sum: the all-ones entries of the row
                rowsum[r] = tables[r, :, half - 1].sum()
            out2[r, c] += planes[i][0] * (acc[i, r, c] + rowsum[r])
            if i == len(planes) - 1:
                total = out2[r, c]
                out[r, c] = (total // 2 if x.dtype == np.int64 else total / 2) + offset * rowsum[r]
        return run

    def program() -> Iterator[tuple[Fraction, Callable[[], None]]]:
        for r in range(m):
            for grp in range(groups):
                for t in range(half):
                    yield c_build, build(r, grp, t)
        for i in range(len(planes)):
            for r in range(m):
                for grp in range(groups):
                    for c0 in range(0, n, lanes):
                        yield c_look, lookup(i, r, grp, c0)
        for r in range(m):
            for i in range(len(planes)):
                for c in range(n):
                    yield c_comb, combine(i, r, c)

    cycles, done = _run_queue(program(), s.cores, s.call_overhead_cycles)
    return out, cycles, done


def _fma(x: np.ndarray, w: np.ndarray, s: Spec) -> tuple[np.ndarray, int, int]:
    """The FMA path: `fp_macs_per_cycle * cores` multiply-accumulates per cycle over (m, n, k)."""
    rate = s.fp_macs_per_cycle * s.cores
    m, k = x.shape
    n = w.shape[1]
    acc = np.zeros((m, n), dtype=x.dtype)
    total, done, cycles = m * n * k, 0, s.call_overhead_cycles
    while done < total:
        cycles += 1
        flat = np.arange(done, min(done + rate, total))
        i, rem = np.divmod(flat, n * k)
        j, l_ = np.divmod(rem, k)
        np.add.at(acc, (i, j), x[i, l_] * w[l_, j])
        done = int(flat[-1]) + 1
    return acc, cycles, cycles - s.call_overhead_cycles


def simulate(x: np.ndarray, w: np.ndarray, w_fmt: Format, a_fmt: Format, spec: Spec) -> SimResult:
    """Run x [m, k] (activation codes, or values for fp activations) @ w [k, n] (weight codes,
    or values for weight formats only the FMA path takes) on the T-MAC core."""
    if not isinstance(spec, Spec):
        raise InvalidSpecError(f"T-MAC sim needs a lut_cpu Spec, got {type(spec).__name__}")
    x, w = np.asarray(x), np.asarray(w)
    if x.ndim != 2 or w.ndim != 2 or x.shape[1] != w.shape[0]:
        raise InvalidSpecError(f"T-MAC sim needs x [m,k] and w [k,n], got {x.shape} and {w.shape}")
    fp = a_fmt.kind is FormatKind.FP or not (w_fmt.is_integer or w_fmt.kind is FormatKind.BINARY)
    if not fp and (x.dtype.kind not in "iu" or w.dtype.kind not in "iu"):
        raise InvalidSpecError(f"integer formats {w_fmt} x {a_fmt} need integer codes")
    x = x.astype(np.float64 if fp else np.int64)
    lut_ok = _lut_formats_ok(w_fmt, a_fmt)
    has_fma = spec.fp_macs_per_cycle > 0 and w_fmt.bits <= 32 and a_fmt.bits <= 32
    if not lut_ok and not has_fma:
        raise UnsupportedFormatError(f"T-MAC core cannot run {w_fmt} x {a_fmt}")
    if lut_ok:
        plane_split(w, w_fmt)  # range check of the weight codes
    elif not fp and w.size and (w.min() < w_fmt.qmin or w.max() > w_fmt.qmax):
        raise InvalidSpecError(f"weight codes outside {w_fmt}'s range [{w_fmt.qmin}, {w_fmt.qmax}]")
    runs: list[tuple[str, tuple[np.ndarray, int, int]]] = []
    if lut_ok:
        runs.append(("lut", _lut(x, w.astype(np.int64), w_fmt, spec)))
    if has_fma:
        runs.append(("fma", _fma(x, w.astype(x.dtype), spec)))
    path, (out, cycles, done) = min(runs, key=lambda r: r[1][1])  # stable: the LUT kernel on a tie
    return SimResult(output=out, cycles=cycles, path=path, instructions=done)
