"""Design-free and one-tile helpers of `mapper.fast`: the tile grid's structure (cached by the
GEMM and the candidate sizes), bitmod_sim's whole-layer refetch on scalars, the DRAM bytes of
the four priced loop orders at one tile, and the lexicographic first candidate of a priced grid."""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any, NamedTuple

import numpy as np
from lowbit.hwsim.energy import COMPONENT, EnergyTable
from lowbit.hwsim.memory import (
    LOOP_ORDERS,
    GemmShape,
    _whole_layer_refetch,
    halo_scale,
    padded_m_trips,
)
from lowbit.hwsim.spec import Accelerator, Operand, SramCounts
from lowbit.kernels_ref.errors import InvalidSpecError
from lowbit.kernels_ref.formats import Format

__all__ = ["CACHE_SIZE", "FALLBACK", "Traffic", "Winner", "array_pad", "at1", "book", "check_rules", "first", "jit_latency", "orders_at", "pricing", "structure", "sum_lr", "whole_refetch"]

CACHE_SIZE = 4096
#: entries of `structure`'s cache: each holds 15 full tile-grid arrays (up to ~120 KB at 10
#: candidates a dimension), so 4096 of them reached ~350 MB over 10,000 distinct layers; the
#: compiled latency search (`mapper.fast_jit`) does not use it, the numpy paths re-derive a
#: missing entry in ~60 us (10 x 10 x 10 candidates)
STRUCTURE_CACHE_SIZE = 256
_IN, _W, _OUT = 0, 1, 2


def sum_lr(terms: Any) -> Any:
    """Left-to-right sum of `terms`: the same floats as `0.0 + t0 + t1 ...` (adding +0.0 first
    changes no non-negative byte count), one numpy operation fewer."""
    out: Any = 0.0
    for i, t in enumerate(terms):
        out = t if i == 0 else out + t
    return out


def at1(x: Any, t: int) -> Any:
    """The value at flat tile index t of a full tile-grid array, or a scalar, as a Python number."""
    if isinstance(x, np.ndarray) and x.ndim:
        return x.item(t)
    return x.item() if isinstance(x, np.generic | np.ndarray) else x


