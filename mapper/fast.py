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

The latency search without padded tiles or whole-layer refetch can also run as one compiled
loop over the same grid (`mapper.fast_jit`, the same floats and winner; `set_jit` chooses, and
by default a process switches once its numpy latency searches have taken `JIT_AFTER_S`); the
winner's cost is booked by `mapper.fast_parts.book` on either path.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import time
from typing import Any

import numpy as np
from lowbit.hwsim.cores.base import Action, Dataflow
from lowbit.hwsim.energy import EnergyTable
from lowbit.hwsim.memory import (
    LOOP_ORDERS,
    GemmShape,
    halo_scale,
    operand_bits,
)
from lowbit.hwsim.spec import Accelerator, MemoryRules, Operand, SramCounts
from lowbit.kernels_ref.errors import InvalidSpecError
from lowbit.kernels_ref.formats import Format
from lowbit.mapper.fast_parts import (
    CACHE_SIZE,
    FALLBACK,
    Traffic,
    Winner,
    array_pad,
    at1,
    book,
    check_rules,
    first,
    jit_latency,
    orders_at,
    structure,
    sum_lr,
    whole_refetch,
)

__all__ = ["CACHE_SIZE", "HANDLED_RULES", "JIT_AFTER_S", "LATENCY_FREE_RULES", "Winner", "clear_cache", "df_compute",
           "fast_search_split", "handles", "prefer_jit", "set_jit"]


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
               a: Format) -> tuple[tuple[float, tuple[tuple[Action, float], ...], bool, str, float], ...]:
    """(whole-GEMM compute cycles, summed actions, whether it counts array steps, ran_as, the
    summed array steps or NaN) per dataflow of the core, for a GEMM at formats (w, a); keyed by
    the frozen (family, core spec) only."""
    out = []
    for df in core.model.dataflows:
        tc = core.model.compute(m, k, n, w, a, df, batch, k_segment=k_segment or None)
        out.append((float(tc.cycles), tuple((act, _total(v)) for act, v in tc.actions.items()),
                    tc.steps is not None, tc.ran_as, math.nan if tc.steps is None else float(np.sum(tc.steps))))
    return tuple(out)


def _total(v: Any) -> float:
    """float(np.sum(v)), without numpy for a Python number (the same value)."""
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else float(np.sum(v))


def _layout(accel: Accelerator) -> tuple[Any, ...]:
    """Per buffer that holds an operand (`Accelerator.buffer_for`: the first buffer listing it):
    (operand indices in its listed order, usable bytes, bandwidth, the buffer); whether the
    tile timeline is double-buffered (every such buffer is); and the same as the compiled
    kernel's arrays (`fast_jit.latency_kernel`: operands [buffer, 4], usable bytes, bandwidths).
    Kept in the (frozen) accelerator's instance dict, like its core model: built once per design."""
    got = accel.__dict__.get("_fast_layout")
    if got is not None:
        return got
    seen: list[Operand] = []
    out, double = [], True
    for b in accel.buffers:
        ops = tuple(_OPS.index(op) for op in b.operands if op not in seen)
        seen.extend(b.operands)
        if ops:
            out.append((ops, b.usable_bytes, b.bandwidth_bytes_per_cycle, b))
            double = double and b.double_buffered
    buf_ops = np.full((len(out), 4), -1, dtype=np.int64)
    for i, (ops, _, _, _) in enumerate(out):
        buf_ops[i, :len(ops)] = ops
        buf_ops[i, 3] = len(ops)
    arrays = (buf_ops, np.array([u for _, u, _, _ in out], dtype=np.float64),
              np.array([bw for _, _, bw, _ in out], dtype=np.float64))
    got = accel.__dict__["_fast_layout"] = (tuple(out), bool(out) and double, arrays)
    return got


def clear_cache() -> None:
    """Drop the cached per-dataflow compute and tile-grid structure (timing runs)."""
    df_compute.cache_clear()
    structure.cache_clear()


