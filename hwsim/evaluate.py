"""`hwsim.evaluate`: a layer (or a workload) at given formats on an accelerator -> costs.

The one hwsim module that imports `mapper` (DESIGN.md): when no mapping is
given, `mapper.tiling.search` picks one for the objective; the chosen mapping is
then priced by `hwsim.memory.price_candidates` (core model + memory + energy
table). Leakage is charged for the whole chip area over the layer's latency.

MATMUL layers (activation x activation: attention scores Q.K^T and context P.V) take
the activation format for their first operand (queries, scores) and the KV-cache format
for their second (K for scores, V for context): `kv_fmt`, else the spec's
`default_kv_format`, else the activation format. EMBEDDING layers cost only the bytes of the rows they read (at the
weight format) and write (at the activation format), at DRAM bandwidth.

Results are cached by (layer shape, formats, accelerator, mapping, objective)
through `functools.lru_cache` on a pure function of frozen arguments.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import logging
import math
from collections.abc import Mapping as TMapping
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
from lowbit.hwsim.energy import EnergyTable
from lowbit.hwsim.spec import Accelerator
from lowbit.kernels_ref.errors import InvalidSpecError, MappingInfeasibleError
from lowbit.kernels_ref.formats import Format
from lowbit.models.ir import Layer, OpKind, Workload

if TYPE_CHECKING:
    from lowbit.mapper import Mapping

# mapper imports hwsim's primitives, so it is imported inside the functions below (not at
# module level): `import hwsim` then never needs a half-initialised `mapper`.
log = logging.getLogger(__name__)
OBJECTIVES: tuple[str, ...] = ("latency", "energy", "edp")

__all__ = ["LayerCost", "WorkloadCost", "clear_cache", "energy_table", "evaluate", "evaluate_grid",
           "evaluate_workload", "kv_format"]


@dataclass(frozen=True)
class LayerCost:
    """Cost of one layer: cycles split into compute and stall, energy by component (joules)."""

    name: str
    cycles: int
    compute_cycles: int
    stall_cycles: int
    energy_j: dict[str, float]
    dram_bytes: float
    sram_bytes: float
    utilization: float
    mapping: Mapping | None
    ran_as: str = ""
    freq_hz: float = 1.0
    macs: int = 0

    @property
    def total_energy_j(self) -> float:
        return float(sum(self.energy_j.values()))

    @property
    def latency_s(self) -> float:
        return self.cycles / self.freq_hz

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "cycles": self.cycles, "compute_cycles": self.compute_cycles,
                "stall_cycles": self.stall_cycles, "utilization": self.utilization,
                "energy_j": dict(self.energy_j), "dram_bytes": self.dram_bytes, "sram_bytes": self.sram_bytes,
                "mapping": str(self.mapping) if self.mapping else "", "ran_as": self.ran_as}


@dataclass(frozen=True)
class WorkloadCost:
    """Per-layer costs of a workload and its totals (cycles by `mapper.schedule`)."""

    workload: str
    hardware: str
    layers: tuple[LayerCost, ...]
    total_cycles: float
    freq_hz: float
    formats: tuple[tuple[str, str, str], ...] = field(default=())  # (layer, weight fmt, act fmt)

    @property
    def total_energy_j(self) -> float:
        return float(sum(c.total_energy_j for c in self.layers))

    @property
    def energy_breakdown_j(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for c in self.layers:
            for k, v in c.energy_j.items():
                out[k] = out.get(k, 0.0) + v
        return out

    @property
    def latency_s(self) -> float:
        return self.total_cycles / self.freq_hz

    @property
    def total_compute_cycles(self) -> int:
        return sum(c.compute_cycles for c in self.layers)

    @property
    def total_stall_cycles(self) -> int:
        return sum(c.stall_cycles for c in self.layers)

    def to_dict(self) -> dict[str, Any]:
        return {"hardware": self.hardware, "model": self.workload,
                "freq_hz": self.freq_hz,
                "layers": [c.to_dict() for c in self.layers],  # the same fields as to_csv
                "total": {"cycles": self.total_cycles, "energy_j": self.total_energy_j,
                          "latency_s": self.latency_s}}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def to_csv(self) -> str:
        comps = sorted({k for c in self.layers for k in c.energy_j})
        buf = io.StringIO()
        wr = csv.writer(buf, lineterminator="\n")
        wr.writerow(["name", "cycles", "compute_cycles", "stall_cycles", "utilization", "dram_bytes",
                     "energy_j", *[f"energy_{k}_j" for k in comps], "mapping", "ran_as"])
        for c in self.layers:
            wr.writerow([c.name, c.cycles, c.compute_cycles, c.stall_cycles, f"{c.utilization:.6g}",
                         f"{c.dram_bytes:.6g}", f"{c.total_energy_j:.6g}",
                         *[f"{c.energy_j.get(k, 0.0):.6g}" for k in comps],
                         str(c.mapping) if c.mapping else "", c.ran_as])
        return buf.getvalue()


def _fmt(f: Format | str | None, what: str) -> Format | None:
    if f is None or isinstance(f, Format):
        return f
    if isinstance(f, str):
        return _parse(f)
    raise InvalidSpecError(f"{what}: expected a Format or a format name, got {f!r}")


#: a format name parsed once (a workload of 10,000 layers at "int8" parsed it 20,000 times, 10%
#: of its evaluation); a Format is frozen, so the same object serves every caller; errors are
#: raised each time (lru_cache keeps no exception)
_parse = functools.lru_cache(maxsize=256)(Format.parse)


@functools.lru_cache(maxsize=16)
def energy_table(accel: Accelerator) -> EnergyTable:
    """The accelerator's energy table (node, overrides, DRAM energy)."""
    return EnergyTable.for_node(accel.node_nm, accel.energy, accel.dram.energy_j_per_byte)


