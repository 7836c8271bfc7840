"""Per-layer mapping search: tile sizes x loop orders x dataflows, vectorised with numpy.

Candidates per GEMM dimension are the powers of two up to the dimension, the
multiples of the core's array sizes that fit (`MappingHints.array_dims`, which the core
family states in `Model.mapping_hints`) and the dimension itself, none below the smallest
array size (a narrower tile would leave the array idle, which the core's whole-GEMM
compute model would not charge); `max_per_dim` of them, evenly
spaced over the sorted list (smallest and largest included), are kept. Every
(tm, tk, tn) x loop order (`hwsim.memory.LOOP_ORDERS`) x core dataflow is priced
in one call of `hwsim.memory.price_candidates` (core model + memory + energy
table); candidates whose tiles exceed a buffer's usable size (half of it when
double-buffered) are dropped. The objective is latency (cycles), energy
(joules) or EDP (their product); ties break by fewer DRAM bytes, then larger
tiles, then enumeration order (deterministic).

With `MemoryRules.padded_tiles` (Bit Fusion's optimiser, hsharma35/bitfusion
`optimizer.py`) the candidates follow that tiling: a conv's m-tiles are square
blocks of min(2^i, out) output pixels of one image or 2^j whole images
(`conv_block_sizes`), K-tiles are min(2^i, C) input channels times the whole
kernel window (`whole_window_k_sizes`), and no N-tile is narrower than the
core's N extent (`MappingHints.min_tile_n`). Where a spec states the simulator's traffic model
as a whole (`hwsim.bitfusion_loops.applies`: with `block_promotion` too), a plain conv or
linear layer is mapped in the simulator's own five loops instead (`mapper.bitfusion_loops`;
the mapping's `m_block`).

A layer is split over `num_cores` cores along its batch (when batch >= cores)
or else its N dimension; each core runs the same sub-GEMM and the cores share
the DRAM bandwidth. Splitting N, every core needs the whole input: it is
fetched from DRAM once and shared on chip (L2 / broadcast), so each core is
charged 1/cores of the input's DRAM bytes.
"""

from __future__ import annotations

import functools
import math
import operator
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from lowbit.hwsim.cores.base import Dataflow, MappingHints
from lowbit.hwsim.energy import EnergyTable
from lowbit.hwsim.memory import LOOP_ORDERS, GemmShape, Priced, price_candidates
from lowbit.hwsim.spec import Accelerator, Im2colInput
from lowbit.kernels_ref.errors import InvalidSpecError, MappingInfeasibleError
from lowbit.kernels_ref.formats import Format
from lowbit.models.ir import Layer, OpKind

from . import bitfusion_loops as five_loops
from . import fast

__all__ = ["CACHE_SIZE", "OBJECTIVES", "Mapping", "Objective", "candidate_sizes", "clear_cache", "conv_block_sizes",
           "layer_gemm", "price_mapping", "search", "search_grid", "search_priced", "whole_window_k_sizes"]

CACHE_SIZE = fast.CACHE_SIZE

Objective = str
OBJECTIVES: tuple[str, ...] = ("latency", "energy", "edp")


