"""SCALE-Sim 3.0 inputs: its `scale.cfg` and topology CSVs, read into lowbit objects.

Users of SCALE-Sim bring their files unchanged; `simulate_files` reports each
layer's compute cycles in SCALE-Sim's convention (equal to its COMPUTE_REPORT
"Total Cycles" when stall-free). What is read, following scalesim 3.0.0's own
readers (`scale_config.read_conf_file`, `topology_utils.load_arrays_{conv,gemm}`):

- cfg (configparser; keys case-insensitive, `key: value` or `key = value`):
  [general] run_name; [architecture_presets] ArrayHeight, ArrayWidth,
  IfmapSramSzkB, FilterSramSzkB, OfmapSramSzkB, IfmapOffset, FilterOffset,
  OfmapOffset, Dataflow (os | ws | is), optional ReadRequestBuffer,
  WriteRequestBuffer, MemoryBanks, Bandwidth (required with
  InterfaceBandwidth USER: comma-separated words/cycle); [run_presets]
  InterfaceBandwidth (CALC | USER), optional UseRamulatorTrace; optional
  [layout] and [sparsity] sections (SparsitySupport true is refused: lowbit
  does not model SCALE-Sim's sparse mode). The sections scalesim 3.0.0 requires
  but its own repository's default cfg omits ([layout], [sparsity],
  UseRamulatorTrace, request buffers) are optional here.
- conv topology: a header line (always skipped, as SCALE-Sim does), then
  `name, ifmap_h, ifmap_w, filter_h, filter_w, channels, num_filters, stride,`
  with an optional sparsity ratio `N:M` column; the stride applies to both
  directions; a layer whose name contains "DP" is depthwise and is split into
  one single-channel layer per channel named `<name>Channel_<i>`.
- GEMM topology (`--gemm`): header, then `name, M, N, K,` (optional `N:M`):
  M rows of the output, N output columns, K the reduction; SCALE-Sim runs it as
  a conv with ifmap M x K, filter 1 x K, 1 channel, N filters, stride 1.
- Trailing commas: SCALE-Sim drops the field after the last comma; so does lowbit, except that
  a row without the trailing comma that would then be short keeps its last value (SCALE-Sim
  stops on it). An empty layer name runs, as in SCALE-Sim; GEMM fields after N:M are ignored.

Key-by-key parity with scalesim 3.0.0 (checked by running it: tests/data/scalesim_stall/
parse_probe.txt): `%` interpolation as its configparser does; `Dataflow: OS` (any case of os)
runs as os with a warning, other unknown values are refused although SCALE-Sim runs them as os;
MemoryBanks is never read by SCALE-Sim (any value runs); IfmapCustomLayout/FilterCustomLayout are
booleans as `getboolean` reads them (a true value is refused: custom layouts are not modelled);
in USER mode a bank bandwidth that is not a multiple of its bank count is refused, as SCALE-Sim's
assertion does. ReadRequestBuffer/WriteRequestBuffer and [layout] keys, required by SCALE-Sim,
are optional here (its defaults) so that its repository's default cfg reads.

Output size is SCALE-Sim's rule ceil((H - R + S) / S) (no padding; a last partial
window counts). `ConvGeometry` uses PyTorch's floor rule, so the geometry built
here carries the padding that makes the two agree; M is SCALE-Sim's either way.

Bad files raise InvalidSpecError naming the file, the line and the key/column.
"""

from __future__ import annotations

import configparser
import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lowbit.hwsim.cores.base import Dataflow
from lowbit.hwsim.cores.mac_array import CoreStyle, Spec, systolic_folds
from lowbit.hwsim.scalesim_ini import _line_of, _PlainIni, _section_line
from lowbit.hwsim.scalesim_quick import (
    ARRAY_DIM_MAX,
    CFG_INT_MAX,
    DP_CHANNELS_MAX,
    TOPOLOGY_INT_MAX,
    config_fields,
    plain_sections,
    read_small_text,
    topology_rows,
)
from lowbit.hwsim.spec import Accelerator
from lowbit.kernels_ref.errors import InvalidSpecError
from lowbit.models.ir import ConvGeometry, Layer, OpKind

