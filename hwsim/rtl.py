"""RTL cross-check: our SystemVerilog PE arrays (`hwsim/rtl_src/*.sv`) under Verilator.

Each core family's array is written as a small synthesisable SystemVerilog model,
parameterised by size and operand width, with a stream interface (operands in,
results out, valid / done). A SystemVerilog testbench per family reads the operand
streams that this module writes from numpy (hex, one value per token), plays them
into the array fold by fold, back to back, and writes the results and the number of
busy cycles it observed. The Verilated model is built once per (sources, parameters)
and cached on disk (`cache_dir`, default ``$LOWBIT_RTL_CACHE`` or
``~/.cache/lowbit/rtl``), keyed by the SHA-256 of the sources, the parameters and the
Verilator version.

What the RTL covers (the tiling into folds is the feeder's job, done here in numpy;
the array itself does every multiply, skew, shift and accumulation):

- systolic (`systolic_os.sv`, `systolic_ws.sv`): `hwsim.cores.mac_array` arrays,
  output-, weight- and input-stationary, P-lane PEs for rate > 1 modes and a step
  enable for rate < 1 modes; cycle-stepped twin `hwsim.cyclesim.systolic`.
- bit-serial (`bit_serial.sv`): `hwsim.cores.bit_serial` Stripes / Loom arrays
  (serial activations, or both operands serial), cycle-stepped twin
  `hwsim.cyclesim.bit_serial`.

Verilator is Debian's `verilator` package; `verilator_path()` raises `RtlToolError`
naming it when it is missing.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from lowbit.hwsim.cores.base import Dataflow
from lowbit.hwsim.cores.bit_serial import Model as BsModel
from lowbit.hwsim.cores.bit_serial import SerialOperands
from lowbit.hwsim.cores.bit_serial import Spec as BsSpec
from lowbit.hwsim.cores.bit_serial import operand_bits as bs_operand_bits
from lowbit.hwsim.cores.mac_array import CoreStyle, Model, Spec
from lowbit.hwsim.cyclesim.bit_serial import split_chunks
from lowbit.kernels_ref.errors import InvalidSpecError, LowbitError, UnsupportedFormatError
from lowbit.kernels_ref.formats import Format, FormatKind, Granularity

__all__ = [
    "RtlResult",
    "RtlToolError",
    "build",
    "default_cache_dir",
    "result_values",
    "rtl_source_dir",
    "run_testbench",
    "simulate_bit_serial",
    "simulate_systolic",
    "synth_cells",
    "tiled_result",
    "verilator_path",
]

_RUN_TIMEOUT_S = 600
_BUILD_TIMEOUT_S = 900


class RtlToolError(LowbitError):
    """A hardware tool (Verilator, Yosys) is missing or failed."""


@dataclass(frozen=True)
class RtlResult:
    output: np.ndarray   # int64 result, same shape as the stepped simulator's
    cycles: int          # in the Spec's convention (== the stepped simulator's `cycles`)
    busy_cycles: int     # clock cycles the testbench observed the array busy


def rtl_source_dir() -> Path:
    """Where the SystemVerilog sources live (installed as package data of lowbit.hwsim)."""
    return Path(__file__).resolve().parent / "rtl_src"


def default_cache_dir() -> Path:
    env = os.environ.get("LOWBIT_RTL_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "lowbit" / "rtl"


def verilator_path() -> str:
    exe = shutil.which("verilator")
    if exe is None:
        raise RtlToolError("verilator not found: install the Debian package `verilator` "
                           "(apt-get install verilator; `make test` installs it)")
    return exe


def _verilator_version(exe: str) -> str:
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False)
    return out.stdout.strip()


#: C++ optimisation of the Verilated testbenches: -O0 compiles tests/hwsim/test_rtl.py's ten cold
#: builds in 46 s instead of 62 s (Verilator's default -Os), and its simulations are as fast at
#: these sizes (warm runs 9.5 vs 11.1 s); part of the cache key.
_CXX_OPT = "OPT_FAST=-O0 OPT_SLOW=-O0 OPT_GLOBAL=-O0"


def build(sources: tuple[str, ...], params: dict[str, int], cache_dir: Path | None = None) -> Path:
    """Verilate + compile testbench `tb` over `sources` (file names in rtl_src) with `params`.

    Returns the simulator binary; reuses a cached build with the same key."""
    exe = verilator_path()
    src_dir = rtl_source_dir()
    paths = [src_dir / s for s in sources]
    h = hashlib.sha256()
    for p in paths:
        h.update(p.name.encode())
        h.update(p.read_bytes())
    for key in sorted(params):
        h.update(f"{key}={int(params[key])};".encode())
    h.update(_verilator_version(exe).encode())
    h.update(_CXX_OPT.encode())
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    final = root / h.hexdigest()[:24]
    binary = final / "sim"
    if binary.is_file():
        return binary
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="build-", dir=root))
    # unroll limits raised: the binary / LUT cores merge same-address lane writes in
    # lane x lane loops that Verilator 5.006 must unroll (BLKLOOPINIT otherwise)
    cmd = [exe, "--binary", "-j", "2", "-MAKEFLAGS", _CXX_OPT, "-Wno-fatal", "-Wno-lint", "-Wno-style", "--unroll-count", "4096",
           "--unroll-stmts", "1000000", "--top-module", "tb", "--Mdir", str(tmp), "-o", "sim"]
    cmd += [f"-G{k}={int(v)}" for k, v in sorted(params.items())]
    cmd += [str(p) for p in paths]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=_BUILD_TIMEOUT_S, check=False)
    if proc.returncode != 0 or not (tmp / "sim").is_file():
        shutil.rmtree(tmp, ignore_errors=True)
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        raise RtlToolError(f"verilator build of {sources} {params} failed:\n{tail}")
    try:
        os.replace(tmp, final)
    except OSError:  # another process built the same key first
        shutil.rmtree(tmp, ignore_errors=True)
    return binary


def run_testbench(binary: Path, stream: str) -> list[str]:
    """Run a built testbench on the operand stream text; return its output lines."""
    with tempfile.TemporaryDirectory(prefix="lowbit-rtl-") as d:
        inp, out = Path(d) / "in.mem", Path(d) / "out.txt"
        inp.write_text(stream)
        proc = subprocess.run([str(binary), f"+in={inp}", f"+out={out}"], cwd=d, capture_output=True,
                              text=True, timeout=_RUN_TIMEOUT_S, check=False)
        if proc.returncode != 0 or not out.is_file():
            raise RtlToolError(f"RTL simulation {binary} failed: {(proc.stderr or proc.stdout).strip()[-400:]}")
        return out.read_text().split("\n")


AREA_LIBERTY = "nangate45_x1_area.lib"


def synth_cells(top: str, sources: tuple[str, ...], params: dict[str, int],
                timeout_s: int = 1800, liberty: str | None = None,
                flatten: bool = True) -> dict[str, int | float]:
    """Synthesise `top` with Yosys (`synth -flatten`, Yosys's generic gate library) and
    return its cell counts by type plus "total" (Debian package `yosys`).

    With `liberty` (a file in rtl_src, e.g. AREA_LIBERTY), the netlist is then mapped onto that
    library's cells (`dfflegalize` to plain D flip-flops, `dfflibmap`, `abc -fast -liberty`) and the
    counts are of its cells, plus "area_um2", the summed cell area Yosys reports.
    `flatten=False` keeps the hierarchy: each module is synthesised once and the counts (and area)
    are Yosys's totals over the design hierarchy, each submodule counted once per instance."""
    exe = shutil.which("yosys")
    if exe is None:
        raise RtlToolError("yosys not found: install the Debian package `yosys`")
    src = " ".join(str(rtl_source_dir() / s) for s in sources)
    chparam = "".join(f"chparam -set {k} {int(v)} {top}; " for k, v in sorted(params.items()))
    tech = ""
    if liberty is not None:
        lib = rtl_source_dir() / liberty
        tech = (f"dfflegalize -cell $_DFF_P_ 01; dfflibmap -liberty {lib}; abc -fast -liberty {lib}; opt_clean; "
                f"stat -liberty {lib} -top {top}")
    flat = "-flatten " if flatten else ""
    script = f"read_verilog -sv {src}; {chparam}synth {flat}-top {top}; " + (tech or f"stat -top {top}")
    proc = subprocess.run([exe, "-p", script], capture_output=True, text=True, timeout=timeout_s,
                          check=False)
    if proc.returncode != 0:
        raise RtlToolError(f"yosys synthesis of {top} {params} failed: {proc.stderr.strip()[-400:]}")
    cells: dict[str, int | float] = {}
    text = proc.stdout[proc.stdout.rfind("Printing statistics"):]
    if "=== design hierarchy ===" in text:
        text = text[text.rfind("=== design hierarchy ==="):]
    for line in text.splitlines():
        parts = line.split()
        if line.strip().startswith("Number of cells:"):
            cells["total"] = int(parts[-1])
        elif "total" in cells and len(parts) == 2 and parts[1].isdigit():   # a cell type's count
            cells[parts[0]] = cells.get(parts[0], 0) + int(parts[1])
        elif line.strip().startswith("Chip area for"):
            cells["area_um2"] = float(parts[-1])
    if "total" not in cells:
        raise RtlToolError(f"yosys printed no cell count for {top}")
    return cells


def hex_lines(rows: np.ndarray, width: int) -> str:
    """Rows of integers as whitespace-separated hex, two's complement at `width` bits."""
    arr = np.asarray(rows, dtype=np.int64).reshape(rows.shape[0], -1) & ((1 << width) - 1)
    if arr.size == 0:
        return ""
    return "\n".join(" ".join(f"{int(v):x}" for v in r) for r in arr) + "\n"


def result_values(lines: list[str], expected: int, what: str) -> np.ndarray:
    """The integer results a testbench printed (every line but `cycles N`), checked in number."""
    vals = np.array([int(v) for v in lines if v and not v.startswith("cycles")], dtype=np.int64)
    if vals.size != expected:
        raise RtlToolError(f"RTL {what} returned {vals.size} results, expected {expected}")
    return vals


def cycles_line(lines: list[str]) -> int:
    for line in reversed(lines):
        if line.startswith("cycles "):
            return int(line.split()[1])
    raise RtlToolError("RTL testbench wrote no cycle count")


# ------------------------------------------------------------------ systolic (mac_array)
def _codes(codes: np.ndarray, fmt: Format, what: str) -> np.ndarray:
    if not fmt.is_integer:
        raise UnsupportedFormatError(f"RTL systolic array needs integer codes for {what}, got {fmt}")
    arr = np.asarray(codes)
    if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.integer):
        raise InvalidSpecError(f"{what} must be a 2-D integer matrix, got {arr.shape} {arr.dtype}")
    arr = arr.astype(np.int64)
    if arr.size and (arr.min() < fmt.qmin or arr.max() > fmt.qmax):
        raise InvalidSpecError(f"{what} codes outside {fmt}'s range [{fmt.qmin}, {fmt.qmax}]")
    return arr