#: seconds of numpy latency searches in a process after which `set_jit("auto")` (the default)
#: switches to the compiled kernel (`mapper.fast_jit`): importing numba and loading the cached
#: kernel costs 0.4-0.7 s CPU once, so a run switches once it has spent about that on the
#: searches the kernel would have done (rent until the rent paid equals the price: never more
#: than twice the better of the two choices made in hindsight). A one-model CLI run (tens to
#: hundreds of searches, ~0.1 ms each) stays on numpy; a 10,000-layer workload switches early.
JIT_AFTER_S = 0.5
_JIT: dict[str, Any] = {"mode": "auto", "numpy_s": 0.0, "timed": False, "kernel": None}


def set_jit(mode: str) -> None:
    """How the latency search runs: "on" (the compiled kernel from now on), "off" (numpy
    only) or "auto" (numpy until the process's numpy latency searches have taken `JIT_AFTER_S`
    seconds, then the kernel). Both give the same mappings and costs (`tests/mapper/test_mapper_jit.py`). A
    sweep turns it on (`search.codesign`): it searches thousands of times."""
    if mode not in ("auto", "on", "off"):
        raise InvalidSpecError(f"mapper: jit mode must be auto, on or off, got {mode!r}")
    _JIT["mode"] = mode
    if mode == "on":
        _jit_kernel()


def prefer_jit() -> None:
    """`set_jit("on")` unless a mode was set (long runs: a sweep's worker calls this)."""
    if _JIT["mode"] == "auto":
        set_jit("on")


def _jit_kernel() -> Any:
    """`mapper.fast_jit`, imported and its kernel compiled (or loaded from numba's cache) on the
    first call; None where that fails here (numba unable to compile or cache on this machine):
    then the numpy search runs, with one logged warning, and the results are the same."""
    if _JIT["kernel"] is None:
        try:
            from lowbit.mapper import fast_jit  # numba: only once a run needs it

            fast_jit.warm()
        except Exception as exc:  # noqa: BLE001 - any numba failure: numpy gives the same results
            logging.getLogger(__name__).warning("mapper: compiled latency search unavailable (%s: %s); "
                                                "using numpy", type(exc).__name__, exc)
            _JIT["kernel"] = False
        else:
            _JIT["kernel"] = fast_jit
    return _JIT["kernel"] or None


def _jit_wanted() -> bool:
    mode = _JIT["mode"]
    if mode == "auto":
        return _JIT["numpy_s"] >= JIT_AFTER_S and _jit_kernel() is not None
    return mode == "on" and _JIT["kernel"] is not False


_EXACT_INT = 2 ** 53  # below it every integer product here is exact in float64


def _sel(cond: Any, a: Any, b: Any) -> Any:
    """np.where(cond, a, b), with a Python branch for a scalar condition (same values)."""
    if isinstance(cond, (bool, np.bool_)):
        return a if cond else b
    return np.where(cond, a, b)


def fast_search_split(shape: GemmShape, w: Format, a: Format, accel: Accelerator, objective: str,
                      table: EnergyTable | None, active: int, tms: Any, tks: Any, tns: Any,
                      dataflows: tuple[Dataflow, ...], priced: bool = False,
                      cutoff: float = math.inf) -> tuple[Any, ...] | None:
    """`_search_split_impl` (its doc); in the "auto" jit mode, the time of a latency search the
    kernel could have done on numpy is added to the process's total (`JIT_AFTER_S`)."""
    args = (shape, w, a, accel, objective, table, active, tms, tks, tns, dataflows, priced, cutoff)
    if _JIT["mode"] != "auto":
        return _search_split_impl(*args)
    _JIT["timed"] = False
    t0 = time.perf_counter()
    out = _search_split_impl(*args)
    if _JIT["timed"]:
        _JIT["numpy_s"] += time.perf_counter() - t0
    return out


