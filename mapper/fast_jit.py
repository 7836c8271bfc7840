"""The latency search of `mapper.fast` as one compiled loop over the tile grid (numba).

`fast.fast_search_split` prices a layer's (tm, tk, tn) grid with a few dozen numpy operations
on arrays of a few hundred elements; at those sizes numpy's per-call overhead, not the
arithmetic, is the cost (~200 us a search). This kernel walks the same grid once, tile by
tile, with the same IEEE double operations in the same order as the numpy expressions (no
fastmath, no fused multiply-add: LLVM contracts nothing numba does not mark), so every
quantity is the same float, and returns the same lexicographic winner: (cycles, DRAM bytes,
-tile volume, enumeration index).

Scope: the latency objective, without `MemoryRules.padded_tiles` (its compute is the core's,
per tile) or `whole_layer_refetch`; `conv_input_halo` and `array_padding` enter as per-m /
per-k / per-n factors computed by numpy beforehand (1.0 where the rule is off: x * 1.0 == x).
The kernel reports `FALLBACK` wherever an intermediate is not finite, or the best cycles are
not, so that the numpy path decides those (its NaN ordering and warnings); `tests/mapper`
holds both paths equal on every preset x layer and on random designs under every rule.

numba is imported only when this module is (`fast.set_jit`): by default once a process has
spent `fast.JIT_AFTER_S` seconds on numpy latency searches, so a one-model CLI run does not pay
numba's import.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["FALLBACK", "NO_FIT", "OK", "OUT_LEN", "SCALARS", "latency_kernel"]

NO_FIT, OK, FALLBACK = 0, 1, 2
#: status, tile, order, dataflow, cycles; the winner's DRAM input / weight / total bytes, its
#: SRAM reads of input / weight / output, partial-sum bytes, output bytes and k trips
OUT_LEN = 14
#: the scalar inputs, in `sc`'s order
SCALARS = ("batch", "M", "K", "N", "gemm_in", "g_in", "share", "g_w", "g_out", "b_in8", "b_w8", "b_out8",
           "psum8", "psum_bits", "b_out", "whole_in", "whole_w", "whole_psum", "whole_out", "bw", "ws",
           "double", "rbw", "halo")


@njit(cache=True, error_model="numpy")
def _cdiv(a: int, b: int) -> int:
    return -((-a) // b)


@njit(cache=True, error_model="numpy")
def latency_kernel(tms: np.ndarray, tks: np.ndarray, tns: np.ndarray, in_tile: np.ndarray, pad_w: np.ndarray,
                   pad_out: np.ndarray, buf_ops: np.ndarray, buf_use: np.ndarray, buf_bw: np.ndarray,
                   comp: np.ndarray, cc: np.ndarray, sc: np.ndarray, out: np.ndarray) -> None:
    """The latency winner of the (tms x tks x tns) grid into `out` (`OUT_LEN`). `buf_ops` is
    [buffer, 4]: the operand indices it holds (input 0, weight 1, output 2) in listed order, -1
    padded, and their count in column 3; `comp` / `cc` the whole-GEMM compute cycles and their
    rint per dataflow; `sc` the `SCALARS`."""
    batch = sc[0]
    M, K, N = int(sc[1]), int(sc[2]), int(sc[3])
    gemm_in, g_in0, share, g_w0, g_out0 = sc[4], sc[5], sc[6], sc[7], sc[8]
    b_in8, b_w8, b_out8, psum8, psum_bits, b_out = sc[9], sc[10], sc[11], sc[12], sc[13], sc[14]
    whole = np.empty(3)
    whole[0], whole[1] = sc[15], sc[16]
    whole_psum, whole_out = sc[17], sc[18]
    bw, ws = sc[19], sc[20]
    double, rbw, halo = sc[21] != 0.0, sc[22] != 0.0, sc[23] != 0.0
    nb = buf_ops.shape[0]
    D = comp.shape[0]
    nm, nk, nn = tms.shape[0], tks.shape[0], tns.shape[0]
    tb = np.empty(3)
    held = np.empty(3)
    reads = np.empty(3)
    res = np.empty(3, dtype=np.int64)
    din = np.empty(4)
    dwt = np.empty(4)
    dtot = np.empty(4)
    bad = 0.0  # NaN once any intermediate is inf or NaN (x - x)
    out[0] = NO_FIT
    best_c, best_dr, best_v = math.inf, math.inf, -1.0
    for i in range(nm):
        tm = float(min(tms[i], M))
        trm = float(_cdiv(M, min(tms[i], M)))
        gin = gemm_in * (in_tile[i] * share) if halo else g_in0
        for j in range(nk):
            tk = float(min(tks[j], K))
            trk = float(_cdiv(K, min(tks[j], K)))
            gw = g_w0 * pad_w[j]
            for ll in range(nn):
                tn = float(min(tns[ll], N))
                trn = float(_cdiv(N, min(tns[ll], N)))
                gout = g_out0 * pad_out[ll]
                steps = (batch * trm) * (trk * trn)
                mk, gm, gn = trk > 1.0, trm > 1.0, trn > 1.0
                tmk, tmn, tkn = tm * tk, tm * tn, tk * tn
                tb[0] = tmk * b_in8
                if halo:
                    tb[0] = tb[0] * in_tile[i]
                tb[1] = (tkn * b_w8) * pad_w[j]
                tb[2] = (tmn * (psum8 if mk else b_out8)) * pad_out[ll]
                whole[2] = whole_psum if mk else whole_out
                for op in range(3):
                    held[op] = tb[op]
                    res[op] = -1
                fits = True
                for b in range(nb):
                    nops = buf_ops[b, 3]
                    for ii in range(nops):
                        op = buf_ops[b, ii]
                        if nops == 1:
                            ok = whole[op] <= buf_use[b]
                        else:
                            s = 0.0
                            first = True
                            for jj in range(nops):
                                if jj != ii:
                                    v = held[buf_ops[b, jj]]
                                    s = v if first else s + v
                                    first = False
                            ok = whole[op] + s <= buf_use[b]
                        res[op] = 1 if ok else 0
                        held[op] = whole[op] if ok else tb[op]
                for b in range(nb):
                    s = held[buf_ops[b, 0]]
                    for ii in range(1, buf_ops[b, 3]):
                        s = s + held[buf_ops[b, ii]]
                    fits = fits and s <= buf_use[b]
                psum = gout * psum_bits / b_out
                reads[0] = gemm_in * trn
                reads[1] = gw / ws * trm
                reads[2] = psum * (trk - 1.0)
                c_rd = 0.0
                for b in range(nb):
                    rd = reads[buf_ops[b, 0]]
                    for ii in range(1, buf_ops[b, 3]):
                        rd = rd + reads[buf_ops[b, ii]]
                    r = rd / steps / buf_bw[b]
                    c_rd = r if b == 0 or not c_rd >= r else c_rd   # np.maximum(c_rd, r)
                drain = tmn * b_out8 / bw
                # DRAM bytes of orders mkn, mnk, kmn, knm (`fast.fast_search_split`)
                ref_in = gin * (1.0 if res[0] == 1 else trn)
                ref_w = gw * (1.0 if res[1] == 1 else trm)
                spill0 = psum * 0.0
                spill1 = psum * ((1.0 if res[2] == 1 else trk) - 1.0)
                ow0, ow1 = gout + spill0, gout + spill1
                or0, or1 = (ow0, ow1) if rbw else (spill0, spill1)
                w_kn = ref_w if (mk or gn) else gw
                o_gn, r_gn = (ow1, or1) if gn else (ow0, or0)
                o_mn, r_mn = (ow1, or1) if (gm or gn) else (ow0, or0)
                din[0], din[1], din[2], din[3] = gin, ref_in if mk else gin, gin, ref_in if gm else gin
                dwt[0], dwt[1], dwt[2], dwt[3] = w_kn, w_kn, ref_w if gn else gw, gw
                dtot[0] = din[0] + dwt[0] + r_gn + o_gn
                dtot[1] = din[1] + dwt[1] + or0 + ow0
                dtot[2] = din[2] + dwt[2] + r_mn + o_mn
                dtot[3] = din[3] + dwt[3] + r_mn + o_mn
                best, bo = dtot[0], 0
                for o in range(1, 4):
                    if dtot[o] < best:
                        best, bo = dtot[o], o
                bad += (tb[0] - tb[0]) + (tb[1] - tb[1]) + (tb[2] - tb[2]) + (c_rd - c_rd) + (drain - drain)
                bad += (dtot[0] - dtot[0]) + (dtot[1] - dtot[1]) + (dtot[2] - dtot[2]) + (dtot[3] - dtot[3])
                bad += (reads[0] - reads[0]) + (reads[1] - reads[1]) + (reads[2] - reads[2])
                vol = (float(tms[i]) * float(tks[j])) * float(tns[ll])
                ls = best / steps / bw
                for d in range(D):
                    cs = comp[d] / steps
                    if nb > 0 and not cs >= c_rd:   # np.maximum(comp / steps, c_rd)
                        cs = c_rd
                    if double:
                        lat = ls + (steps - 1.0) * (cs if cs >= ls else ls) + cs + drain  # noqa: FURB136 (np.maximum)
                    else:
                        lat = steps * (cs + ls) + drain
                    x = np.rint(lat - cc[d])
                    cyc = cc[d] + (x if x >= 0.0 else 0.0)  # noqa: FURB136 (np.maximum(x, 0.0))
                    bad += cyc - cyc
                    if not fits:
                        continue
                    if cyc < best_c or (cyc == best_c and (best < best_dr or (best == best_dr and vol > best_v))):
                        best_c, best_dr, best_v = cyc, best, vol
                        out[0] = OK
                        out[1], out[2], out[3], out[4] = (i * nk + j) * nn + ll, bo, d, cyc
                        out[5], out[6], out[7] = din[bo], dwt[bo], dtot[bo]
                        out[8], out[9], out[10] = reads[0], reads[1], reads[2]
                        out[11], out[12], out[13] = psum, gout, trk
    if bad != 0.0 or (out[0] == OK and not math.isfinite(best_c)):
        out[0] = FALLBACK


def warm() -> None:
    """Compile (or load from numba's cache, `mapper/__pycache__`) the kernel for the argument
    types `fast` passes: `make install` runs this once (a cold compile takes a few seconds)."""
    i1 = np.ones(2, dtype=np.int64)
    f1 = np.ones(2)
    ops = np.array([[0, 2, -1, 2], [1, -1, -1, 1]], dtype=np.int64)
    sc = np.ones(len(SCALARS))
    sc[1:4] = 4.0
    out = np.empty(OUT_LEN)
    latency_kernel(i1, i1, i1, f1, f1, f1, ops, np.full(2, 1e9), np.ones(2), np.ones(1), np.ones(1), sc, out)
    if out[0] != OK:
        raise RuntimeError(f"mapper.fast_jit.warm: the kernel found no winner on its warm-up grid ({out[0]})")
