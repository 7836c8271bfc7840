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

import dataclasses
import functools
from typing import Any

import numpy as np
from lowbit.hwsim.cores.base import Action, Dataflow
from lowbit.hwsim.energy import EnergyTable
from lowbit.hwsim.memory import LOOP_ORDERS, GemmShape, halo_scale, operand_bits, padded_m_trips
from lowbit.hwsim.spec import Accelerator, MemoryRules, Operand
from lowbit.kernels_ref.formats import Format

__all__ = ["CACHE_SIZE", "HANDLED_RULES", "clear_cache", "df_compute", "fast_search_split", "handles"]

CACHE_SIZE = 4096

_O = len(LOOP_ORDERS)

# the `MemoryRules` fields this module prices like `hwsim.memory.price_candidates`; a spec that
# sets any other rule away from its default is searched by `mapper.tiling.search_grid` instead
HANDLED_RULES = frozenset({"output_bits", "output_read_before_write", "im2col_input", "conv_input_halo",
                           "padded_tiles"})


def handles(rules: MemoryRules) -> bool:
    """Whether every memory rule `rules` sets is one this module prices."""
    return all(f.name in HANDLED_RULES or getattr(rules, f.name) == f.default for f in dataclasses.fields(rules))


def _variant_table(a: str, b: str, c: str) -> tuple[int, ...]:
    """Per loop order, which refetch an operand depending on loops a, b (not c) sees
    (`hwsim.memory._refetch`): it refetches c's trips when c sits outside the innermost
    dependent loop of more than one trip. 0: never; 1: when a has > 1 trip; 2: when b has;
    3: when either has (c outside both)."""
    out = []
    for lo in LOOP_ORDERS:
        pa, pb, pc = lo.index(a), lo.index(b), lo.index(c)
        out.append((1 if pc < pa else 0) | (2 if pc < pb else 0) if not (pc < pa and pc < pb) else 3)
    return tuple(out)


_VARIANT = {"in": _variant_table("m", "k", "n"), "w": _variant_table("k", "n", "m"),
            "out": _variant_table("m", "n", "k")}


class CoreKey:
    """A core model seen through its frozen (family, spec): hash / equality by those."""

    __slots__ = ("key", "model")

    def __init__(self, accel: Accelerator) -> None:
        self.model = accel.model()
        self.key = (accel.core_family, accel.core)

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CoreKey) and self.key == other.key


@functools.lru_cache(maxsize=CACHE_SIZE)
def df_compute(core: CoreKey, m: int, k: int, n: int, batch: int, k_segment: int, w: Format,
               a: Format) -> tuple[tuple[float, tuple[tuple[Action, float], ...]], ...]:
    """(whole-GEMM compute cycles, summed actions) per dataflow of the core, for a GEMM at
    formats (w, a); keyed by the frozen (family, core spec) only."""
    out = []
    for df in core.model.dataflows:
        tc = core.model.compute(m, k, n, w, a, df, batch, k_segment=k_segment or None)
        out.append((float(tc.cycles), tuple((act, float(np.sum(v))) for act, v in tc.actions.items())))
    return tuple(out)


@functools.lru_cache(maxsize=CACHE_SIZE)
def _bits(w: Format, a: Format) -> tuple[float, float, float]:
    b = operand_bits(w, a, None)
    return b.input, b.weight, b.output


