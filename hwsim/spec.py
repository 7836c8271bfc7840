"""Accelerator specs: frozen, validated, loaded from YAML or keyword arguments.

An `Accelerator` holds the clock, technology node, number of cores, the core
family and its parameters (the family module's own frozen `Spec`), the on-chip
buffers and DRAM. YAML layout (`hwsim/presets/<name>.yaml`)::

    name: scalesim-32x32
    freq_hz: 1.0e9
    node_nm: 45
    num_cores: 1
    default_act_format: int8
    default_kv_format: int8      # optional: K and V of attention MATMULs (default: activations)
    core:
      family: mac_array          # CoreFamily value; other keys are the family Spec's fields
      rows: 32
    buffers:
      - {name: ifmap, operands: [input], size_bytes: 65536, bandwidth_bytes_per_cycle: 32,
         banks: 1, double_buffered: true}
    dram: {bandwidth_bytes_per_cycle: 32, energy_j_per_byte: null}
    energy: {leakage_w_per_mm2: 0.05}    # optional overrides of hwsim.energy's table
    memory: {output_bits: 32}            # optional DRAM traffic rules (MemoryRules; default: off)

The family `Spec` is built generically from the `core:` mapping by the
dataclass's fields and type hints (int, float, bool, str, Enum, tuple[...] of
those, `X | None`). Every problem raises `InvalidSpecError` naming the key and
the file (or "<kwargs>").
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from lowbit.hwsim.cores import family_module
from lowbit.hwsim.cores.base import CoreFamily, CoreModel
from lowbit.hwsim.spec_build import (
    BANDWIDTH_MAX,
    CORE_VALUE_MAX,
    FREQ_HZ_MAX,
    SIZE_BYTES_MAX,
    _at_most,
    _convert,
    _err,
    _is_num,
    _plain,
    _positive_int,
    _positive_num,
    build_dataclass,
    check_core_values,
)
from lowbit.kernels_ref.errors import InvalidSpecError, LowbitError
from lowbit.kernels_ref.formats import Format
from lowbit.kernels_ref.loaders import check_tree, load_yaml, read_text, short

__all__ = [
    "PRESET_DIR",
    "Accelerator",
    "BufferSpec",
    "DramSpec",
    "EnergyOverrides",
    "Im2colInput",
    "MemoryRules",
    "Operand",
    "SramCounts",
    "accelerator",
    "build_dataclass",
    "dump_accelerator",
    "list_presets",
    "load_accelerator",
    "load_preset",
    "load_yaml",
    "looks_like_path",
]

PRESET_DIR = Path(__file__).resolve().parent / "presets"


class Operand(enum.Enum):
    INPUT = "input"
    WEIGHT = "weight"
    OUTPUT = "output"


@dataclass(frozen=True)
class BufferSpec:
    """One on-chip buffer level holding the listed operands."""

    name: str                         # unique buffer name (`buffers.<name>.size_bytes` in sweeps)
    operands: tuple[Operand, ...]     # operands it holds: input, weight, output
    size_bytes: int                   # capacity
    bandwidth_bytes_per_cycle: float  # read + write bandwidth to the core
    banks: int = 1                    # SRAM banks (area and energy per access)
    double_buffered: bool = True      # half holds the resident tile, half loads the next
    # a peer's per-access energies (CACTI's "dynamic read/write energy per access" of its port),
    # overriding the energy table's per-byte SRAM price for this buffer: bytes / access width x
    # energy per access. Each energy needs its access width; None: the energy table's price
    read_j_per_access: float | None = None       # joules of one read access (a peer's CACTI figure)
    read_bytes_per_access: float | None = None   # bytes one read access delivers (its port width)
    write_j_per_access: float | None = None      # joules of one write access
    write_bytes_per_access: float | None = None  # bytes one write access stores

    def __post_init__(self) -> None:
        where = f"buffer {self.name!r}"
        if not isinstance(self.name, str) or not self.name:
            raise _err("buffers", "name", f"must be a non-empty string, got {self.name!r}")
        if not isinstance(self.operands, tuple) or not self.operands:
            raise _err(where, "operands", "must list at least one of input, weight, output")
        for op in self.operands:
            if not isinstance(op, Operand):
                raise _err(where, "operands", f"unknown operand {op!r} (known: input, weight, output)")
        if len(set(self.operands)) != len(self.operands):
            raise _err(where, "operands", "repeats an operand")
        _positive_int(where, "size_bytes", self.size_bytes)
        _at_most(where, "size_bytes", self.size_bytes, SIZE_BYTES_MAX)
        _positive_num(where, "bandwidth_bytes_per_cycle", self.bandwidth_bytes_per_cycle)
        _at_most(where, "bandwidth_bytes_per_cycle", self.bandwidth_bytes_per_cycle, BANDWIDTH_MAX)
        _positive_int(where, "banks", self.banks)
        _at_most(where, "banks", self.banks, CORE_VALUE_MAX)
        if not isinstance(self.double_buffered, bool):
            raise _err(where, "double_buffered", f"must be true or false, got {self.double_buffered!r}")
        for op in ("read", "write"):
            j, nb = getattr(self, f"{op}_j_per_access"), getattr(self, f"{op}_bytes_per_access")
            if (j is None) != (nb is None):
                raise _err(where, f"{op}_j_per_access",
                           f"needs {op}_bytes_per_access beside it (an energy per access needs its width)")
            if j is not None:
                if not _is_num(j) or j < 0:
                    raise _err(where, f"{op}_j_per_access", f"must be a non-negative number, got {j!r}")
                _positive_num(where, f"{op}_bytes_per_access", nb)

    def sram_j_per_byte(self, write: bool = False) -> float | None:
        """This buffer's own read (write) energy per byte, or None (the energy table prices it)."""
        j = self.write_j_per_access if write else self.read_j_per_access
        nb = self.write_bytes_per_access if write else self.read_bytes_per_access
        return None if j is None or nb is None else float(j) / float(nb)

    @property
    def usable_bytes(self) -> int:
        """Bytes a resident tile may use: half when double-buffered (the other half is loading)."""
        return self.size_bytes // 2 if self.double_buffered else self.size_bytes


