"""RTL LUT Tensor Core tile (`rtl_src/lut_tc.sv`) under Verilator: the feeder.

The feeder writes the command stream of `hwsim.cyclesim.lut`'s schedule: the table-build
add program (first stored entry in K-1 adds, then Gray-code order, one add per adder per
cycle, tables taken row-major by `precompute_adders` adders) and the lookup queue (weight
plane, M tile, N tile, K group) on `units` units per cycle. The RTL reads the activations
and weight codes it was loaded with, builds and stores the symmetrised tables, picks each
plane's index bits from the weight codes, looks up, negates the mirrored half and
shift-adds. Its lookup result is registered before the accumulate: one cycle of pipeline
fill (`RTL_PIPELINE_DEPTH`), which the models take as `Spec.pipeline_depth`.

Runs the unfused precompute (the RTL builds the tables) with no launch and a precompute
bandwidth that never binds, so cycles = table build + lookups + fill in all three.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
from lowbit.hwsim.cores.lut_tensor_core import Spec, table_bits_for, weight_planes
from lowbit.hwsim.cyclesim.lut import plane_split
from lowbit.hwsim.rtl import (
    RtlResult,
    build,
    cycles_line,
    result_values,
    run_testbench,
)
from lowbit.kernels_ref.errors import InvalidSpecError, UnsupportedFormatError
from lowbit.kernels_ref.formats import Format, FormatKind

__all__ = ["LUT_LIMITS", "RTL_PIPELINE_DEPTH", "exact_table_bits", "rtl_spec", "simulate_lut"]

LUT_LIMITS = {"MAXM": 32, "MAXG": 8, "MAXN": 32}
RTL_PIPELINE_DEPTH = 1  # lut_tc.sv registers each lookup before the shift-add


def exact_table_bits(spec: Spec, af: Format) -> int:
    """Table entry width the RTL needs for exact tables: at least `table_bits` (INT8), wider
    when K * max|x| does not fit (int8 activations at K = 4 need 11 bits)."""
    lo, hi = af.qmin, af.qmax
    need = (spec.tile_k * max(abs(lo), abs(hi))).bit_length() + 1
    return max(spec.table_bits, need)


def _coef(c: int) -> tuple[int, int]:
    mag = abs(int(c))
    return mag.bit_length() - 1, int(c < 0)


def _program(kk: int) -> list[tuple[int, int, int, int]]:
    """One table's add program: (j, negate, double, stored entry) per cycle."""
    prog = [(j, 1, 0, 0) for j in range(kk - 2, -1, -1)]
    prev = 0
    for t in range(1, 1 << (kk - 1)):
        gray = t ^ (t >> 1)
        j = (gray ^ prev).bit_length() - 1
        prog.append((j, 0 if gray & (1 << j) else 1, 1, gray))
        prev = gray
    return prog