@functools.lru_cache(maxsize=256)
def _grid_index(nm: int, nk: int, nn: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flat (i_m, i_k, i_n) of every tile triple, in enumeration order (read-only)."""
    out = tuple(np.ascontiguousarray(v.reshape(-1)) for v in np.indices((nm, nk, nn)))
    for v in out:
        v.setflags(write=False)
    return out  # type: ignore[return-value]


def clear_cache() -> None:
    """Drop the cached per-dataflow compute, format widths and grid indices (timing runs)."""
    df_compute.cache_clear()
    _bits.cache_clear()
    _grid_index.cache_clear()


def _ceil(a: Any, b: Any) -> Any:
    return -(-np.asarray(a, dtype=np.int64) // np.asarray(b, dtype=np.int64))


def fast_search_split(shape: GemmShape, w: Format, a: Format, accel: Accelerator, objective: str,
                      table: EnergyTable, active: int, tms: np.ndarray, tks: np.ndarray, tns: np.ndarray,
                      dataflows: tuple[Dataflow, ...]) -> tuple[int, float] | None:
    """(flat enumeration index into the (tm, tk, tn, order, dataflow) grid of the winner, its
    objective), or None when no tile triple fits. Same winner as pricing the whole grid.

    Every quantity below is the expression `hwsim.memory.price_candidates` computes, with the
    same operations in the same order (so the same floats), on the flat tile-triple axis."""
    rules = accel.memory
    model = accel.model()
    M, K, N = shape.m, shape.k, shape.n
    D = len(dataflows)
    tm1, tk1, tn1 = np.minimum(tms, M), np.minimum(tks, K), np.minimum(tns, N)
    b_in, b_w, b_out = _bits(w, a)
    if rules.output_bits is not None:
        b_out = float(rules.output_bits)

    # ---- per dimension, then gathered onto the flat tile-triple axis
    trm = padded_m_trips(shape, tm1) if rules.padded_tiles else _ceil(M, tm1)
    trk, trn = _ceil(K, tk1), _ceil(N, tn1)
    im, ik, inn = _grid_index(tms.size, tks.size, tns.size)
    tm, tk, tn = tm1[im], tk1[ik], tn1[inn]
    tr_m, tr_k, tr_n = trm[im], trk[ik], trn[inn]
    steps = shape.batch * tr_m * tr_k * tr_n
    s1 = np.maximum(steps, 1)

    # ---- per dataflow: the core's whole-GEMM compute (cached by core spec + GEMM + formats)
    per_df = df_compute(CoreKey(accel), M, K, N, shape.batch, shape.k_segment, w, a)

    # ---- traffic, per tile triple
    gemm_in = shape.batch * shape.m * shape.k * b_in / 8.0
    in_scale: Any = shape.input_scale
    in_tile_scale: Any = None
    in_whole_scale: Any = 1.0
    if rules.conv_input_halo and shape.k_segment and shape.conv_window:
        in_tile_scale = halo_scale(shape, tm1)[im]
        in_scale = in_tile_scale * shape.input_share
        in_whole_scale = halo_scale(shape, shape.m)
    g_in = gemm_in * in_scale
    g_w: Any = shape.batch * shape.k * shape.n * b_w / 8.0 * shape.weight_scale
    g_out: Any = shape.batch * shape.m * shape.n * b_out / 8.0
    if rules.padded_tiles:
        pad_m, pad_k, pad_n = (trm * tm1 / float(M))[im], (trk * tk1 / float(K))[ik], (trn * tn1 / float(N))[inn]
        g_in = g_in * pad_m * pad_k
        g_w = g_w * pad_k * pad_n
        g_out = g_out * pad_m * pad_n
    psum_bits = float(model.mapping_hints().accumulator_bits)
    multi_k = tr_k > 1
    psb = np.where(multi_k, psum_bits, b_out)
    tb = {Operand.INPUT: tm * tk * b_in / 8.0, Operand.WEIGHT: tk * tn * b_w / 8.0,
          Operand.OUTPUT: tm * tn * psb / 8.0}
    if in_tile_scale is not None:
        tb[Operand.INPUT] = tb[Operand.INPUT] * in_tile_scale
    whole = {Operand.INPUT: gemm_in * in_whole_scale,
             Operand.WEIGHT: shape.batch * shape.k * shape.n * b_w / 8.0,
             Operand.OUTPUT: shape.batch * shape.m * shape.n * psb / 8.0}
    held: dict[Operand, Any] = dict(tb)
    resident: dict[Operand, Any] = {op: None for op in Operand}
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
    fits = np.ones(tm.shape, dtype=bool)
    for buf, ops in bufs:
        used: Any = 0.0
        for op in ops:
            used = used + held[op]
        fits &= used <= buf.usable_bytes
    if not fits.any():
        return None
    psum_bytes = g_out * psum_bits / b_out

    # ---- per tile x loop order: refetch (hwsim.memory._refetch: one unrelated loop each)
    gm, gk, gn = tr_m > 1, multi_k, tr_n > 1
    one = np.ones(tr_m.shape)
    r_in = _refetch_by_order(_VARIANT["in"], gm, gk, tr_n, resident[Operand.INPUT], one)    # [order, tile]
    r_w = _refetch_by_order(_VARIANT["w"], gk, gn, tr_m, resident[Operand.WEIGHT], one)
    r_out = _refetch_by_order(_VARIANT["out"], gm, gn, tr_k, resident[Operand.OUTPUT], one)
    dram_in = g_in * r_in
    dram_w = g_w * r_w
    spill = psum_bytes * (r_out - 1)
    dram_out_w = g_out + spill
    dram_total = dram_in + dram_w + (dram_out_w if rules.output_read_before_write else spill) + dram_out_w

    # SRAM reads (order-free) per buffer; writes (order-dependent) for the energy
    reads = {Operand.INPUT: gemm_in * tr_n,
             Operand.WEIGHT: g_w / shape.weight_scale * tr_m,
             Operand.OUTPUT: psum_bytes * (tr_k - 1)}
    bw = accel.dram.bandwidth_bytes_per_cycle / max(active, 1)
    double = bool(bufs) and all(b.double_buffered for b, _ in bufs)
    if rules.padded_tiles:
        compute = np.empty((D, tm.size))
        win = shape.conv_window[0] * shape.conv_window[1] if shape.conv_window else 1
        seg: Any = None
        if shape.k_segment:
            seg = np.where(tk % win == 0, np.minimum(tk // win, shape.k_segment), shape.k_segment)
        for d, df in enumerate(dataflows):
            one = model.compute(tm, tk, tn, w, a, df, 1, k_segment=seg)
            compute[d] = np.asarray(one.cycles, dtype=np.float64) * steps
    else:
        compute = np.array([[c] for c, _ in per_df])                                 # [df, 1]

    def cycles_of(dram_t: np.ndarray, comp: np.ndarray) -> np.ndarray:
        c_step = comp / s1
        for buf, ops in bufs:
            rd: Any = 0.0
            for op in ops:
                rd = rd + reads[op]
            c_step = np.maximum(c_step, rd / s1 / buf.bandwidth_bytes_per_cycle)
        l_step = dram_t / s1 / bw
        drain = tm * tn * b_out / 8.0 / bw
        if double:
            latency = l_step + (steps - 1) * np.maximum(c_step, l_step) + c_step + drain
        else:
            latency = steps * (c_step + l_step) + drain
        cc = np.rint(comp)
        return cc + np.maximum(np.rint(latency - cc), 0.0)

    def vol(c: np.ndarray) -> np.ndarray:  # tile volume (unclipped, as the grid search) of tiles c
        return (tms[im[c]] * tks[ik[c]] * tns[inn[c]]).astype(np.float64)

    base_idx = np.arange(tm.size) * (_O * D)
    if objective == "latency":
        o_best = np.argmin(dram_total, axis=0)                                        # first minimum
        dram_b = np.take_along_axis(dram_total, o_best[None, :], axis=0)[0]
        obj = np.where(fits, cycles_of(dram_b, compute), np.inf)                      # [df, tile]
        idx = base_idx + o_best * D + np.arange(D)[:, None]
        return _first(obj, dram_b, vol, idx, base_idx)
    # the same sum as Priced.total_energy_j: ((0 + component...) + sram) + dram, per dataflow
    acts: dict[Action, np.ndarray] = {}
    for d, (_, actions) in enumerate(per_df):
        for act, v in actions:
            acts.setdefault(act, np.zeros(D))[d] = v
    e_df: Any = np.zeros(D)
    for v in table.breakdown(acts).values():
        e_df = e_df + v
    writes = {Operand.INPUT: dram_in, Operand.WEIGHT: dram_w,
              Operand.OUTPUT: np.where(multi_k, psum_bytes * tr_k, g_out)}
    sram_e: Any = 0.0
    for buf, ops in bufs:
        bank = buf.size_bytes / buf.banks
        rd: Any = 0.0
        wr: Any = 0.0
        for op in ops:
            rd = rd + reads[op]
        for op in ops:
            wr = wr + writes[op]
        sram_e = sram_e + (rd * table.sram_j_per_byte(bank) + wr * table.sram_j_per_byte(bank, write=True))
    energy = (e_df[:, None, None] + sram_e) + dram_total * table.dram_j_per_byte     # [df, order, tile]
    obj = energy if objective == "energy" else cycles_of(dram_total, compute[:, None, :]) * energy
    obj = np.where(fits, obj, np.inf)
    idx = base_idx + np.arange(_O)[:, None] * D + np.arange(D)[:, None, None]
    return _first(obj, dram_total, vol, idx, base_idx)

def _refetch_by_order(variant: tuple[int, ...], ga: np.ndarray, gb: np.ndarray, trips_c: np.ndarray,
                      resident: Any, one: np.ndarray) -> np.ndarray:
    """[order, tile] refetch factor of an operand: c's trips (float) or 1, and 1 when resident."""
    tc = trips_c if resident is None else np.where(resident, 1.0, trips_c)
    rows = (one, np.where(ga, tc, 1.0), np.where(gb, tc, 1.0), np.where(ga | gb, tc, 1.0))
    return np.stack([rows[v] for v in variant])


def _first(obj: np.ndarray, dram: np.ndarray, vol: Any, idx: np.ndarray, base_idx: np.ndarray) -> tuple[int, float]:
    """(index, objective) of the lexicographic first candidate by (objective, DRAM bytes,
    -volume, index): `np.lexsort` order, found by narrowing to the ties of each key."""
    objf = obj.ravel()
    lo = objf.min()
    if np.isnan(lo):  # NaN sorts last in lexsort; min() would return it
        objf = np.where(np.isnan(objf), np.inf, objf)
        lo = objf.min()
    cand = np.flatnonzero(objf == lo)
    if cand.size > 1:
        dramf = np.broadcast_to(dram, obj.shape).ravel()[cand]
        cand = cand[dramf == dramf.min()]
    idxf = np.broadcast_to(idx, obj.shape).ravel()[cand]
    if cand.size > 1:
        volf = vol(idxf // base_idx[1] if base_idx.size > 1 else idxf * 0)
        idxf = idxf[volf == volf.max()]
    return int(idxf.min()), float(lo)