@dataclass(frozen=True)
class Mapping:
    """Where a layer's work goes: on-chip tile sizes, loop order (outer to inner), dataflow,
    and how many cores share it (split along `split_dim`). `m_block` (b, oh, ow), set only by the
    Bit Fusion simulator's five-loop space (`mapper.bitfusion_loops`): the m tile is b images of
    oh x ow output pixels (tile_m = b*oh*ow; an FC's b rows, 1 x 1) and `loop_order` orders the
    five loops b, w (OW), h (OH), k (IC), n (OC) (`hwsim.bitfusion_loops.FIVE_LOOP_ORDERS`)."""

    tile_m: int
    tile_k: int
    tile_n: int
    loop_order: str = "mkn"
    dataflow: Dataflow = Dataflow.NONE
    cores: int = 1
    split_dim: str = "n"
    m_block: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        for key, v in (("tile_m", self.tile_m), ("tile_k", self.tile_k), ("tile_n", self.tile_n),
                       ("cores", self.cores)):
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise InvalidSpecError(f"mapping: {key} must be a positive integer, got {v!r}")
        if self.m_block:
            five_loops.check_block(self.m_block, self.tile_m, self.loop_order)
        elif self.loop_order not in LOOP_ORDERS:
            raise InvalidSpecError(f"mapping: loop_order must be one of {LOOP_ORDERS}, got {self.loop_order!r}")
        if not isinstance(self.dataflow, Dataflow):
            raise InvalidSpecError(f"mapping: unknown dataflow {self.dataflow!r}")
        if self.split_dim not in ("n", "batch", "m"):
            raise InvalidSpecError(f"mapping: split_dim must be n, m or batch, got {self.split_dim!r}")

    @property
    def tiles(self) -> tuple[tuple[str, int, int, int], ...]:
        """(level, tm, tk, tn) per memory level (one on-chip tiling level)."""
        return (("onchip", self.tile_m, self.tile_k, self.tile_n),)

    def __str__(self) -> str:
        block = f" (b{self.m_block[0]} {self.m_block[1]}x{self.m_block[2]})" if self.m_block else ""
        return (f"{self.tile_m}x{self.tile_k}x{self.tile_n}{block} {self.loop_order} {self.dataflow.value}"
                + (f" on {self.cores} cores ({self.split_dim})" if self.cores > 1 else ""))


def layer_gemm(layer: Layer, num_cores: int = 1, hints: MappingHints | None = None, split: str = "n",
               host_im2col: bool = False) -> tuple[GemmShape, int, str]:
    """(per-core GEMM, active cores, split dim) of a layer (not EMBEDDING); `hints` (the
    core's `mapping_hints(layer)`) carry a family's channel-wise K segment. Below
    `num_cores` batches the layer splits along `split`: "n" (default) or "m" (rows: every
    core needs all the weights, fetched once and shared on chip; LUT cores build their
    tables per row, so this split keeps each table on one core)."""
    if layer.op is OpKind.EMBEDDING:
        raise InvalidSpecError(f"layer {layer.name}: an embedding has no GEMM to map")
    gemm_in = layer.batch * layer.m * layer.k
    in_scale = min(1.0, layer.input_elems / gemm_in) if gemm_in else 1.0
    k_seg = hints.k_segment if hints is not None else 0
    c = layer.conv
    window = (c.kernel_h, c.kernel_w, c.stride_h, c.stride_w, c.out_h, c.out_w) if c is not None else ()
    if host_im2col and layer.conv is not None and not k_seg:
        in_scale = 1.0  # the host im2cols this conv: its M x K matrix crosses DRAM (MemoryRules.im2col_input)
    w_scale = 1.0 / layer.kv_share if layer.op is OpKind.MATMUL else 1.0
    if split not in ("n", "m"):
        raise InvalidSpecError(f"mapper: split must be n or m, got {split!r}")
    batch, m, n, dim = layer.batch, layer.m, layer.n, "n"
    active = 1
    share = 1.0
    if num_cores > 1:
        if batch >= num_cores:
            batch = math.ceil(layer.batch / num_cores)
            active = math.ceil(layer.batch / batch)
            dim = "batch"
        elif split == "m":
            m = math.ceil(layer.m / num_cores)
            active = math.ceil(layer.m / m)
            w_scale /= active  # every core needs all the weights: fetched once, shared on chip
            dim = "m"
        else:
            n = math.ceil(layer.n / num_cores)
            active = math.ceil(layer.n / n)
            in_scale /= active  # every core needs the whole input: fetched once, shared on chip
            share = 1.0 / active
    return GemmShape(m=m, k=layer.k, n=n, batch=batch, input_scale=in_scale,
                     weight_scale=w_scale, k_segment=k_seg, conv_window=window, input_share=share), active, dim


def _host_im2col(accel: Accelerator) -> bool:
    return accel.memory.im2col_input is Im2colInput.HOST