def _pad_to(mat: np.ndarray, r0: int, rows: int, c0: int, cols: int) -> np.ndarray:
    part = mat[r0:r0 + rows, c0:c0 + cols]
    pad = [(0, rows - part.shape[0]), (0, cols - part.shape[1])] + [(0, 0)] * (mat.ndim - 2)
    return np.pad(part, pad)


def _pack(mat: np.ndarray, axis: int, pack: int) -> np.ndarray:
    """K axis split into (ceil(K/pack), pack) lanes; (M,K)->(M,K',p), (K,N)->(K',N,p)."""
    k = mat.shape[axis]
    kp = -(-k // pack)
    pad = [(0, 0), (0, 0)]
    pad[axis] = (0, kp * pack - k)
    m = np.pad(mat, pad)
    if axis == 1:
        return m.reshape(m.shape[0], kp, pack)
    return m.reshape(kp, pack, m.shape[1]).transpose(0, 2, 1)


def _mode_width(mode: Format) -> int:
    """Signed operand register width of a datapath mode (uint b needs b + 1 signed bits)."""
    if mode.kind is FormatKind.INT:
        return mode.bits
    if mode.kind is FormatKind.UINT:
        return mode.bits + 1
    raise UnsupportedFormatError(f"RTL systolic array has integer datapaths only, not {mode}")


def simulate_systolic(x: np.ndarray, w: np.ndarray, wf: Format, af: Format, spec: Spec,
                      dataflow: Dataflow | None = None, cache_dir: Path | None = None) -> RtlResult:
    """(M x K) activation codes times (K x N) weight codes on the RTL systolic array."""
    if not isinstance(spec, Spec) or spec.style is not CoreStyle.SYSTOLIC:
        raise InvalidSpecError("RTL systolic check needs a mac_array Spec with style systolic")
    a, b = _codes(x, af, "activations"), _codes(w, wf, "weights")
    if a.shape[1] != b.shape[0]:
        raise InvalidSpecError(f"GEMM shapes do not chain: {a.shape} x {b.shape}")
    dataflow = spec.dataflows[0] if dataflow is None else dataflow
    if dataflow not in spec.dataflows:
        raise InvalidSpecError(f"this core runs {[d.value for d in spec.dataflows]}, not {dataflow.value!r}")
    mode, rate = Model(spec).mode(wf, af)
    pack = round(rate) if rate >= 1 else 1
    slow = round(1.0 / rate) if rate < 1 else 1
    width = _mode_width(mode)
    m, k, n = a.shape[0], a.shape[1], b.shape[1]
    if m == 0 or k == 0 or n == 0:
        return RtlResult(np.zeros((m, n), dtype=np.int64), 0, 0)
    rows, cols = spec.rows, spec.cols
    ap, wp = _pack(a, 1, pack), _pack(b, 0, pack)     # (M, K', p), (K', N, p)
    kp = ap.shape[1]
    common = {"R": rows, "C": cols, "P": pack, "ACCW": spec.accumulator_bits, "SLOW": slow}
    out = np.zeros((m, n), dtype=np.int64)
    if dataflow is Dataflow.OUTPUT_STATIONARY:
        folds = [(m0, n0) for m0 in range(0, m, rows) for n0 in range(0, n, cols)]
        parts = [f"{len(folds)} {kp}\n"]
        for m0, n0 in folds:
            a_blk = _pad_to(ap, m0, rows, 0, kp).transpose(1, 0, 2).reshape(kp, -1)   # (T, R*p)
            w_blk = _pad_to(wp, 0, kp, n0, cols).reshape(kp, -1)                     # (T, C*p)
            parts.append(hex_lines(np.concatenate([a_blk, w_blk], axis=1), width))
        binary = build(("skew_line.sv", "systolic_os.sv", "tb_systolic_os.sv"),
                       {**common, "AW": width, "WW": width}, cache_dir)
        lines = run_testbench(binary, "".join(parts))
        vals = result_values(lines, len(folds) * rows * cols, "OS array")
        for (m0, n0), acc in zip(folds, vals.reshape(len(folds), rows, cols)):
            mm, nn = min(rows, m - m0), min(cols, n - n0)
            out[m0:m0 + mm, n0:n0 + nn] += acc[:mm, :nn]
    elif dataflow in (Dataflow.WEIGHT_STATIONARY, Dataflow.INPUT_STATIONARY):
        if dataflow is Dataflow.WEIGHT_STATIONARY:   # stationary W[k, n], stream A rows
            stat_src, stream_src, outer, t_len = wp, ap, n, m
        else:                                        # stationary A^T[k, m], stream W columns
            stat_src, stream_src, outer = ap.transpose(1, 0, 2), wp.transpose(1, 0, 2), m
            t_len = n
        folds = [(o0, k0) for o0 in range(0, outer, cols) for k0 in range(0, kp, rows)]
        parts = [f"{len(folds)} {t_len}\n"]
        for o0, k0 in folds:
            stat = _pad_to(stat_src, k0, rows, o0, cols)                 # (R, C, p)
            stream = _pad_to(stream_src, 0, t_len, k0, rows)              # (T, R, p)
            parts.append(hex_lines(stat[::-1].reshape(rows, -1), width))  # last row first
            parts.append(hex_lines(stream.reshape(t_len, -1), width))
        binary = build(("skew_line.sv", "systolic_ws.sv", "tb_systolic_ws.sv"),
                       {**common, "SW": width, "XW": width}, cache_dir)
        lines = run_testbench(binary, "".join(parts))
        y = np.zeros((len(folds), t_len, cols), dtype=np.int64)
        seen = np.zeros((len(folds), cols), dtype=np.int64)
        for line in lines:
            if not line or line.startswith("cycles"):
                continue
            f, j, v = (int(s) for s in line.split())
            if seen[f, j] >= t_len:
                raise RtlToolError(f"RTL WS/IS array emitted too many results for fold {f} column {j}")
            y[f, seen[f, j], j] = v
            seen[f, j] += 1
        if np.any(seen != t_len):
            raise RtlToolError("RTL WS/IS array did not emit every result")
        for (o0, _), yf in zip(folds, y):
            oo = min(cols, outer - o0)
            if dataflow is Dataflow.WEIGHT_STATIONARY:
                out[:, o0:o0 + oo] += yf[:, :oo]
            else:
                out[o0:o0 + oo, :] += yf[:, :oo].T
    else:
        raise InvalidSpecError(f"systolic array has no dataflow {getattr(dataflow, 'value', dataflow)!r}")
    busy = cycles_line(lines)
    return RtlResult(out, busy - 1 if spec.scalesim_mode else busy, busy)


# ------------------------------------------------------------------ bit-serial (Stripes / Loom)
def _chunk_plan(fmt: Format, serial: bool, bpc: int, parallel: int) -> tuple[int, int]:
    """(chunk width, chunks) of one operand, as `hwsim.cyclesim.bit_serial` splits it."""
    bits = bs_operand_bits(fmt)
    if serial:
        return bpc, -(-bits // bpc)
    if bits <= parallel:
        return bits, 1
    return parallel, -(-bits // parallel)


def simulate_bit_serial(x: np.ndarray, w: np.ndarray, wf: Format, af: Format, spec: BsSpec,
                        cache_dir: Path | None = None) -> RtlResult:
    """x[M,K] @ w[K,N] on the RTL bit-serial array (Stripes / Loom; no Bit Fusion, no
    dequantisation unit, one GEMM: no batch or k_segment)."""
    if not isinstance(spec, BsSpec):
        raise InvalidSpecError("RTL bit-serial check needs a bit_serial Spec")
    if spec.fusion_brick_bits:
        raise UnsupportedFormatError("RTL bit-serial array has no Bit Fusion units (fusion_brick_bits > 0)")
    if spec.serial not in (SerialOperands.ACTIVATIONS, SerialOperands.BOTH, SerialOperands.WEIGHTS):
        raise UnsupportedFormatError(f"RTL bit-serial array needs a serial operand, not {spec.serial.value}")
    if wf.granularity is Granularity.GROUP and wf.group_size and spec.dequant_cycles_per_group:
        raise UnsupportedFormatError("RTL bit-serial array has no dequantisation unit")
    a, b = _codes(x, af, "activations"), _codes(w, wf, "weights")
    if a.shape[1] != b.shape[0]:
        raise InvalidSpecError(f"GEMM shapes do not chain: {a.shape} x {b.shape}")
    _, per_step = BsModel(spec).pass_cycles(wf, af)
    pm, pk, pn = spec.parallelism()
    m, k, n = a.shape[0], a.shape[1], b.shape[1]
    if m == 0 or k == 0 or n == 0:
        return RtlResult(np.zeros((m, n), dtype=np.int64), 0, 0)
    ww, cw = _chunk_plan(wf, spec.serial_w, spec.bits_per_cycle_w, spec.parallel_bits_w)
    wa, ca = _chunk_plan(af, spec.serial_a, spec.bits_per_cycle_a, spec.parallel_bits_a)
    if cw * ca != per_step:
        raise InvalidSpecError(f"internal: {cw * ca} chunk pairs per step, fast model says {per_step}")
    wcw = spec.bits_per_cycle_w if spec.serial_w else spec.parallel_bits_w
    acw = spec.bits_per_cycle_a if spec.serial_a else spec.parallel_bits_a
    w_parts = split_chunks(b, wf, ww, cw)
    a_parts = split_chunks(a, af, wa, ca)
    tiles = [(m0, n0) for m0 in range(0, m, pm) for n0 in range(0, n, pn)]
    ksteps = list(range(0, k, pk))
    lines = []
    for m0, n0 in tiles:
        for s_i, k0 in enumerate(ksteps):
            for i in range(cw):            # weight chunk outer, activation chunk inner (Loom)
                for j in range(ca):
                    sw, wv = w_parts[i]
                    sa, av = a_parts[j]
                    a_blk = _pad_to(av, m0, pm, k0, pk) & ((1 << acw) - 1)   # (PM, PK)
                    w_blk = _pad_to(wv, k0, pk, n0, pn) & ((1 << wcw) - 1)   # (PK, PN)
                    first = int(s_i == 0 and i == 0 and j == 0)
                    last = int(s_i == len(ksteps) - 1 and i == cw - 1 and j == ca - 1)
                    a_sgn = int(af.is_signed and j == ca - 1)
                    w_sgn = int(wf.is_signed and i == cw - 1)
                    vals = " ".join(f"{int(v):x}" for v in np.concatenate([a_blk.ravel(), w_blk.ravel()]))
                    lines.append(f"{first} {last} {a_sgn} {w_sgn} {sw + sa} {vals}")
    stream = f"{len(tiles)} {len(lines)}\n" + "\n".join(lines) + "\n"
    params = {"PM": pm, "PK": pk, "PN": pn, "ACW": acw, "WCW": wcw, "SHW": 7,
              "ACCW": spec.accumulator_bits}
    binary = build(("bit_serial.sv", "tb_bit_serial.sv"), params, cache_dir)
    got = run_testbench(binary, stream)
    return tiled_result(got, tiles, m, n, pm, pn, "bit-serial array")


def tiled_result(got: list[str], tiles: list[tuple[int, int]], m: int, n: int, pm: int, pn: int,
                 what: str) -> RtlResult:
    """The (m, n) output of a testbench that printed one pm x pn accumulator block per tile (at
    the tiles' (m0, n0) origins) and a `cycles` line; its busy cycles as the cycle count."""
    vals = result_values(got, len(tiles) * pm * pn, what)
    out = np.zeros((m, n), dtype=np.int64)
    for (m0, n0), acc in zip(tiles, vals.reshape(len(tiles), pm, pn)):
        mm, nn = min(pm, m - m0), min(pn, n - n0)
        out[m0:m0 + mm, n0:n0 + nn] = acc[:mm, :nn]
    busy = cycles_line(got)
    return RtlResult(out, busy, busy)
