"""Cycle-stepped bit-serial / bit-composable array (`hwsim.cores.bit_serial`).

Moves real integer codes through the array, cycle by cycle:

- The GEMM is cut into steps of P_m x (P_k * F) x P_n elements (the array's
  spatial extent, `Spec.parallelism`, with Bit Fusion's fusion factor F).
- Serial operands are split into chunks of `bits_per_cycle` bits (two's
  complement, sign-extended; the top chunk is signed so the sign plane carries
  negative weight); a bit-parallel operand is one chunk of up to
  `parallel_bits` (wider ones take several passes). Each cycle every PE takes
  one (weight chunk, activation chunk) pair for all its lanes, forms the
  chunk dot product, shifts it by the chunks' bit offsets and adds it into its
  accumulator.
- Bit Fusion splits both operands into `fusion_brick_bits` BitBricks; a Fusion
  Unit evaluates `fusion_bricks` brick products per cycle: all brick pairs of
  F MACs when the operands fit (F >= 1), or a share of one MAC's pairs per
  cycle when they do not.
- With a group-quantised weight format and `dequant_cycles_per_group > 0`, the
  dequantisation unit then spends that many cycles per group per output tile
  folding the group partial sums into the output (scales are 1 here: the
  integer codes' GEMM is what the array computes).

`simulate` returns the output (== the integer GEMM of the codes, and
`kernels_ref.bitserial`) and the cycle count (== `Model.compute`). Python loops
over cycles are deliberate here (DESIGN.md rule 9); within a cycle the PEs run
as one numpy matmul.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from lowbit.hwsim.cores.bit_serial import Model, Spec, fusion_bricks_per_operand, operand_bits
from lowbit.kernels_ref.errors import InvalidSpecError, UnsupportedFormatError
from lowbit.kernels_ref.formats import Format, FormatKind, Granularity

__all__ = ["SimResult", "simulate", "split_chunks"]


@dataclass(frozen=True)
class SimResult:
    output: np.ndarray
    cycles: int
    compute_cycles: int
    dequant_cycles: int


def split_chunks(codes: np.ndarray, fmt: Format, width: int, chunks: int) -> list[tuple[int, np.ndarray]]:
    """Split integer codes into `chunks` chunks of `width` bits: [(shift, chunk values)].

    Two's complement: codes are sign-extended to `width * chunks` bits; lower chunks are
    unsigned, the top chunk is signed (UINT codes: all unsigned, zero-extended).
    sum(values << shift) == codes exactly.
    """
    codes = np.asarray(codes, dtype=np.int64)
    if fmt.kind not in (FormatKind.INT, FormatKind.UINT, FormatKind.BINARY, FormatKind.TERNARY):
        raise UnsupportedFormatError(f"cycle-stepped bit-serial array needs integer codes, got {fmt}")
    if codes.size and (codes.min() < fmt.qmin or codes.max() > fmt.qmax):
        raise InvalidSpecError(f"codes outside {fmt}'s range [{fmt.qmin}, {fmt.qmax}]")
    total = width * chunks
    if total < operand_bits(fmt):
        raise InvalidSpecError(f"{chunks} chunks of {width} bits cannot hold {fmt}")
    mask = (1 << width) - 1
    out = []
    for c in range(chunks):
        shift = c * width
        v = (codes >> shift) & mask  # arithmetic shift: sign-extends negative codes
        if c == chunks - 1 and fmt.is_signed:
            v = np.where(v >= (1 << (width - 1)), v - (1 << width), v)
        out.append((shift, v))
    return out


def _plan(fmt: Format, serial: bool, bpc: int, parallel: int) -> tuple[int, int]:
    """(chunk width, number of chunks) for one operand on a non-fusion array."""
    bits = operand_bits(fmt)
    if serial:
        return bpc, -(-bits // bpc)
    if bits <= parallel:
        return bits, 1
    return parallel, -(-bits // parallel)


def simulate(x_codes: np.ndarray, w_codes: np.ndarray, w_fmt: Format, a_fmt: Format,
             spec: Spec, k_segment: int | None = None) -> SimResult:
    """Run x[M,K] @ w[K,N] (or batched [B,M,K] @ [B,K,N]) on the array, cycle by cycle.

    `k_segment`: K is reduced as independent runs of this length (conv channel-wise),
    each fed to the array from its own start, as `Model.compute(k_segment=...)`."""
    x = np.asarray(x_codes, dtype=np.int64)
    w = np.asarray(w_codes, dtype=np.int64)
    if x.ndim == 2:
        x, w = x[None], w[None]
        squeeze = True
    else:
        squeeze = False
    if x.ndim != 3 or w.ndim != 3 or x.shape[0] != w.shape[0] or x.shape[2] != w.shape[1]:
        raise InvalidSpecError(f"shapes {x_codes.shape} and {w_codes.shape} do not multiply")
    if a_fmt.is_float or w_fmt.is_float or w_fmt.kind is FormatKind.NF:
        raise UnsupportedFormatError("cycle-stepped bit-serial array simulates integer codes only")
    model = Model(spec)
    fuse, per_step = model.pass_cycles(w_fmt, a_fmt)
    pm, pk, pn = spec.parallelism()
    kstep = pk * fuse
    batch, m, k = x.shape
    n = w.shape[2]

    if spec.fusion_brick_bits:
        bb = spec.fusion_brick_bits
        nw = fusion_bricks_per_operand(operand_bits(w_fmt), bb)
        na = fusion_bricks_per_operand(operand_bits(a_fmt), bb)
        w_parts = split_chunks(w, w_fmt, bb, nw)
        a_parts = split_chunks(x, a_fmt, bb, na)
        pairs = [(i, j) for i in range(nw) for j in range(na)]
        per_cycle = min(len(pairs), spec.fusion_bricks)  # brick products per FU per cycle
        schedule = [pairs[c:c + per_cycle] for c in range(0, len(pairs), per_cycle)]
    else:
        ww, cw = _plan(w_fmt, spec.serial_w, spec.bits_per_cycle_w, spec.parallel_bits_w)
        wa, ca = _plan(a_fmt, spec.serial_a, spec.bits_per_cycle_a, spec.parallel_bits_a)
        w_parts = split_chunks(w, w_fmt, ww, cw)
        a_parts = split_chunks(x, a_fmt, wa, ca)
        # serial order: weight chunk outer, activation chunk inner (Loom), one pair per cycle
        schedule = [[(i, j)] for i in range(cw) for j in range(ca)]
    if len(schedule) != per_step:
        raise InvalidSpecError(f"internal: {len(schedule)} cycles per step, fast model says {per_step}")

    group = w_fmt.group_size if (w_fmt.granularity is Granularity.GROUP and w_fmt.group_size) else None
    out = np.zeros((batch, m, n), dtype=np.int64)
    cycle = 0
    dequant = 0
    for b in range(batch):
        for m0 in range(0, m, pm):
            for n0 in range(0, n, pn):
                acc = {}  # group index -> [pm, pn] partial sums held in the PEs
                seg = k_segment or k
                starts = [(k0, min(k0 + kstep, s0 + seg, k))
                          for s0 in range(0, k, seg) for k0 in range(s0, min(s0 + seg, k), kstep)]
                for k0, k1 in starts:
                    # K segments of this step that fall in each weight group
                    cuts = sorted({k0, k1} | ({c for c in range(0, k1, group) if c > k0} if group else set()))
                    for pairs_now in schedule:  # one cycle each
                        cycle += 1
                        for s0, s1 in itertools.pairwise(cuts):
                            part = np.zeros((min(pm, m - m0), min(pn, n - n0)), dtype=np.int64)
                            for i, j in pairs_now:
                                sw, wv = w_parts[i]
                                sa, av = a_parts[j]
                                part += (av[b, m0:m0 + pm, s0:s1] @ wv[b, s0:s1, n0:n0 + pn]) << (sw + sa)
                            g = s0 // group if group else 0
                            acc[g] = acc.get(g, 0) + part
                if group and spec.dequant_cycles_per_group:
                    for g in sorted(acc):
                        for _ in range(spec.dequant_cycles_per_group):
                            cycle += 1
                            dequant += 1
                        out[b, m0:m0 + pm, n0:n0 + pn] += acc[g]
                else:
                    for g in sorted(acc):
                        out[b, m0:m0 + pm, n0:n0 + pn] += acc[g]
    result = out[0] if squeeze else out
    return SimResult(result, cycle, cycle - dequant, dequant)
