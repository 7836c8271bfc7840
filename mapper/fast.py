"""The fast exact mapping search: today's candidate grid, priced on its structure.

`mapper.tiling.search_grid` prices every (tm, tk, tn) x loop order x dataflow candidate in
one call of `hwsim.memory.price_candidates`, each formula on the whole 5-D grid. This
module finds the same mapping (the same lexicographic winner: objective, then fewer DRAM
bytes, then larger tiles, then enumeration order) with the same floating-point operations
per candidate, but evaluates each quantity only once per tile triple, on full (nm, nk, nn)
grid arrays (same-shape numpy operations: a broadcasting one costs 2-3x as much at these
sizes), or as a scalar where it does not depend on the tile:

- per tile triple: clipped tiles, trips, steps, tile bytes, residency, buffer fits, the
  drain, SRAM reads (the design-free ones cached by GEMM + candidate sizes, `_structure`);
- per tile x loop order: DRAM bytes (each operand refetches its unrelated loop's trips or
  nothing);
- per dataflow: the core's whole-GEMM compute cycles and actions (scalars; cached by the
  core spec, the GEMM and the formats, so designs that differ only in buffers, clock,
  energy or DRAM share them);
- at one tile (the winner's loop orders, its priced cost): Python floats, the same IEEE
  operations.

Pruning (each step proven not to drop the winner):

- loop orders: only mkn, mnk, kmn and knm are priced. With G the dimensions of more than one
  trip, an operand refetches (trips of its unrelated loop c > 1) exactly when c sits outside a
  dependent loop in G; over the six orders that leaves at most three refetch patterns, and
  nmk / nkm always repeat the pattern of an earlier order (G = {m,k,n}: nmk = mnk, nkm = knm;
  {m,k}: nmk = mkn, nkm = kmn; {m,n}: both = knm; {k,n}: both = mnk; one or none: all = mkn).
  Equal patterns give equal refetch factors, so the same floats for every cost, and the
  earlier order wins the enumeration-order tie;
- latency: for one tile triple and dataflow the cycles are non-decreasing in the DRAM bytes
  (IEEE rounding is monotone; fill, steady state and drain all grow with the per-step
  load), and the DRAM bytes are the second key; so only the loop order of fewest DRAM bytes
  (first in enumeration order on a tie) can win, and the dataflows are priced on
  (tile, dataflow) only;
- latency, dataflows: every candidate's cycles are at least its dataflow's whole-GEMM compute
  cycles (cycles = cc + max(rint(latency - cc), 0)); the dataflow of fewest compute cycles is
  priced first and a dataflow whose compute cycles exceed its best cycles is not priced;
- latency, whole-layer refetch with scalar DRAM bytes: the cycles do not depend on the tile,
  so the first fitting tile of most volume wins, with the first dataflow of fewest cycles;
- latency, multi-core layers: the M split (`mapper.tiling`) is kept only where it prices
  strictly below the N split, so it is not priced once its fewest compute cycles reach the
  N split's best (`cutoff`);
- energy / EDP: the feasible tile x four orders x dataflow grid (a few array operations).

`tests/mapper` holds the result equal to `search_grid` on every preset x zoo layer and on
random layers and designs (every memory rule), and compares both with an exhaustive search
(every candidate, no `max_per_dim` thinning).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any

import numpy as np
from lowbit.hwsim.cores.base import Action, Dataflow
from lowbit.hwsim.energy import EnergyTable
from lowbit.hwsim.memory import (
    LOOP_ORDERS,
    GemmShape,
    _whole_layer_refetch,
    halo_scale,
    operand_bits,
    padded_m_trips,
)
from lowbit.hwsim.spec import Accelerator, BufferSpec, MemoryRules, Operand, SramCounts
from lowbit.kernels_ref.errors import InvalidSpecError
from lowbit.kernels_ref.formats import Format

__all__ = ["CACHE_SIZE", "HANDLED_RULES", "LATENCY_FREE_RULES", "Winner", "clear_cache", "df_compute",
           "fast_search_split", "handles"]

CACHE_SIZE = 4096

_O = len(LOOP_ORDERS)
_IN, _W, _OUT = 0, 1, 2
_OPS = (Operand.INPUT, Operand.WEIGHT, Operand.OUTPUT)

# the `MemoryRules` fields this module prices like `hwsim.memory.price_candidates`; a spec that
# sets any other rule away from its default is searched by `mapper.tiling.search_grid` instead
HANDLED_RULES = frozenset({"output_bits", "output_read_before_write", "im2col_input", "conv_input_halo",
                           "padded_tiles", "whole_layer_refetch", "array_padding"})
# rules that change only the energy (`sram_counts`): any value is handled for the latency objective
# (without padded tiles, whose per-tile array steps this module does not count)
LATENCY_FREE_RULES = frozenset({"sram_counts"})


def handles(rules: MemoryRules, objective: str = "energy") -> bool:
    """Whether every memory rule `rules` sets is one this module prices for `objective`."""
    free = HANDLED_RULES | LATENCY_FREE_RULES if objective == "latency" and not rules.padded_tiles \
        else HANDLED_RULES
    defaults = _RULE_DEFAULTS if type(rules) is MemoryRules else \
        tuple((f.name, f.default) for f in dataclasses.fields(rules))
    return all(name in free or getattr(rules, name) == default for name, default in defaults)


_RULE_DEFAULTS = tuple((f.name, f.default) for f in dataclasses.fields(MemoryRules))


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
               a: Format) -> tuple[tuple[float, tuple[tuple[Action, float], ...], bool, str], ...]:
    """(whole-GEMM compute cycles, summed actions, whether it counts array steps, ran_as) per
    dataflow of the core, for a GEMM at formats (w, a); keyed by the frozen (family, core spec) only."""
    out = []
    for df in core.model.dataflows:
        tc = core.model.compute(m, k, n, w, a, df, batch, k_segment=k_segment or None)
        out.append((float(tc.cycles), tuple((act, _total(v)) for act, v in tc.actions.items()),
                    tc.steps is not None, tc.ran_as))
    return tuple(out)


def _total(v: Any) -> float:
    """float(np.sum(v)), without numpy for a Python number (the same value)."""
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else float(np.sum(v))


def _layout(buffers: tuple[BufferSpec, ...]) -> tuple[tuple[tuple[tuple[int, ...], float, float, BufferSpec], ...],
                                                       bool]:
    """Per buffer that holds an operand (`Accelerator.buffer_for`: the first buffer listing it):
    (operand indices in its listed order, usable bytes, bandwidth, the buffer); and whether
    the tile timeline is double-buffered (every such buffer is). A few Python steps: not cached
    (hashing the buffer specs would cost more)."""
    seen: list[Operand] = []
    out, double = [], True
    for b in buffers:
        ops = tuple(_OPS.index(op) for op in b.operands if op not in seen)
        seen.extend(b.operands)
        if ops:
            out.append((ops, b.usable_bytes, b.bandwidth_bytes_per_cycle, b))
            double = double and b.double_buffered
    return tuple(out), bool(out) and double


def clear_cache() -> None:
    """Drop the cached per-dataflow compute and tile-grid structure (timing runs)."""
    df_compute.cache_clear()
    _structure.cache_clear()


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


_EXACT_INT = 2 ** 53  # below it every integer product here is exact in float64


def _sel(cond: Any, a: Any, b: Any) -> Any:
    """np.where(cond, a, b), with a Python branch for a scalar condition (same values)."""
    if isinstance(cond, (bool, np.bool_)):
        return a if cond else b
    return np.where(cond, a, b)


def _sum(terms: Any) -> Any:
    """Left-to-right sum of `terms`: the same floats as `0.0 + t0 + t1 ...` (adding +0.0 first
    changes no non-negative byte count), one numpy operation fewer."""
    out: Any = 0.0
    for i, t in enumerate(terms):
        out = t if i == 0 else out + t
    return out


def _at1(x: Any, t: int) -> Any:
    """The value at flat tile index t of a full tile-grid array, or a scalar, as a Python number."""
    if isinstance(x, np.ndarray) and x.ndim:
        return x.item(t)
    return x.item() if isinstance(x, np.generic | np.ndarray) else x


def fast_search_split(shape: GemmShape, w: Format, a: Format, accel: Accelerator, objective: str,
                      table: EnergyTable | None, active: int, tms: Any, tks: Any, tns: Any,
                      dataflows: tuple[Dataflow, ...], priced: bool = False,
                      cutoff: float = math.inf) -> tuple[Any, ...] | None:
    """(flat enumeration index into the (tm, tk, tn, order, dataflow) grid of the winner, its
    objective), or None when no tile triple fits (or, beyond 2^53 per GEMM, when the caller
    should price the whole grid). Same winner as pricing the whole grid. With `priced` (latency
    objective) a third item: the winner's `Winner` cost (what `hwsim.memory.price_candidates`
    returns for that one mapping), or None where this module does not price it
    (`MemoryRules.sram_counts` other than tiles). With a finite `cutoff` (latency): `(None,
    inf)` when no candidate can price below it (every candidate's cycles are at least the
    smallest whole-GEMM compute cycles over the dataflows); the caller keeps a candidate only
    if it is strictly below the cutoff.

    Every quantity below is the expression `hwsim.memory.price_candidates` computes, with the
    same operations in the same order (so the same floats), on full (tm, tk, tn) grid arrays
    (same-shape numpy operations) or, at one tile, on Python floats (IEEE double: the same
    values). Tile sizes and trips are integers in float64 (exact: the GEMM's batch x M x K x N
    < 2^53 bounds every product of them)."""
    rules = accel.memory
    model = accel.model()
    padded = rules.padded_tiles
    M, K, N = shape.m, shape.k, shape.n
    if shape.batch * M * K * N >= _EXACT_INT or min(shape.batch, M, K, N) < 1:
        return None
    tms, tks, tns = (t if type(t) is tuple else tuple(t.tolist()) for t in (tms, tks, tns))
    nm, nk, nn = len(tms), len(tks), len(tns)
    shape3 = (nm, nk, nn)
    D = len(dataflows)

    # ---- per dataflow: the core's whole-GEMM compute (cached by core spec + GEMM + formats)
    per_df = df_compute(CoreKey(accel), M, K, N, shape.batch, shape.k_segment, w, a)
    comp_l = [df_[0] for df_ in per_df]
    cc_l = [float(round(c)) if math.isfinite(c) else c for c in comp_l]  # = np.rint (half to even)
    if cutoff < math.inf and objective == "latency" and not padded and not any(map(math.isnan, cc_l)) \
            and min(cc_l) >= cutoff:
        return None, math.inf  # cycles = cc + max(rint(latency - cc), 0) >= cc >= the cutoff

    st = _structure(M, K, N, shape.batch, shape.conv_window if padded else (), tms, tks, tns)
    tm, tk, tn, trm, trk, trn, steps, steps_m1, multi_k, gm, gn, tmn, tmk, tkn, vol = st
    bits = operand_bits(w, a, None)
    b_in, b_w, b_out = bits.input, bits.weight, bits.output
    if rules.output_bits is not None:
        b_out = float(rules.output_bits)
    s1 = steps  # = np.maximum(steps, 1): batch and every trip count are >= 1

    # ---- traffic
    gemm_in = shape.batch * shape.m * shape.k * b_in / 8.0
    in_scale: Any = shape.input_scale
    in_tile_scale: Any = None
    in_whole_scale: Any = 1.0
    if rules.conv_input_halo and shape.k_segment and shape.conv_window:
        in_tile_scale = halo_scale(shape, tm)
        in_scale = in_tile_scale * shape.input_share
        in_whole_scale = halo_scale(shape, shape.m)
    g_in: Any = gemm_in * in_scale
    g_w: Any = shape.batch * shape.k * shape.n * b_w / 8.0 * shape.weight_scale
    g_out: Any = shape.batch * shape.m * shape.n * b_out / 8.0
    if padded:
        pad_m, pad_k, pad_n = trm * tm / float(M), trk * tk / float(K), trn * tn / float(N)
        g_in = g_in * pad_m * pad_k
        g_w = g_w * pad_k * pad_n
        g_out = g_out * pad_m * pad_n
    hints = model.mapping_hints()
    psum_bits = float(hints.accumulator_bits)
    # (x * bits) / 8.0 == x * (bits / 8.0) in IEEE doubles (scaling by a power of two is exact both
    # ways and commutes with rounding; no value here overflows or is subnormal): one op per tile array
    tb: list[Any] = [tmk * (b_in / 8.0), tkn * (b_w / 8.0), tmn * np.where(multi_k, psum_bits / 8.0, b_out / 8.0)]
    if in_tile_scale is not None:
        tb[_IN] = tb[_IN] * in_tile_scale
    if rules.array_padding:  # Bit Fusion: out tiles padded to the columns, weight tiles to N x perf rows
        per_pe = model.peak_macs_per_cycle(w, a) / float(hints.pad_k_rows * hints.pad_n)
        kq = hints.pad_k_rows * max(1, round(per_pe))
        pad_out = np.ceil(tn / hints.pad_n) * hints.pad_n / tn
        pad_w = np.ceil(tk / kq) * kq / tk
        g_out = g_out * pad_out
        g_w = g_w * pad_w
        tb[_OUT] = tb[_OUT] * pad_out
        tb[_W] = tb[_W] * pad_w
    whole = (gemm_in * in_whole_scale, shape.batch * shape.k * shape.n * b_w / 8.0,
             np.where(multi_k, shape.batch * shape.m * shape.n * psum_bits / 8.0,
                      shape.batch * shape.m * shape.n * b_out / 8.0))
    held = list(tb)
    resident: list[Any] = [None, None, None]
    layout, double = _layout(accel.buffers)
    for ops, usable, _, _ in layout:
        for i, op in enumerate(ops):  # (one operand: whole + 0.0 <= usable is whole <= usable, bytes >= 0)
            ok = whole[op] <= usable if len(ops) == 1 else \
                whole[op] + _sum(map(held.__getitem__, ops[:i] + ops[i + 1:])) <= usable
            resident[op] = ok
            held[op] = _sel(ok, whole[op], tb[op])
    fits: Any = True
    for ops, usable, _, _ in layout:
        f = _sum(map(held.__getitem__, ops)) <= usable
        fits = f if fits is True else fits & f
    if not isinstance(fits, np.ndarray) or not fits.ndim:
        fits = np.broadcast_to(bool(fits), shape3)
    if not fits.any():
        return None
    psum_bytes = g_out * psum_bits / b_out
    bw = accel.dram.bandwidth_bytes_per_cycle / max(active, 1)
    ws = shape.weight_scale

    # SRAM reads (order-free) per buffer, the buffers' per-step read time (max over buffers) and
    # the drain: on the grid only when a grid pass needs them (`grid_terms`), else at one tile
    memo: dict[str, Any] = {}

    def grid_terms() -> tuple[tuple[Any, Any, Any], list[Any], Any, Any]:
        if not memo:
            reads = (gemm_in * trn, g_w / ws * trm, psum_bytes * (trk - 1))
            rd_buf = [_sum(map(reads.__getitem__, ops)) for ops, _, _, _ in layout]
            c_rd: Any = None
            for (_, _, bbw, _), rd in zip(layout, rd_buf):
                r = rd / s1 / bbw
                c_rd = r if c_rd is None else np.maximum(c_rd, r)
            memo["t"] = (reads, rd_buf, c_rd, tmn * (b_out / 8.0) / bw)
        return memo["t"]

    def reads_at(t: int) -> tuple[float, float, float]:
        return (gemm_in * trn.item(t), _at1(g_w, t) / ws * trm.item(t), _at1(psum_bytes, t) * (trk.item(t) - 1))

    if padded:
        compute = np.empty((D, nm, nk, nn))
        win = shape.conv_window[0] * shape.conv_window[1] if shape.conv_window else 1
        flat = [np.broadcast_to(v, shape3).ravel().astype(np.int64) for v in (tm, tk, tn)]
        seg: Any = None
        if shape.k_segment:
            seg = np.where(flat[1] % win == 0, np.minimum(flat[1] // win, shape.k_segment), shape.k_segment)
        for d, df in enumerate(dataflows):
            one = model.compute(flat[0], flat[1], flat[2], w, a, df, 1, k_segment=seg)
            compute[d] = np.asarray(one.cycles, dtype=np.float64).reshape(shape3) * steps
    else:  # [df, 1, 1, 1] (the latency search of one dataflow reads comp_l / cc_l instead)
        compute = np.array(comp_l).reshape(D, 1, 1, 1) if D > 1 or objective != "latency" else None
    cc = np.rint(compute) if compute is not None else None

    def cycles_of(dram_t: Any, comp: Any, cc_: Any) -> Any:
        if rules.whole_layer_refetch:
            latency = np.maximum(comp, np.floor(dram_t / bw))
        else:
            _, _, c_rd, drain = grid_terms()
            c_step = comp / s1 if c_rd is None else np.maximum(comp / s1, c_rd)
            l_step = dram_t / s1 / bw
            if double:
                latency = l_step + steps_m1 * np.maximum(c_step, l_step) + c_step + drain
            else:
                latency = steps * (c_step + l_step) + drain
        return cc_ + np.maximum(np.rint(latency - cc_), 0.0)

    def lat_first(dram_t: Any) -> tuple[int, int, float]:
        """(tile, dataflow, cycles) of the first candidate by (cycles at DRAM bytes `dram_t`,
        `dram_t`, -volume, enumeration index). A dataflow whose whole-GEMM compute cycles exceed
        the best cycles of the dataflow of fewest compute cycles cannot win (cycles >= them)."""
        sel = list(range(D))
        if not padded and rules.whole_layer_refetch and np.ndim(dram_t) == 0:
            # cycles the same on every tile: the first fitting tile by (-volume, index) wins, with
            # the first dataflow of fewest cycles
            per = [float(cycles_of(dram_t, comp_l[d], cc_l[d])) for d in sel]
            if all(map(math.isfinite, per)):
                return int(np.where(fits.ravel(), vol, -1.0).argmax()), per.index(min(per)), min(per)
        if not padded and D > 1 and all(map(math.isfinite, cc_l)):
            d0 = cc_l.index(min(cc_l))
            obj0 = np.where(fits, cycles_of(dram_t, comp_l[d0], cc_l[d0]), np.inf)
            lo0 = obj0.min()
            keep = [d for d in sel if cc_l[d] <= lo0]
            if keep == [d0]:
                t, _, _, lo = _first(obj0.reshape(1, -1), 1, 1, dram_t, vol)
                return t, d0, lo
            sel = keep or sel
        if len(sel) == 1:
            comp, c0 = (compute[sel[0]], cc[sel[0]]) if padded else (comp_l[sel[0]], cc_l[sel[0]])
            obj = np.where(fits, cycles_of(dram_t, comp, c0), np.inf).reshape(1, -1)
        else:
            obj = np.where(fits, cycles_of(dram_t, compute[sel], cc[sel]), np.inf).reshape(len(sel), -1)
        t, _, d, lo = _first(obj, 1, len(sel), dram_t, vol)
        return t, sel[d], lo

    # ---- DRAM bytes per loop order (mkn, mnk, kmn, knm: see the module doc): each operand
    # fetched once or refetching its unrelated loop's trips (hwsim.memory._refetch)
    rbw = rules.output_read_before_write
    if rules.whole_layer_refetch:  # bitmod_sim: whole tensors, whatever the tiles and order
        w_in, w_w = _whole_refetch(accel, g_in, g_w)
        once = w_in + w_w + 0.0 + g_out
    else:
        spill0 = psum_bytes * 0.0
        ow0 = g_out + spill0
        once = g_in + g_w + (ow0 if rbw else spill0) + ow0      # no operand refetched: a lower bound
    # the errors price_candidates raises on any candidate, in its order
    if rules.sram_counts is SramCounts.ARRAY_STEPS and not all(df_[2] for df_ in per_df):
        raise InvalidSpecError(f"accelerator {accel.name!r}: memory.sram_counts array_steps needs a core "
                               f"that counts its array steps ({accel.core_family.value} does not)")
    pe_cycle_j = table.pe_cycle_j if table is not None else \
        (None if accel.energy.pe_cycle_j is None else float(accel.energy.pe_cycle_j))
    if pe_cycle_j is not None and hints.pe_count < 1:
        raise InvalidSpecError(f"accelerator {accel.name!r}: energy.pe_cycle_j needs a core that states its "
                               f"PE count ({accel.core_family.value} does not)")

    def winner(part: tuple[Any, Any, Any], t: int, d: int, cycles: float) -> Winner | None:
        """The cost of candidate (tile t, the order of `part` = its DRAM input, weight and total
        bytes, dataflow d) as price_candidates books it for that one mapping, on Python floats."""
        if rules.sram_counts is not SramCounts.TILES:
            return None
        tbl = table or EnergyTable.for_node(accel.node_nm, accel.energy, accel.dram.energy_j_per_byte)
        cc_t = cc[d].item(t) if padded else cc_l[d]
        rd3 = reads_at(t)
        writes_t = (_at1(part[0], t), _at1(part[1], t),
                    _at1(psum_bytes, t) * trk.item(t) if trk.item(t) > 1 else _at1(g_out, t))
        sram_e = sram_b = 0.0
        for ops, _, _, buf in layout:
            rd_t = _sum(rd3[op] for op in ops)
            wr_t = _sum(writes_t[op] for op in ops)
            j_rd, j_wr = buf.sram_j_per_byte(), buf.sram_j_per_byte(write=True)
            bank = buf.size_bytes / buf.banks
            sram_e += (rd_t * (tbl.sram_j_per_byte(bank) if j_rd is None else j_rd)
                       + wr_t * (tbl.sram_j_per_byte(bank, write=True) if j_wr is None else j_wr))
            sram_b += rd_t + wr_t
        if tbl.pe_cycle_j is not None:
            energy: dict[str, float] = {"pe": tbl.pe_cycle_j * hints.pe_count * cc_t}
        else:
            energy = {k: float(v) for k, v in tbl.breakdown(dict(per_df[d][1])).items()}
        dram_t = _at1(part[2], t)
        energy["sram"] = float(sram_e)
        energy["dram"] = dram_t * tbl.dram_j_per_byte
        return Winner(cycles=float(cycles), compute_cycles=cc_t, energy_j=energy, dram_bytes=dram_t,
                      sram_bytes=float(sram_b), ran_as=per_df[d][3])

    if objective == "latency":
        # every order's DRAM bytes >= `once` (refetch factors >= 1, IEEE rounding monotone), and
        # cycles are non-decreasing in them: the first candidate by the bound wins if it meets it
        t, d, lo = lat_first(once)
        if rules.whole_layer_refetch:
            parts = [(w_in, w_w, once)]
        else:
            parts = _orders_at(t, g_in, g_w, g_out, psum_bytes, trm, trk, trn, resident, rbw)
        vals = [_at1(v, t) for _, _, v in parts]
        if min(vals) == _at1(once, t):
            o = vals.index(min(vals))
            return (t * _O + o) * D + d, lo, *((winner(parts[o], t, d, lo),) if priced else ())
    if rules.whole_layer_refetch:
        d_in: list[Any] = [w_in]
        d_w: list[Any] = [w_w]
        d_tot = [once]
    else:
        tc = [trn if resident[_IN] is None else _sel(resident[_IN], 1.0, trn),
              trm if resident[_W] is None else _sel(resident[_W], 1.0, trm),
              trk if resident[_OUT] is None else _sel(resident[_OUT], 1.0, trk)]
        ref_in, ref_w = g_in * tc[_IN], g_w * tc[_W]
        spill1 = psum_bytes * (tc[_OUT] - 1)
        ow1 = g_out + spill1
        or0, or1 = (ow0, ow1) if rbw else (spill0, spill1)
        gkn, gmn = multi_k | gn, gm | gn
        w_kn = np.where(gkn, ref_w, g_w)
        o_gn, r_gn = np.where(gn, ow1, ow0), np.where(gn, or1, or0)
        o_mn, r_mn = np.where(gmn, ow1, ow0), np.where(gmn, or1, or0)
        d_in = [g_in, np.where(multi_k, ref_in, g_in), g_in, np.where(gm, ref_in, g_in)]
        d_w = [w_kn, w_kn, np.where(gn, ref_w, g_w), g_w]
        d_tot = [d_in[0] + d_w[0] + r_gn + o_gn, d_in[1] + d_w[1] + or0 + ow0,
                 d_in[2] + d_w[2] + r_mn + o_mn, d_in[3] + d_w[3] + r_mn + o_mn]
    if objective == "latency":
        best = d_tot[0]
        for v in d_tot[1:]:
            best = np.minimum(best, v)
        t, d, lo = lat_first(best)
        vals = [_at1(v, t) for v in d_tot]
        o = vals.index(min(vals))
        return (t * _O + o) * D + d, lo, *((winner((d_in[o], d_w[o], d_tot[o]), t, d, lo),) if priced else ())
    _, rd_buf, _, _ = grid_terms()
    # the same sum as Priced.total_energy_j: ((0 + component...) + sram) + dram, per dataflow
    table = table or EnergyTable.for_node(accel.node_nm, accel.energy, accel.dram.energy_j_per_byte)
    if table.pe_cycle_j is not None:  # a peer's PE energy per cycle stands for the core's actions
        e_df: Any = 0.0 + table.pe_cycle_j * hints.pe_count * cc                          # [df, 1 | tiles]
    else:
        acts: dict[Action, np.ndarray] = {}
        for d, df_ in enumerate(per_df):
            for act, v in df_[1]:
                acts.setdefault(act, np.zeros(D))[d] = v
        e_df = np.zeros(D)
        for v in table.breakdown(acts).values():
            e_df = e_df + v
        e_df = e_df.reshape(D, 1, 1, 1)
    n_o = len(d_tot)
    din = np.stack(np.broadcast_arrays(*d_in, np.empty(shape3))[:-1]) if n_o > 1 else np.asarray(d_in[0])
    dwt = np.stack(np.broadcast_arrays(*d_w, np.empty(shape3))[:-1]) if n_o > 1 else np.asarray(d_w[0])
    dram = np.stack(np.broadcast_arrays(*d_tot, np.empty(shape3))[:-1]) if n_o > 1 \
        else np.broadcast_to(d_tot[0], (1, *shape3))
    writes = (din, dwt, np.where(multi_k, psum_bytes * trk, g_out))
    sram_e: Any = 0.0
    for (ops, _, _, buf), rd in zip(layout, rd_buf):
        wr = _sum(writes[op] for op in ops)
        bank = buf.size_bytes / buf.banks
        j_rd, j_wr = buf.sram_j_per_byte(), buf.sram_j_per_byte(write=True)
        sram_e = sram_e + (rd * (table.sram_j_per_byte(bank) if j_rd is None else j_rd)
                           + wr * (table.sram_j_per_byte(bank, write=True) if j_wr is None else j_wr))
    energy = (e_df[:, None] + sram_e) + dram * table.dram_j_per_byte                   # [df, order, ...]
    if objective == "edp":
        energy = cycles_of(dram, compute[:, None], cc[:, None]) * energy
    obj = np.where(fits, energy, np.inf).reshape(D, n_o, -1)
    t, o, d, lo = _first(obj.reshape(D, -1), n_o, D, dram if n_o > 1 else d_tot[0], vol)
    return (t * _O + o) * D + d, lo


@functools.lru_cache(maxsize=CACHE_SIZE)
def _structure(M: int, K: int, N: int, batch: int, padded_window: tuple[int, ...], tms: tuple[int, ...],
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


def _whole_refetch(accel: Accelerator, inp: Any, wgt: Any) -> tuple[Any, Any]:
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


def _orders_at(t: int, g_in: Any, g_w: Any, g_out: Any, psum: Any, trm: Any, trk: Any,
               trn: Any, resident: list[Any], rbw: bool) -> list[tuple[float, float, float]]:
    """(DRAM input, weight, total bytes) of loop orders mkn, mnk, kmn, knm at tile t (flat): the
    vectorised expressions of `fast_search_split` on Python floats (IEEE double, the same
    operations)."""
    gi, gw, go, ps = _at1(g_in, t), _at1(g_w, t), _at1(g_out, t), _at1(psum, t)
    tr_m, tr_k, tr_n = trm.item(t), trk.item(t), trn.item(t)
    res = [None if r is None else bool(_at1(r, t)) for r in resident]
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


def _first(obj: np.ndarray, n_o: int, D: int, dram: Any, vol: np.ndarray) -> tuple[int, int, int, float]:
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