@functools.lru_cache(maxsize=STRUCTURE_CACHE_SIZE)
def structure(M: int, K: int, N: int, batch: int, padded_window: tuple[int, ...], tms: tuple[int, ...],
               tks: tuple[int, ...], tns: tuple[int, ...]) -> tuple[np.ndarray, ...]:
    """The design-free part of the tile grid, keyed by the GEMM, the conv window of padded
    m-tiles (`MemoryRules.padded_tiles`; () otherwise) and the candidate sizes (frozen values;
    read-only arrays, each the full (tm, tk, tn) grid): clipped tiles (float64), trips, steps,
    steps - 1, the flags trips > 1 of k, m, n, tm x tn, tm x tk, tk x tn, and the unclipped tile
    volumes (flat). Trips are integers in float64: the integer ceil -(-M // t) equals numpy's
    ceil of the float quotient M / t below 2^53 (the quotient of two such ints rounds to a
    value in the same unit interval or to its integer end)."""
    cm, ck, cn = [min(t, M) for t in tms], [min(t, K) for t in tks], [min(t, N) for t in tns]
    trm_l = padded_m_trips(GemmShape(M, K, N, batch, conv_window=padded_window), np.array(cm)).tolist() \
        if padded_window else [-(-M // t) for t in cm]
    g = np.empty((6, len(cm), len(ck), len(cn)))
    g[0:2] = np.array([cm, trm_l], dtype=np.float64)[:, :, None, None]
    g[2:4] = np.array([ck, [-(-K // t) for t in ck]], dtype=np.float64)[:, None, :, None]
    g[4:6] = np.array([cn, [-(-N // t) for t in cn]], dtype=np.float64)[:, None, None, :]
    g.setflags(write=False)
    tm, trm, tk, trk, tn, trn = g[0], g[1], g[2], g[3], g[4], g[5]
    steps = (batch * trm) * (trk * trn)   # exact integers: the same values as batch * trm * trk * trn
    tmk = tm * tk
    vol = (tmk * tn).ravel() if max(tms) <= M and max(tks) <= K and max(tns) <= N else \
        np.multiply.outer(np.multiply.outer(np.array(tms, dtype=np.float64), tks), tns).ravel()
    flags = g[1::2] > 1  # trips > 1 of m, k, n
    for v in (steps, tmk, vol, flags):
        v.setflags(write=False)
    out = (tm, tk, tn, trm, trk, trn, steps, steps - 1, flags[1], flags[0], flags[2], tm * tn, tmk, tk * tn, vol)
    for v in (out[7], out[11], out[13]):
        v.setflags(write=False)
    return out


def whole_refetch(accel: Accelerator, inp: Any, wgt: Any) -> tuple[Any, Any]:
    """`hwsim.memory._whole_layer_refetch` (DRAM input and weight bytes under
    `MemoryRules.whole_layer_refetch`), on Python floats when both are scalars (the same IEEE
    operations: ceil of the quotient, the two totals compared, one factor each), else itself."""
    bi, bw = accel.buffer_for(Operand.INPUT), accel.buffer_for(Operand.WEIGHT)
    if bi is None or bw is None or np.ndim(inp) or np.ndim(wgt):
        return _whole_layer_refetch(accel, inp, wgt)  # arrays, or its error for a missing buffer
    inp, wgt = float(inp), float(wgt)
    both = wgt > bw.size_bytes and inp > bi.size_bytes
    q_w, q_i = inp / bi.size_bytes, wgt / bw.size_bytes
    if not (math.isfinite(q_w) and math.isfinite(q_i)):
        return _whole_layer_refetch(accel, inp, wgt)
    n_w, n_i = float(math.ceil(q_w)), float(math.ceil(q_i))   # passes: per input / weight buffer load
    refetch_w = n_w * wgt + inp < n_i * inp + wgt
    return inp * (n_i if both and not refetch_w else 1.0), wgt * (n_w if both and refetch_w else 1.0)


def orders_at(t: int, g_in: Any, g_w: Any, g_out: Any, psum: Any, trm: Any, trk: Any,
               trn: Any, resident: list[Any], rbw: bool) -> list[tuple[float, float, float]]:
    """(DRAM input, weight, total bytes) of loop orders mkn, mnk, kmn, knm at tile t (flat): the
    vectorised expressions of `fast_search_split` on Python floats (IEEE double, the same
    operations)."""
    gi, gw, go, ps = at1(g_in, t), at1(g_w, t), at1(g_out, t), at1(psum, t)
    tr_m, tr_k, tr_n = trm.item(t), trk.item(t), trn.item(t)
    res = [None if r is None else bool(at1(r, t)) for r in resident]
    ref_in = gi * (1.0 if res[_IN] else tr_n)
    ref_w = gw * (1.0 if res[_W] else tr_m)
    spill0, spill1 = ps * 0.0, ps * ((1.0 if res[_OUT] else tr_k) - 1)
    ow0, ow1 = go + spill0, go + spill1
    or0, or1 = (ow0, ow1) if rbw else (spill0, spill1)
    gm, gk, gn = tr_m > 1, tr_k > 1, tr_n > 1
    w_kn = ref_w if gk or gn else gw
    i1, i3, w2 = ref_in if gk else gi, ref_in if gm else gi, ref_w if gn else gw
    return [(gi, w_kn, gi + w_kn + (or1 if gn else or0) + (ow1 if gn else ow0)),
            (i1, w_kn, i1 + w_kn + or0 + ow0),
            (gi, w2, gi + w2 + (or1 if gm or gn else or0) + (ow1 if gm or gn else ow0)),
            (i3, gw, i3 + gw + (or1 if gm or gn else or0) + (ow1 if gm or gn else ow0))]


def first(obj: np.ndarray, n_o: int, D: int, dram: Any, vol: np.ndarray) -> tuple[int, int, int, float]:
    """(tile, order, dataflow, objective) of the lexicographic first candidate by (objective,
    DRAM bytes, -volume, enumeration index): `np.lexsort` order, found by narrowing to the ties
    of each key. `obj` is [df, order x tile] (order axis of n_o); `dram` is a scalar or full
    [order, nm, nk, nn] (n_o > 1) or [nm, nk, nn] grid; `vol` the flat unclipped tile volumes."""
    objf = obj.ravel()
    lo = objf.min()
    if math.isnan(lo):  # NaN sorts last in lexsort; min() would return it
        objf = np.where(np.isnan(objf), np.inf, objf)
        lo = objf.min()
    T = vol.size
    if n_o == 1 and D == 1 and np.ndim(dram) == 0:  # the first tile of most volume among the ties
        return int(np.where(objf == lo, vol, -1.0).argmax()), 0, 0, float(lo)
    cand = (objf == lo).nonzero()[0]
    if cand.size == 1:
        d0, rest0 = divmod(int(cand[0]), n_o * T)
        return rest0 % T, rest0 // T, d0, float(lo)
    d, rest = np.divmod(cand, n_o * T)
    o, t = np.divmod(rest, T)
    if np.ndim(dram) > 0:  # a scalar: every candidate moves the same bytes
        dram = np.asarray(dram)
        dr = dram.reshape(-1)[o * T + t if dram.ndim == 4 else t]
        keep = dr == dr.min()
        d, o, t = d[keep], o[keep], t[keep]
    if t.size > 1:
        v = vol[t]
        keep = v == v.max()
        d, o, t = d[keep], o[keep], t[keep]
    key = (t * n_o + o) * D + d  # enumeration order: tile, then order, then dataflow
    i = int(key.argmin())
    return int(t[i]), int(o[i]), int(d[i]), float(lo)


@dataclasses.dataclass(frozen=True)
class Winner:
    """One searched mapping's cost, as `hwsim.memory.price_candidates` books it for that mapping
    alone (per core): cycles, compute cycles, energy by component, DRAM and SRAM bytes, ran_as."""

    cycles: float
    compute_cycles: float
    energy_j: dict[str, float]
    dram_bytes: float
    sram_bytes: float
    ran_as: str


def check_rules(accel: Accelerator, table: EnergyTable | None, per_df: tuple[Any, ...], hints: Any) -> None:
    """The errors price_candidates raises on any candidate, in its order."""
    if accel.memory.sram_counts is SramCounts.ARRAY_STEPS and not all(df_[2] for df_ in per_df):
        raise InvalidSpecError(f"accelerator {accel.name!r}: memory.sram_counts array_steps needs a core "
                               f"that counts its array steps ({accel.core_family.value} does not)")
    pe_cycle_j = table.pe_cycle_j if table is not None else \
        (None if accel.energy.pe_cycle_j is None else float(accel.energy.pe_cycle_j))
    if pe_cycle_j is not None and hints.pe_count < 1:
        raise InvalidSpecError(f"accelerator {accel.name!r}: energy.pe_cycle_j needs a core that states its "
                               f"PE count ({accel.core_family.value} does not)")


def pricing(accel: Accelerator, table: EnergyTable | None) -> tuple[EnergyTable, tuple[tuple[float, float], ...]]:
    """The energy table a mapping is booked with (`table`, else the accelerator's own) and the
    SRAM read / write joules per byte of each operand-holding buffer (`layout` order) under it;
    kept in the (frozen) accelerator's instance dict for the last table seen (by identity:
    `hwsim.evaluate` passes one table object per design)."""
    got = accel.__dict__.get("_fast_pricing")
    if got is not None and got[0] is table:
        return got[1], got[2]
    tbl = table if table is not None else \
        EnergyTable.for_node(accel.node_nm, accel.energy, accel.dram.energy_j_per_byte)
    prices = _sram_prices(tbl, accel)
    accel.__dict__["_fast_pricing"] = (table, tbl, prices)
    return tbl, prices


def _sram_prices(tbl: EnergyTable, accel: Accelerator) -> tuple[tuple[float, float], ...]:
    out = []
    seen: list[Operand] = []
    for buf in accel.buffers:  # the buffers `fast._layout` keeps: those holding an operand first
        if any(op not in seen for op in buf.operands):
            j_rd, j_wr = buf.sram_j_per_byte(), buf.sram_j_per_byte(write=True)
            bank = buf.size_bytes / buf.banks
            out.append((tbl.sram_j_per_byte(bank) if j_rd is None else j_rd,
                        tbl.sram_j_per_byte(bank, write=True) if j_wr is None else j_wr))
        seen.extend(buf.operands)
    return tuple(out)


def book(accel: Accelerator, table: EnergyTable | None, layout: Any, hints: Any, per_df: tuple[Any, ...], d: int,
         cc_t: float, rd3: tuple[float, float, float], writes_t: tuple[float, float, float], dram_t: float,
         cycles: float, g_out_t: float) -> Winner:
    """One mapping's cost as price_candidates books it (`MemoryRules.sram_counts` tiles, or
    array_steps without padded tiles), on Python floats: its dataflow d, compute cycles cc_t,
    SRAM reads and writes per operand (the tile traffic: SRAM bytes, and the energy under
    tiles), DRAM bytes, cycles and the output's bytes (written once under array_steps)."""
    tbl, sram_j = pricing(accel, table)
    e_rd3, e_wr3 = rd3, writes_t
    if accel.memory.sram_counts is SramCounts.ARRAY_STEPS:  # bitmod_sim: one port word per array step
        steps = per_df[d][4]
        e_rd3 = (_port_reads(accel, Operand.INPUT, steps), _port_reads(accel, Operand.WEIGHT, steps), 0.0)
        e_wr3 = (writes_t[0], writes_t[1], g_out_t)
    sram_e = sram_b = 0.0
    for (ops, _, _, _), (p_rd, p_wr) in zip(layout, sram_j):
        sram_e += sum_lr(e_rd3[op] for op in ops) * p_rd + sum_lr(e_wr3[op] for op in ops) * p_wr
        sram_b += sum_lr(rd3[op] for op in ops) + sum_lr(writes_t[op] for op in ops)
    if tbl.pe_cycle_j is not None:
        energy: dict[str, float] = {"pe": tbl.pe_cycle_j * hints.pe_count * cc_t}
    else:  # EnergyTable.breakdown on Python floats (the same IEEE products and sums)
        energy = {}
        for act, n in per_df[d][1]:
            comp = COMPONENT.get(act.kind)
            if comp is None:
                tbl.breakdown({act: n})  # its error
            energy[comp] = energy.get(comp, 0.0) + tbl.price(act) * n
    energy["sram"] = float(sram_e)
    energy["dram"] = dram_t * tbl.dram_j_per_byte
    return Winner(cycles=float(cycles), compute_cycles=cc_t, energy_j=energy, dram_bytes=dram_t,
                  sram_bytes=float(sram_b), ran_as=per_df[d][3])


def _port_reads(accel: Accelerator, op: Operand, steps: float) -> float:
    """Bytes read from the buffer holding `op` at one port word (its `read_bytes_per_access`,
    else its bandwidth per cycle) per array step; 0 where the operand streams from DRAM."""
    buf = accel.buffer_for(op)
    return 0.0 if buf is None else steps * float(buf.read_bytes_per_access or buf.bandwidth_bytes_per_cycle)


#: `jit_latency`'s answer where the numpy search decides
FALLBACK = object()


@functools.lru_cache(maxsize=CACHE_SIZE)
def _cands(t: tuple[int, ...]) -> np.ndarray:
    return np.array(t, dtype=np.int64)


@functools.lru_cache(maxsize=64)
def _ones(n: int) -> np.ndarray:
    return np.ones(n)  # (writable, as every kernel argument is: numba types read-only arrays apart)


class Traffic(NamedTuple):
    """A GEMM's tile-independent bytes (`fast.fast_search_split`'s expressions, computed once for
    both of its paths): the im2col'd input, the weight (times its share), the output, and each
    operand whole as the buffers hold it (the input with its halo, the output at accumulator
    width when K is split or at its own); and whether the conv input halo applies."""

    gemm_in: float
    g_w: float
    g_out: float
    whole_in: float
    whole_w: float
    whole_psum: float
    whole_out: float
    halo: bool

    @classmethod
    def of(cls, shape: GemmShape, b_in: float, b_w: float, b_out: float, psum_bits: float, halo: bool) -> Traffic:
        gemm_in = shape.batch * shape.m * shape.k * b_in / 8.0
        w_bytes = shape.batch * shape.k * shape.n * b_w / 8.0
        bmn = shape.batch * shape.m * shape.n
        return cls(gemm_in, w_bytes * shape.weight_scale, bmn * b_out / 8.0,
                   gemm_in * (halo_scale(shape, shape.m) if halo else 1.0), w_bytes, bmn * psum_bits / 8.0,
                   bmn * b_out / 8.0, halo)


def array_pad(model: Any, hints: Any, w: Format, a: Format, tk: Any, tn: Any) -> tuple[Any, Any]:
    """`MemoryRules.array_padding` (Bit Fusion): the factors by which weight tiles of `tk` rows
    grow when padded to N x perf-factor rows, and output tiles of `tn` columns when padded to
    the array's columns; elementwise in the clipped tile sizes (grid or per-dimension arrays)."""
    per_pe = model.peak_macs_per_cycle(w, a) / float(hints.pad_k_rows * hints.pad_n)
    kq = hints.pad_k_rows * max(1, round(per_pe))
    return np.ceil(tk / kq) * kq / tk, np.ceil(tn / hints.pad_n) * hints.pad_n / tn


def jit_latency(fj: Any, shape: GemmShape, w: Format, a: Format, accel: Accelerator, table: EnergyTable | None,
                tms: tuple[int, ...], tks: tuple[int, ...], tns: tuple[int, ...], per_df: tuple[Any, ...],
                comp_l: list[float], cc_l: list[float], priced: bool, bits4: tuple[float, ...], tr: Traffic,
                bw: float, layout: Any, double: bool, buf_arrays: tuple[np.ndarray, ...], hints: Any) -> Any:
    """`fast.fast_search_split`'s latency result through the compiled kernel `fj`
    (`mapper.fast_jit`), or `FALLBACK` where the kernel leaves it to numpy (a non-finite
    intermediate)."""
    rules = accel.memory
    b_in, b_w, b_out, psum_bits = bits4
    M, K, N = shape.m, shape.k, shape.n
    cm, ck, cn = _cands(tms), _cands(tks), _cands(tns)
    in_tile, pad_w, pad_out = _ones(len(tms)), _ones(len(tks)), _ones(len(tns))
    if tr.halo:  # elementwise in the clipped tm, as on the grid
        in_tile = np.asarray(halo_scale(shape, np.minimum(cm, M).astype(np.float64)), dtype=np.float64)
    if rules.array_padding:
        pad_w, pad_out = array_pad(accel.model(), hints, w, a, np.minimum(ck, K).astype(np.float64),
                                   np.minimum(cn, N).astype(np.float64))
    sc = np.array([shape.batch, M, K, N, tr.gemm_in, tr.gemm_in * shape.input_scale, shape.input_share, tr.g_w,
                   tr.g_out, b_in / 8.0, b_w / 8.0, b_out / 8.0, psum_bits / 8.0, psum_bits, b_out, tr.whole_in,
                   tr.whole_w, tr.whole_psum, tr.whole_out, bw, shape.weight_scale, double,
                   accel.memory.output_read_before_write, tr.halo], dtype=np.float64)
    out = np.empty(fj.OUT_LEN)
    fj.latency_kernel(cm, ck, cn, in_tile, pad_w, pad_out, *buf_arrays, np.array(comp_l), np.array(cc_l), sc, out)
    r = out.tolist()
    if r[0] == fj.FALLBACK:
        return FALLBACK
    if r[0] == fj.NO_FIT:
        return None
    check_rules(accel, table, per_df, hints)
    t, o, d, lo = int(r[1]), int(r[2]), int(r[3]), r[4]
    idx = (t * len(LOOP_ORDERS) + o) * len(per_df) + d
    if not priced:
        return idx, lo
    if rules.sram_counts is SramCounts.STATIONARY_INNER:
        return idx, lo, None
    writes_t = (r[5], r[6], r[11] * r[13] if r[13] > 1 else r[12])
    return idx, lo, book(accel, table, layout, hints, per_df, d, cc_l[d], (r[8], r[9], r[10]), writes_t, r[7], lo,
                         r[12])
