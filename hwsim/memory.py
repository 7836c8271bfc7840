"""Memory hierarchy: per-level traffic and a double-buffered tile timeline.

A layer is a GEMM view: `batch` x (M x K) . (K x N). A mapping tiles it at the
on-chip level into (tm, tk, tn) tiles visited by three nested loops in a loop
order (outermost first, e.g. "nkm"), the batch loop outermost. Each operand
lives in the first buffer of the spec that lists it (operands sharing a buffer
share its capacity; a double-buffered buffer offers half its size to a tile,
the other half is loading the next one). An operand no buffer holds streams
from DRAM with the same tile reuse (in the core's registers).

Traffic (bytes; packed operands: `Format.bits_per_weight` incl. scales for
weights, activation bits for inputs/outputs):

- DRAM reads of an operand = its size x the product of the trip counts of the
  loops it does NOT depend on that sit outside its innermost dependent loop
  of more than one trip (the tile stays resident while only unrelated inner
  loops turn; any change of an outer unrelated loop re-fetches it; an operand
  whose dependent loops all have one trip is fetched once). An operand whose
  whole per-core tensor fits in its buffer beside the tiles of the buffer's
  other operands is kept resident (fetched once; it then takes its whole size
  of the buffer). Input depends on (m, k), weight on
  (k, n), output on (m, n).
- Output: when K is split over tiles (Tk > 1) the output tile is held on chip
  as partial sums at the core's accumulator width (`MappingHints.accumulator_bits`)
  until its last k step; with the whole K in one tile the
  core reduces it and the buffer holds final outputs at the activation width.
  Outputs leave once at the activation width. When the k loop
  sits outside the innermost of m/n, partial sums leave and come back:
  r - 1 extra writes and r - 1 reads of the partial-sum tensor, r that product.
- SRAM: every tile step the core reads its input and weight tiles from the
  buffers and writes (and, after the first k step, reads) its partial-sum
  tile: input reads = |A| x Tn, weight reads = |W| x Tm, partial-sum writes =
  |P| x Tk, reads = |P| x (Tk - 1); plus the DRAM fills written into the buffers.

Opt-in rules (`Accelerator.memory`, `hwsim.spec.MemoryRules`; all off by default, set by
presets that reproduce a peer simulator, e.g. Bit Fusion's):

- `output_bits`: outputs at this width in the output buffer and DRAM;
- `output_read_before_write`: DRAM output reads = DRAM output writes;
- `im2col_input: host` (applied in `mapper.layer_gemm`): an im2col'd conv reads M x K;
- `conv_input_halo`: a channel-wise conv's m-tile of t output pixels fetches and holds its
  input window, a block of side sqrt(t) plus the kernel halo (`halo_scale`), per tile;
- `padded_tiles`: every tile whole: conv m-tiles are square pixel blocks covering each
  image with ceil(out/side)^2 blocks (`padded_m_trips`); traffic scales by trips x tile /
  dimension per operand, and compute is the core's cycles for one whole tile x tiles.
- `whole_layer_refetch` (bitmod_sim): each operand crosses DRAM once unless the whole weight
  and the whole input both exceed their buffers (full size); then the cheaper of re-reading
  all weights ceil(input / input buffer) times or all inputs ceil(weight / weight buffer)
  times. Latency = max(compute, floor(DRAM bytes / bandwidth)) (`_whole_layer_refetch`).
- `array_padding` (Bit Fusion): output tiles stored with N padded to the array columns and
  weight tiles with K padded to rows x MACs per PE per cycle (`MappingHints.pad_n`, `pad_k_rows`).
- `block_promotion` (Bit Fusion): an operand's held block grows from its tile through the loops it
  depends on, innermost first, while it fits its buffer; unrelated loops inside the point where it
  outgrows the buffer are free, those outside re-read it (`_promote`). Latency = compute +
  max(0, ceil(middle / bw) - compute) + ceil(fill / bw) + ceil(drain / bw), fill = the held
  blocks, drain = the held output block, middle = the rest of the DRAM bytes.
- `sram_counts` (energy only): `array_steps` (bitmod_sim) prices one port access of the input
  and of the weight buffer per array step (`TileCompute.steps`), and buffer writes of the DRAM
  fills and final outputs; `stationary_inner` (Bit Fusion) prices per tile the element reads
  of the inner loop order (input-, output- or weight-stationary) of fewest weighted bit
  accesses (`_stationary_inner`). Cycles, stalls and `sram_bytes` keep the tile traffic.

Energy: the core's actions priced by the energy table, or with `energy: {pe_cycle_j}` one
`pe` term = pe_cycle_j x `MappingHints.pe_count` x compute cycles; buffer bytes at the
buffer's own per-access energies (`BufferSpec.read_j_per_access` / `write_j_per_access` over
their access widths) where it states them, else the table's per-byte SRAM price; DRAM bytes
at the DRAM price.

Compute cycles and actions come from the core model on the whole (per-core)
GEMM, for the mapping's dataflow: the core's own convention (SCALE-Sim's folds,
Bit Fusion's channel-wise segments, ...) is the authority on compute; the
buffer tiling decides traffic and stalls.

Timeline over S = batch x Tm x Tk x Tn identical tile steps (closed form; the
per-step compute is the layer's compute / S, and the per-step load the DRAM
bytes / S at the shared DRAM bandwidth):

    double-buffered (every buffer an operand tiles in): latency = fill + (S - 1) x max(c, l) + c + drain
    otherwise:       latency = S x (c + l) + drain
    fill = l (first tiles), drain = last output tile / DRAM bandwidth,
    c = max(compute per step, SRAM reads per step / buffer bandwidth)

stall cycles = latency - compute cycles (rounded; 0 with ample bandwidth).
Everything is vectorised over candidate mappings (numpy arrays).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
from lowbit.hwsim.cores.base import MappingHints
from lowbit.hwsim.energy import EnergyTable
from lowbit.hwsim.spec import Accelerator, Operand, SramCounts
from lowbit.kernels_ref.errors import InvalidSpecError
from lowbit.kernels_ref.formats import Format

__all__ = [
    "LOOP_ORDERS",
    "GemmShape",
    "OperandBits",
    "Priced",
    "halo_scale",
    "operand_bits",
    "price_candidates",
    "tile_bytes",
]

LOOP_ORDERS: tuple[str, ...] = tuple("".join(p) for p in itertools.permutations("mkn"))
_DEPS = {Operand.INPUT: "mk", Operand.WEIGHT: "kn", Operand.OUTPUT: "mn"}


@dataclass(frozen=True)
class GemmShape:
    """The (per-core) GEMM a layer asks for, and how its operands are stored."""

    m: int
    k: int
    n: int
    batch: int = 1
    weight_per_batch: bool = True    # False when all batch entries share one weight (never in Layer)
    input_scale: float = 1.0         # DRAM input bytes / GEMM-view input bytes (conv im2col reuse)
    weight_scale: float = 1.0        # weight bytes / GEMM-view weight bytes (kv sharing)
    k_segment: int = 0               # > 0: K is independent runs of this length (the core's
    #                                  MappingHints.k_segment), passed on to its compute
    conv_window: tuple[int, ...] = ()  # conv layers: (kernel_h, kernel_w, stride_h, stride_w, out_h, out_w)
    input_share: float = 1.0         # fraction of the input this core fetches (N split over cores)


def _conv_blocks(shape: GemmShape, tm: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pixels t, block height, block width) of m-tiles of `tm` output pixels of a conv: a tile
    below one image's out_h*out_w pixels is a block of side sqrt(tm), clipped to the map."""
    _, _, _, _, oh, ow = shape.conv_window
    t = np.minimum(np.asarray(tm, dtype=np.float64), float(oh * ow))
    bh = np.minimum(np.sqrt(t), float(oh))
    bw = np.minimum(t / bh, float(ow))
    return t, bh, bw


