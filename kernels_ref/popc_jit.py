"""The CPU loops of `grouped.grouped_wxay_gemm`, compiled by numba.

A composite format (dbllm, pbllm, salient) scales every group of g weights along K by its own
value, so its popcount GEMM must keep one integer product per group: [G, M, N] of them, not
[M, N]. Done with numpy or torch broadcasting, that is a [planes x M, planes x N, words]
intermediate per group, formed, popcounted and shift-added as separate passes over memory
(1.2-4.3 s for a 4096 x 4096 weight at 16 rows, group by group). Here:

- `grouped_popc_kernel` does the same AND and popcount per 64-bit word (`llvm.ctpop`, which
  LLVM vectorises over N) and the same shift-add of the plane products, accumulating each
  group's integer straight into its [M, N] slot;
- `pack_planes_kernel` packs the weight's bit planes along K with N innermost, the layout the
  product loop reads: each 8 K-bytes of a column form one word whose 8 x 8 bit transpose holds
  the 8 planes' bytes (the torch path packs plane by plane, `binary._pack_planes`).

Integer arithmetic only, so the results are the same integers as the torch path's
(`tests/kernels_ref/test_grouped.py`). numba is imported only when this module is: at the first
CPU call of `grouped_wxay_gemm`.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.extending import intrinsic

__all__ = ["grouped_popc_kernel", "pack_planes_kernel", "warm"]


@intrinsic
def _ctpop(typingctx, x):  # type: ignore[no-untyped-def]
    """Set bits of an unsigned 64-bit word (`llvm.ctpop.i64`)."""
    if not isinstance(x, types.Integer):
        return None

    def codegen(context, builder, sig, args):  # type: ignore[no-untyped-def]
        return builder.ctpop(args[0])
    return x(x), codegen


@njit(cache=True, error_model="numpy")
def grouped_popc_kernel(aw: np.ndarray, ca: np.ndarray, ww: np.ndarray, cw: np.ndarray, words_per_group: int,
                        acc: np.ndarray) -> None:
    """acc[g, r, q] += sum_ij ca[i] cw[j] sum_{w in group g} popcount(aw[i, r, w] AND ww[j, w, q]).

    aw: activation planes, uint64 [ya, M, W]; ww: weight planes, uint64 [xw, W, N] (N innermost,
    the vectorised loop); ca, cw: the planes' int64 coefficients; W = G * words_per_group;
    acc: int64 [G, M, N]."""
    ya, m, nw = aw.shape
    xw, n = ww.shape[0], ww.shape[2]
    for g in range(nw // words_per_group):
        for wi in range(g * words_per_group, (g + 1) * words_per_group):
            for j in range(xw):
                wrow = ww[j, wi]
                for i in range(ya):
                    c = ca[i] * cw[j]
                    for r in range(m):
                        a = aw[i, r, wi]
                        out = acc[g, r]
                        for q in range(n):
                            out[q] += c * np.int64(_ctpop(a & wrow[q]))


@njit(cache=True, error_model="numpy")
def pack_planes_kernel(src: np.ndarray, bits: int, out: np.ndarray) -> None:
    """Planes 0..bits-1 of a uint8 [K, N] source (bit j of a byte is plane j) packed along K:
    out uint8 [bits, K / 64, N, 8], byte b of word (j, w, n) holding plane j's bits at
    k = 64 w + 8 b .. 64 w + 8 b + 7 (bit t for k = 64 w + 8 b + t, little-endian), so that
    `out.view(uint64)` is the [bits, W, N] operand `grouped_popc_kernel` takes. K % 64 == 0
    (the caller pads). Eight K bytes of a column form one 64-bit word whose 8 x 8 bit transpose
    holds the eight planes' bytes."""
    k, n = src.shape
    for kb in range(k // 8):
        w, b = kb // 8, kb % 8
        for q in range(n):
            x = np.uint64(0)
            for t in range(8):
                x |= np.uint64(src[kb * 8 + t, q]) << np.uint64(8 * t)
            # three delta swaps transpose the 8 x 8 bit matrix (byte t, bit j -> byte j, bit t);
            # tests/kernels_ref/test_grouped.py holds the result to the per-plane packer
            t1 = (x ^ (x >> np.uint64(7))) & np.uint64(0x00AA00AA00AA00AA)
            x = x ^ t1 ^ (t1 << np.uint64(7))
            t1 = (x ^ (x >> np.uint64(14))) & np.uint64(0x0000CCCC0000CCCC)
            x = x ^ t1 ^ (t1 << np.uint64(14))
            t1 = (x ^ (x >> np.uint64(28))) & np.uint64(0x00000000F0F0F0F0)
            x = x ^ t1 ^ (t1 << np.uint64(28))
            for j in range(bits):
                out[j, w, q, b] = np.uint8((x >> np.uint64(8 * j)) & np.uint64(0xFF))


def warm() -> None:
    """Compile (or load from numba's cache, `kernels_ref/__pycache__`) the kernel for the types
    `binary.grouped_wxay_gemm` passes: `make install` runs this once."""
    aw = np.array([[[3, 1]]], dtype=np.uint64)
    ww = np.array([[[1, 3], [1, 0]]], dtype=np.uint64)
    acc = np.zeros((2, 1, 2), dtype=np.int64)
    grouped_popc_kernel(aw, np.array([2], dtype=np.int64), ww, np.array([3], dtype=np.int64), 1, acc)
    if acc.tolist() != [[[6, 12]], [[6, 0]]]:
        raise RuntimeError(f"kernels_ref.popc_jit.warm: wrong products {acc.tolist()}")
    src = np.zeros((64, 1), dtype=np.uint8)
    src[9, 0] = 3  # k = 9: planes 0 and 1 -> bit 1 of byte 1 of each plane's word
    out = np.zeros((2, 1, 1, 8), dtype=np.uint8)
    pack_planes_kernel(src, 2, out)
    if out.view(np.uint64).ravel().tolist() != [1 << 9, 1 << 9]:
        raise RuntimeError(f"kernels_ref.popc_jit.warm: wrong packing {out.view(np.uint64).ravel().tolist()}")