def simulate_lut(x: np.ndarray, w: np.ndarray, wf: Format, af: Format, spec: Spec,
                 cache_dir: Path | None = None) -> RtlResult:
    """x[M,K] (integer activation codes) @ w[K,N] (weight codes) on the RTL LUT tile."""
    if not isinstance(spec, Spec):
        raise InvalidSpecError("RTL LUT check needs a lut_tensor_core Spec")
    s = spec
    if s.fused_precompute or s.launch_cycles:
        raise InvalidSpecError("RTL LUT tile builds its tables itself: needs fused_precompute false, "
                               "launch_cycles 0")
    if s.mac_int8_macs_per_cycle or s.mac_fp16_macs_per_cycle:
        raise UnsupportedFormatError("RTL LUT tile has no side MMA path")
    if not 2 <= s.tile_k <= 8:
        raise InvalidSpecError(f"RTL LUT tile needs 2 <= tile_k <= 8, got {s.tile_k}")
    if af.kind not in (FormatKind.INT, FormatKind.UINT) or af.bits > 8:
        raise UnsupportedFormatError(f"RTL LUT tile takes int/uint <= 8-bit activation codes, not {af}")
    table_bits_for(s, af)
    weight_planes(wf)
    a = np.asarray(x, dtype=np.int64)
    b = np.asarray(w, dtype=np.int64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise InvalidSpecError(f"GEMM shapes do not chain: {a.shape} x {b.shape}")
    if a.size and (a.min() < af.qmin or a.max() > af.qmax):
        raise InvalidSpecError(f"activation codes outside {af}'s range [{af.qmin}, {af.qmax}]")
    planes, offset = plane_split(b, wf)
    m, k = a.shape
    n = b.shape[1]
    if m == 0 or k == 0 or n == 0:
        return RtlResult(np.zeros((m, n), dtype=np.int64), 0, 0)
    kk = s.tile_k
    groups = -(-k // kk)
    mt, nt = -(-m // s.tile_m), -(-n // s.tile_n)
    m_pad, n_pad = mt * s.tile_m, nt * s.tile_n
    lim = LUT_LIMITS
    if m_pad > lim["MAXM"] or n_pad > lim["MAXN"] or groups > lim["MAXG"]:
        raise InvalidSpecError(f"RTL LUT tile holds at most {lim['MAXM']} x {lim['MAXG'] * kk} x "
                               f"{lim['MAXN']} (padded), got {m_pad} x {groups * kk} x {n_pad}")
    lines: list[str] = []
    # ---- table precompute: tables (row, group) row-major, in rounds of `precompute_adders`
    prog = _program(kk)
    tables = [(r, g) for r in range(m) for g in range(groups)]
    for t0 in range(0, len(tables), s.precompute_adders):
        job = tables[t0:t0 + s.precompute_adders]
        for step, (j, neg, dbl, dst) in enumerate(prog):
            fields = [f"1 {r * groups + g} {j} {neg} {dbl} {dst} {int(step == 0)}" for r, g in job]
            fields += ["0 0 0 0 0 0 0"] * (s.precompute_adders - len(job))
            lines.append("1 " + " ".join(fields))
    # ---- lookups: (plane, M tile, N tile, group), `units` per cycle
    queue = [(i, ta, tb, g) for i in range(len(planes)) for ta in range(mt) for tb in range(nt)
             for g in range(groups)]
    for q0 in range(0, len(queue), s.units):
        fields = []
        for u in range(s.units):
            if q0 + u < len(queue):
                i, ta, tb, g = queue[q0 + u]
                sh, neg = _coef(planes[i][0])
                fields.append(f"1 {i} {sh} {neg} {ta} {tb} {g} {int(i == 0 and g == 0)}")
            else:
                fields.append("0 0 0 0 0 0 0 0")
        lines.append("2 " + " ".join(fields))
    # ---- loads: activations (padded per table), weight codes as plane bit patterns
    xl = [f"{(r * groups + kx // kk) * kk + kx % kk} {int(a[r, kx])}"
          for r in range(m) for kx in range(k) if a[r, kx]]
    u = (b > 0).astype(np.int64) if wf.kind is FormatKind.BINARY else b & ((1 << len(planes)) - 1)
    wl = [f"{kx * n_pad + c} {int(u[kx, c]):x}" for kx in range(k) for c in range(n) if u[kx, c]]
    coef_sum = sum(c for c, _ in planes)
    header = f"{len(lines)} {len(xl)} {len(wl)} {groups} {n_pad} {coef_sum} {int(offset != 0)} {m} {n}\n"
    stream = header + "".join(v + "\n" for v in xl + wl + lines)
    params = {"TM": s.tile_m, "TN": s.tile_n, "TK": kk, "U": s.units, "NA": s.precompute_adders,
              "XB": 9, "TB": exact_table_bits(s, af), "WB": 8, "ACCW": s.accumulator_bits, **lim}
    binary = build(("lut_unit.sv", "lut_tc.sv", "tb_lut_tc.sv"), params, cache_dir)
    got = run_testbench(binary, stream)
    vals = result_values(got, m * n, "LUT tile")
    busy = cycles_line(got)
    return RtlResult(vals.reshape(m, n), busy, busy)


def rtl_spec(spec: Spec) -> Spec:
    """The model Spec that matches the RTL tile: unfused precompute, no launch, a precompute
    bandwidth that never binds, no side MMA path, the RTL's pipeline depth."""
    return replace(spec, fused_precompute=False, launch_cycles=0, precompute_bytes_per_cycle=1e9,
                   mac_int8_macs_per_cycle=0, mac_fp16_macs_per_cycle=0,
                   pipeline_depth=RTL_PIPELINE_DEPTH)