@dataclass(frozen=True)
class DramSpec:
    """Off-chip memory: bandwidth and (optionally) energy per byte (None -> energy table)."""

    bandwidth_bytes_per_cycle: float  # off-chip bandwidth at the accelerator clock
    energy_j_per_byte: float | None = None  # None: the node's energy table

    def __post_init__(self) -> None:
        _positive_num("dram", "bandwidth_bytes_per_cycle", self.bandwidth_bytes_per_cycle)
        _at_most("dram", "bandwidth_bytes_per_cycle", self.bandwidth_bytes_per_cycle, BANDWIDTH_MAX)
        if self.energy_j_per_byte is not None:
            _positive_num("dram", "energy_j_per_byte", self.energy_j_per_byte)


@dataclass(frozen=True)
class EnergyOverrides:
    """Optional overrides of `hwsim.energy.EnergyTable` values (None -> the node's default)."""

    mac_int8_j: float | None = None         # one int8 x int8 MAC (other widths scale from it)
    mac_fp16_j: float | None = None         # one fp16 x fp16 MAC
    sram_j_per_byte: float | None = None    # one on-chip buffer byte read or written
    # the core's compute energy is this x its PEs x compute cycles, in place of its priced actions
    pe_cycle_j: float | None = None         # one PE busy one compute cycle (a peer's synthesised PE energy)
    leakage_w_per_mm2: float | None = None  # static power per mm2 of chip area

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if v is not None and (not _is_num(v) or v < 0):
                raise _err("energy", f.name, f"must be a non-negative number or null, got {v!r}")


class SramCounts(enum.Enum):
    """How the buffer reads and writes priced for energy are counted (`MemoryRules.sram_counts`)."""

    TILES = "tiles"                  # lowbit's tile traffic (hwsim.memory docstring)
    ARRAY_STEPS = "array_steps"      # bitmod_sim: one port access per array step per operand buffer
    STATIONARY_INNER = "stationary_inner"  # Bit Fusion: element reads of the cheapest inner loop


