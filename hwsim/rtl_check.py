"""Agreement of each family's RTL with `kernels_ref`, its cycle-stepped simulator and its
fast model, over random shapes and values (`lowbit rtl check FAMILY`): systolic, bit_serial,
binary (binary tensor core), lut (LUT Tensor Core tile), bitfusion (bit_serial's Bit Fusion
mode).

For every case: the RTL output must equal `kernels_ref`'s integer GEMM bit for bit,
and the RTL's observed cycle count must equal the stepped simulator's and the fast
model's. The reference runs through torch (`kernels_ref.dense`, `.bitserial`, `.binary`, `.lut`),
imported only when a check runs (the cost path stays torch-free).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from lowbit.hwsim.cores import binary_tensor_core as btc
from lowbit.hwsim.cores import bit_serial as bs
from lowbit.hwsim.cores import lut_tensor_core as ltc
from lowbit.hwsim.cores import mac_array
from lowbit.hwsim.cores.base import Dataflow
from lowbit.hwsim.cyclesim import binary as bin_sim
from lowbit.hwsim.cyclesim import bit_serial as bs_sim
from lowbit.hwsim.cyclesim import lut as lut_sim
from lowbit.hwsim.cyclesim import systolic as sys_sim
from lowbit.hwsim.rtl import simulate_bit_serial, simulate_systolic
from lowbit.hwsim.rtl_binary import simulate_binary
from lowbit.hwsim.rtl_bitfusion import simulate_bitfusion
from lowbit.hwsim.rtl_lut import rtl_spec, simulate_lut
from lowbit.kernels_ref.errors import InvalidSpecError
from lowbit.kernels_ref.formats import Format, FormatKind

__all__ = ["AgreementRow", "RtlFamily", "agreement", "format_table", "random_codes"]

_MAX_ARRAY = 16
_MAX_TILE = 8      # binary / LUT tiles: the RTL memories hold ~2.5 folds of an 8-wide tile


class RtlFamily(enum.Enum):
    SYSTOLIC = "systolic"
    BIT_SERIAL = "bit_serial"
    BINARY = "binary"
    LUT = "lut"
    BITFUSION = "bitfusion"


@dataclass(frozen=True)
class AgreementRow:
    family: str
    config: str               # dataflow / serial mode and formats
    sizes: str                # array size
    cases: int
    output_mismatches: int    # RTL output != kernels_ref
    cycle_mismatches: int     # RTL cycles != stepped simulator's cycles
    model_mismatches: int     # RTL cycles != fast model's cycles
    max_shape: str            # largest GEMM checked (M x K x N)


def random_codes(rng: np.random.Generator, fmt: Format, shape: tuple[int, int]) -> np.ndarray:
    codes = rng.integers(fmt.qmin, fmt.qmax + 1, shape)
    if fmt.kind is FormatKind.BINARY:
        codes = np.where(codes > 0, 1, -1)
    return codes.astype(np.int64)


def _reference(x: np.ndarray, w: np.ndarray, wf: Format, af: Format, fam: RtlFamily) -> np.ndarray:
    import torch  # verify path only: hwsim's cost path stays torch-free
    from lowbit.kernels_ref import binary, bitserial, dense, lut

    xt, wt = torch.from_numpy(x), torch.from_numpy(w)
    if fam is RtlFamily.BINARY:
        res = binary.wxay_gemm(xt, wt, af, wf)
    elif fam is RtlFamily.LUT:
        res = lut.lut_matmul(xt, wt, wf, g=4)
    elif fam is RtlFamily.BIT_SERIAL:
        ab, asg = bitserial.operand_bits(af)
        wb, wsg = bitserial.operand_bits(wf)
        res = bitserial.bitserial_matmul(xt, wt, a_bits=ab, a_signed=asg, w_bits=wb, w_signed=wsg,
                                         serial=bitserial.Serial.ACTS)
    else:
        res = dense.dense_int(xt, wt, wf, af)
    return res.numpy().astype(np.int64)


def _check_size(name: str, v: int, hi: int) -> None:
    if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= hi:
        raise InvalidSpecError(f"rtl check: {name} must be an integer in [1, {hi}], got {v!r}")


def _shapes(rng: np.random.Generator, cases: int, scale: tuple[int, int, int]) -> list[tuple[int, int, int]]:
    """Random (M, K, N): the first case is 1x1x1, the rest up to ~2.5 folds per dimension."""
    out = [(1, 1, 1)]
    for _ in range(cases - 1):
        out.append(tuple(int(rng.integers(1, max(2, int(2.5 * s)) + 1)) for s in scale))
    return out[:cases]


def agreement(family: RtlFamily | str, rows: int = 4, cols: int = 4, *, lanes: int = 4,
              cases: int = 4, seed: int = 0, weights: str = "int8", activations: str = "int8",
              dataflows: tuple[Dataflow, ...] | None = None, serial: tuple[str, ...] | None = None,
              bits_per_cycle: int = 1, scalesim_mode: bool = False, tile_k: int | None = None,
              cache_dir: Path | None = None) -> list[AgreementRow]:
    """Run `cases` random GEMMs per configuration on the RTL, the stepped simulator, the
    fast model and kernels_ref; one row per configuration.

    binary: rows x cols = tile_m x tile_n, lanes = units, tile_k (default 32) bits, 2 cycles
    per tile, AND and XOR popcount rows. lut: rows x cols x tile_k (default 4) tile,
    lanes = units, unfused precompute on 4 adders, pipeline depth 1 (the RTL's). bitfusion:
    rows (K) x cols (N) fusion units of 16 2-bit BitBricks, as the bitfusion-* presets."""
    try:
        fam = RtlFamily(family) if not isinstance(family, RtlFamily) else family
    except ValueError:
        raise InvalidSpecError(f"rtl check: unknown family {family!r}; one of "
                               f"{', '.join(f.value for f in RtlFamily)}") from None
    _check_size("rows", rows, _MAX_ARRAY)
    _check_size("cols", cols, _MAX_ARRAY)
    _check_size("lanes", lanes, _MAX_ARRAY)
    _check_size("cases", cases, 1000)
    wf, af = Format.parse(weights), Format.parse(activations)
    rng = np.random.default_rng(seed)
    rows_out: list[AgreementRow] = []
    if fam is RtlFamily.SYSTOLIC:
        spec = mac_array.Spec(rows=rows, cols=cols, scalesim_mode=scalesim_mode,
                              precisions=(_mode_for(wf, af),), rates=(1.0,))
        model = mac_array.Model(spec)
        for df in dataflows or spec.dataflows:
            rows_out.append(_run_cases(
                rng, cases, (rows, rows, cols), wf, af, fam, f"{df.value} w={wf} a={af}", f"{rows}x{cols}",
                lambda x, w, df=df: _pair(simulate_systolic(x, w, wf, af, spec, df, cache_dir)),
                lambda x, w, df=df: _pair(sys_sim.simulate(x, w, wf, af, spec, df)),
                lambda m, k, n, df=df: model.compute(m, k, n, wf, af, df).cycles))
    elif fam is RtlFamily.BIT_SERIAL:
        for mode in serial or ("activations", "both"):
            try:
                ser = bs.SerialOperands(mode)
            except ValueError:
                raise InvalidSpecError(f"rtl check: serial must be activations, weights or both, "
                                       f"got {mode!r}") from None
            spec = bs.Spec(serial=ser, rows=rows, cols=cols, lanes=lanes, bits_per_cycle_a=bits_per_cycle,
                           bits_per_cycle_w=bits_per_cycle, parallel_bits_w=max(8, wf.bits),
                           parallel_bits_a=max(8, af.bits))
            model = bs.Model(spec)
            pm, pk, pn = spec.parallelism()
            rows_out.append(_run_cases(
                rng, cases, (pm, pk, pn), wf, af, fam, f"serial={ser.value} bpc={bits_per_cycle} w={wf} a={af}",
                f"{rows}x{cols}x{lanes}",
                lambda x, w, spec=spec: _pair(simulate_bit_serial(x, w, wf, af, spec, cache_dir)),
                lambda x, w, spec=spec: _pair(bs_sim.simulate(x, w, wf, af, spec)),
                lambda m, k, n, model=model: model.compute(m, k, n, wf, af).cycles))
    elif fam in (RtlFamily.BINARY, RtlFamily.LUT):
        _check_size("rows", rows, _MAX_TILE)
        _check_size("cols", cols, _MAX_TILE)
        _check_size("lanes", lanes, _MAX_TILE)
        if fam is RtlFamily.BINARY:
            tk = 32 if tile_k is None else tile_k
            if tk not in (32, 64):
                raise InvalidSpecError(f"rtl check: binary tile_k must be 32 or 64, got {tk!r}")
            for op in ("and", "xor"):
                spec = btc.Spec(tile_m=rows, tile_n=cols, tile_k=tk, tile_cycles=2, units=lanes, logic_op=op,
                                epilogue_ops_per_cycle=4, pack_words_per_cycle=2)
                model = btc.Model(spec)
                rows_out.append(_run_cases(
                    rng, cases, (rows, tk, cols), wf, af, fam, f"{op}-popcount w={wf} a={af}",
                    f"{rows}x{cols}x{tk} u{lanes}",
                    lambda x, w, spec=spec: _pair(simulate_binary(x, w, wf, af, spec, cache_dir)),
                    lambda x, w, spec=spec: _pair(bin_sim.simulate(x, w, wf, af, spec)),
                    lambda m, k, n, model=model: model.compute(m, k, n, wf, af).cycles))
        else:
            tk = 4 if tile_k is None else tile_k
            _check_size("tile_k", tk, 8)
            if tk < 2:
                raise InvalidSpecError(f"rtl check: lut tile_k must be in [2, 8], got {tk}")
            spec = rtl_spec(ltc.Spec(tile_m=rows, tile_n=cols, tile_k=tk, units=lanes, precompute_adders=4))
            model = ltc.Model(spec)
            rows_out.append(_run_cases(
                rng, cases, (rows, tk, cols), wf, af, fam,
                f"unfused pipeline_depth={spec.pipeline_depth} w={wf} a={af}", f"{rows}x{cols}x{tk} u{lanes}",
                lambda x, w: _pair(simulate_lut(x, w, wf, af, spec, cache_dir)),
                lambda x, w: _pair(lut_sim.simulate(x, w, wf, af, spec)),
                lambda m, k, n: model.compute(m, k, n, wf, af).cycles))
    elif fam is RtlFamily.BITFUSION:
        spec = bs.Spec(serial=bs.SerialOperands.NONE, fusion_brick_bits=2, fusion_bricks=16, fusion_max_bits=8,
                       parallel_bits_w=8, parallel_bits_a=8, rows=rows, cols=cols, lanes=1,
                       rows_dim=bs.GemmDim.K, cols_dim=bs.GemmDim.N)
        model = bs.Model(spec)
        fuse, _ = model.pass_cycles(wf, af)
        pm, pk, pn = spec.parallelism()
        rows_out.append(_run_cases(
            rng, cases, (pm, pk * fuse, pn), wf, af, fam, f"F={fuse} w={wf} a={af}", f"{rows}x{cols} FUs x16 bricks",
            lambda x, w: _pair(simulate_bitfusion(x, w, wf, af, spec, cache_dir)),
            lambda x, w: _pair(bs_sim.simulate(x, w, wf, af, spec)),
            lambda m, k, n: model.compute(m, k, n, wf, af).cycles))
    else:  # pragma: no cover - closed enum
        raise InvalidSpecError(f"rtl check: no RTL for family {fam!r}")
    return rows_out


def _mode_for(wf: Format, af: Format) -> str:
    bits = max(8, wf.bits + (wf.kind is FormatKind.UINT), af.bits + (af.kind is FormatKind.UINT))
    return f"int{bits}"


def _pair(r: Any) -> tuple[np.ndarray, int]:
    return r.output, int(r.cycles)


def _run_cases(rng: np.random.Generator, cases: int, scale: tuple[int, int, int], wf: Format, af: Format,
               fam: RtlFamily, config: str, sizes: str, rtl: Any, stepped: Any, fast: Any) -> AgreementRow:
    out_bad = cyc_bad = model_bad = 0
    biggest = (0, 0, 0)
    for m, k, n in _shapes(rng, cases, scale):
        x, w = random_codes(rng, af, (m, k)), random_codes(rng, wf, (k, n))
        r_out, r_cyc = rtl(x, w)
        s_out, s_cyc = stepped(x, w)
        ref = _reference(x, w, wf, af, fam)
        if not np.array_equal(s_out, ref):
            raise AssertionError(f"stepped simulator disagrees with kernels_ref at {m}x{k}x{n}")  # model bug
        out_bad += int(not np.array_equal(r_out, ref))
        cyc_bad += int(r_cyc != s_cyc)
        model_bad += int(r_cyc != int(fast(m, k, n)))
        if m * k * n > biggest[0] * biggest[1] * biggest[2]:
            biggest = (m, k, n)
    return AgreementRow(fam.value, config, sizes, cases, out_bad, cyc_bad, model_bad,
                        "x".join(str(v) for v in biggest))


def format_table(rows: list[AgreementRow]) -> str:
    head = ("family", "config", "array", "cases", "out mismatch", "cycle mismatch (stepped)",
            "cycle mismatch (model)", "largest MxKxN")
    body = [(r.family, r.config, r.sizes, str(r.cases), str(r.output_mismatches), str(r.cycle_mismatches),
             str(r.model_mismatches), r.max_shape) for r in rows]
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(head)]
    lines = ["  ".join(h.ljust(wd) for h, wd in zip(head, widths))]
    lines += ["  ".join(c.ljust(wd) for c, wd in zip(b, widths)) for b in body]
    return "\n".join(lines)