__all__ = [
    "ARRAY_DIM_MAX",
    "CFG_INT_MAX",
    "DP_CHANNELS_MAX",
    "OPERAND_ELEMENTS_MAX",
    "TOPOLOGY_INT_MAX",
    "ScaleSimConfig",
    "ScaleSimLayer",
    "accelerator",
    "accelerator_dict",
    "core_spec",
    "read_config",
    "read_topology",
    "simulate_files",
    "to_layer",
]

_LOG = logging.getLogger(__name__)
_CONV_COLUMNS = ("layer name", "ifmap height", "ifmap width", "filter height", "filter width",
                 "channels", "num filter", "strides")
_GEMM_COLUMNS = ("layer name", "M", "N", "K")


@dataclass(frozen=True)
class ScaleSimConfig:
    """The architecture part of a SCALE-Sim 3.0 `scale.cfg`."""

    run_name: str
    array_rows: int
    array_cols: int
    ifmap_sram_kb: int
    filter_sram_kb: int
    ofmap_sram_kb: int
    ifmap_offset: int
    filter_offset: int
    ofmap_offset: int
    dataflow: Dataflow
    use_user_bandwidth: bool
    bandwidths: tuple[int, ...]
    memory_banks: int
    read_request_buffer: int
    write_request_buffer: int
    path: str = ""
    ifmap_bank_bandwidth: int = 10  # [layout] IfmapSRAMBankBandwidth: ifmap DRAM fill, words/cycle (USER)
    ifmap_bank_num: int = 10
    ifmap_bank_port: int = 2
    filter_bank_bandwidth: int = 10  # [layout] FilterSRAMBankBandwidth: filter DRAM fill (USER)
    filter_bank_num: int = 10
    filter_bank_port: int = 2


@dataclass(frozen=True)
class ScaleSimLayer:
    """One topology row as SCALE-Sim holds it (a GEMM row is already in its conv form)."""

    name: str
    ifmap_h: int
    ifmap_w: int
    filter_h: int
    filter_w: int
    channels: int
    num_filters: int
    stride_h: int
    stride_w: int
    gemm: bool = False
    line: int = 0

    @property
    def ofmap_h(self) -> int:
        return math.ceil((self.ifmap_h - self.filter_h + self.stride_h) / self.stride_h)

    @property
    def ofmap_w(self) -> int:
        return math.ceil((self.ifmap_w - self.filter_w + self.stride_w) / self.stride_w)

    @property
    def mnk(self) -> tuple[int, int, int]:
        """(M output pixels, K window size, N filters): SCALE-Sim's GEMM view."""
        return (self.ofmap_h * self.ofmap_w, self.filter_h * self.filter_w * self.channels, self.num_filters)


# ------------------------------------------------------------------ cfg
def read_config(path: str | Path) -> ScaleSimConfig:
    """Parse a SCALE-Sim 3.0 `scale.cfg` key by key as scalesim 3.0.0's `read_conf_file` does
    (see the module docstring for the keys and where lowbit differs on purpose).

    A plainly valid cfg takes `hwsim.scalesim_quick`'s fast lane (same result, tested); any
    other text, and every error or warning, comes from `read_config_text`."""
    text = read_small_text(path, "SCALE-Sim config")  # size-limited, UTF-8 only (names UTF-16/Latin-1/NUL)
    fields = config_fields(plain_sections(text))
    if fields is None:
        return read_config_text(path, text)
    fields["dataflow"] = _DATAFLOW_OF[fields["dataflow"]]
    fields["path"] = _path_str(path)
    # ScaleSimConfig has no __post_init__ (a test holds it so): its __init__ only stores the
    # fields, one object.__setattr__ each; the checked fields go into the instance dict at once
    cfg = object.__new__(ScaleSimConfig)
    cfg.__dict__.update(fields)
    return cfg


