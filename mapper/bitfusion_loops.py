"""The Bit Fusion simulator's own mapping space, searched as its optimiser searches it.

hsharma35/bitfusion `optimizer.py` `_optimize_for_order` (commit 0246bc4c) tries, for each of the
120 orders of its five loops (`hwsim.bitfusion_loops.FIVE_LOOP_ORDERS`), b = min(2^i, B) images,
square pixel blocks ow = oh = min(2^i, O), ic = min(2^i, IC) input channels and oc =
min(2^i * M, OC) output channels (min(2^i, OC) for a first layer the host im2cols), i = 0, 1, ...
up to the extent; it keeps the fewest cycles, then the least energy, the first found on a tie
(orders in `itertools.permutations` order, tilings b outermost, then the block, ic, oc).
`search` does the same over `hwsim.bitfusion_loops.price_loops` (one vectorised call per
dataflow), for an accelerator that states the simulator's rules (`hwsim.bitfusion_loops.applies`;
`mapper.tiling` takes this path there and its three-loop search everywhere else). A map that is
not square takes blocks min(s, OH) x min(s, OW), s = 1, 2, 4, ... up to the larger side.
The energy and EDP objectives rank by their value first, then cycles and energy as above.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from lowbit.hwsim.bitfusion_loops import (
    FIVE_LOOP_ORDERS,
    LoopShape,
    loop_shape,
    price_loops,
    tiling_bounds,
)
from lowbit.hwsim.energy import EnergyTable
from lowbit.hwsim.memory import GemmShape, Priced
from lowbit.hwsim.spec import Accelerator
from lowbit.kernels_ref.errors import InvalidSpecError, MappingInfeasibleError
from lowbit.kernels_ref.formats import Format

__all__ = ["FiveLoopChoice", "candidates", "check_block", "price_mapping", "search"]

FiveLoopChoice = tuple[int, int, int, int, int, str, int]  # (b, oh, ow, ic, oc, loop order, dataflow index)


def pow2_capped(n: int) -> list[int]:
    """min(2^i, n) for i = 0, 1, ... (the Bit Fusion optimiser's tile sizes): 1, 2, 4, ..., n."""
    out, v = [], 1
    while v < n:
        out.append(v)
        v *= 2
    return [*out, n]


def candidates(ls: LoopShape, cols: int) -> tuple[np.ndarray, ...]:
    """(b, oh, ow, ic, oc) of every tiling the optimiser tries, in its enumeration order (b
    outermost, oc innermost); `cols` the array's M columns (an oc tile is 2^i x M channels)."""
    bs = pow2_capped(ls.batch)
    side = pow2_capped(max(ls.out_h, ls.out_w))
    ics = pow2_capped(ls.in_channels)
    if ls.im2col:
        ocs = pow2_capped(ls.out_channels)
    else:
        ocs = sorted({min(c * cols, ls.out_channels) for c in pow2_capped(-(-ls.out_channels // cols))})
    g = np.meshgrid(np.array(bs), np.array(side), np.array(ics), np.array(ocs), indexing="ij")
    b, s, ic, oc = (x.ravel().astype(np.int64) for x in g)
    return b, np.minimum(s, ls.out_h), np.minimum(s, ls.out_w), ic, oc


def search(ls: LoopShape, shape: GemmShape, w: Format, a: Format, accel: Accelerator, objective: str,
           table: EnergyTable | None, name: str = "") -> tuple[FiveLoopChoice, float]:
    """The optimiser's choice for `ls` (see module doc): ((b, oh, ow, ic, oc, order, dataflow
    index), objective value). MappingInfeasibleError when no tiling fits the buffers.

    Exact pruning: tilings that do not fit are not priced; for the latency objective, the 64
    tilings of least cycle bound (`hwsim.bitfusion_loops.tiling_bounds`) are priced over every
    order first, and then only the tilings whose bound does not exceed the best cycles found
    (no other can reach or tie them)."""
    model = accel.model()
    cols = model.mapping_hints().pad_n  # the optimiser's oc tiles are 2^i x M whatever it stores
    b, oh, ow, ic, oc = candidates(ls, cols)
    n_o = len(FIVE_LOOP_ORDERS)
    best: tuple[Any, ...] | None = None
    smallest: dict[str, float] = {}
    for di in range(len(model.dataflows)):
        fits, bound = tiling_bounds(ls, shape, w, a, accel, b, oh, ow, ic, oc, di)
        keep = np.flatnonzero(fits)
        if keep.size == 0:
            p = price_loops(ls, shape, w, a, accel, b, oh, ow, ic, oc, np.zeros(b.size, dtype=np.int64), di, table)
            for k, v in p.need_bytes.items():
                smallest[k] = min(smallest.get(k, math.inf), float(np.min(v)))
            continue
        if objective == "latency" and keep.size > 64:
            first = keep[np.argsort(bound[keep], kind="stable")[:64]]
            ub = float(np.min(_price(ls, shape, w, a, accel, b, oh, ow, ic, oc, first, di, table).cycles))
            keep = keep[bound[keep] <= ub]
        p = _price(ls, shape, w, a, accel, b, oh, ow, ic, oc, keep, di, table)
        obj, cyc, energy = (np.ravel(v) for v in (p.objective(objective), p.cycles, p.total_energy_j))
        t_idx = np.repeat(keep, n_o)
        o_idx = np.tile(np.arange(n_o), keep.size)
        i = int(np.lexsort((t_idx, o_idx, energy, cyc, obj))[0])
        key = (obj[i], cyc[i], energy[i], o_idx[i], t_idx[i], di)
        if best is None or key < best[0]:
            t = t_idx[i]
            best = (key, (int(b[t]), int(oh[t]), int(ow[t]), int(ic[t]), int(oc[t]),
                          FIVE_LOOP_ORDERS[int(o_idx[i])], di))
    if best is None:
        over = [(n, v) for n, v in smallest.items() if v > next(x.size_bytes for x in accel.buffers if x.name == n)]
        what = ", ".join(f"{n} needs >= {math.ceil(v)} bytes" for n, v in over) or "no buffer fits"
        raise MappingInfeasibleError(f"layer {name}: no tiling fits the buffers of {accel.name}: {what}")
    return best[1], float(best[0][0])


def _price(ls: LoopShape, shape: GemmShape, w: Format, a: Format, accel: Accelerator, b: np.ndarray,
           oh: np.ndarray, ow: np.ndarray, ic: np.ndarray, oc: np.ndarray, sel: np.ndarray, di: int,
           table: EnergyTable | None) -> Priced:
    """The tilings `sel` (indices) over every loop order: arrays [tiling, order]."""
    return price_loops(ls, shape, w, a, accel, b[sel, None], oh[sel, None], ow[sel, None], ic[sel, None],
                       oc[sel, None], np.arange(len(FIVE_LOOP_ORDERS))[None, :], di, table)


def check_block(m_block: tuple[int, ...], tile_m: int, loop_order: str) -> None:
    """InvalidSpecError unless `m_block` is (b, oh, ow) positive ints of b*oh*ow = `tile_m` and
    `loop_order` one of FIVE_LOOP_ORDERS (a `mapper.Mapping` of the five-loop space)."""
    if not isinstance(m_block, tuple) or len(m_block) != 3 \
            or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1 for v in m_block):
        raise InvalidSpecError(f"mapping: m_block must be (b, oh, ow) positive integers, got {m_block!r}")
    if m_block[0] * m_block[1] * m_block[2] != tile_m:
        raise InvalidSpecError(f"mapping: m_block {m_block} holds {m_block[0] * m_block[1] * m_block[2]} rows, "
                               f"tile_m is {tile_m}")
    if loop_order not in FIVE_LOOP_ORDERS:
        raise InvalidSpecError(f"mapping: a five-loop mapping orders b, w, h, k, n (e.g. 'bwhkn'), "
                               f"got {loop_order!r}")


def price_mapping(shape: GemmShape, w: Format, a: Format, accel: Accelerator, active: int,
                  m_block: tuple[int, ...], tile_k: int, tile_n: int, loop_order: str, dataflow: int,
                  table: EnergyTable | None, name: str = "") -> Priced:
    """One five-loop mapping's cost (arrays of one element) by `hwsim.bitfusion_loops.price_loops`;
    InvalidSpecError where `accel` does not state the simulator's rules or the layer has no
    five-loop view, or tile_k is not whole kernel windows."""
    ls = loop_shape(shape, accel.memory, active)
    if ls is None:
        raise InvalidSpecError(f"layer {name}: a five-loop (Bit Fusion simulator) mapping needs an accelerator "
                               f"with its memory rules (padded_tiles, block_promotion, output_read_before_write; "
                               f"sram_counts tiles or stationary_inner) and a plain conv or linear layer on one "
                               f"core; "
                               f"{accel.name} / this layer has none")
    win = ls.kernel_h * ls.kernel_w
    if tile_k % win:
        raise InvalidSpecError(f"layer {name}: tile_k {tile_k} is not whole {ls.kernel_h}x{ls.kernel_w} windows")
    b, oh, ow = m_block
    return price_loops(ls, shape, w, a, accel, np.array([b]), np.array([oh]), np.array([ow]),
                       np.array([tile_k // win]), np.array([tile_n]),
                       np.array([FIVE_LOOP_ORDERS.index(loop_order)]), dataflow, table)