class Im2colInput(enum.Enum):
    """What a convolution the core runs as a plain im2col GEMM reads from DRAM."""

    FEATURE_MAP = "feature_map"  # the feature map (im2col on chip: each input element once per fetch)
    HOST = "host"                # the host-im2col'd M x K matrix (each window's elements, overlaps repeated)


@dataclass(frozen=True)
class MemoryRules:
    """Opt-in rules for how operands cross the DRAM interface (`memory:` in YAML).

    The defaults are lowbit's own model (`hwsim.memory`); a preset that reproduces a peer
    simulator sets the peer's rules, with the peer's source in its comments:

    - `output_bits`: outputs are stored, on chip and in DRAM, at this many bits (a peer
      that keeps every output as a 32-bit accumulator value); None = the activation format
      (partial sums spilled mid-reduction are at the core's accumulator width either way).
    - `output_read_before_write`: every output tile written to DRAM was first read from it
      (the peer accumulates into DRAM even on the first reduction pass): DRAM output reads
      equal DRAM output writes.
    - `im2col_input`: `host` makes a convolution that the core runs as a plain GEMM (no
      channel-wise `k_segment`) read its im2col'd M x K input, not the feature map.
    - `conv_input_halo`: a channel-wise convolution's input tile is the window of input
      pixels its output tile needs, halo included, refetched per tile (the input is not
      shared between neighbouring tiles).
    - `padded_tiles`: every tile is computed and moved whole, edge tiles included (compute
      and traffic scale by trips x tile / dimension); a convolution's m-tiles are square
      blocks of output pixels of one image (or whole images), and the mapper offers
      power-of-two block sides.
    - `whole_layer_refetch`: bitmod_sim's coarse rule (accelerator.py `_calc_num_mem_refetch`,
      `_calc_dram_cycle`, `calc_cycle`): every operand crosses DRAM once, unless both the
      whole weight and the whole input exceed their buffers (full size); then either all
      weights are re-read once per input-buffer load (ceil(input / input buffer) times) or
      all inputs once per weight-buffer load, whichever moves fewer bytes. The layer takes
      max(compute, DRAM bytes / bandwidth) cycles (no tile timeline, fill or drain).
    - `sram_counts`: how the on-chip buffer accesses that energy prices are counted (cycles and
      bandwidth stalls keep lowbit's tile traffic, and so does `LayerCost.sram_bytes`):
      `tiles` (lowbit's); `array_steps` (bitmod_sim accelerator.py `calc_sram_rd_energy` /
      `_calc_sram_wr_energy_fc`: every array step reads one port word (the buffer's
      `read_bytes_per_access`, else its bandwidth per cycle) from the buffer of the inputs and
      from that of the weights; buffers are written with the DRAM fills and the final
      outputs); `stationary_inner` (Bit Fusion optimizer.py `get_stats_fast`: per tile the
      inner loop order of fewest weighted bit accesses among input-, output- and
      weight-stationary, over the tile padded to the array (`MappingHints.pad_n`,
      `pad_k_rows` x MACs per row), its element reads and output writes counted unpadded;
      plus the DRAM fills written and the output tiles read out to DRAM).
    - `array_padding`: Bit Fusion's tile padding to the array (hsharma35/bitfusion
      `optimizer.py` get_stats_fast: out tile = ow*oh*ceil(oc, M)*M*b*oprec, weight tile =
      ceil(K*K*ic, N*perf_factor)*N*perf_factor*oc*wprec): an output tile's N is stored padded to
      the array's N extent and a weight tile's K to the array's K rows x the MACs per PE per
      cycle, on chip and across DRAM (the core says which extents: `MappingHints.pad_n`,
      `pad_k_rows`). Compute is unchanged (the core model already charges whole array passes).
    - `block_promotion`: Bit Fusion's tile promotion and cycle rule (hsharma35/bitfusion
      `optimizer.py` get_stats_fast). Traffic (:111-169): walking the loops from the innermost
      out (the batch loop outermost), an operand's held block grows by each loop it depends on
      while it fits its buffer's usable half; a loop it does not depend on is free while the
      block is still growing, and once a block has outgrown the buffer every outer loop re-reads
      it (so an operand re-read by an unrelated loop outside a block that fits is read once, and
      a whole tensor that fits is resident). Cycles (:230-249): the held blocks are read before
      compute starts (`initial_dram_reads`, the sum of `max_write_size`) and the held output
      block written after it (`final_dram_writes`); the rest overlaps compute: cycles = compute
      + max(0, ceil(middle / bw) - compute) + ceil(fill / bw) + ceil(drain / bw), no SRAM-port
      term. The mapper minimises these cycles as `_optimize_for_order` does (:483-487), so at a
      wide interface, where every tiling hides its traffic, small held blocks (small fill) win
      over DRAM reuse. With `padded_tiles` and `output_read_before_write` too (the simulator's
      traffic model as a whole; `sram_counts` tiles or stationary_inner), a conv or linear layer
      on one core is mapped in the simulator's own five loops (b images, ow and oh pixel blocks,
      ic, oc, any of their 120 orders, the promotion rule over those loops;
      `mapper.bitfusion_loops`, priced by `hwsim.bitfusion_loops`), its m-tile a
      `Mapping.m_block` (b, oh, ow).
    """

    output_bits: int | None = None
    output_read_before_write: bool = False
    im2col_input: Im2colInput = Im2colInput.FEATURE_MAP
    conv_input_halo: bool = False
    padded_tiles: bool = False
    whole_layer_refetch: bool = False
    array_padding: bool = False
    block_promotion: bool = False
    sram_counts: SramCounts = SramCounts.TILES  # how buffer accesses are counted for energy

    def __post_init__(self) -> None:
        if self.output_bits is not None:
            _positive_int("memory", "output_bits", self.output_bits)
        for key in ("output_read_before_write", "conv_input_halo", "padded_tiles", "whole_layer_refetch",
                    "array_padding", "block_promotion"):
            if not isinstance(getattr(self, key), bool):
                raise _err("memory", key, f"must be true or false, got {getattr(self, key)!r}")
        if not isinstance(self.sram_counts, SramCounts):
            raise _err("memory", "sram_counts",
                       f"unknown value {self.sram_counts!r} (known: {', '.join(v.value for v in SramCounts)})")
        if not isinstance(self.im2col_input, Im2colInput):
            raise _err("memory", "im2col_input",
                       f"unknown value {self.im2col_input!r} (known: {', '.join(v.value for v in Im2colInput)})")