_DATAFLOW_OF = {"os": Dataflow.OUTPUT_STATIONARY, "ws": Dataflow.WEIGHT_STATIONARY,
                "is": Dataflow.INPUT_STATIONARY}


def _path_str(path: str | Path) -> str:
    """`str(Path(path))` (the form `ScaleSimConfig.path` keeps), without building a Path for a
    str that it would not change: no empty component but a leading '/', no '.' component."""
    if type(path) is str and path:
        parts = path.split("/")
        if "." not in parts and "" not in parts[1:]:
            return path
    return str(path) if isinstance(path, Path) else str(Path(path))


def read_config_text(path: str | Path, text: str) -> ScaleSimConfig:
    """`read_config` on a text already read, with every check and message (no fast lane)."""
    path = Path(path)
    parser: configparser.ConfigParser | _PlainIni | None = _PlainIni.parse(text)
    if parser is None:  # anything beyond plain `key: value` lines: configparser itself decides
        parser = configparser.ConfigParser()  # SCALE-Sim's: BasicInterpolation, so '%' is special
        try:
            parser.read_string(text, source=str(path))
        except configparser.Error as exc:
            line = getattr(exc, "lineno", None)
            where_ = f", line {line}" if line else ""
            msg = str(exc).splitlines()[0]
            raise InvalidSpecError(f"{path}{where_}: not a valid SCALE-Sim config: {msg}") from None

    def where(section: str, key: str) -> str:
        line = _line_of(text, section, key) or _section_line(text, section)
        return f"{path}, line {line}" if line else str(path)

    def get(section: str, key: str, required: bool = True) -> str | None:
        if not parser.has_section(section):
            if required:
                raise InvalidSpecError(f"{path}: missing section [{section}] (needed for {key})")
            return None
        if not parser.has_option(section, key):
            if required:
                raise InvalidSpecError(f"{where(section, key)}: missing key {key} in [{section}]")
            return None
        try:
            return parser.get(section, key).strip()
        except configparser.InterpolationError:
            raise InvalidSpecError(
                f"{where(section, key)}: {key} has a '%' that is not '%%' or '%(name)s' (SCALE-Sim 3.0.0's "
                "configparser rejects it too; write %% for a literal %)") from None

    def get_int(section: str, key: str, default: int | None = None, positive: bool = True) -> int:
        raw = get(section, key, required=default is None)
        if raw is None:
            assert default is not None
            return default
        try:
            value = int(raw)
        except ValueError:
            raise InvalidSpecError(f"{where(section, key)}: {key} must be an integer, got {raw!r}") from None
        if positive and value < 1:
            raise InvalidSpecError(f"{where(section, key)}: {key} must be positive, got {value} (SCALE-Sim "
                                   "3.0.0 reads it but cannot simulate it)")
        if not positive and value < 0:
            raise InvalidSpecError(f"{where(section, key)}: {key} must be >= 0, got {value} (SCALE-Sim "
                                   "3.0.0 reads it; a negative address offset is refused here)")
        hi = ARRAY_DIM_MAX if key in ("ArrayHeight", "ArrayWidth") else CFG_INT_MAX
        if value > hi:
            raise InvalidSpecError(f"{where(section, key)}: {key} {raw[:30]} is over the limit {hi} "
                                   "(lowbit's bound; the operand matrices grow with it)")
        return value

    def get_bool(section: str, key: str) -> bool:
        raw = get(section, key, required=False)
        if raw is None:
            return False
        if raw.lower() not in parser.BOOLEAN_STATES:
            raise InvalidSpecError(f"{where(section, key)}: {key} must be a boolean (true/false, yes/no, on/off, "
                                   f"1/0), got {raw!r}; SCALE-Sim 3.0.0 rejects it too")
        return parser.BOOLEAN_STATES[raw.lower()]

    run_name = get("general", "run_name")
    assert run_name is not None
    bw_mode = get("run_presets", "InterfaceBandwidth")
    if bw_mode not in ("USER", "CALC"):
        raise InvalidSpecError(
            f"{where('run_presets', 'InterfaceBandwidth')}: InterfaceBandwidth must be USER or CALC, "
            f"got {bw_mode!r}")
    ramulator = get("run_presets", "UseRamulatorTrace", required=False)
    if ramulator is not None and ramulator == "True":  # SCALE-Sim: exactly 'True' turns it on
        raise InvalidSpecError(
            f"{where('run_presets', 'UseRamulatorTrace')}: UseRamulatorTrace True is not modelled "
            "(SCALE-Sim 3.0.0 would replay Ramulator latency traces; lowbit has none)")
    sec = "architecture_presets"
    df_raw = get(sec, "Dataflow")
    assert df_raw is not None
    if df_raw not in ("os", "ws", "is"):
        if df_raw.lower() != "os":
            raise InvalidSpecError(
                f"{where(sec, 'Dataflow')}: Dataflow must be os, ws or is, got {df_raw!r} (SCALE-Sim 3.0.0 "
                "prints 'WARNING: Invalid dataflow' and runs any other value as os; lowbit refuses it "
                "because 'WS', 'IS' or a typo would silently simulate os)")
        _LOG.warning("%s: Dataflow %r is not os, ws or is; running os, as SCALE-Sim 3.0.0 does",
                     where(sec, "Dataflow"), df_raw)
        df_raw = "os"
    bandwidths: tuple[int, ...] = ()
    bw_raw = get(sec, "Bandwidth", required=bw_mode == "USER")
    if bw_mode == "USER":  # SCALE-Sim reads Bandwidth only in USER mode
        assert bw_raw is not None
        try:
            bandwidths = tuple(int(x.strip()) for x in bw_raw.split(","))
        except ValueError:
            raise InvalidSpecError(
                f"{where(sec, 'Bandwidth')}: Bandwidth must be comma-separated integers, got {bw_raw!r}") from None
        if any(b < 1 for b in bandwidths):
            raise InvalidSpecError(f"{where(sec, 'Bandwidth')}: Bandwidth must be positive, got {bw_raw!r}")
        if any(b > CFG_INT_MAX for b in bandwidths):
            raise InvalidSpecError(f"{where(sec, 'Bandwidth')}: Bandwidth {bw_raw[:30]} is over the limit "
                                   f"{CFG_INT_MAX} words/cycle")
    elif bw_raw:
        try:
            bandwidths = tuple(int(x.strip()) for x in bw_raw.split(","))
        except ValueError:
            bandwidths = ()
    sparse = get("sparsity", "SparsitySupport", required=False)
    if sparse is not None and sparse.lower() == "true":
        raise InvalidSpecError(
            f"{where('sparsity', 'SparsitySupport')}: SparsitySupport true is not supported "
            "(SCALE-Sim 3.0.0 runs its sparse mode; lowbit does not model it)")
    for key in ("IfmapCustomLayout", "FilterCustomLayout"):
        if get_bool("layout", key):
            raise InvalidSpecError(
                f"{where('layout', key)}: {key} true is not supported (SCALE-Sim 3.0.0 reads it as true and runs "
                "its custom-layout bank model from the layout file; lowbit does not model custom layouts)")
    banks_raw = parser.get(sec, "MemoryBanks", raw=True, fallback="1") if parser.has_section(sec) else "1"
    try:  # SCALE-Sim 3.0.0 never reads MemoryBanks; lowbit's own model uses it when it is a count
        memory_banks = max(int(banks_raw), 1)
    except ValueError:
        memory_banks = 1
    lay = {key: get_int("layout", key, default=10 if "Bandwidth" in key or "Num" in key else 2)
           for key in ("IfmapSRAMBankBandwidth", "IfmapSRAMBankNum", "IfmapSRAMBankPort",
                       "FilterSRAMBankBandwidth", "FilterSRAMBankNum", "FilterSRAMBankPort")}
    if bw_mode == "USER":
        for op in ("Ifmap", "Filter"):
            bw, num = lay[f"{op}SRAMBankBandwidth"], lay[f"{op}SRAMBankNum"]
            if bw % num:
                raise InvalidSpecError(
                    f"{where('layout', op + 'SRAMBankBandwidth')}: {op}SRAMBankBandwidth {bw} is not a multiple of "
                    f"{op}SRAMBankNum {num} (SCALE-Sim 3.0.0 stops on this assertion in USER mode)")
    return ScaleSimConfig(
        run_name=run_name,
        array_rows=get_int(sec, "ArrayHeight"),
        array_cols=get_int(sec, "ArrayWidth"),
        ifmap_sram_kb=get_int(sec, "IfmapSramSzkB"),
        filter_sram_kb=get_int(sec, "FilterSramSzkB"),
        ofmap_sram_kb=get_int(sec, "OfmapSramSzkB"),
        ifmap_offset=get_int(sec, "IfmapOffset", positive=False),
        filter_offset=get_int(sec, "FilterOffset", positive=False),
        ofmap_offset=get_int(sec, "OfmapOffset", positive=False),
        dataflow=Dataflow(df_raw),
        use_user_bandwidth=bw_mode == "USER",
        bandwidths=bandwidths,
        memory_banks=memory_banks,
        read_request_buffer=get_int(sec, "ReadRequestBuffer", default=60),
        write_request_buffer=get_int(sec, "WriteRequestBuffer", default=60),
        path=str(path),
        ifmap_bank_bandwidth=lay["IfmapSRAMBankBandwidth"], ifmap_bank_num=lay["IfmapSRAMBankNum"],
        ifmap_bank_port=lay["IfmapSRAMBankPort"], filter_bank_bandwidth=lay["FilterSRAMBankBandwidth"],
        filter_bank_num=lay["FilterSRAMBankNum"], filter_bank_port=lay["FilterSRAMBankPort"],
    )