@functools.lru_cache(maxsize=16)
def _chip_area_mm2(accel: Accelerator) -> float:
    return accel.area_mm2()


@functools.lru_cache(maxsize=4096)
def _shape_key(layer: Layer) -> Layer:
    """The layer with a neutral name: the cache key holds shape, not identity (cached: a
    `replace` re-validates the layer, ~20 us, and a sweep asks again for every design)."""
    return replace(layer, name="_", tied_to=None)


@functools.lru_cache(maxsize=1024)
def _peak_macs(accel: Accelerator, w: Format, a: Format) -> float:
    return accel.model().peak_macs_per_cycle(w, a) * accel.num_cores


def _finite_cycles(x: float, accel: Accelerator) -> int:
    if not math.isfinite(x) or x > 1e30:
        raise InvalidSpecError(f"accelerator {accel.name!r}: cycle count overflows ({x!r}); "
                               f"check its bandwidths and sizes")
    return math.ceil(x)


@functools.lru_cache(maxsize=4096)
def _evaluate_shape(shape: Layer, w: Format, a: Format, accel: Accelerator, mapping: Mapping | None,
                    objective: str) -> LayerCost:
    table = energy_table(accel)
    area = _chip_area_mm2(accel)
    if shape.op is OpKind.EMBEDDING:
        rd = shape.m * shape.n * w.bits_per_weight / 8.0
        wr = shape.m * shape.n * a.bits_per_weight / 8.0
        cycles = _finite_cycles((rd + wr) / accel.dram.bandwidth_bytes_per_cycle, accel)
        energy = {"dram": (rd + wr) * table.dram_j_per_byte,
                  "leakage": float(table.leakage_j(area, cycles / accel.freq_hz))}
        return LayerCost(name=shape.name, cycles=cycles, compute_cycles=0, stall_cycles=cycles, energy_j=energy,
                         dram_bytes=rd + wr, sram_bytes=0.0, utilization=0.0, mapping=None,
                         freq_hz=accel.freq_hz, macs=0)
    from lowbit.mapper import price_mapping, search
    from lowbit.mapper.tiling import search_priced

    p: Any = None
    if mapping is None and objective == "latency":  # the fast search prices its winner too
        mapping, p = search_priced(shape, w, a, accel, table=table)
    elif mapping is None:
        mapping = search(shape, w, a, accel, objective, table=table)
    if p is None:
        p = price_mapping(shape, w, a, accel, mapping, table)
    cores = mapping.cores
    cycles = _finite_cycles(float(np.ravel(p.cycles)[0]), accel)
    compute = _finite_cycles(float(np.ravel(p.compute_cycles)[0]), accel)
    stall = cycles - compute
    energy = {k: float(np.ravel(v)[0]) * cores for k, v in p.energy_j.items()}
    energy["leakage"] = float(table.leakage_j(area, cycles / accel.freq_hz))
    peak = _peak_macs(accel, w, a)
    util = shape.macs / (cycles * peak) if cycles > 0 and peak > 0 else 0.0
    return LayerCost(name=shape.name, cycles=cycles, compute_cycles=compute, stall_cycles=stall, energy_j=energy,
                     dram_bytes=float(np.ravel(p.dram_bytes)[0]) * cores,
                     sram_bytes=float(np.ravel(p.sram_bytes)[0]) * cores, utilization=float(util),
                     mapping=mapping, ran_as=p.ran_as, freq_hz=accel.freq_hz, macs=shape.macs)


