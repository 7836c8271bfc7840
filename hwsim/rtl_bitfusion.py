"""RTL Bit Fusion fusion-unit array (`rtl_src/bitfusion.sv`) under Verilator: the feeder.

The bit_serial family's Bit Fusion mode (`fusion_brick_bits > 0`, presets bitfusion-*):
the feeder walks `hwsim.cyclesim.bit_serial`'s schedule (output tiles of P_m x P_n, K steps
of P_k * F, and for F < 1 the cycles of one MAC's brick pairs) and packs each fusion unit's
F operands of the step into one word per operand; the RTL splits them into BitBricks by
the run-time mode, multiplies, shifts by the bricks' offsets, sums the fused products and
the K-parallel units, and accumulates. One GEMM (no batch, no k_segment), 2-D codes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from lowbit.hwsim.cores.bit_serial import Model, Spec, fusion_bricks_per_operand, operand_bits
from lowbit.hwsim.rtl import (
    RtlResult,
    _codes,
    _pad_to,
    build,
    run_testbench,
    tiled_result,
)
from lowbit.kernels_ref.errors import InvalidSpecError, UnsupportedFormatError
from lowbit.kernels_ref.formats import Format

__all__ = ["simulate_bitfusion"]


def _pack_words(vals: np.ndarray, fuse: int, width: int) -> np.ndarray:
    """[..., K'] codes -> [..., K'/fuse] words: `fuse` values of `width` bits each, LSB first
    (two's complement at `width` bits, i.e. sign-extended over the operand's bricks)."""
    v = vals.astype(np.int64) & ((1 << width) - 1)
    v = v.reshape(*vals.shape[:-1], -1, fuse)
    return np.sum(v << (np.arange(fuse, dtype=np.int64) * width), axis=-1)


def simulate_bitfusion(x: np.ndarray, w: np.ndarray, wf: Format, af: Format, spec: Spec,
                       cache_dir: Path | None = None) -> RtlResult:
    """x[M,K] @ w[K,N] (integer codes) on the RTL Bit Fusion array."""
    if not isinstance(spec, Spec) or not spec.fusion_brick_bits:
        raise InvalidSpecError("RTL Bit Fusion check needs a bit_serial Spec with fusion_brick_bits > 0")
    if spec.dequant_cycles_per_group:
        raise UnsupportedFormatError("RTL Bit Fusion array has no dequantisation unit")
    a, b = _codes(x, af, "activations"), _codes(w, wf, "weights")
    if a.shape[1] != b.shape[0]:
        raise InvalidSpecError(f"GEMM shapes do not chain: {a.shape} x {b.shape}")
    fuse, per_step = Model(spec).pass_cycles(wf, af)
    bb, fb = spec.fusion_brick_bits, spec.fusion_bricks
    nw = fusion_bricks_per_operand(operand_bits(wf), bb)
    na = fusion_bricks_per_operand(operand_bits(af), bb)
    if nw * bb > fb * bb or na * bb > fb * bb or per_step > 16:
        raise UnsupportedFormatError(f"RTL Bit Fusion port holds {fb * bb} bits per operand: {wf} x {af}")
    pm, pk, pn = spec.parallelism()
    m, k, n = a.shape[0], a.shape[1], b.shape[1]
    if m == 0 or k == 0 or n == 0:
        return RtlResult(np.zeros((m, n), dtype=np.int64), 0, 0)
    kstep = pk * fuse
    ksteps = -(-k // kstep)
    kp = ksteps * kstep
    ap = np.pad(a, ((0, 0), (0, kp - k)))
    bp = np.pad(b, ((0, kp - k), (0, 0)))
    a_words = _pack_words(ap, fuse, na * bb)          # [M, kp/fuse]
    w_words = _pack_words(bp.T, fuse, nw * bb).T      # [kp/fuse, N]
    tiles = [(m0, n0) for m0 in range(0, m, pm) for n0 in range(0, n, pn)]
    lines = []
    for m0, n0 in tiles:
        for s_i in range(ksteps):
            a_blk = _pad_to(a_words, m0, pm, s_i * pk, pk)      # (PM, PK)
            w_blk = _pad_to(w_words, s_i * pk, pk, n0, pn)      # (PK, PN)
            vals = " ".join(f"{int(v):x}" for v in np.concatenate([a_blk.ravel(), w_blk.ravel()]))
            for c in range(per_step):
                first = int(s_i == 0 and c == 0)
                last = int(s_i == ksteps - 1 and c == per_step - 1)
                lines.append(f"{first} {last} {c} {vals}")
    lg = {1: 0, 2: 1, 4: 2, 8: 3}
    stream = (f"{len(tiles)} {len(lines)} {lg[nw]} {lg[na]} {int(wf.is_signed)} {int(af.is_signed)}\n"
              + "\n".join(lines) + "\n")
    params = {"PM": pm, "PK": pk, "PN": pn, "FB": fb, "BB": bb, "ACCW": spec.accumulator_bits}
    binary = build(("bitfusion.sv", "tb_bitfusion.sv"), params, cache_dir)
    got = run_testbench(binary, stream)
    return tiled_result(got, tiles, m, n, pm, pn, "Bit Fusion array")
