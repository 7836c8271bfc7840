"""Bit Fusion's five-loop tiling, priced as the Bit Fusion simulator's optimiser prices it.

hsharma35/bitfusion `bitfusion/src/optimizer/optimizer.py` (commit 0246bc4c) tiles a layer with
five loops, B/b (images; an FC's rows), OW/ow and OH/oh (output pixels), IC/ic (input channels)
and OC/oc (output channels), in any of their 120 orders, and `get_stats_fast` prices a tiling:

- tiles (bits): weights `ceil(K*K*ic, N*pf)*N*pf*oc*wprec` (`MemoryRules.array_padding`; else
  K*K*ic*oc*wprec), inputs `iw*ih*ic*b*iprec` with iw = K + (ow-1)*S (`conv_input_halo`) or the
  im2col'd `ow*oh*K*K*ic*b*iprec` of a first layer (`im2col_input: host`), outputs
  `ow*oh*ceil(oc, M)*M*b*oprec` (oprec = `output_bits`); a tiling whose tile of an operand exceeds
  its buffer's usable half is dropped (optimizer.py:80-101);
- promotion (optimizer.py:111-169): from the innermost loop out, an operand's held block grows
  through the loops it depends on (inputs: B, OW, OH, IC; weights: IC, OC; outputs: B, OW, OH,
  OC) while it fits its buffer; unrelated loops inside that point are free, every loop outside it
  multiplies its DRAM traffic. DRAM reads = the three operands' traffic, DRAM writes = the
  outputs' (read before written, `output_read_before_write`);
- cycles (optimizer.py:230-249): compute + max(0, ceil(middle / bw) - compute) + ceil(fill / bw) +
  ceil(drain / bw), fill = the held blocks, drain = the held output block, middle the rest;
  compute = tiles x the core's cycles for one whole tile (the core model, `compute(k_segment=ic)`);
- buffer accesses (optimizer.py:172-228, `sram_counts: stationary_inner`): per tile the inner
  order (input, output or weight stationary) of fewest weighted bit accesses, plus the DRAM
  fills written into the buffers and the outputs read out of them. With `sram_counts: tiles`
  (lowbit's count, `hwsim.memory`, in five-loop terms): every tile step reads its input and
  weight tiles and writes its output tile, reading it back after the first ic step; the DRAM
  fills of inputs and weights are written. Buffer counts change only the energy.

`hwsim.memory` prices lowbit's own three-loop view (one m loop of pixel blocks, k, n); this
module prices the simulator's five loops for `mapper.bitfusion_loops`, which searches them when
an accelerator states all of the simulator's rules (`applies`). Energy is the spec's: the core's
actions (or `energy.pe_cycle_j`), the buffers' per-access energies, the DRAM price per byte.
Everything is vectorised over candidates (numpy arrays broadcast together).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
from lowbit.hwsim.energy import EnergyTable
from lowbit.hwsim.memory import GemmShape, Priced, operand_bits, pe_cycle_energy, stationary_order
from lowbit.hwsim.spec import Accelerator, MemoryRules, Operand, SramCounts
from lowbit.kernels_ref.errors import InvalidSpecError
from lowbit.kernels_ref.formats import Format

__all__ = ["FIVE_LOOP_ORDERS", "LOOPS", "LoopShape", "applies", "loop_shape", "price_loops", "tiling_bounds"]

LOOPS = "bwhkn"  # the simulator's ['B/b', 'OW/ow', 'OH/oh', 'IC/ic', 'OC/oc'] (optimizer.py:258)
# every order, outermost first, in itertools.permutations order of that list
FIVE_LOOP_ORDERS: tuple[str, ...] = tuple("".join(p) for p in itertools.permutations(LOOPS))
_ORDER_IDX = np.array([[LOOPS.index(c) for c in o] for o in FIVE_LOOP_ORDERS], dtype=np.int64)  # [order, pos]
_DEPS = {Operand.INPUT: "bwhk", Operand.WEIGHT: "kn", Operand.OUTPUT: "bwhn"}  # optimizer.py tile_deps


@dataclass(frozen=True)
class LoopShape:
    """A layer as the simulator's optimiser sees it (`conv_params`): B images of OH x OW outputs,
    a KH x KW kernel of stride (SH, SW) over IC input channels, OC output channels; `im2col` for
    a first layer the host im2cols. An FC is B = rows, a 1 x 1 map and kernel."""

    batch: int
    out_h: int
    out_w: int
    kernel_h: int
    kernel_w: int
    stride_h: int
    stride_w: int
    in_channels: int
    out_channels: int
    im2col: bool


def applies(rules: MemoryRules) -> bool:
    """Whether a spec states the simulator's traffic model as a whole: padded tiles, block
    promotion, outputs read before written, no bitmod_sim re-fetch rule; buffer counts
    `stationary_inner` (the simulator's) or `tiles`."""
    return (rules.padded_tiles and rules.block_promotion and rules.output_read_before_write
            and rules.sram_counts in (SramCounts.STATIONARY_INNER, SramCounts.TILES)
            and not rules.whole_layer_refetch)


def loop_shape(shape: GemmShape, rules: MemoryRules, active: int = 1) -> LoopShape | None:
    """The five-loop view of a per-core GEMM (`mapper.layer_gemm`), or None where it has none: a
    batched GEMM (per-item weights), a split over cores, shared K/V, a conv whose input is not
    the simulator's (neither host im2col'd nor a channel-wise conv with its halo)."""
    if not applies(rules) or active != 1 or shape.batch != 1 or shape.weight_scale != 1.0 \
            or shape.input_share != 1.0 or not shape.weight_per_batch:
        return None
    if not shape.conv_window:
        if shape.k_segment:
            return None
        return LoopShape(shape.m, 1, 1, 1, 1, 1, 1, shape.k, shape.n, False)
    kh, kw, sh, sw, oh, ow = shape.conv_window
    win = kh * kw
    if shape.m % (oh * ow) or shape.k % win:
        return None
    ic = shape.k // win
    if shape.k_segment == 0:  # the host im2cols it: its im2col'd rows cross DRAM
        if shape.input_scale != 1.0:
            return None
        return LoopShape(shape.m // (oh * ow), oh, ow, kh, kw, sh, sw, ic, shape.n, True)
    if shape.k_segment != ic or not rules.conv_input_halo:
        return None
    return LoopShape(shape.m // (oh * ow), oh, ow, kh, kw, sh, sw, ic, shape.n, False)


def _ceil(a: Any, b: Any) -> np.ndarray:
    return -(-np.asarray(a, dtype=np.int64) // np.asarray(b, dtype=np.int64))


def _ceil_div(x: np.ndarray, d: float) -> np.ndarray:
    """ceil(x / d) as `ceil_a_by_b` (float division, then ceil)."""
    return np.ceil(np.asarray(x, dtype=np.float64) / d)


def _promote(at: np.ndarray, dep_at: np.ndarray, tile: np.ndarray, cap: Any) -> tuple[np.ndarray, np.ndarray]:
    """(DRAM bits, held block bits) of one operand (optimizer.py:121-151): loops innermost first;
    while promoted, a dependent loop grows the block (promotion stops once it exceeds `cap`, the
    block keeping its last fitting size) and an unrelated one is free; after that every loop
    multiplies the traffic. `at` [pos, ...]: the trips of the loop at each position of the order
    (outermost first), `dep_at` [pos, ...]: whether the operand depends on it."""
    size = np.asarray(tile, dtype=np.float64)
    block = size
    promoting = np.ones(np.broadcast_shapes(size.shape, at.shape[1:]), dtype=bool)
    for pos in range(4, -1, -1):
        n, dep = at[pos], dep_at[pos]
        grow = promoting & dep
        grown = np.where(promoting & ~dep, size, size * n)
        over = grow & (grown > cap)
        block = np.where(grow & ~over, grown, block)
        promoting = promoting & ~over
        size = grown
    return size, block


def _inner_counts(ls: LoopShape, b: np.ndarray, oh: np.ndarray, ow: np.ndarray, ic: np.ndarray, oc: np.ndarray,
                  m_cols: int, kq: int, ip: float, wp: float, op: float
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-tile buffer bit accesses of the inner loop order (optimizer.py:172-228): (input reads,
    weight reads, output reads, output writes); input stationary on a tie, then output."""
    kk = ls.kernel_h * ls.kernel_w
    is_loop = _ceil(oc, m_cols) * m_cols
    os_loop = _ceil(ic * kk, kq) * kq if ls.im2col else _ceil(ic, kq) * kq * kk
    ws_loop = b * oh * ow
    pick_is, pick_os = stationary_order(is_loop, os_loop, ws_loop, ip, wp, op)
    red = (kk * ic).astype(np.float64)          # kw * kh * ic
    pix = (b * oh * ow).astype(np.float64)      # oh * ow * b
    ocf = oc.astype(np.float64)
    act = np.where(pick_is, red * pix, np.where(pick_os, ocf * pix * red, red * ocf * pix)) * ip
    wgt = np.where(pick_is | pick_os, red * pix * ocf, red * ocf) * wp
    out = np.where(pick_is, red * pix * ocf, np.where(pick_os, ocf * pix, red * ocf * pix)) * op
    return act, wgt, out, out


@dataclass
class _Tiles:
    """The per-tiling terms of `price_loops` (arrays over tilings; no loop order yet)."""

    b: np.ndarray
    oh: np.ndarray
    ow: np.ndarray
    ic: np.ndarray
    oc: np.ndarray
    tiles: dict[Operand, np.ndarray]   # bits of one tile
    trips: np.ndarray                  # [5, ...] per loop of LOOPS
    num_tiles: np.ndarray
    cap: dict[Operand, Any]            # bits an operand's block may grow to
    fits: np.ndarray
    compute: np.ndarray                # the core's cycles for one whole tile x tiles
    ran_as: str
    bits: tuple[float, float, float]   # (iprec, wprec, oprec)
    m_cols: int
    kq: int


def _tiling_terms(ls: LoopShape, shape: GemmShape, w: Format, a: Format, accel: Accelerator,
                  b: Any, oh: Any, ow: Any, ic: Any, oc: Any, dataflow: Any, out_fmt: Format | None) -> _Tiles:
    model = accel.model()
    dataflows = model.dataflows
    if not (0 <= int(dataflow) < len(dataflows)):
        raise InvalidSpecError(f"bitfusion_loops: dataflow index out of range for {[d.value for d in dataflows]}")
    df = dataflows[int(dataflow)]
    b, oh, ow, ic, oc = np.broadcast_arrays(*(np.asarray(v, dtype=np.int64) for v in (b, oh, ow, ic, oc)))
    if np.any(b < 1) or np.any(oh < 1) or np.any(ow < 1) or np.any(ic < 1) or np.any(oc < 1):
        raise InvalidSpecError("bitfusion_loops: tile sizes must be positive")
    b, oh, ow = np.minimum(b, ls.batch), np.minimum(oh, ls.out_h), np.minimum(ow, ls.out_w)
    ic, oc = np.minimum(ic, ls.in_channels), np.minimum(oc, ls.out_channels)
    rules = accel.memory
    bits = operand_bits(w, a, out_fmt)
    ip, wp = bits.input, bits.weight
    op = float(rules.output_bits) if rules.output_bits is not None else bits.output
    hints = model.mapping_hints()
    m_cols = hints.pad_n if rules.array_padding else 1
    per_pe = model.peak_macs_per_cycle(w, a) / float(hints.pad_k_rows * hints.pad_n)
    kq = hints.pad_k_rows * max(1, round(per_pe)) if rules.array_padding else 1  # N x perf factor
    kk = ls.kernel_h * ls.kernel_w

    wgt_t = (_ceil(kk * ic, kq) * kq * oc * wp).astype(np.float64)
    if ls.im2col:
        act_t = (ow * oh * kk * ic * b * ip).astype(np.float64)
    else:
        iw, ih = ls.kernel_w + (ow - 1) * ls.stride_w, ls.kernel_h + (oh - 1) * ls.stride_h
        act_t = (iw * ih * ic * b * ip).astype(np.float64)
    out_t = (ow * oh * _ceil(oc, m_cols) * m_cols * b * op).astype(np.float64)
    trips = np.stack([_ceil(ls.batch, b), _ceil(ls.out_w, ow), _ceil(ls.out_h, oh), _ceil(ls.in_channels, ic),
                      _ceil(ls.out_channels, oc)]).astype(np.float64)
    tiles = {Operand.INPUT: act_t, Operand.WEIGHT: wgt_t, Operand.OUTPUT: out_t}

    # an operand's cap is its buffer's usable half less the tiles sharing it; a tile over it: no fit
    cap: dict[Operand, Any] = {}
    fits = np.ones(b.shape, dtype=bool)
    for op_ in Operand:
        buf = accel.buffer_for(op_)
        if buf is None:
            cap[op_] = 0.0
            continue
        others = sum((tiles[o] for o in buf.operands if o is not op_ and accel.buffer_for(o) is buf),
                     np.zeros(b.shape))
        cap[op_] = buf.usable_bytes * 8.0 - others
        fits = fits & (tiles[op_] <= cap[op_])

    seg = ic if shape.k_segment else None  # a channel-wise conv reduces ic per kernel position
    one = model.compute(b * oh * ow, ic * kk, oc, w, a, df, 1, k_segment=seg)
    num_tiles = trips.prod(axis=0)
    return _Tiles(b=b, oh=oh, ow=ow, ic=ic, oc=oc, tiles=tiles, trips=trips, num_tiles=num_tiles, cap=cap,
                  fits=fits, compute=np.asarray(one.cycles, dtype=np.float64) * num_tiles, ran_as=one.ran_as,
                  bits=(ip, wp, op), m_cols=m_cols, kq=kq)


def tiling_bounds(ls: LoopShape, shape: GemmShape, w: Format, a: Format, accel: Accelerator,
                  b: Any, oh: Any, ow: Any, ic: Any, oc: Any, dataflow: Any = 0, *,
                  out_fmt: Format | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(fits, a lower bound of the cycles over every loop order) per tiling, without pricing the
    orders: a held block is at least its tile, so cycles >= compute + ceil(tiles / bw) +
    ceil(output tile / bw) (`price_loops`' cycle rule)."""
    t = _tiling_terms(ls, shape, w, a, accel, b, oh, ow, ic, oc, dataflow, out_fmt)
    bw = accel.dram.bandwidth_bytes_per_cycle * 8.0
    fill = t.tiles[Operand.INPUT] + t.tiles[Operand.WEIGHT] + t.tiles[Operand.OUTPUT]
    return t.fits, np.rint(t.compute) + _ceil_div(fill, bw) + _ceil_div(t.tiles[Operand.OUTPUT], bw)


def price_loops(ls: LoopShape, shape: GemmShape, w: Format, a: Format, accel: Accelerator,
                b: Any, oh: Any, ow: Any, ic: Any, oc: Any, order: Any, dataflow: Any = 0,
                table: EnergyTable | None = None, *, out_fmt: Format | None = None) -> Priced:
    """Cycles, energy and traffic of five-loop tilings (b images, oh x ow pixels, ic input and oc
    output channels per tile; `order` indexes FIVE_LOOP_ORDERS; `dataflow` one index into
    `accel.model().dataflows` for all). The tiling arrays broadcast together and with `order`
    (e.g. tilings [T, 1] x orders [1, O]); see the module doc for the rules."""
    order = np.asarray(order, dtype=np.int64)
    if np.any(order < 0) or np.any(order >= len(FIVE_LOOP_ORDERS)):
        raise InvalidSpecError("bitfusion_loops: loop order index out of range")
    t = _tiling_terms(ls, shape, w, a, accel, b, oh, ow, ic, oc, dataflow, out_fmt)
    model = accel.model()
    df = model.dataflows[int(dataflow)]
    table = table or EnergyTable.for_node(accel.node_nm, accel.energy, accel.dram.energy_j_per_byte)
    rules = accel.memory
    hints = model.mapping_hints()
    b, oh, ow, ic, oc = t.b, t.oh, t.ow, t.ic, t.oc
    tiles, trips, num_tiles, cap = t.tiles, t.trips, t.num_tiles, t.cap
    act_t, wgt_t, out_t = tiles[Operand.INPUT], tiles[Operand.WEIGHT], tiles[Operand.OUTPUT]
    ip, wp, op = t.bits
    m_cols, kq = t.m_cols, t.kq
    fits = t.fits

    # ---- promotion (DRAM traffic, held blocks)
    full = np.broadcast_shapes(b.shape, order.shape)
    idx = np.moveaxis(_ORDER_IDX[order], -1, 0)                       # [pos, *order.shape]: loop at each
    at = np.take_along_axis(np.broadcast_to(trips, (5, *full)), np.broadcast_to(idx, (5, *full)), axis=0)
    traffic, held = {}, {}
    for op_ in Operand:
        dep_at = np.array([c in _DEPS[op_] for c in LOOPS])[idx]         # [pos, *order.shape]
        traffic[op_], held[op_] = _promote(at, dep_at, tiles[op_], cap[op_])
        traffic[op_], held[op_] = np.broadcast_to(traffic[op_], full), np.broadcast_to(held[op_], full)
    dram_read = traffic[Operand.INPUT] + traffic[Operand.WEIGHT] + traffic[Operand.OUTPUT]
    dram_write = traffic[Operand.OUTPUT]
    dram_bits = dram_read + dram_write

    compute = np.broadcast_to(t.compute, full)

    # ---- cycles (optimizer.py:230-249)
    bw = accel.dram.bandwidth_bytes_per_cycle * 8.0
    fill = held[Operand.INPUT] + held[Operand.WEIGHT] + held[Operand.OUTPUT]
    drain = held[Operand.OUTPUT]
    latency = _ceil_div(fill, bw) + _ceil_div(drain, bw)
    middle = dram_bits - fill - drain
    stall = np.maximum(0.0, _ceil_div(middle, bw) - compute) + latency

    # ---- buffer accesses (bits): inner order per tile, DRAM fills in, outputs out
    if rules.sram_counts is SramCounts.STATIONARY_INNER:
        act_r, wgt_r, out_r, out_w = _inner_counts(ls, b, oh, ow, ic, oc, m_cols, kq, ip, wp, op)
        reads = {Operand.INPUT: act_r * num_tiles, Operand.WEIGHT: wgt_r * num_tiles,
                 Operand.OUTPUT: out_r * num_tiles + traffic[Operand.OUTPUT]}
        out_wr = out_w * num_tiles + traffic[Operand.OUTPUT]
    else:  # SramCounts.TILES: whole tiles per step, partial sums read back after the first ic step
        first = trips[3]
        reads = {Operand.INPUT: act_t * num_tiles, Operand.WEIGHT: wgt_t * num_tiles,
                 Operand.OUTPUT: out_t * num_tiles * (first - 1) / first}
        out_wr = out_t * num_tiles
    writes = {Operand.INPUT: traffic[Operand.INPUT], Operand.WEIGHT: traffic[Operand.WEIGHT],
              Operand.OUTPUT: out_wr}
    sram_energy = np.zeros(full)
    sram_bytes = np.zeros(full)
    need: dict[str, np.ndarray] = {}
    for buf in accel.buffers:
        ops = [o for o in buf.operands if accel.buffer_for(o) is buf]
        if not ops:
            continue
        rd = sum((np.broadcast_to(reads[o], full) for o in ops), np.zeros(full)) / 8.0
        wr = sum((np.broadcast_to(writes[o], full) for o in ops), np.zeros(full)) / 8.0
        bank = buf.size_bytes / buf.banks
        j_rd, j_wr = buf.sram_j_per_byte(), buf.sram_j_per_byte(write=True)
        sram_energy = sram_energy + (rd * (table.sram_j_per_byte(bank) if j_rd is None else j_rd)
                                     + wr * (table.sram_j_per_byte(bank, write=True) if j_wr is None else j_wr))
        sram_bytes = sram_bytes + rd + wr
        need[buf.name] = sum((held[o] for o in ops), np.zeros(full)) / 8.0 * (2 if buf.double_buffered else 1)

    compute_cycles = np.rint(compute)
    energy = pe_cycle_energy(table, hints, accel, compute_cycles)
    if energy is None:
        tc = model.compute(shape.m, shape.k, shape.n, w, a, df, shape.batch, k_segment=shape.k_segment or None)
        energy = {k: np.broadcast_to(np.asarray(v, dtype=np.float64), full)
                  for k, v in table.breakdown({act: float(np.sum(v)) for act, v in tc.actions.items()}).items()}
    energy["sram"] = sram_energy
    energy["dram"] = dram_bits / 8.0 * table.dram_j_per_byte
    return Priced(cycles=compute_cycles + np.rint(stall), compute_cycles=compute_cycles, stall_cycles=np.rint(stall),
                  energy_j=energy, dram_bytes=dram_bits / 8.0, sram_bytes=sram_bytes,
                  fits=np.broadcast_to(fits, full), need_bytes=need, ran_as=t.ran_as)