# ------------------------------------------------------------------ topology
def _fields(row: str, needed: int) -> list[str]:
    """SCALE-Sim's `row.split(',')[:-1]`: the field after the last comma is dropped. A row that
    lacks the trailing comma and would then be short keeps its last field (SCALE-Sim 3.0.0
    stops on such a row; lowbit reads it, on purpose, since the values are all there)."""
    parts = row.split(",")
    if parts[-1].strip() == "" or len(parts) - 1 >= needed:
        parts = parts[:-1]
    return [p.strip() for p in parts]


def _int_field(path: Path, line: int, column: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise InvalidSpecError(f"{path}, line {line}: {column} must be an integer, got {raw!r}") from None
    if value < 1:
        raise InvalidSpecError(f"{path}, line {line}: {column} must be positive, got {value}")
    if value > TOPOLOGY_INT_MAX:
        raise InvalidSpecError(f"{path}, line {line}: {column} {raw[:30]} is over the limit "
                               f"{TOPOLOGY_INT_MAX} (2**24)")
    return value


#: lowbit's bound on the elements of one layer's operand matrices (ifmap windows M x K + filters
#: K x N + ofmap M x N), which the SCALE-Sim-exact model materialises (SCALE-Sim has none; past it
#: it runs out of memory). The cfg/topology bounds live in `hwsim.scalesim_quick`.
OPERAND_ELEMENTS_MAX = 2**26


def check_layer_size(path: Path | str, row: ScaleSimLayer) -> None:
    """Refuse a layer whose operand matrices hold more than OPERAND_ELEMENTS_MAX elements."""
    m, k, n = row.mnk
    total = m * k + k * n + m * n
    if total > OPERAND_ELEMENTS_MAX:
        raise InvalidSpecError(f"{path}, line {row.line}: layer {row.name[:40]!r} has operand matrices of "
                               f"{total} elements (M={m}, K={k}, N={n}), over the limit "
                               f"{OPERAND_ELEMENTS_MAX} (2**26) of the SCALE-Sim-exact model")


def _check_sparsity(path: Path, line: int, raw: str) -> None:
    if not re.fullmatch(r"\s*\d+\s*:\s*\d+\s*", raw):
        raise InvalidSpecError(f"{path}, line {line}: sparsity ratio must look like N:M, got {raw!r}")


def read_topology(path: str | Path, gemm: bool = False) -> list[ScaleSimLayer]:
    """Parse a SCALE-Sim conv (default) or GEMM (`gemm=True`) topology CSV."""
    text = read_small_text(path, "SCALE-Sim topology")
    quick = topology_rows(text, gemm)  # every row plain: no checks left to make
    if quick is not None:
        layers: list[ScaleSimLayer] = []
        for name, ih, iw, fh, fw, ch, nf, st, line_no in quick:
            if gemm:
                layers.append(ScaleSimLayer(name, ih, iw, fh, fw, ch, nf, 1, 1, gemm=True, line=line_no))
            elif "DP" in name:
                layers.extend(ScaleSimLayer(f"{name}Channel_{c}", ih, iw, fh, fw, 1, nf, st, st, line=line_no)
                              for c in range(ch))
            else:
                layers.append(ScaleSimLayer(name, ih, iw, fh, fw, ch, nf, st, st, line=line_no))
        return layers
    return read_topology_text(path, text, gemm)


def read_topology_text(path: str | Path, text: str, gemm: bool = False) -> list[ScaleSimLayer]:
    """`read_topology` on a text already read, with every check and message (no fast lane)."""
    path = Path(path)
    layers = []
    for line_no, raw in enumerate(text.splitlines(), 1):
        row = raw.strip()
        if line_no == 1 or row == "":
            continue  # SCALE-Sim skips the first line (header) and blank lines
        f = _fields(row, 4 if gemm else 8)
        if not f:
            raise InvalidSpecError(f"{path}, line {line_no}: no fields")
        name = f[0]  # may be empty: SCALE-Sim 3.0.0 runs a layer with no name
        if gemm:
            if len(f) < 4:
                raise InvalidSpecError(
                    f"{path}, line {line_no}: a GEMM row needs name, M, N, K[, N:M] (got {len(f)} fields)")
            m, n, k = (_int_field(path, line_no, col, v) for col, v in zip(_GEMM_COLUMNS[1:], f[1:4]))
            if len(f) >= 5:  # SCALE-Sim reads the fifth field as N:M and ignores any after it
                _check_sparsity(path, line_no, f[4])
            layers.append(ScaleSimLayer(name, m, k, 1, k, 1, n, 1, 1, gemm=True, line=line_no))
            continue
        if len(f) < 8:
            raise InvalidSpecError(
                f"{path}, line {line_no}: a conv row needs {', '.join(_CONV_COLUMNS)}[, N:M] "
                f"(got {len(f)} fields)")
        ih, iw, fh, fw, ch, nf, st = (_int_field(path, line_no, col, v) for col, v in zip(_CONV_COLUMNS[1:], f[1:8]))
        if len(f) >= 9:  # SCALE-Sim takes the last field as N:M; the ones between must be integers
            for extra in f[8:-1]:
                try:
                    int(extra)
                except ValueError:
                    raise InvalidSpecError(f"{path}, line {line_no}: extra field {extra!r} must be an integer "
                                           "(SCALE-Sim 3.0.0 converts every field but the last)") from None
            _check_sparsity(path, line_no, f[-1])
        if fh > ih:
            raise InvalidSpecError(f"{path}, line {line_no}: filter height {fh} > ifmap height {ih}")
        if fw > iw:
            raise InvalidSpecError(f"{path}, line {line_no}: filter width {fw} > ifmap width {iw}")
        if "DP" in name and ch > DP_CHANNELS_MAX:
            raise InvalidSpecError(f"{path}, line {line_no}: depthwise ('DP') row of {ch} channels, over the "
                                   f"limit {DP_CHANNELS_MAX} (SCALE-Sim runs one layer per channel)")
        if "DP" in name:  # SCALE-Sim's depthwise convention: one layer per channel
            for c in range(ch):
                layers.append(ScaleSimLayer(f"{name}Channel_{c}", ih, iw, fh, fw, 1, nf, st, st, line=line_no))
        else:
            layers.append(ScaleSimLayer(name, ih, iw, fh, fw, ch, nf, st, st, line=line_no))
    if not layers:
        raise InvalidSpecError(f"{path}: topology has no layers (line 1 is the header)")
    return layers


def _pad_for_ceil(size: int, kernel: int, stride: int) -> int:
    """Symmetric padding p with floor((size + 2p - kernel)/stride) + 1 == SCALE-Sim's ceil rule."""
    rem = (size - kernel) % stride
    return 0 if rem == 0 else -(-(stride - rem) // 2)


def to_layer(row: ScaleSimLayer) -> Layer:
    """A lowbit `Layer` with SCALE-Sim's GEMM view (M, K, N)."""
    m, k, n = row.mnk
    if row.gemm:
        return Layer(row.name, OpKind.LINEAR, m, k, n)
    geom = ConvGeometry(row.channels, row.num_filters, row.ifmap_h, row.ifmap_w, row.filter_h, row.filter_w,
                        row.stride_h, row.stride_w,
                        _pad_for_ceil(row.ifmap_h, row.filter_h, row.stride_h),
                        _pad_for_ceil(row.ifmap_w, row.filter_w, row.stride_w))
    assert geom.out_h * geom.out_w == m
    return Layer(row.name, OpKind.CONV2D, m, k, n, conv=geom)


# ------------------------------------------------------------------ hardware
def core_spec(cfg: ScaleSimConfig) -> Spec:
    """The mac_array core SCALE-Sim simulates: R x C int8 systolic array in SCALE-Sim mode."""
    return Spec(style=CoreStyle.SYSTOLIC, rows=cfg.array_rows, cols=cfg.array_cols,
                dataflows=(cfg.dataflow,), precisions=("int8",), rates=(1.0,),
                accumulator_bits=32, scalesim_mode=True)


def accelerator_dict(cfg: ScaleSimConfig) -> dict[str, Any]:
    """The cfg as an accelerator mapping in the `hwsim/presets/*.yaml` schema, for lowbit's own
    cost model (`hwsim.evaluate`; not SCALE-Sim's memory model, which is `hwsim.scalesim_mem`).

    One-byte words; SRAMs feed one word per array edge port per cycle. DRAM bandwidth: SCALE-Sim
    3.0.0 (single_layer_sim.py) fills ifmap and filter over their own channels,
    `[layout] IfmapSRAMBankBandwidth` and `FilterSRAMBankBandwidth` in USER mode (10 words/cycle
    each in CALC), and drains the ofmap at `Bandwidth[0]` (USER) or ArrayWidth (CALC). lowbit's
    model has one DRAM channel, so it gets the sum of the three."""
    if cfg.use_user_bandwidth:
        dram_bw = cfg.ifmap_bank_bandwidth + cfg.filter_bank_bandwidth + cfg.bandwidths[0]
    else:
        dram_bw = 10 + 10 + cfg.array_cols
    edge = max(cfg.array_rows, cfg.array_cols)
    return {
        "name": cfg.run_name,
        "freq_hz": 1.0e9,
        "node_nm": 45,
        "num_cores": 1,
        "default_act_format": "int8",
        "core": {
            "family": "mac_array", "style": "systolic", "rows": cfg.array_rows, "cols": cfg.array_cols,
            "dataflows": [cfg.dataflow.value], "precisions": ["int8"], "rates": [1.0],
            "accumulator_bits": 32, "scalesim_mode": True,
        },
        "buffers": [
            {"name": name, "operands": [op], "size_bytes": kb * 1024, "bandwidth_bytes_per_cycle": edge,
             "banks": cfg.memory_banks, "double_buffered": True}
            for name, op, kb in (("ifmap", "input", cfg.ifmap_sram_kb), ("filter", "weight", cfg.filter_sram_kb),
                                 ("ofmap", "output", cfg.ofmap_sram_kb))
        ],
        "dram": {"bandwidth_bytes_per_cycle": dram_bw, "energy_j_per_byte": None},
    }


def accelerator(cfg: ScaleSimConfig) -> Accelerator:
    """An `hwsim.spec.Accelerator` for the cfg (through hwsim.spec's validating loader)."""
    return Accelerator.from_dict(accelerator_dict(cfg), where=cfg.path or "<scale.cfg>")


# ------------------------------------------------------------------ the CLI entry
_EDGES = {Dataflow.OUTPUT_STATIONARY: (0, 2), Dataflow.WEIGHT_STATIONARY: (1, 2),
          Dataflow.INPUT_STATIONARY: (1, 0)}  # (S_r, S_c) of SCALE-Sim's mapping, as indices of (m, k, n)


def simulate_files(cfg_path: str | Path, topology_path: str | Path, gemm: bool = False) -> list[dict[str, Any]]:
    """Per layer: name, compute_cycles (SCALE-Sim's "Total Cycles" convention),
    mapping_efficiency_pct (its "Mapping Efficiency %"), m, k, n, dataflow, array
    rows/cols, ofmap size, macs.

    compute_cycles is `mac_array.Model(core_spec(cfg)).compute(m, k, n, int8, int8)` (folds x
    per-fold cycles - 1, SCALE-Sim mode; tests hold the two equal), evaluated directly. A
    topology the fast lane reads (`scalesim_quick.topology_rows`) is priced from its rows without
    building `ScaleSimLayer`s (same formulas; a 'DP' row priced once for its equal channels);
    any other goes through `read_topology`'s full reader, with its checks and messages."""
    cfg = read_config(cfg_path)
    text = read_small_text(topology_path, "SCALE-Sim topology")
    quick = topology_rows(text, gemm)
    shapes: list[tuple[str, int, int, int, int, int, int]] = []  # name, ofmap h, w, m, k, n, copies
    if quick is None:
        for row in read_topology_text(topology_path, text, gemm):
            shapes.append((row.name, row.ofmap_h, row.ofmap_w, *row.mnk, 0))
    else:
        for name, ih, iw, fh, fw, ch, nf, st, _ in quick:  # ScaleSimLayer.ofmap_h/ofmap_w/mnk
            copies = 0
            if not gemm and "DP" in name:  # read_topology's split: `ch` one-channel layers
                copies, ch = ch, 1
            oh = math.ceil((ih - fh + st) / st)
            ow = math.ceil((iw - fw + st) / st)
            shapes.append((name, oh, ow, oh * ow, fh * fw * ch, nf, copies))
    r, c, df = cfg.array_rows, cfg.array_cols, cfg.dataflow
    ir, ic = _EDGES[df]
    out = []
    for name, oh, ow, m, k, n, copies in shapes:
        folds, per_fold = systolic_folds(m, k, n, r, c, df)
        # SCALE-Sim's "Mapping Efficiency %": mean over folds of the used fraction of the array,
        # = (S_r * S_c) / (folds * R * C) since the used rows and columns factorise per fold
        mnk = (m, k, n)
        res = {
            "name": name,
            "compute_cycles": max(folds * per_fold - 1, 0),
            "mapping_efficiency_pct": 100.0 * mnk[ir] * mnk[ic] / (folds * r * c),
            "m": m, "k": k, "n": n,
            "ofmap_h": oh, "ofmap_w": ow,
            "macs": m * k * n,
            "dataflow": df.value,
            "array_rows": r, "array_cols": c,
        }
        if copies:
            out.extend({**res, "name": f"{name}Channel_{i}"} for i in range(copies))
        else:
            out.append(res)
    return out