def candidate_sizes(dim: int, array_dims: tuple[int, ...] = (), max_per_dim: int = 10) -> np.ndarray:
    """Tile-size candidates for one dimension (ascending, unique, <= dim, dim included)."""
    return np.array(_candidate_sizes(int(dim), tuple(map(int, array_dims)), int(max_per_dim)), dtype=np.int64)


@functools.lru_cache(maxsize=CACHE_SIZE)
def _candidate_sizes(dim: int, array_dims: tuple[int, ...], max_per_dim: int) -> tuple[int, ...]:
    """`candidate_sizes` as a tuple, cached by (dim, array dims, thinning): frozen values."""
    vals = {dim}
    floor = min(dim, min(array_dims)) if array_dims else 1  # no tile narrower than the array
    p = 1 << (floor - 1).bit_length() if floor > 1 else 1  # the powers of two from floor up
    while p < dim:
        vals.add(p)
        p *= 2
    for a in array_dims:
        if a > 0 and a & (a - 1) == 0 and a >= floor:  # a power of two: its doublings are powers above
            continue
        mult = a
        while mult < dim:
            vals.add(mult)
            mult *= 2
    arr = sorted(vals)
    if len(arr) > max_per_dim:
        arr = [arr[i] for i in dict.fromkeys(_spread(len(arr) - 1, max_per_dim))]  # ascending already
    return tuple(arr)


def _spread(stop: int, num: int) -> list[int]:
    """`np.rint(np.linspace(0, stop, num))` as ints, with numpy's arithmetic (step = stop / (num - 1),
    i * step, the last point exactly `stop`; round half to even, as np.rint)."""
    if num <= 1:
        return [0] * num
    step = stop / (num - 1)
    return [round(i * step) for i in range(num - 1)] + [stop]