def kv_format(accel: Accelerator, act: Format, kv_fmt: Format | str | None = None) -> Format:
    """The KV-cache format a MATMUL's second operand is priced at: `kv_fmt`, else the spec's
    `default_kv_format`, else the activation format `act`."""
    kv = _fmt(kv_fmt, "kv_fmt")
    if kv is not None:
        return kv
    return accel.kv_format if accel.default_kv_format else act


def evaluate(layer: Layer, fmt: Format | str, accel: Accelerator, mapping: Mapping | None = None, *,
             act_fmt: Format | str | None = None, objective: str = "latency",
             kv_fmt: Format | str | None = None) -> LayerCost:
    """Cost of `layer` with weight format `fmt` (activations: `act_fmt` or the spec's default).
    A MATMUL ignores `fmt`: its second operand (K or V) is at `kv_format(accel, act, kv_fmt)`."""
    if not isinstance(layer, Layer):
        raise InvalidSpecError(f"evaluate: expected a models.Layer, got {type(layer).__name__}")
    if not isinstance(accel, Accelerator):
        raise InvalidSpecError(f"evaluate: expected an hwsim Accelerator, got {type(accel).__name__}")
    if objective not in OBJECTIVES:
        raise InvalidSpecError(f"evaluate: unknown objective {objective!r} (known: {', '.join(OBJECTIVES)})")
    a = _fmt(act_fmt, f"layer {layer.name}: act_fmt") or accel.act_format
    w = _fmt(fmt, f"layer {layer.name}: format")
    if w is None:
        raise InvalidSpecError(f"layer {layer.name}: a weight format is required")
    if layer.op is OpKind.MATMUL:
        w = kv_format(accel, a, kv_fmt)
    try:
        cost = _evaluate_shape(_shape_key(layer), w, a, accel, mapping, objective)
    except MappingInfeasibleError as exc:  # the cached call saw a nameless shape: name the layer
        msg = str(exc)
        raise MappingInfeasibleError(f"layer {layer.name}: " + msg.split(": ", 1)[-1]) from None
    except (OverflowError, FloatingPointError, ZeroDivisionError) as exc:
        raise InvalidSpecError(f"layer {layer.name} on {accel.name}: numeric overflow ({exc}); "
                               f"check the accelerator's values") from None
    return _renamed(cost, layer.name)  # a copy with its own energy dict: callers may not mutate the cache


def _renamed(cost: LayerCost, name: str) -> LayerCost:
    """`replace(cost, name=name, energy_j=dict(cost.energy_j))` without re-running `__init__`
    (the fields are copied as they are; a frozen dataclass's fields live in its `__dict__`)."""
    out = object.__new__(LayerCost)
    d = out.__dict__
    d.update(cost.__dict__)
    d["name"] = name
    d["energy_j"] = dict(cost.energy_j)
    return out


def _grid_once(layers: Sequence[Layer], pairs: Sequence[tuple[Format | str, Format | str | None]],
               accel: Accelerator, kv_fmt: Format | str | None) -> tuple[tuple[LayerCost, ...], ...]:
    """`evaluate_grid`'s batched pricing; any error -> the caller prices one by one."""
    if not isinstance(accel, Accelerator) or not all(isinstance(ly, Layer) for ly in layers):
        raise TypeError
    act0 = accel.act_format
    fmts = []
    for w, a in pairs:
        af = _fmt(a, "act_fmt") or act0
        wf = _fmt(w, "format")
        if wf is None:
            raise TypeError
        fmts.append((wf, af, kv_format(accel, af, kv_fmt)))
    shapes: dict[Layer, int] = {}
    memo: dict[tuple[Any, ...], LayerCost] = {}
    out = []
    for ly in layers:
        shape = _shape_key(ly)
        sid = shapes.setdefault(shape, len(shapes))
        mm = ly.op is OpKind.MATMUL
        row = []
        for j, (wf, af, kf) in enumerate(fmts):
            key = (sid, kf, af) if mm else (sid, j)  # a MATMUL's second operand is the KV format
            cost = memo.get(key)
            if cost is None:
                cost = memo[key] = _evaluate_shape(shape, kf if mm else wf, af, accel, None, "latency")
            row.append(_renamed(cost, ly.name))
        out.append(tuple(row))
    return tuple(out)