def padded_m_trips(shape: GemmShape, tm: Any) -> np.ndarray:
    """m-tiles visited when every tile is whole (MemoryRules.padded_tiles): a conv's blocks of
    bh x bw output pixels cover each image's out_h x out_w map with ceil(out_h/bh) *
    ceil(out_w/bw) blocks (edge blocks computed and moved in full); tiles of whole images,
    and non-conv layers, take ceil(m / tm)."""
    tm = np.asarray(tm, dtype=np.int64)
    plain = _ceil(shape.m, tm)
    if not shape.conv_window:
        return plain
    _, _, _, _, oh, ow = shape.conv_window
    images = shape.m // (oh * ow)
    _, bh, bw = _conv_blocks(shape, tm)
    blocks = np.ceil(oh / bh - 1e-9) * np.ceil(ow / bw - 1e-9) * images
    return np.where(tm < oh * ow, blocks.astype(np.int64), plain)


def halo_scale(shape: GemmShape, tm: Any) -> np.ndarray:
    """Input bytes / GEMM-view input bytes of m-tiles of `tm` output pixels carrying their halo.

    A tile of t = min(tm, out_h*out_w) pixels is taken as a block of side sqrt(t) (clipped to the
    output map) and needs the ((side-1)*stride + kernel)^2 input pixels under it, for each input
    channel: window / (t * kernel_h * kernel_w) of its im2col'd rows (MemoryRules.conv_input_halo)."""
    kh, kw, sh, sw, _, _ = shape.conv_window
    t, bh, bw = _conv_blocks(shape, tm)
    window = ((bh - 1.0) * sh + kh) * ((bw - 1.0) * sw + kw)
    return window / (t * kh * kw)