_TOP_KEYS = ("name", "freq_hz", "node_nm", "num_cores", "default_act_format", "default_kv_format", "core",
             "buffers", "dram", "energy", "memory")
_REQUIRED_TOP = ("name", "freq_hz", "node_nm", "core", "buffers", "dram")


@dataclass(frozen=True)
class Accelerator:
    """A whole accelerator: build it with `load_accelerator`, `accelerator(**kw)` or `from_dict`."""

    name: str                         # the design's name (reports, tables)
    freq_hz: float                    # clock; converts cycles to seconds
    node_nm: float                    # technology node: picks the energy and area tables
    core_family: CoreFamily           # `core.family`: which core model runs the layers
    core: Any                         # the family module's Spec (the other `core:` keys)
    buffers: tuple[BufferSpec, ...]   # on-chip buffer levels, innermost first
    dram: DramSpec                    # off-chip memory
    num_cores: int = 1                # identical cores sharing buffers and DRAM
    default_act_format: str = "int8"  # activation format when a run names none
    energy: EnergyOverrides = field(default_factory=EnergyOverrides)  # energy table overrides
    memory: MemoryRules = field(default_factory=MemoryRules)  # DRAM traffic rules (peers')
    default_kv_format: str | None = None  # KV-cache format (MATMUL second operand); None: activations

    def __post_init__(self) -> None:
        where = f"accelerator {self.name!r}"
        if not isinstance(self.name, str) or not self.name:
            raise _err("accelerator", "name", f"must be a non-empty string, got {self.name!r}")
        _positive_num(where, "freq_hz", self.freq_hz)
        _at_most(where, "freq_hz", self.freq_hz, FREQ_HZ_MAX)
        _positive_num(where, "node_nm", self.node_nm)
        if not 1 <= self.node_nm <= 1000:
            raise _err(where, "node_nm", f"must be a technology node between 1 and 1000 nm, got {self.node_nm}")
        _positive_int(where, "num_cores", self.num_cores)
        _at_most(where, "num_cores", self.num_cores, CORE_VALUE_MAX)
        if not isinstance(self.core_family, CoreFamily):
            raise _err(where, "core.family", f"unknown core family {self.core_family!r}")
        spec_cls = family_module(self.core_family).Spec
        if not isinstance(self.core, spec_cls):
            raise _err(where, "core", f"must be a {self.core_family.value} Spec, got {type(self.core).__name__}")
        check_core_values(self.core)
        if not isinstance(self.buffers, tuple) or not all(isinstance(b, BufferSpec) for b in self.buffers):
            raise _err(where, "buffers", "must be a tuple of BufferSpec")
        names = [b.name for b in self.buffers]
        if len(set(names)) != len(names):
            raise _err(where, "buffers", f"buffer names repeat: {names}")
        if not isinstance(self.dram, DramSpec):
            raise _err(where, "dram", "must be a DramSpec")
        if not isinstance(self.energy, EnergyOverrides):
            raise _err(where, "energy", "must be an EnergyOverrides")
        if not isinstance(self.memory, MemoryRules):
            raise _err(where, "memory", "must be a MemoryRules")
        if not isinstance(self.default_act_format, str):
            raise _err(where, "default_act_format", f"must be a format name, got {self.default_act_format!r}")
        try:
            Format.parse(self.default_act_format)
        except LowbitError as exc:
            raise _err(where, "default_act_format", str(exc)) from None
        if self.default_kv_format is not None:
            if not isinstance(self.default_kv_format, str):
                raise _err(where, "default_kv_format", f"must be a format name, got {self.default_kv_format!r}")
            try:
                Format.parse(self.default_kv_format)
            except LowbitError as exc:
                raise _err(where, "default_kv_format", str(exc)) from None

    def __hash__(self) -> int:
        """The hash of the fields (as the dataclass's own), computed once per (frozen) spec and
        kept in the instance dict: every cached evaluation is keyed by its accelerator, and a
        spec's nested fields took ~4 us to hash each time. Not pickled (`__getstate__`): string
        hashes differ between processes."""
        h = self.__dict__.get("_hash")
        if h is None:
            h = self.__dict__["_hash"] = hash(tuple(getattr(self, f.name) for f in dataclasses.fields(self)))
        return h

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_hash"}

    # ------------------------------------------------------------------ derived
    @cached_property  # parsed once per (frozen) spec: the sweep asks for it ~100 times a point
    def act_format(self) -> Format:
        return Format.parse(self.default_act_format)

    @cached_property
    def kv_format(self) -> Format:
        """Format of the KV cache (K and V, the second operand of attention MATMULs)."""
        return Format.parse(self.default_kv_format) if self.default_kv_format else self.act_format

    def model(self) -> CoreModel:
        """The family's core model for this spec, built once per (frozen) spec (kept in the
        instance dict as `cached_property` would, without its per-first-access lock)."""
        m = self.__dict__.get("_core_model")
        if m is None:
            m = self.__dict__["_core_model"] = _model_for(self.core_family, self.core)
        return m

    def buffer_for(self, operand: Operand | str) -> BufferSpec | None:
        """The first (innermost listed) buffer holding an operand, or None when it streams from DRAM."""
        op = Operand(operand) if isinstance(operand, str) else operand
        for b in self.buffers:
            if op in b.operands:
                return b
        return None

    @property
    def total_sram_bytes(self) -> int:
        return sum(b.size_bytes for b in self.buffers)

    def area_mm2(self) -> float:
        """Core area (all cores) from the family model; buffers by `hwsim.energy.sram_area_mm2`."""
        from lowbit.hwsim.energy import sram_area_mm2

        core = self.model().area_mm2(self.node_nm) * self.num_cores
        return core + sum(sram_area_mm2(b.size_bytes, self.node_nm) for b in self.buffers)

    # ------------------------------------------------------------------ I/O
    @classmethod
    def from_dict(cls, d: Any, where: str = "<dict>") -> Accelerator:
        return _from_dict(d, where)

    @classmethod
    def from_yaml(cls, path: str | Path) -> Accelerator:
        return load_accelerator(path)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (YAML-safe); `Accelerator.from_dict(a.to_dict()) == a`."""
        core = {"family": self.core_family.value}
        core.update({f.name: _plain(getattr(self.core, f.name)) for f in dataclasses.fields(self.core)})
        out: dict[str, Any] = {
            "name": self.name,
            "freq_hz": float(self.freq_hz),
            "node_nm": self.node_nm,
            "num_cores": self.num_cores,
            "default_act_format": self.default_act_format,
            **({"default_kv_format": self.default_kv_format} if self.default_kv_format else {}),
            "core": core,
            "buffers": [{f.name: _plain(getattr(b, f.name)) for f in dataclasses.fields(b)
                         if not (f.default is None and getattr(b, f.name) is None)} for b in self.buffers],
            "dram": {f.name: _plain(getattr(self.dram, f.name)) for f in dataclasses.fields(self.dram)},
        }
        energy = {f.name: getattr(self.energy, f.name) for f in dataclasses.fields(self.energy)
                  if getattr(self.energy, f.name) is not None}
        if energy:
            out["energy"] = energy
        if self.memory != MemoryRules():  # only a spec that opts in carries the section
            out["memory"] = {f.name: _plain(getattr(self.memory, f.name)) for f in dataclasses.fields(self.memory)
                             if getattr(self.memory, f.name) != f.default}
        return out

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def with_changes(self, **changes: Any) -> Accelerator:
        """A new validated spec with some values replaced. Dotted keys reach inside:
        `core.rows=64`, `dram.bandwidth_bytes_per_cycle=16`, `buffers.ubuf.size_bytes=2**20`;
        `core.family=...` switches family (then the other core keys must suit it)."""
        d = self.to_dict()
        d.setdefault("memory", {})
        d.setdefault("energy", {})
        for key, value in changes.items():
            path = key.replace("__", ".").split(".")
            _set_path(d, path, _plain(value), key)
        return _from_dict(d, f"{self.name} with_changes")


def _set_path(d: dict[str, Any], path: list[str], value: Any, key: str) -> None:
    where = "with_changes"
    if path[0] == "buffers" and len(path) == 3:
        for b in d["buffers"]:
            if b["name"] == path[1]:
                if path[2] not in {f.name for f in dataclasses.fields(BufferSpec)}:
                    raise _err(where, key, f"unknown buffer key {path[2]!r}")
                b[path[2]] = value
                return
        raise _err(where, key, f"no buffer named {path[1]!r}")
    cur: Any = d
    for p in path[:-1]:
        if not isinstance(cur, dict) or p not in cur:
            raise _err(where, key, f"unknown key {p!r}")
        cur = cur[p]
    last = path[-1]
    if not isinstance(cur, dict):
        raise _err(where, key, "does not name a mapping entry")
    if path[0] == "core" and len(path) == 2 and last == "family":
        cur.clear()
    if len(path) == 1 and last not in _TOP_KEYS:
        raise _err(where, key, f"unknown key (known: {', '.join(_TOP_KEYS)})")
    if len(path) == 2 and path[0] == "core" and last != "family":
        fam = family_module(cur["family"]) if "family" in cur else None
        if fam is not None and last not in {f.name for f in dataclasses.fields(fam.Spec)}:
            raise _err(where, key, f"unknown {cur['family']} core key")
    cur[last] = value


def _from_dict(d: Any, where: str) -> Accelerator:
    if not isinstance(d, Mapping):
        raise InvalidSpecError(f"{where}: top level must be a mapping, got {type(d).__name__}")
    unknown = [k for k in d if k not in _TOP_KEYS]
    if unknown:
        raise _err(where, str(unknown[0]), f"unknown key (known: {', '.join(_TOP_KEYS)})")
    for k in _REQUIRED_TOP:
        if k not in d:
            raise _err(where, k, "missing key")
    name = _convert(d["name"], str, where, "name")
    freq = _convert(d["freq_hz"], float, where, "freq_hz")
    node = _convert(d["node_nm"], float, where, "node_nm")
    num_cores = _convert(d.get("num_cores", 1), int, where, "num_cores")
    act = _convert(d.get("default_act_format", "int8"), str, where, "default_act_format")
    kv = d.get("default_kv_format")
    kv = None if kv is None else _convert(kv, str, where, "default_kv_format")
    core_d = d["core"]
    if not isinstance(core_d, Mapping):
        raise _err(where, "core", f"must be a mapping, got {type(core_d).__name__}")
    if "family" not in core_d:
        raise _err(where, "core.family", "missing key")
    try:
        family = CoreFamily(core_d["family"])
    except ValueError:
        known = ", ".join(f.value for f in CoreFamily)
        raise _err(where, "core.family", f"unknown core family {core_d['family']!r} (known: {known})") from None
    try:
        mod = family_module(family)
    except InvalidSpecError as exc:
        raise _err(where, "core.family", str(exc)) from None
    core = build_dataclass(mod.Spec, core_d, where, "core.", ignore=("family",))
    bufs_d = d["buffers"]
    if bufs_d is None:
        bufs_d = []
    if not isinstance(bufs_d, list):
        raise _err(where, "buffers", f"must be a list, got {type(bufs_d).__name__}")
    buffers = tuple(build_dataclass(BufferSpec, b, where, f"buffers[{i}].") for i, b in enumerate(bufs_d))
    dram = build_dataclass(DramSpec, d["dram"], where, "dram.")
    energy = build_dataclass(EnergyOverrides, d.get("energy") or {}, where, "energy.")
    memory = build_dataclass(MemoryRules, d.get("memory") or {}, where, "memory.")
    try:
        return Accelerator(name=name, freq_hz=freq, node_nm=node, core_family=family, core=core,
                           buffers=buffers, dram=dram, num_cores=num_cores, default_act_format=act,
                           energy=energy, memory=memory, default_kv_format=kv)
    except InvalidSpecError as exc:
        raise InvalidSpecError(f"{where}: {exc}") from None


def _model_for(family: CoreFamily, core: Any) -> CoreModel:
    return family_module(family).Model(core)


# ---------------------------------------------------------------------- public loaders
def list_presets() -> tuple[str, ...]:
    """Names of the YAML presets shipped in `hwsim/presets/`."""
    return tuple(sorted(p.stem for p in PRESET_DIR.glob("*.yaml")))


def looks_like_path(ref: str | Path) -> bool:
    """A `--hw` value is a file when it looks like one (a path separator, or a .yaml/.yml
    name); anything else is a preset name, so a local directory never shadows a preset."""
    s = str(ref)
    return isinstance(ref, Path) or "/" in s or s.lower().endswith((".yaml", ".yml"))


def _resolve(name_or_path: str | Path) -> Path:
    if not isinstance(name_or_path, (str, Path)) or not str(name_or_path).strip():
        raise InvalidSpecError(f"accelerator: expected a preset name or a YAML path, got "
                               f"{short(name_or_path)}")
    if looks_like_path(name_or_path):
        p = Path(name_or_path)
        if not p.is_file():
            raise InvalidSpecError(f"{p}: no such accelerator spec file")
        return p
    cand = PRESET_DIR / f"{name_or_path}.yaml"
    if cand.is_file():
        return cand
    close = difflib.get_close_matches(str(name_or_path), list_presets(), n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise InvalidSpecError(
        f"unknown accelerator {short(str(name_or_path))}: not a file and not a preset{hint} "
        f"(presets: {', '.join(list_presets())}; a file path needs a '/' or a .yaml name)")


def load_accelerator(name_or_path: str | Path | Mapping[str, Any]) -> Accelerator:
    """Load a preset by name (`tpu-like`), a YAML file by path, or a mapping in the YAML
    layout; InvalidSpecError on any problem."""
    if isinstance(name_or_path, Mapping):
        return _from_dict(check_tree(dict(name_or_path), "<mapping>"), "<mapping>")
    path = _resolve(name_or_path)
    data = load_yaml(read_text(path, "accelerator spec"), str(path))
    return _from_dict(data, str(path))


load_preset = load_accelerator


def accelerator(**kwargs: Any) -> Accelerator:
    """Build from keyword arguments with the YAML layout (`core=` a mapping with `family`)."""
    return _from_dict(kwargs, "<kwargs>")


def dump_accelerator(accel: Accelerator) -> str:
    return accel.to_yaml()