def evaluate_grid(layers: Sequence[Layer], pairs: Sequence[tuple[Format | str, Format | str | None]],
                  accel: Accelerator, *, kv_fmt: Format | str | None = None
                  ) -> tuple[tuple[LayerCost, ...], ...]:
    """`evaluate(layer, w, accel, act_fmt=a, kv_fmt=kv_fmt)` of every layer and (w, a) pair,
    [layer][pair]: the same LayerCosts (and the same first error, in that order) as those calls
    one by one, but each distinct (layer shape, formats) is priced once and the arguments are
    checked once. A workload repeats shapes (a transformer's blocks, a ResNet stage), so a
    sweep's design is priced with a third of the calls."""
    try:
        return _grid_once(layers, pairs, accel, kv_fmt)
    except Exception:  # noqa: BLE001 - the one-by-one calls below raise the same error, named as they name it
        log.debug("evaluate_grid: the batched pricing raised; pricing one by one for the error")
    return tuple(tuple(evaluate(ly, w, accel, act_fmt=a, kv_fmt=kv_fmt) for w, a in pairs) for ly in layers)


def evaluate_workload(workload: Workload, formats: Format | str | TMapping[str, Format | str], accel: Accelerator,
                      act_fmt: Format | str | TMapping[str, Format | str] | None = None, *,
                      objective: str = "latency", split_layers: bool = True,
                      kv_fmt: Format | str | None = None) -> WorkloadCost:
    """Every layer of a workload. `formats`: one weight format for all layers or a dict
    layer name -> format (every layer with weights must be listed; MATMUL layers may be
    left out). Totals: layers split over all cores run in sequence (sum); with
    `split_layers=False` each layer runs on one core and `mapper.schedule` overlaps
    independent branches (critical path) when the accelerator has several cores. `kv_fmt`:
    the KV cache's format (K and V of the attention MATMULs; default: the spec's
    `default_kv_format`, else each layer's activation format)."""
    if not isinstance(workload, Workload):
        raise InvalidSpecError(f"evaluate_workload: expected a models.Workload, got {type(workload).__name__}")
    if not isinstance(accel, Accelerator):
        raise InvalidSpecError(f"evaluate_workload: expected an hwsim Accelerator, got {type(accel).__name__}")
    run_accel = accel if split_layers or accel.num_cores == 1 else accel.with_changes(num_cores=1)
    costs: list[LayerCost] = []
    used: list[tuple[str, str, str]] = []
    for layer in workload.layers:
        if isinstance(formats, TMapping):
            f = formats.get(layer.name)
            if f is None:
                if layer.op is OpKind.MATMUL:
                    f = act_fmt if act_fmt is not None and not isinstance(act_fmt, TMapping) else accel.act_format
                else:
                    raise InvalidSpecError(f"workload {workload.name}: no format for layer {layer.name!r}")
        else:
            f = formats
        a = act_fmt.get(layer.name) if isinstance(act_fmt, TMapping) else act_fmt
        c = evaluate(layer, f, run_accel, act_fmt=a, objective=objective, kv_fmt=kv_fmt)
        costs.append(c)
        a_used = _fmt(a, layer.name) or accel.act_format
        w_used = kv_format(accel, a_used, kv_fmt) if layer.op is OpKind.MATMUL else _fmt(f, layer.name)
        used.append((layer.name, str(w_used), str(a_used)))
    from lowbit.mapper import workload_cycles

    cyc = {c.name: float(c.cycles) for c in costs}
    total = workload_cycles(workload, cyc, 1 if split_layers else accel.num_cores)
    return WorkloadCost(workload=workload.name, hardware=accel.name, layers=tuple(costs), total_cycles=total,
                        freq_hz=accel.freq_hz, formats=tuple(used))


def clear_cache() -> None:
    """Drop cached layer costs and the mapper's search caches (e.g. between timing runs)."""
    from lowbit.mapper.tiling import clear_cache as clear_mapper_cache

    clear_mapper_cache()
    _evaluate_shape.cache_clear()
    _shape_key.cache_clear()
    _peak_macs.cache_clear()
    energy_table.cache_clear()
    _chip_area_mm2.cache_clear()
    _parse.cache_clear()