def conv_block_sizes(shape: GemmShape) -> np.ndarray:
    """m-tile candidates of a conv under `MemoryRules.padded_tiles`: square blocks of side
    min(2^i, out) output pixels of one image, then 2^j whole images and all of them (the Bit
    Fusion optimiser's ow = oh = min(2^i, O) and b = min(2^j, B) tiles)."""
    _, _, _, _, oh, ow = shape.conv_window
    images = max(shape.m // (oh * ow), 1)
    vals = {min(s, oh) * min(s, ow) for s in five_loops.pow2_capped(max(oh, ow))}
    vals |= {b * oh * ow for b in five_loops.pow2_capped(images)}
    return np.array(sorted(vals), dtype=np.int64)


def whole_window_k_sizes(shape: GemmShape) -> np.ndarray:
    """K-tile candidates under `MemoryRules.padded_tiles`: min(2^i, C) input channels times the
    whole kernel window (kernel_h * kernel_w; 1 for a GEMM), C = K / window (the Bit Fusion
    optimiser tiles input channels only: ic = min(2^i, IC), never the kernel window)."""
    win = shape.conv_window[0] * shape.conv_window[1] if shape.conv_window else 1
    return np.array([c * win for c in five_loops.pow2_capped(max(shape.k // win, 1))], dtype=np.int64)


def search(layer: Layer, w: Format, a: Format, accel: Accelerator, objective: str = "latency", *,
           max_per_dim: int = 10, table: EnergyTable | None = None) -> Mapping:
    """The best mapping of `layer` at formats (w, a) on `accel` (see module doc).

    Exact and fast (`mapper.fast`): the same winner as `search_grid` over the same candidates.
    Results are shared (bounded cache) between designs that differ only in what cannot change
    the winner: name and clock always; energy (node, overrides, DRAM energy) for the latency
    objective; DRAM bandwidth for the energy objective."""
    if objective not in OBJECTIVES:
        raise InvalidSpecError(f"mapper: unknown objective {objective!r} (known: {', '.join(OBJECTIVES)})")
    _check_per_dim(max_per_dim)
    try:
        return _search_shared(_LayerKey(layer), w, a, _MappingKey(accel, objective, table), objective,
                              int(max_per_dim))
    except MappingInfeasibleError as exc:  # the cached call saw a nameless layer: name it
        raise MappingInfeasibleError(f"layer {layer.name}: " + str(exc).split(": ", 1)[-1]) from None


def search_grid(layer: Layer, w: Format, a: Format, accel: Accelerator, objective: str = "latency", *,
                max_per_dim: int = 10, table: EnergyTable | None = None) -> Mapping:
    """The reference search: every candidate of the grid priced by `hwsim.memory.price_candidates`
    in one call, the winner by lexicographic (objective, DRAM bytes, -tile volume, index)."""
    if objective not in OBJECTIVES:
        raise InvalidSpecError(f"mapper: unknown objective {objective!r} (known: {', '.join(OBJECTIVES)})")
    _check_per_dim(max_per_dim)
    return _search(layer, w, a, accel, objective, max_per_dim, table, _search_split_grid)[0]


def search_priced(layer: Layer, w: Format, a: Format, accel: Accelerator, *, max_per_dim: int = 10,
                  table: EnergyTable | None = None) -> tuple[Mapping, fast.Winner | None]:
    """`search` at the latency objective, and the found mapping's cost on `accel` (per core,
    equal to `price_mapping`'s cycles, compute cycles, energy by component, DRAM and SRAM bytes
    and ran_as) where `mapper.fast` prices it, else None (then call `price_mapping`). Not shared
    across designs: the cost is this design's."""
    _check_per_dim(max_per_dim)
    best = _search(layer, w, a, accel, "latency", int(max_per_dim), table,
                   functools.partial(_search_split, priced=True))
    return best[0], (best[2] if len(best) > 2 else None)


def _check_per_dim(max_per_dim: int) -> None:
    if not isinstance(max_per_dim, (int, np.integer)) or isinstance(max_per_dim, bool) or max_per_dim < 1:
        raise InvalidSpecError(f"mapper: max_per_dim must be a positive integer, got {max_per_dim!r}")


_LAYER_KEY = operator.attrgetter(*(f.name for f in fields(Layer) if f.name not in ("name", "tied_to")))


class _LayerKey:
    """A layer seen only through its shape: hash / equality by every field but its name."""

    __slots__ = ("key", "layer")

    def __init__(self, layer: Layer) -> None:
        self.layer = layer
        self.key = _LAYER_KEY(layer) if type(layer) is Layer else \
            tuple(getattr(layer, f.name) for f in fields(layer) if f.name not in ("name", "tied_to"))

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _LayerKey) and self.key == other.key


class _MappingKey:
    """An accelerator seen only through what decides its mappings (hash / equality by that)."""

    __slots__ = ("accel", "key", "table")

    def __init__(self, accel: Accelerator, objective: str, table: EnergyTable | None) -> None:
        self.accel, self.table = accel, table
        energy = (table if table is not None else (accel.node_nm, accel.energy, accel.dram.energy_j_per_byte)) \
            if objective != "latency" else None
        dram_bw = accel.dram.bandwidth_bytes_per_cycle if objective != "energy" else None
        self.key = (accel.core_family, accel.core, accel.buffers, accel.memory, accel.num_cores, dram_bw, energy)

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _MappingKey) and self.key == other.key


@functools.lru_cache(maxsize=CACHE_SIZE)
def _search_shared(lk: _LayerKey, w: Format, a: Format, mk: _MappingKey, objective: str,
                   max_per_dim: int) -> Mapping:
    return _search(lk.layer, w, a, mk.accel, objective, max_per_dim, mk.table, _search_split)[0]


def clear_cache() -> None:
    """Drop the mapper's caches (shared results, candidate sizes, per-dataflow compute)."""
    _search_shared.cache_clear()
    _candidate_sizes.cache_clear()
    fast.clear_cache()


def _search(layer: Layer, w: Format, a: Format, accel: Accelerator, objective: str, max_per_dim: int,
            table: EnergyTable | None, split_fn: Any) -> tuple[Any, ...]:
    """The best (mapping, objective, ...) of `split_fn` over the layer's core splits."""
    hints = accel.model().mapping_hints(layer)
    splits = ("n", "m") if hints.row_split and 1 < accel.num_cores and layer.batch < accel.num_cores and layer.m > 1 \
        else ("n",)
    best: tuple[Any, ...] | None = None
    best_obj = math.inf
    first_err: MappingInfeasibleError | None = None
    for split in splits:  # an M split only where it prices strictly better (LUT cores: tables per row)
        try:
            # a later split is priced only below the best so far (`fast_search_split`'s cutoff)
            found = split_fn(layer, w, a, accel, objective, max_per_dim, table, split, hints, cutoff=best_obj)
        except MappingInfeasibleError as exc:
            first_err = first_err or exc
            continue
        if found[1] < best_obj:
            best, best_obj = found, found[1]
    if best is None:
        assert first_err is not None
        raise first_err
    return best


def _grid(layer: Layer, accel: Accelerator, max_per_dim: int, split: str, hints: MappingHints
          ) -> tuple[GemmShape, int, str, Any, Any, Any]:
    """(per-core GEMM, active cores, split dim, tm / tk / tn candidates) of one split: ascending
    int64 arrays under `MemoryRules.padded_tiles`, else tuples of ints (`candidate_sizes`' values,
    without the array: the fast search keys its structure by the tuples)."""
    shape, active, dim = layer_gemm(layer, accel.num_cores, hints, split, _host_im2col(accel))
    dims = tuple(map(int, hints.array_dims))
    if not accel.memory.padded_tiles:
        return (shape, active, dim, _candidate_sizes(int(shape.m), dims, max_per_dim),
                _candidate_sizes(int(shape.k), dims, max_per_dim), _candidate_sizes(int(shape.n), dims, max_per_dim))
    tms = conv_block_sizes(shape) if shape.conv_window else np.array(five_loops.pow2_capped(shape.m), dtype=np.int64)
    tks = whole_window_k_sizes(shape)
    tns = candidate_sizes(shape.n, dims, max_per_dim)
    tns = tns[tns >= min(hints.min_tile_n, shape.n)]  # a whole tile narrower than the array's N extent
    return shape, active, dim, tms, tks, tns          # would idle columns on every tile


def _search_split(layer: Layer, w: Format, a: Format, accel: Accelerator, objective: str, max_per_dim: int,
                  table: EnergyTable | None, split: str,
                  hints: MappingHints | None = None, priced: bool = False, cutoff: float = math.inf
                  ) -> tuple[Any, ...]:
    """The fast exact search of one split (`mapper.fast`); (mapping, objective value), and with
    `priced` the mapping's `fast.Winner` cost (None where the grid search ran)."""
    hints = hints if hints is not None else accel.model().mapping_hints(layer)
    shape, active, dim, tms, tks, tns = _grid(layer, accel, max_per_dim, split, hints)
    if not shape.weight_per_batch or not fast.handles(accel.memory, objective):  # never from a Layer / a memory
        # rule mapper.fast does not price: the reference grid search (exact, slower)
        return _search_split_grid(layer, w, a, accel, objective, max_per_dim, table, split, hints)
    dataflows = accel.model().dataflows
    found = fast.fast_search_split(shape, w, a, accel, objective, table, active, tms, tks, tns, dataflows,
                                   priced=priced, cutoff=cutoff)
    if found is None:  # nothing fits: the reference names the buffers and the bytes they lack
        return _search_split_grid(layer, w, a, accel, objective, max_per_dim, table, split, hints)
    idx, obj = found[0], found[1]
    if idx is None:  # proven not below the cutoff
        return None, obj
    rest, d = divmod(int(idx), len(dataflows))  # np.unravel_index over (tm, tk, tn, order, dataflow)
    rest, o = divmod(rest, len(LOOP_ORDERS))
    rest, i_n = divmod(rest, len(tns))
    i_m, i_k = divmod(rest, len(tks))
    return (Mapping(tile_m=int(tms[i_m]), tile_k=int(tks[i_k]), tile_n=int(tns[i_n]),
                    loop_order=LOOP_ORDERS[int(o)], dataflow=dataflows[int(d)], cores=active, split_dim=dim), obj,
            *found[2:])


def _search_split_grid(layer: Layer, w: Format, a: Format, accel: Accelerator, objective: str, max_per_dim: int,
                       table: EnergyTable | None, split: str,
                       hints: MappingHints | None = None, cutoff: float = math.inf) -> tuple[Mapping, float]:
    """The reference: every candidate priced (`cutoff` unused)."""
    hints = hints if hints is not None else accel.model().mapping_hints(layer)
    shape, active, dim, tms, tks, tns = _grid(layer, accel, max_per_dim, split, hints)
    dataflows = accel.model().dataflows
    ls = five_loops.loop_shape(shape, accel.memory, active)
    if ls is not None:  # the Bit Fusion simulator's own five-loop space where a spec states its rules
        (b, oh, ow, ic, oc, order, di), val = five_loops.search(ls, shape, w, a, accel, objective, table, layer.name)
        return Mapping(tile_m=b * oh * ow, tile_k=ic * ls.kernel_h * ls.kernel_w, tile_n=oc, loop_order=order,
                       dataflow=dataflows[di], cores=active, split_dim=dim, m_block=(b, oh, ow)), val
    grid = np.meshgrid(*(np.asarray(t, dtype=np.int64) for t in (tms, tks, tns)), np.arange(len(LOOP_ORDERS)),
                       np.arange(len(dataflows)), indexing="ij")
    tm, tk, tn, order, dfi = (g.ravel() for g in grid)
    priced = price_candidates(shape, w, a, accel, tm, tk, tn, order, dfi, table, n_cores_active=active)
    if not np.any(priced.fits):
        smallest = {name: float(np.min(v)) for name, v in priced.need_bytes.items()}
        over = [(n, b) for n, b in smallest.items()
                if b > next(x.size_bytes for x in accel.buffers if x.name == n)]
        what = ", ".join(f"{n} needs >= {math.ceil(b)} bytes" for n, b in over) or "no buffer fits"
        raise MappingInfeasibleError(f"layer {layer.name}: no tiling fits the buffers of {accel.name}: {what}")
    obj = np.where(priced.fits, priced.objective(objective), np.inf)
    volume = (tm * tk * tn).astype(np.float64)
    idx = np.arange(obj.size)
    best = int(np.lexsort((idx, -volume, priced.dram_bytes, obj))[0])
    return Mapping(tile_m=int(tm[best]), tile_k=int(tk[best]), tile_n=int(tn[best]),
                   loop_order=LOOP_ORDERS[int(order[best])], dataflow=dataflows[int(dfi[best])],
                   cores=active, split_dim=dim), float(obj[best])


def price_mapping(layer: Layer, w: Format, a: Format, accel: Accelerator, mapping: Mapping,
                  table: EnergyTable | None = None) -> Priced:
    """Price one given mapping (arrays of length 1); MappingInfeasibleError if it does not fit."""
    shape, active, _ = layer_gemm(layer, accel.num_cores, accel.model().mapping_hints(layer),
                                  "m" if mapping.split_dim == "m" else "n", _host_im2col(accel))
    dataflows = accel.model().dataflows
    if mapping.dataflow not in dataflows:
        raise InvalidSpecError(f"layer {layer.name}: mapping dataflow {mapping.dataflow.value!r} is not one of "
                               f"{[d.value for d in dataflows]}")
    if mapping.m_block:  # a five-loop (Bit Fusion simulator) mapping
        p = five_loops.price_mapping(shape, w, a, accel, active, mapping.m_block, mapping.tile_k, mapping.tile_n,
                                     mapping.loop_order, dataflows.index(mapping.dataflow), table, layer.name)
    else:
        p = price_candidates(shape, w, a, accel, mapping.tile_m, mapping.tile_k, mapping.tile_n,
                             LOOP_ORDERS.index(mapping.loop_order), dataflows.index(mapping.dataflow), table,
                             n_cores_active=active)
    if not bool(np.all(p.fits)):
        need = ", ".join(f"{n} {int(np.max(v))} bytes" for n, v in p.need_bytes.items())
        raise MappingInfeasibleError(f"layer {layer.name}: mapping {mapping} does not fit {accel.name} ({need})")
    return p