def _search_split_impl(shape: GemmShape, w: Format, a: Format, accel: Accelerator, objective: str,
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

    bits = operand_bits(w, a, None)
    b_in, b_w, b_out = bits.input, bits.weight, bits.output
    if rules.output_bits is not None:
        b_out = float(rules.output_bits)
    hints = model.mapping_hints()
    psum_bits = float(hints.accumulator_bits)
    layout, double, buf_arrays = _layout(accel)
    bw = accel.dram.bandwidth_bytes_per_cycle / max(active, 1)
    tr = Traffic.of(shape, b_in, b_w, b_out, psum_bits, bool(rules.conv_input_halo and shape.k_segment
                                                               and shape.conv_window))
    gemm_in = tr.gemm_in
    if objective == "latency" and not padded and not rules.whole_layer_refetch and all(map(math.isfinite, cc_l)):
        fj = _jit_kernel() if _jit_wanted() else None
        if fj is not None:
            found = jit_latency(fj, shape, w, a, accel, table, tms, tks, tns, per_df, comp_l, cc_l, priced,
                                (b_in, b_w, b_out, psum_bits), tr, bw, layout, double, buf_arrays, hints)
            if found is not FALLBACK:
                return found
        else:
            _JIT["timed"] = True  # (auto mode: this numpy search counts towards JIT_AFTER_S)

    st = structure(M, K, N, shape.batch, shape.conv_window if padded else (), tms, tks, tns)
    tm, tk, tn, trm, trk, trn, steps, steps_m1, multi_k, gm, gn, tmn, tmk, tkn, vol = st
    s1 = steps  # = np.maximum(steps, 1): batch and every trip count are >= 1

    # ---- traffic
    in_scale: Any = shape.input_scale
    in_tile_scale: Any = None
    if tr.halo:
        in_tile_scale = halo_scale(shape, tm)
        in_scale = in_tile_scale * shape.input_share
    g_in: Any = gemm_in * in_scale
    g_w: Any = tr.g_w
    g_out: Any = tr.g_out
    if padded:
        pad_m, pad_k, pad_n = trm * tm / float(M), trk * tk / float(K), trn * tn / float(N)
        g_in = g_in * pad_m * pad_k
        g_w = g_w * pad_k * pad_n
        g_out = g_out * pad_m * pad_n
    # (x * bits) / 8.0 == x * (bits / 8.0) in IEEE doubles (scaling by a power of two is exact both
    # ways and commutes with rounding; no value here overflows or is subnormal): one op per tile array
    tb: list[Any] = [tmk * (b_in / 8.0), tkn * (b_w / 8.0), tmn * np.where(multi_k, psum_bits / 8.0, b_out / 8.0)]
    if in_tile_scale is not None:
        tb[_IN] = tb[_IN] * in_tile_scale
    if rules.array_padding:  # Bit Fusion: out tiles padded to the columns, weight tiles to N x perf rows
        pad_w, pad_out = array_pad(model, hints, w, a, tk, tn)
        g_out = g_out * pad_out
        g_w = g_w * pad_w
        tb[_OUT] = tb[_OUT] * pad_out
        tb[_W] = tb[_W] * pad_w
    whole = (tr.whole_in, tr.whole_w, np.where(multi_k, tr.whole_psum, tr.whole_out))
    held = list(tb)
    resident: list[Any] = [None, None, None]
    for ops, usable, _, _ in layout:
        for i, op in enumerate(ops):  # (one operand: whole + 0.0 <= usable is whole <= usable, bytes >= 0)
            ok = whole[op] <= usable if len(ops) == 1 else \
                whole[op] + sum_lr(map(held.__getitem__, ops[:i] + ops[i + 1:])) <= usable
            resident[op] = ok
            held[op] = _sel(ok, whole[op], tb[op])
    fits: Any = True
    for ops, usable, _, _ in layout:
        f = sum_lr(map(held.__getitem__, ops)) <= usable
        fits = f if fits is True else fits & f
    if not isinstance(fits, np.ndarray) or not fits.ndim:
        fits = np.broadcast_to(bool(fits), shape3)
    if not fits.any():
        return None
    psum_bytes = g_out * psum_bits / b_out
    ws = shape.weight_scale

    # SRAM reads (order-free) per buffer, the buffers' per-step read time (max over buffers) and
    # the drain: on the grid only when a grid pass needs them (`grid_terms`), else at one tile
    memo: dict[str, Any] = {}

    def grid_terms() -> tuple[tuple[Any, Any, Any], list[Any], Any, Any]:
        if not memo:
            reads = (gemm_in * trn, g_w / ws * trm, psum_bytes * (trk - 1))
            rd_buf = [sum_lr(map(reads.__getitem__, ops)) for ops, _, _, _ in layout]
            c_rd: Any = None
            for (_, _, bbw, _), rd in zip(layout, rd_buf):
                r = rd / s1 / bbw
                c_rd = r if c_rd is None else np.maximum(c_rd, r)
            memo["t"] = (reads, rd_buf, c_rd, tmn * (b_out / 8.0) / bw)
        return memo["t"]

    def reads_at(t: int) -> tuple[float, float, float]:
        return (gemm_in * trn.item(t), at1(g_w, t) / ws * trm.item(t), at1(psum_bytes, t) * (trk.item(t) - 1))

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
                t, _, _, lo = first(obj0.reshape(1, -1), 1, 1, dram_t, vol)
                return t, d0, lo
            sel = keep or sel
        if len(sel) == 1:
            comp, c0 = (compute[sel[0]], cc[sel[0]]) if padded else (comp_l[sel[0]], cc_l[sel[0]])
            obj = np.where(fits, cycles_of(dram_t, comp, c0), np.inf).reshape(1, -1)
        else:
            obj = np.where(fits, cycles_of(dram_t, compute[sel], cc[sel]), np.inf).reshape(len(sel), -1)
        t, _, d, lo = first(obj, 1, len(sel), dram_t, vol)
        return t, sel[d], lo

    # ---- DRAM bytes per loop order (mkn, mnk, kmn, knm: see the module doc): each operand
    # fetched once or refetching its unrelated loop's trips (hwsim.memory._refetch)
    rbw = rules.output_read_before_write
    if rules.whole_layer_refetch:  # bitmod_sim: whole tensors, whatever the tiles and order
        w_in, w_w = whole_refetch(accel, g_in, g_w)
        once = w_in + w_w + 0.0 + g_out
    else:
        spill0 = psum_bytes * 0.0
        ow0 = g_out + spill0
        once = g_in + g_w + (ow0 if rbw else spill0) + ow0      # no operand refetched: a lower bound
    check_rules(accel, table, per_df, hints)

    def winner(part: tuple[Any, Any, Any], t: int, d: int, cycles: float) -> Winner | None:
        """The cost of candidate (tile t, the order of `part` = its DRAM input, weight and total
        bytes, dataflow d) as price_candidates books it for that one mapping, on Python floats."""
        if rules.sram_counts is SramCounts.STATIONARY_INNER or \
                (padded and rules.sram_counts is SramCounts.ARRAY_STEPS):  # (per-tile array steps)
            return None
        writes_t = (at1(part[0], t), at1(part[1], t),
                    at1(psum_bytes, t) * trk.item(t) if trk.item(t) > 1 else at1(g_out, t))
        return book(accel, table, layout, hints, per_df, d, cc[d].item(t) if padded else cc_l[d], reads_at(t),
                     writes_t, at1(part[2], t), cycles, at1(g_out, t))

    if objective == "latency":
        # every order's DRAM bytes >= `once` (refetch factors >= 1, IEEE rounding monotone), and
        # cycles are non-decreasing in them: the first candidate by the bound wins if it meets it
        t, d, lo = lat_first(once)
        if rules.whole_layer_refetch:
            parts = [(w_in, w_w, once)]
        else:
            parts = orders_at(t, g_in, g_w, g_out, psum_bytes, trm, trk, trn, resident, rbw)
        vals = [at1(v, t) for _, _, v in parts]
        if min(vals) == at1(once, t):
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
        vals = [at1(v, t) for v in d_tot]
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
        wr = sum_lr(writes[op] for op in ops)
        bank = buf.size_bytes / buf.banks
        j_rd, j_wr = buf.sram_j_per_byte(), buf.sram_j_per_byte(write=True)
        sram_e = sram_e + (rd * (table.sram_j_per_byte(bank) if j_rd is None else j_rd)
                           + wr * (table.sram_j_per_byte(bank, write=True) if j_wr is None else j_wr))
    energy = (e_df[:, None] + sram_e) + dram * table.dram_j_per_byte                   # [df, order, ...]
    if objective == "edp":
        energy = cycles_of(dram, compute[:, None], cc[:, None]) * energy
    obj = np.where(fits, energy, np.inf).reshape(D, n_o, -1)
    t, o, d, lo = first(obj.reshape(D, -1), n_o, D, dram if n_o > 1 else d_tot[0], vol)
    return (t * _O + o) * D + d, lo