@dataclass(frozen=True)
class OperandBits:
    input: float
    weight: float
    output: float


def operand_bits(w: Format, a: Format, out: Format | None = None) -> OperandBits:
    """Stored bits per element: weights with scale overhead, activations packed."""
    o = out if out is not None else a
    return OperandBits(input=float(a.bits_per_weight), weight=float(w.bits_per_weight),
                       output=float(o.bits_per_weight))


def _ceil(a: Any, b: Any) -> Any:
    return -(-np.asarray(a, dtype=np.int64) // np.asarray(b, dtype=np.int64))


def tile_bytes(tm: Any, tk: Any, tn: Any, bits: OperandBits, psum_bits: float | None = None) -> dict[Operand, Any]:
    """On-chip bytes of one tile of each operand (the output as partial sums when `psum_bits`)."""
    return {Operand.INPUT: tm * tk * bits.input / 8.0,
            Operand.WEIGHT: tk * tn * bits.weight / 8.0,
            Operand.OUTPUT: tm * tn * (psum_bits if psum_bits is not None else bits.output) / 8.0}


@dataclass
class Priced:
    """Cost arrays of candidate mappings (one entry per candidate)."""

    cycles: np.ndarray
    compute_cycles: np.ndarray
    stall_cycles: np.ndarray
    energy_j: dict[str, np.ndarray]
    dram_bytes: np.ndarray
    sram_bytes: np.ndarray
    fits: np.ndarray                 # bool: tiles fit every buffer
    need_bytes: dict[str, np.ndarray]  # buffer name -> bytes the candidate needs (full size)
    ran_as: str

    @property
    def total_energy_j(self) -> np.ndarray:
        return sum(self.energy_j.values(), np.zeros_like(self.cycles, dtype=np.float64))

    def objective(self, objective: str) -> np.ndarray:
        """Each candidate's value of a mapping objective: latency (cycles), energy (J) or edp."""
        if objective == "latency":
            return self.cycles.astype(np.float64)
        if objective == "energy":
            return self.total_energy_j
        if objective == "edp":
            return self.cycles * self.total_energy_j
        raise InvalidSpecError(f"mapper: unknown objective {objective!r} (known: latency, energy, edp)")


_ORDER_DIMS = np.array([["mkn".index(d) for d in lo] for lo in LOOP_ORDERS], dtype=np.int64)  # [order, pos]


def _refetch(order: np.ndarray, trips: dict[str, np.ndarray], deps: str) -> np.ndarray:
    """Product of trip counts of unrelated loops outside the innermost dependent loop.

    `order` holds indices into LOOP_ORDERS per candidate. A dependent loop of one trip
    never changes the tile, so it does not count as the innermost dependent loop.
    Vectorised over candidates (one gather per loop position, no Python loop over orders)."""
    t = np.stack(np.broadcast_arrays(trips["m"], trips["k"], trips["n"]))      # [dim, *cands]
    dims = np.moveaxis(_ORDER_DIMS[np.broadcast_to(order, t.shape[1:])], -1, 0)  # [pos, *cands]
    at = np.take_along_axis(t, dims, axis=0)                                     # trips at each position
    dep = np.array([d in deps for d in "mkn"])[dims]
    pos = np.arange(3).reshape((3,) + (1,) * (t.ndim - 1))
    inner = np.where(dep & (at > 1), pos, -1).max(axis=0)
    f = np.where(~dep & (pos < inner), at, 1).astype(np.float64)
    return f[0] * f[1] * f[2]


def _ceil_cycles(x: Any) -> np.ndarray:
    """ceil of a cycle count computed in floating point (bytes / bytes per cycle), robust to
    the last-ulp error of a quotient that is a whole number."""
    return np.ceil(np.asarray(x, dtype=np.float64) * (1.0 - 1e-12))


def _promote(order: np.ndarray, trips: dict[str, np.ndarray], batch: int, deps: str, batch_dep: bool,
             tile: np.ndarray, cap: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(re-read factor, held block bytes) of one operand under `MemoryRules.block_promotion`, after
    Bit Fusion's get_stats_fast (hsharma35/bitfusion optimizer.py:121-151): loops from the
    innermost out (the order's positions 2, 1, 0, then the batch loop); while the block is still
    promoted, a dependent loop multiplies it (promotion stops once it exceeds `cap`, the block
    staying at its last fitting size) and an unrelated loop is free; after that every loop
    multiplies the traffic, the unrelated ones into the re-read factor. Vectorised over candidates."""
    t = np.stack(np.broadcast_arrays(trips["m"], trips["k"], trips["n"])).astype(np.float64)
    dims = np.moveaxis(_ORDER_DIMS[np.broadcast_to(order, t.shape[1:])], -1, 0)   # [pos, *cands]
    at = np.take_along_axis(t, dims, axis=0)
    dep_at = np.array([d in deps for d in "mkn"])[dims]
    size = np.asarray(tile, dtype=np.float64).copy()
    block, factor = size.copy(), np.ones(size.shape)
    promoting = np.ones(size.shape, dtype=bool)
    loops = [(at[p], dep_at[p]) for p in (2, 1, 0)] + [(np.full(size.shape, float(batch)),
                                                       np.full(size.shape, batch_dep))]
    for n, dep in loops:
        grown = np.where(promoting & ~dep, size, size * n)
        factor = np.where(~promoting & ~dep, factor * n, factor)
        over = promoting & dep & (grown > cap)
        block = np.where(promoting & dep & ~over, grown, block)
        promoting &= ~over
        size = grown
    return factor, block


def _promote_all(accel: Accelerator, shape: GemmShape, order: np.ndarray, trips: dict[str, np.ndarray],
                 tb: dict[Operand, np.ndarray], held: dict[Operand, np.ndarray]
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Re-read factors (input, weight, output) under `MemoryRules.block_promotion`; writes each
    operand's held block into `held`. The cap is the operand's buffer's usable bytes less the
    tiles of the operands sharing it (optimizer.py:131 compares with `sram[namespace]*8/2`); an
    operand no buffer holds is never promoted."""
    out = []
    for op, deps, bdep in ((Operand.INPUT, "mk", True), (Operand.WEIGHT, "kn", False),
                           (Operand.OUTPUT, "mn", True)):
        buf = accel.buffer_for(op)
        cap: Any = 0.0
        if buf is not None:
            others = sum((tb[o] for o in buf.operands if o is not op and accel.buffer_for(o) is buf),
                         np.zeros(np.shape(tb[op])))
            cap = buf.usable_bytes - others
        factor, block = _promote(order, trips, shape.batch, deps, bdep, tb[op], cap)
        held[op] = block
        out.append(factor)
    return out[0], out[1], out[2]


def _whole_layer_refetch(accel: Accelerator, inp: Any, wgt: Any) -> tuple[np.ndarray, np.ndarray]:
    """(DRAM input bytes, DRAM weight bytes) under `MemoryRules.whole_layer_refetch`, after
    bitmod_sim's `Accelerator._calc_num_mem_refetch` (accelerator.py): with both tensors
    larger than their whole buffers, refetch all weights once per input-buffer load or all
    inputs once per weight-buffer load, whichever total is smaller (a tie re-reads inputs)."""
    bi, bw = accel.buffer_for(Operand.INPUT), accel.buffer_for(Operand.WEIGHT)
    if bi is None or bw is None:
        raise InvalidSpecError(f"accelerator {accel.name!r}: memory.whole_layer_refetch needs a buffer "
                               "holding the input and one holding the weights")
    inp, wgt = np.asarray(inp, dtype=np.float64), np.asarray(wgt, dtype=np.float64)
    both = (wgt > bw.size_bytes) & (inp > bi.size_bytes)
    n_w = np.ceil(inp / bi.size_bytes)   # weight passes: one per input-buffer load
    n_i = np.ceil(wgt / bw.size_bytes)   # input passes: one per weight-buffer load
    refetch_w = n_w * wgt + inp < n_i * inp + wgt
    f_w = np.where(both & refetch_w, n_w, 1.0)
    f_i = np.where(both & ~refetch_w, n_i, 1.0)
    return inp * f_i, wgt * f_w


def pe_cycle_energy(table: EnergyTable, hints: MappingHints, accel: Accelerator,
                    compute_cycles: np.ndarray) -> dict[str, np.ndarray] | None:
    """The core's energy as a peer prices it, `energy.pe_cycle_j` per PE per compute cycle, or
    None when the spec does not set it (the core's actions are priced instead)."""
    if table.pe_cycle_j is None:
        return None
    if hints.pe_count < 1:
        raise InvalidSpecError(f"accelerator {accel.name!r}: energy.pe_cycle_j needs a core that states its "
                               f"PE count ({accel.core_family.value} does not)")
    return {"pe": table.pe_cycle_j * hints.pe_count * compute_cycles}


def stationary_order(is_loop: Any, os_loop: Any, ws_loop: Any, ip: float, wp: float,
                     op: float) -> tuple[Any, Any]:
    """Bit Fusion's inner loop choice (optimizer.py get_stats_fast): (input stationary, output
    stationary) masks of the order of least buffer bits, (os*ws)(ip + is(wp + op)) [input],
    (is*ws)(op + os(ip + wp)) [output], (os*is)(wp + ws(ip + op)) [weight], first on a tie."""
    e_is = (os_loop * ws_loop) * (ip + is_loop * (wp + op))
    e_os = (is_loop * ws_loop) * (op + os_loop * (ip + wp))
    e_ws = (os_loop * is_loop) * (wp + ws_loop * (ip + op))
    low = np.minimum(np.minimum(e_is, e_os), e_ws)
    pick_is = e_is == low
    return pick_is, ~pick_is & (e_os == low)


def _stationary_inner(shape: GemmShape, accel: Accelerator, w: Format, a: Format, bits: OperandBits,
                      tm: Any, tk: Any, tn: Any) -> dict[Operand, tuple[np.ndarray, np.ndarray]]:
    """Per tile (bytes read, bytes written) of each operand's buffer by the array under
    `MemoryRules.sram_counts: stationary_inner`, after Bit Fusion's `get_stats_fast`
    (hsharma35/bitfusion optimizer.py, inner loop): loops is = N padded to the array columns,
    os = K padded to rows x MACs per row per cycle (per kernel position for a channel-wise
    conv), ws = M; the order of least (os*ws)(ip + is(wp + op)) [input stationary],
    (is*ws)(op + os(ip + wp)) [output stationary], (os*is)(wp + ws(ip + op)) [weight
    stationary], first on a tie; its counts over the unpadded tile."""
    model = accel.model()
    hints = model.mapping_hints()
    per_pe = model.peak_macs_per_cycle(w, a) / float(hints.pad_k_rows * hints.pad_n)
    kq = hints.pad_k_rows * max(1, round(per_pe))
    tm, tk, tn = (np.asarray(v, dtype=np.float64) for v in (tm, tk, tn))
    ip, wp, op = bits.input, bits.weight, bits.output
    is_loop = np.ceil(tn / hints.pad_n) * hints.pad_n
    win = shape.conv_window[0] * shape.conv_window[1] if (shape.k_segment and shape.conv_window) else 1
    whole_win = np.mod(tk, win) == 0
    os_loop = np.where(whole_win, np.ceil(tk / win / kq) * kq * win, np.ceil(tk / kq) * kq)
    ws_loop = tm
    pick_is, pick_os = stationary_order(is_loop, os_loop, ws_loop, ip, wp, op)
    mkn = tm * tk * tn
    act = np.where(pick_is, tk * tm, mkn) * ip / 8.0
    wgt = np.where(pick_is | pick_os, mkn, tk * tn) * wp / 8.0
    out = np.where(pick_os, tm * tn, mkn) * op / 8.0
    zero = np.zeros(np.shape(act))
    return {Operand.INPUT: (act, zero), Operand.WEIGHT: (wgt, zero), Operand.OUTPUT: (out, out)}


def price_candidates(shape: GemmShape, w: Format, a: Format, accel: Accelerator,
                     tm: Any, tk: Any, tn: Any, order: Any, dataflow: Any,
                     table: EnergyTable | None = None, *, n_cores_active: int = 1,
                     out_fmt: Format | None = None) -> Priced:
    """Cycles, energy and traffic of candidate mappings (arrays broadcast together).

    `order` indexes LOOP_ORDERS; `dataflow` indexes `accel.model().dataflows`.
    `n_cores_active` cores run copies of this GEMM at once: they share the DRAM bandwidth."""
    model = accel.model()
    tm, tk, tn, order, dfi = np.broadcast_arrays(*(np.asarray(v, dtype=np.int64)
                                                   for v in (tm, tk, tn, order, dataflow)))
    if np.any(tm < 1) or np.any(tk < 1) or np.any(tn < 1):
        raise InvalidSpecError("memory: tile sizes must be positive")
    tm, tk, tn = np.minimum(tm, shape.m), np.minimum(tk, shape.k), np.minimum(tn, shape.n)
    table = table or EnergyTable.for_node(accel.node_nm, accel.energy, accel.dram.energy_j_per_byte)
    rules = accel.memory
    bits = operand_bits(w, a, out_fmt)
    if rules.output_bits is not None:  # outputs stored at a fixed width (MemoryRules.output_bits)
        bits = OperandBits(input=bits.input, weight=bits.weight, output=float(rules.output_bits))
    trips = {"m": _ceil(shape.m, tm), "k": _ceil(shape.k, tk), "n": _ceil(shape.n, tn)}
    if rules.padded_tiles:  # edge tiles cost as much as full ones; conv m-tiles are square pixel blocks
        trips["m"] = padded_m_trips(shape, tm)
        pad = {d: trips[d] * t / float(full) for d, t, full in (("m", tm, shape.m), ("k", tk, shape.k),
                                                               ("n", tn, shape.n))}
    else:
        pad = {d: np.ones(tm.shape) for d in "mkn"}
    steps = shape.batch * trips["m"] * trips["k"] * trips["n"]

    # ---- compute: the core's own whole-GEMM model, per dataflow (buffer tiling sets traffic and
    # stalls; the core model is the authority on compute cycles, e.g. SCALE-Sim's fold convention)
    dataflows = model.dataflows
    if np.any(dfi >= len(dataflows)) or np.any(dfi < 0):
        raise InvalidSpecError(f"memory: dataflow index out of range for {[d.value for d in dataflows]}")
    compute = np.zeros(tm.shape, dtype=np.float64)
    array_steps = np.zeros(tm.shape, dtype=np.float64)  # TileCompute.steps (nan: not counted)
    actions_total: dict[Any, np.ndarray] = {}
    ran_as = ""
    for di, df in enumerate(dataflows):
        sel = dfi == di
        if not np.any(sel):
            continue
        tc = model.compute(shape.m, shape.k, shape.n, w, a, df, shape.batch, k_segment=shape.k_segment or None)
        ran_as = ran_as or tc.ran_as
        compute[sel] = float(tc.cycles)
        array_steps[sel] = np.nan if tc.steps is None else float(np.sum(tc.steps))
        if rules.padded_tiles:  # every tile computed whole: the core's cycles for one full tile x tiles
            seg: Any = None
            if shape.k_segment:  # a K tile of whole kernel windows reduces tk / window channels per run
                win = shape.conv_window[0] * shape.conv_window[1] if shape.conv_window else 1
                tks = tk[sel]
                seg = np.where(tks % win == 0, np.minimum(tks // win, shape.k_segment), shape.k_segment)
            one = model.compute(tm[sel], tk[sel], tn[sel], w, a, df, 1, k_segment=seg)
            compute[sel] = np.asarray(one.cycles, dtype=np.float64) * steps[sel]
            array_steps[sel] = np.nan if one.steps is None else np.asarray(one.steps, dtype=np.float64) * steps[sel]
        for act, v in tc.actions.items():
            full_v = actions_total.setdefault(act, np.zeros(tm.shape, dtype=np.float64))
            full_v[sel] = float(np.sum(v))

    # ---- traffic
    gemm_in = shape.batch * shape.m * shape.k * bits.input / 8.0  # im2col'd (GEMM-view) input bytes
    in_scale: Any = shape.input_scale
    in_tile_scale: Any = 1.0   # on-chip input tile / GEMM-view tile (1: the buffer holds im2col'd rows)
    in_whole_scale: Any = 1.0
    if rules.conv_input_halo and shape.k_segment and shape.conv_window:
        # channel-wise conv: each m-tile fetches (and holds) its input window, halo included
        in_tile_scale = halo_scale(shape, tm)
        in_scale = in_tile_scale * shape.input_share
        in_whole_scale = halo_scale(shape, shape.m)
    gemm_bytes = {Operand.INPUT: gemm_in * in_scale * pad["m"] * pad["k"],
                  Operand.WEIGHT: (shape.batch if shape.weight_per_batch else 1) * shape.k * shape.n
                  * bits.weight / 8.0 * shape.weight_scale * pad["k"] * pad["n"],
                  Operand.OUTPUT: shape.batch * shape.m * shape.n * bits.output / 8.0 * pad["m"] * pad["n"]}
    hints = model.mapping_hints()
    psum_bits = float(hints.accumulator_bits)
    multi_k = trips["k"] > 1  # partial sums live in the buffer only when K is split over tiles
    tb = tile_bytes(tm, tk, tn, bits, np.where(multi_k, psum_bits, bits.output))
    tb[Operand.INPUT] = tb[Operand.INPUT] * in_tile_scale
    if rules.array_padding:  # Bit Fusion: out tiles padded to the columns, weight tiles to N x perf rows
        per_pe = model.peak_macs_per_cycle(w, a) / float(hints.pad_k_rows * hints.pad_n)
        kq = hints.pad_k_rows * max(1, round(per_pe))
        pad_out = _ceil(tn, hints.pad_n) * hints.pad_n / tn
        pad_w = _ceil(tk, kq) * kq / tk
        gemm_bytes[Operand.OUTPUT] = gemm_bytes[Operand.OUTPUT] * pad_out
        gemm_bytes[Operand.WEIGHT] = gemm_bytes[Operand.WEIGHT] * pad_w
        tb[Operand.OUTPUT] = tb[Operand.OUTPUT] * pad_out
        tb[Operand.WEIGHT] = tb[Operand.WEIGHT] * pad_w
    # an operand whose whole (per-core) tensor fits in its buffer beside the other operands'
    # tiles stays resident: fetched once whatever the loop order
    whole = {Operand.INPUT: gemm_in * in_whole_scale,
             Operand.WEIGHT: (shape.batch if shape.weight_per_batch else 1) * shape.k * shape.n * bits.weight / 8.0,
             Operand.OUTPUT: shape.batch * shape.m * shape.n * np.where(multi_k, psum_bits, bits.output) / 8.0}
    held = dict(tb)
    resident = {op: np.zeros(tm.shape, dtype=bool) for op in Operand}
    for buf in accel.buffers:
        ops = [op for op in buf.operands if accel.buffer_for(op) is buf]
        for op in ops:
            others = sum((held[o] for o in ops if o is not op), np.zeros(tm.shape))
            ok = whole[op] + others <= buf.usable_bytes
            resident[op] = ok
            held[op] = np.where(ok, whole[op], tb[op])
    r_in = _refetch(order, trips, "mk")
    r_w = _refetch(order, trips, "kn")
    r_out = _refetch(order, trips, "mn")
    if not shape.weight_per_batch:
        r_w = r_w * shape.batch
    r_in = np.where(resident[Operand.INPUT], 1.0, r_in)
    r_w = np.where(resident[Operand.WEIGHT], 1.0, r_w)
    r_out = np.where(resident[Operand.OUTPUT], 1.0, r_out)
    if rules.block_promotion:  # Bit Fusion: held blocks grow while they fit (optimizer.py:111-169)
        r_in, r_w, r_out = _promote_all(accel, shape, order, trips, tb, held)
        if shape.weight_per_batch:  # the batch loop is one of _promote's loops: weights not per item
            r_w = r_w / shape.batch
    dram_in = gemm_bytes[Operand.INPUT] * r_in
    dram_w = gemm_bytes[Operand.WEIGHT] * r_w
    psum_bytes = gemm_bytes[Operand.OUTPUT] * psum_bits / bits.output
    dram_out_w = gemm_bytes[Operand.OUTPUT] + psum_bytes * (r_out - 1)
    dram_out_r = psum_bytes * (r_out - 1)
    if rules.output_read_before_write:  # every output tile written back was read first
        dram_out_r = dram_out_w
    if rules.whole_layer_refetch:
        dram_in, dram_w = _whole_layer_refetch(accel, gemm_bytes[Operand.INPUT], gemm_bytes[Operand.WEIGHT])
        dram_out_w, dram_out_r = gemm_bytes[Operand.OUTPUT], np.zeros(tm.shape)
    dram_read = dram_in + dram_w + dram_out_r
    dram_total = dram_read + dram_out_w


    sram_reads = {Operand.INPUT: gemm_in * trips["n"],
                  Operand.WEIGHT: gemm_bytes[Operand.WEIGHT] / shape.weight_scale * trips["m"]
                  * (1 if shape.weight_per_batch else shape.batch),
                  Operand.OUTPUT: psum_bytes * (trips["k"] - 1)}
    sram_writes = {Operand.INPUT: dram_in, Operand.WEIGHT: dram_w,
                   Operand.OUTPUT: np.where(multi_k, psum_bytes * trips["k"], gemm_bytes[Operand.OUTPUT])}

    # what the energy prices (MemoryRules.sram_counts); the tile traffic above sets stalls
    e_reads, e_writes = sram_reads, sram_writes
    if rules.sram_counts is SramCounts.ARRAY_STEPS:
        if np.any(np.isnan(array_steps)):
            raise InvalidSpecError(f"accelerator {accel.name!r}: memory.sram_counts array_steps needs a core "
                                   f"that counts its array steps ({accel.core_family.value} does not)")
        e_reads = {op: np.zeros(tm.shape) for op in Operand}
        for op in (Operand.INPUT, Operand.WEIGHT):
            buf = accel.buffer_for(op)
            if buf is not None:
                port = buf.read_bytes_per_access or buf.bandwidth_bytes_per_cycle
                e_reads[op] = array_steps * float(port)
        e_writes = {Operand.INPUT: dram_in, Operand.WEIGHT: dram_w, Operand.OUTPUT: gemm_bytes[Operand.OUTPUT]}
    elif rules.sram_counts is SramCounts.STATIONARY_INNER:
        inner = _stationary_inner(shape, accel, w, a, bits, tm, tk, tn)
        e_reads = {Operand.INPUT: inner[Operand.INPUT][0] * steps, Operand.WEIGHT: inner[Operand.WEIGHT][0] * steps,
                   Operand.OUTPUT: inner[Operand.OUTPUT][0] * steps + dram_out_w}
        e_writes = {Operand.INPUT: dram_in, Operand.WEIGHT: dram_w,
                    Operand.OUTPUT: inner[Operand.OUTPUT][1] * steps + dram_out_r}

    fits = np.ones(tm.shape, dtype=bool)
    need: dict[str, np.ndarray] = {}
    sram_energy = np.zeros(tm.shape, dtype=np.float64)
    sram_bytes = np.zeros(tm.shape, dtype=np.float64)
    c_step = compute / np.maximum(steps, 1)
    for buf in accel.buffers:
        ops = [op for op in buf.operands if accel.buffer_for(op) is buf]
        if not ops:
            continue
        used = sum((held[op] for op in ops), np.zeros(tm.shape))
        need[buf.name] = used * (2 if buf.double_buffered else 1)
        fits &= used <= buf.usable_bytes
        bank = buf.size_bytes / buf.banks
        rd = sum((sram_reads[op] for op in ops), np.zeros(tm.shape))
        wr = sum((sram_writes[op] for op in ops), np.zeros(tm.shape))
        e_rd = sum((e_reads[op] for op in ops), np.zeros(tm.shape))
        e_wr = sum((e_writes[op] for op in ops), np.zeros(tm.shape))
        j_rd, j_wr = buf.sram_j_per_byte(), buf.sram_j_per_byte(write=True)
        sram_energy += (e_rd * (table.sram_j_per_byte(bank) if j_rd is None else j_rd)
                        + e_wr * (table.sram_j_per_byte(bank, write=True) if j_wr is None else j_wr))
        sram_bytes += rd + wr
        c_step = np.maximum(c_step, rd / np.maximum(steps, 1) / buf.bandwidth_bytes_per_cycle)

    # ---- timeline (double buffering when every buffer is double-buffered)
    bw = accel.dram.bandwidth_bytes_per_cycle / max(n_cores_active, 1)
    l_step = dram_total / np.maximum(steps, 1) / bw
    drain = tm * tn * bits.output / 8.0 / bw
    used_bufs = [b for b in accel.buffers if any(accel.buffer_for(op) is b for op in b.operands)]
    double = bool(used_bufs) and all(b.double_buffered for b in used_bufs)
    if rules.whole_layer_refetch:  # bitmod_sim: per layer max(compute, int(DRAM cycles))
        latency = np.maximum(compute, np.floor(dram_total / bw))
    elif rules.block_promotion:  # Bit Fusion optimizer.py:230-249: fill and drain outside compute
        fill = sum((held[op] for op in Operand), np.zeros(tm.shape))
        drain_held = held[Operand.OUTPUT]
        middle = np.maximum(dram_total - fill - drain_held, 0.0)
        latency = (compute + np.maximum(0.0, _ceil_cycles(middle / bw) - compute)
                   + _ceil_cycles(fill / bw) + _ceil_cycles(drain_held / bw))
    elif double:
        latency = l_step + (steps - 1) * np.maximum(c_step, l_step) + c_step + drain
    else:
        latency = steps * (c_step + l_step) + drain
    compute_cycles = np.rint(compute)
    stall = np.maximum(np.rint(latency - compute_cycles), 0.0)
    cycles = compute_cycles + stall

    energy = pe_cycle_energy(table, hints, accel, compute_cycles)
    if energy is None:
        energy = {k: np.asarray(v, dtype=np.float64) for k, v in table.breakdown(actions_total).items()}
    energy["sram"] = sram_energy
    energy["dram"] = dram_total * table.dram_j_per_byte
    return Priced(cycles=cycles, compute_cycles=compute_cycles, stall_cycles=stall, energy_j=energy,
                  dram_bytes=dram_total, sram_bytes=sram_bytes, fits=fits, need_bytes=need, ran_as=ran_as)
