"""The fast exact mapping search: today's candidate grid, priced on its structure.

`mapper.tiling.search_grid` prices every (tm, tk, tn) x loop order x dataflow candidate in
one call of `hwsim.memory.price_candidates`, each formula on the whole 5-D grid. This
module finds the same mapping (the same lexicographic winner: objective, then fewer DRAM
bytes, then larger tiles, then enumeration order) with the same floating-point operations
per candidate, but evaluates each quantity only over the axes it depends on:

- per GEMM dimension (1-D): trips, padding factors;
- per tile triple (tm x tk x tn, a 3-D broadcast grid): tile bytes, residency, buffer
  fits, SRAM reads (none depends on the loop order or the dataflow). Tiles that fit no
  buffer are dropped here, before the loop orders;
- per feasible tile x loop order: the refetch factors (each operand has one loop it does
  not depend on: it refetches that loop's trips or nothing), DRAM bytes, SRAM writes;
- per dataflow: the core's whole-GEMM compute cycles and actions (scalars; cached by the
  core spec, the GEMM and the formats, so designs that differ only in buffers, clock,
  energy or DRAM share them).

Pruning (each step proven not to drop the winner):

- latency: for one tile triple and dataflow the cycles are non-decreasing in the DRAM bytes
  (IEEE rounding is monotone; fill, steady state and drain all grow with the per-step
  load), and the DRAM bytes are the second key; so only the loop order of fewest DRAM bytes
  (first in enumeration order on a tie, when every derived value is equal too) can win,
  and the dataflows are priced on (tile, dataflow) only;
- energy / EDP: the full feasible tile x order x dataflow grid (two array operations on it).

`tests/mapper` holds the result equal to `search_grid` on every preset x zoo layer and on
random layers, and compares both with an exhaustive search (every candidate, no
`max_per_dim` thinning).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from lowbit.hwsim.cores.base import Action, Dataflow
from lowbit.hwsim.energy import EnergyTable
from lowbit.hwsim.memory import LOOP_ORDERS, GemmShape, halo_scale, operand_bits, padded_m_trips
from lowbit.hwsim.spec import Accelerator, Operand
from lowbit.kernels_ref.formats import Format

__all__ = ["CACHE_SIZE", "clear_cache", "df_compute", "fast_search_split"]

CACHE_SIZE = 4096

_O = len(LOOP_ORDERS)


def _cond_table(a: str, b: str, c: str) -> np.ndarray:
    """[order, 4]: whether an operand depending on loops a, b (not c) refetches c's trips,
    indexed by 2 * (trips_a > 1) + (trips_b > 1): c sits outside the innermost dependent loop
    of more than one trip (`hwsim.memory._refetch`)."""
    out = np.zeros((_O, 4), dtype=bool)
    for o, lo in enumerate(LOOP_ORDERS):
        for code in range(4):
            inner = max(lo.index(a) if code & 2 else -1, lo.index(b) if code & 1 else -1)
            out[o, code] = lo.index(c) < inner
    out.setflags(write=False)
    return out


_COND = {"in": _cond_table("m", "k", "n"), "w": _cond_table("k", "n", "m"), "out": _cond_table("m", "n", "k")}


@functools.lru_cache(maxsize=CACHE_SIZE)
def df_compute(accel_core: tuple[Any, Any], m: int, k: int, n: int, batch: int, k_segment: int, w: Format,
               a: Format, model_key: int = 0) -> tuple[tuple[float, tuple[tuple[Action, float], ...], str], ...]:
    """(whole-GEMM compute cycles, summed actions, ran_as) per dataflow of the core, for a GEMM
    at formats (w, a); keyed by the frozen (family, core spec) only."""
    from lowbit.hwsim.spec import _model_for

    model = _model_for(*accel_core)
    out = []
    for df in model.dataflows:
        tc = model.compute(m, k, n, w, a, df, batch, k_segment=k_segment or None)
        out.append((float(tc.cycles), tuple((act, float(np.sum(v))) for act, v in tc.actions.items()), tc.ran_as))
    return tuple(out)


def clear_cache() -> None:
    """Drop the cached per-dataflow compute (e.g. between timing runs)."""
    df_compute.cache_clear()


def _ceil(a: Any, b: Any) -> Any:
    return -(-np.asarray(a, dtype=np.int64) // np.asarray(b, dtype=np.int64))


def fast_search_split(shape: GemmShape, w: Format, a: Format, accel: Accelerator, objective: str,
                      table: EnergyTable, active: int, tms: np.ndarray, tks: np.ndarray, tns: np.ndarray,
                      dataflows: tuple[Dataflow, ...]) -> tuple[int, float] | None:
    """(flat enumeration index into the (tm, tk, tn, order, dataflow) grid of the winner, its
    objective), or None when no tile triple fits. Same winner as pricing the whole grid."""
    rules = accel.memory
    model = accel.model()
    M, K, N = shape.m, shape.k, shape.n
    nm, nk, nn, D = tms.size, tks.size, tns.size, len(dataflows)
    tm1, tk1, tn1 = np.minimum(tms, M), np.minimum(tks, K), np.minimum(tns, N)
    tm3, tk3, tn3 = tm1[:, None, None], tk1[None, :, None], tn1[None, None, :]
    bits = operand_bits(w, a, None)
    b_in, b_w = bits.input, bits.weight
    b_out = float(rules.output_bits) if rules.output_bits is not None else bits.output

    # ---- per dimension
    trm = padded_m_trips(shape, tm1) if rules.padded_tiles else _ceil(M, tm1)
    trk, trn = _ceil(K, tk1), _ceil(N, tn1)
    if rules.padded_tiles:
        pad_m, pad_k, pad_n = trm * tm1 / float(M), trk * tk1 / float(K), trn * tn1 / float(N)
    trm3, trk3, trn3 = trm[:, None, None], trk[None, :, None], trn[None, None, :]
    steps = shape.batch * trm3 * trk3 * trn3                                        # [m, k, n] int64

    # ---- per dataflow: the core's whole-GEMM compute (cached by core spec + GEMM + formats)
    per_df = df_compute((accel.core_family, accel.core), M, K, N, shape.batch, shape.k_segment, w, a)
    acts: dict[Action, np.ndarray] = {}
    for d, (_, actions, _) in enumerate(per_df):
        for act, v in actions:
            acts.setdefault(act, np.zeros(D))[d] = v
    e_df = np.zeros(D)
    for v in table.breakdown(acts).values():
        e_df = e_df + v

    # ---- traffic, per tile triple
    gemm_in = shape.batch * shape.m * shape.k * b_in / 8.0
    in_scale: Any = shape.input_scale
    in_tile_scale: Any = None
    in_whole_scale: Any = 1.0
    if rules.conv_input_halo and shape.k_segment and shape.conv_window:
        in_tile_scale = halo_scale(shape, tm1)[:, None, None]
        in_scale = in_tile_scale * shape.input_share
        in_whole_scale = halo_scale(shape, shape.m)
    g_in = gemm_in * in_scale
    g_w: Any = shape.batch * shape.k * shape.n * b_w / 8.0 * shape.weight_scale
    g_out: Any = shape.batch * shape.m * shape.n * b_out / 8.0
    if rules.padded_tiles:
        g_in = g_in * pad_m[:, None, None] * pad_k[None, :, None]
        g_w = g_w * pad_k[None, :, None] * pad_n[None, None, :]
        g_out = g_out * pad_m[:, None, None] * pad_n[None, None, :]
    psum_bits = float(model.mapping_hints().accumulator_bits)
    multi_k = trk3 > 1
    psb = np.where(multi_k, psum_bits, b_out)                                       # [1, k, 1]
    tb = {Operand.INPUT: tm3 * tk3 * b_in / 8.0, Operand.WEIGHT: tk3 * tn3 * b_w / 8.0,
          Operand.OUTPUT: tm3 * tn3 * psb / 8.0}
    if in_tile_scale is not None:
        tb[Operand.INPUT] = tb[Operand.INPUT] * in_tile_scale
    whole = {Operand.INPUT: gemm_in * in_whole_scale,
             Operand.WEIGHT: shape.batch * shape.k * shape.n * b_w / 8.0,
             Operand.OUTPUT: shape.batch * shape.m * shape.n * psb / 8.0}
    held: dict[Operand, Any] = dict(tb)
    resident: dict[Operand, Any] = {op: False for op in Operand}
    bufs = []
    for buf in accel.buffers:
        ops = [op for op in buf.operands if accel.buffer_for(op) is buf]
        if ops:
            bufs.append((buf, ops))
        for op in ops:
            others: Any = 0.0
            for o in ops:
                if o is not op:
                    others = others + held[o]
            ok = whole[op] + others <= buf.usable_bytes
            resident[op] = ok
            held[op] = np.where(ok, whole[op], tb[op])
    full = (nm, nk, nn)
    fits = np.ones(full, dtype=bool)
    for buf, ops in bufs:
        used: Any = 0.0
        for op in ops:
            used = used + held[op]
        fits &= used <= buf.usable_bytes
    sel = np.flatnonzero(fits)
    if sel.size == 0:
        return None

    def flat(x: Any) -> Any:  # a broadcastable [m, k, n] quantity at the feasible tiles
        x = np.asarray(x)
        return x if x.ndim == 0 else np.broadcast_to(x, full).reshape(-1)[sel]

    im, ik, inn = np.unravel_index(sel, full)
    psum_bytes = flat(g_out * psum_bits / b_out)
    g_in_f, g_w_f, g_out_f = flat(g_in), flat(g_w), flat(g_out)
    tr_m, tr_k, tr_n = trm[im], trk[ik], trn[inn]
    steps_f = flat(steps)
    s1 = np.maximum(steps_f, 1)

    # ---- per feasible tile x loop order: refetch (hwsim.memory._refetch, one unrelated loop each)
    gm, gk, gn = (tr_m > 1).astype(np.int64), (tr_k > 1).astype(np.int64), (tr_n > 1).astype(np.int64)
    r_in = np.where(_COND["in"][:, 2 * gm + gk], tr_n.astype(np.float64), 1.0)    # [order, tile]
    r_w = np.where(_COND["w"][:, 2 * gk + gn], tr_m.astype(np.float64), 1.0)
    r_out = np.where(_COND["out"][:, 2 * gm + gn], tr_k.astype(np.float64), 1.0)
    r_in = np.where(flat(resident[Operand.INPUT]), 1.0, r_in)
    r_w = np.where(flat(resident[Operand.WEIGHT]), 1.0, r_w)
    r_out = np.where(flat(resident[Operand.OUTPUT]), 1.0, r_out)
    dram_in = g_in_f * r_in
    dram_w = g_w_f * r_w
    dram_out_w = g_out_f + psum_bytes * (r_out - 1)
    dram_out_r = dram_out_w if rules.output_read_before_write else psum_bytes * (r_out - 1)
    dram_total = dram_in + dram_w + dram_out_r + dram_out_w                          # [order, tile]

    # SRAM reads (order-free) and writes (order-dependent) per buffer
    reads = {Operand.INPUT: gemm_in * tr_n,
             Operand.WEIGHT: g_w_f / shape.weight_scale * tr_m,
             Operand.OUTPUT: psum_bytes * (tr_k - 1)}
    multi_f = tr_k > 1
    writes = {Operand.INPUT: dram_in, Operand.WEIGHT: dram_w,
              Operand.OUTPUT: np.where(multi_f, psum_bytes * tr_k, g_out_f)}
    bw = accel.dram.bandwidth_bytes_per_cycle / max(active, 1)
    drain = tm1[im] * tn1[inn] * b_out / 8.0 / bw
    double = bool(bufs) and all(b.double_buffered for b, _ in bufs)
    compute_df = np.array([c for c, _, _ in per_df])
    if rules.padded_tiles:
        compute_f = np.empty((D, sel.size))
        win = shape.conv_window[0] * shape.conv_window[1] if shape.conv_window else 1
        tks_f = tk1[ik]
        seg: Any = None
        if shape.k_segment:
            seg = np.where(tks_f % win == 0, np.minimum(tks_f // win, shape.k_segment), shape.k_segment)
        for d, df in enumerate(dataflows):
            one = model.compute(tm1[im], tks_f, tn1[inn], w, a, df, 1, k_segment=seg)
            compute_f[d] = np.asarray(one.cycles, dtype=np.float64) * steps_f
    else:
        compute_f = compute_df[:, None]                                               # [df, 1]

    def energy_of(wr_in: Any, wr_w: Any) -> np.ndarray:
        sram_e: Any = 0.0
        wrs = {Operand.INPUT: wr_in, Operand.WEIGHT: wr_w, Operand.OUTPUT: writes[Operand.OUTPUT]}
        for buf, ops in bufs:
            bank = buf.size_bytes / buf.banks
            rd: Any = 0.0
            wr: Any = 0.0
            for op in ops:
                rd = rd + reads[op]
            for op in ops:
                wr = wr + wrs[op]
            sram_e = sram_e + (rd * table.sram_j_per_byte(bank) + wr * table.sram_j_per_byte(bank, write=True))
        return sram_e

    def cycles_of(dram_t: np.ndarray, comp: np.ndarray) -> np.ndarray:
        c_step = comp / s1
        for buf, ops in bufs:
            rd: Any = 0.0
            for op in ops:
                rd = rd + reads[op]
            c_step = np.maximum(c_step, rd / s1 / buf.bandwidth_bytes_per_cycle)
        l_step = dram_t / s1 / bw
        if double:
            latency = l_step + (steps_f - 1) * np.maximum(c_step, l_step) + c_step + drain
        else:
            latency = steps_f * (c_step + l_step) + drain
        cc = np.rint(comp)
        return cc + np.maximum(np.rint(latency - cc), 0.0)

    vol = (tms[im] * tks[ik] * tns[inn]).astype(np.float64)
    base_idx = sel * (_O * D)
    if objective == "latency":
        o_best = np.argmin(dram_total, axis=0)                                        # first minimum
        dram_b = np.take_along_axis(dram_total, o_best[None, :], axis=0)[0]
        obj = cycles_of(dram_b[None, :], compute_f)                                   # [df, tile]
        dram_k = dram_b
        idx = base_idx[None, :] + o_best[None, :] * D + np.arange(D)[:, None]
    else:
        # the same sum as Priced.total_energy_j: ((0 + component...) + sram) + dram, per dataflow
        sram_e = energy_of(dram_in, dram_w)
        energy = (e_df[:, None, None] + sram_e[None]) + (dram_total * table.dram_j_per_byte)[None]
        if objective == "energy":
            obj = energy
        else:
            cyc = cycles_of(dram_total[None, :, :], compute_f[:, None, :])
            obj = cyc * energy
        dram_k = dram_total[None]
        idx = base_idx[None, None, :] + np.arange(_O)[None, :, None] * D + np.arange(D)[:, None, None]
    return _first(obj, dram_k, vol, idx)


def _first(obj: np.ndarray, dram: np.ndarray, vol: np.ndarray, idx: np.ndarray) -> tuple[int, float]:
    """(index, objective) of the lexicographic first candidate by (objective, DRAM bytes,
    -volume, index): `np.lexsort` order, found by narrowing to the ties of each key."""
    objf = obj.ravel()
    lo = objf.min()
    if np.isnan(lo):  # NaN sorts last in lexsort; min() would return it
        objf = np.where(np.isnan(objf), np.inf, objf)
        lo = objf.min()
    cand = np.flatnonzero(objf == lo)
    dramf = np.broadcast_to(dram, obj.shape).ravel()[cand]
    cand = cand[dramf == dramf.min()] if cand.size > 1 else cand
    if cand.size > 1:
        volf = np.broadcast_to(vol, obj.shape).ravel()[cand]
        cand = cand[volf == volf.max()]
    idxf = np.broadcast_to(idx, obj.shape).ravel()[cand]
    return int(idxf.min()), float(lo)
