"""The verification harness: every registered (weight format, activation format,
kernel) triple against a torch oracle, on CPU and, when present, on CUDA.

For each check:

1. Inputs are fresh random draws from a seeded generator. The run's base seed
   is recorded in the report (and printed by `lowbit verify`); each check's own
   seed is derived from it and the check's name (`check_seed`) and recorded in
   its row, so any single row is reproducible.
   Integer codes are uniform over [qmin, qmax]; FP/NF/BitMoD codes are uniform
   over the finite codes (FP: those of magnitude <= FP_DRAW_MAX = 2^16, so bf16's
   range cannot overflow an fp32 product); float activations are N(0, 1) rounded to fp16/bf16.
   One extra "extreme" shape per exact check (K = 2048) draws every code from
   the two largest-magnitude codes of one sign (int8: -128, -127), so partial
   sums grow past 2^24 with odd addends: an fp32 accumulation loses bits there
   and fails (an all-equal draw would not: its sums stay multiples of 2^14).
2. The output is poisoned: the kernel runs under `PoisonAllocations`, which
   fills every tensor created by torch.empty/empty_like/empty_strided/new_empty
   with a sentinel (int min, NaN); if the kernel takes `out=`, it gets a
   sentinel-filled buffer and what it wrote there is what is checked. An
   element the kernel forgets to write keeps the sentinel and fails the check.
3. The oracle:
   - exact kernels (integer codes): CPU: torch int64 matmul on the codes (float64
     matmul above 2^25 MACs; exact since K * max|a| * max|w| < 2^53 is asserted);
     CUDA: `torch._int_mm` when both operands fit int8 and the shape is
     allowed (M > 16, K and N multiples of 8), else float64 `torch.matmul` on
     CUDA. The result must be bit-for-bit equal (and of an integer dtype).
   - float kernels: CPU: float64 matmul of the activations and the decoded
     weight values. CUDA: fp32 `torch.matmul` on CUDA (TF32 off); for bf16
     activations whose weights are bf16-representable, also bf16 `torch.matmul`.
     The error measure is elementwise relative to |x| @ |w| (the quantity fp
     accumulation bounds are stated in), compared with the kernel's `rel_tol`
     plus the oracle's own bound (0 for float64, `FP32_ORACLE_TOL`,
     `BF16_ORACLE_TOL`).
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import time
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace

import torch
from lowbit.kernels_ref.errors import InvalidSpecError, UnsupportedFormatError
from lowbit.kernels_ref.formats import (
    Format,
    FormatKind,
    Granularity,
    ScaleFormat,
    code_range,
)
from lowbit.kernels_ref.quant import fp_values
from lowbit.kernels_ref.registry import RefKernel, all_kernels
from torch.overrides import TorchFunctionMode

__all__ = [
    "BF16_ORACLE_TOL",
    "EXTREME_K",
    "FP32_ORACLE_TOL",
    "FP_DRAW_MAX",
    "CheckResult",
    "PoisonAllocations",
    "VerifyReport",
    "base_format",
    "check_seed",
    "default_shapes",
    "draw_activations",
    "draw_weight_codes",
    "format_table",
    "new_seed",
    "verify_kernels",
    "verify_one",
]

log = logging.getLogger(__name__)

# Bounds of the CUDA oracles themselves, relative to |x| @ |w| elementwise:
# fp32 accumulation over the verify shapes (K <= 2048: sqrt-ish growth, far below
# the worst case K * 2^-24 = 1.2e-4), and bf16 output rounding (2^-9) plus its
# fp32 accumulation.
FP32_ORACLE_TOL = 1e-5
BF16_ORACLE_TOL = 2.0 ** -8
EXTREME_K = 2048
FP_DRAW_MAX = float(1 << 16)
_INT_ORACLE_MAX_MACS = 1 << 25


class PoisonAllocations(TorchFunctionMode):
    """Fill every uninitialised tensor a kernel allocates through torch with a sentinel.

    Integer tensors get their dtype's minimum, floating ones NaN, bool True.
    Applies to the calls that return uninitialised memory (torch.empty,
    empty_like, empty_strided, Tensor.new_empty, new_empty_strided); anything a
    kernel creates that way and then fails to overwrite shows up in the result.
    A TorchFunctionMode (Python-level calls only) rather than a dispatch mode:
    the kernel's own allocations are what matter, and a dispatch mode costs a
    multi-second import of torch._dynamo on first use.
    """

    _EMPTY = (
        torch.empty,
        torch.empty_like,
        torch.empty_strided,
        torch.Tensor.new_empty,
        torch.Tensor.new_empty_strided,
    )

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        out = func(*args, **(kwargs or {}))
        if func in self._EMPTY and isinstance(out, torch.Tensor):
            poison_(out)
        return out


def poison_(t: torch.Tensor) -> torch.Tensor:
    """Fill `t` in place with the sentinel of its dtype."""
    if t.is_floating_point() or t.is_complex():
        return t.fill_(float("nan"))
    if t.dtype is torch.bool:
        return t.fill_(True)
    return t.fill_(torch.iinfo(t.dtype).min)


@dataclass(frozen=True)
class CheckResult:
    """One row of the verification table."""

    w_format: str
    a_format: str
    kernel: str
    family: str
    device: str
    shape: tuple[int, int, int]
    oracle: str
    max_abs_err: float
    max_rel_err: float
    tol: float
    passed: bool
    time_s: float
    seed: int
    detail: str = ""


@dataclass(frozen=True)
class VerifyReport:
    seed: int
    device: str
    rows: tuple[CheckResult, ...] = field(default_factory=tuple)

    @property
    def passed(self) -> bool:
        return bool(self.rows) and all(r.passed for r in self.rows)

    @property
    def failures(self) -> tuple[CheckResult, ...]:
        return tuple(r for r in self.rows if not r.passed)

    def to_json(self) -> str:
        return json.dumps({"seed": self.seed, "device": self.device, "passed": self.passed,
                           "rows": [asdict(r) for r in self.rows]}, indent=1)


def new_seed() -> int:
    """A fresh base seed (31 bits) from the OS."""
    return int.from_bytes(os.urandom(4), "little") & 0x7FFFFFFF


def check_seed(base_seed: int, *parts: object) -> int:
    """Seed of one check: base seed mixed with a stable hash of its name."""
    h = zlib.crc32("|".join(str(p) for p in parts).encode())
    return (base_seed * 1000003 + h) & 0x7FFFFFFF


def default_shapes(device: str) -> tuple[tuple[int, int, int], ...]:
    """(M, K, N) shapes each check runs on. K is a multiple of 192 (so of 2, 3, 4,
    8, 64) because kernels group K; N is odd in one shape; M = 1 is a GEMV.
    CUDA shapes have M > 16 and K, N multiples of 8 so `torch._int_mm` applies."""
    if device == "cuda":
        return ((32, 384, 96), (48, 192, 40))
    return ((1, 384, 96), (16, 192, 33), (5, 384, 40))


def base_format(text: str | Format) -> Format:
    """`text` without granularity and scale: the code format a kernel sees."""
    fmt = Format.parse(text) if isinstance(text, str) else text
    if fmt.scale is None or fmt.fixed_layout:  # i2_s, dbllm/pbllm/salient: the layout is the format
        return fmt
    return replace(fmt, granularity=Granularity.CHANNEL, group_size=None, scale=ScaleFormat.FP16)


def _finite_codes(fmt: Format) -> torch.Tensor:
    lo, hi = code_range(fmt)
    codes = torch.arange(lo, hi + 1, dtype=torch.int64)
    if fmt.kind is FormatKind.FP:
        v = fp_values(fmt)
        codes = codes[torch.isfinite(v) & (v.abs() <= FP_DRAW_MAX)]
    if fmt.kind is FormatKind.BINARY:
        codes = torch.tensor([-1, 1], dtype=torch.int64)
    return codes


def _extreme_codes(fmt: Format) -> torch.Tensor:
    """The largest-magnitude code and its neighbour towards zero (same sign)."""
    v = fmt.qmin if abs(fmt.qmin) >= abs(fmt.qmax) else fmt.qmax
    nxt = v + 1 if v < 0 else v - 1
    ok = nxt != 0 and fmt.qmin <= nxt <= fmt.qmax and not (fmt.kind is FormatKind.BINARY)
    return torch.tensor([v, nxt] if ok else [v], dtype=torch.int64)


def draw_weight_codes(fmt: Format, k: int, n: int, gen: torch.Generator, extreme: bool = False) -> torch.Tensor:
    """Uniform random valid codes [K, N] (int64, CPU); `extreme`: drawn from `_extreme_codes`."""
    if extreme:
        valid = _extreme_codes(fmt)
    elif fmt.is_integer and fmt.kind is not FormatKind.BINARY:
        return torch.randint(fmt.qmin, fmt.qmax + 1, (k, n), generator=gen)
    else:
        valid = _finite_codes(fmt)
    idx = torch.randint(0, valid.numel(), (k, n), generator=gen)
    return valid[idx]


def draw_activations(fmt: Format, m: int, k: int, gen: torch.Generator, extreme: bool = False) -> torch.Tensor:
    """Integer codes (int64) for integer formats, else N(0,1) values rounded to `fmt` (float32)."""
    if fmt.is_integer:
        valid = _extreme_codes(fmt) if extreme else _finite_codes(fmt)
        return valid[torch.randint(0, valid.numel(), (m, k), generator=gen)]
    if fmt.kind is FormatKind.FP and fmt.scale is None and (fmt.exp_bits, fmt.man_bits) in ((5, 10), (8, 7)):
        dt = torch.float16 if fmt.exp_bits == 5 else torch.bfloat16
        return torch.randn(m, k, generator=gen, dtype=torch.float32).to(dt).to(torch.float32)
    raise UnsupportedFormatError(f"verify draws activations in integer formats, fp16 or bf16, not {fmt}")


def _weight_values(codes: torch.Tensor, fmt: Format) -> torch.Tensor:
    from lowbit.kernels_ref.dense import code_values  # the decode shared with the dense kernel

    return code_values(codes, fmt)


def _accepts_out(fn: object) -> bool:
    try:
        return "out" in inspect.signature(fn).parameters  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _run_kernel(kern: RefKernel, x: torch.Tensor, w: torch.Tensor, w_fmt: Format, a_fmt: Format,
                device: str) -> tuple[torch.Tensor, float]:
    m, n = x.shape[0], w.shape[1]
    with PoisonAllocations():
        if _accepts_out(kern.fn):
            dt = torch.int64 if kern.exact else torch.float32
            out = poison_(torch.empty(m, n, dtype=dt, device=device))
            _sync(device)
            t0 = time.perf_counter()
            kern.fn(x, w, w_fmt, a_fmt, out=out)  # type: ignore[call-arg]
            _sync(device)
            return out, time.perf_counter() - t0
        _sync(device)
        t0 = time.perf_counter()
        res = kern.fn(x, w, w_fmt, a_fmt)
        _sync(device)
        return res, time.perf_counter() - t0


def _compare(res: torch.Tensor, ref: torch.Tensor, denom_fn: Callable[[], torch.Tensor], exact: bool, tol: float
             ) -> tuple[float, float, bool, str]:
    """(max abs err, max rel err, passed, detail). rel = |diff| / (|x| @ |w|);
    `denom_fn` computes |x| @ |w| (skipped where the results are equal)."""
    if not isinstance(res, torch.Tensor):
        return float("inf"), float("inf"), False, f"kernel returned {type(res).__name__}, not a tensor"
    if tuple(res.shape) != tuple(ref.shape):
        return float("inf"), float("inf"), False, f"shape {tuple(res.shape)} != {tuple(ref.shape)}"
    if res.device != ref.device:
        return float("inf"), float("inf"), False, f"result on {res.device}, inputs on {ref.device}"
    detail = ""
    if exact:
        if res.is_floating_point() or res.is_complex():
            return float("inf"), float("inf"), False, f"exact kernel returned {res.dtype}, not an integer dtype"
        r64 = res.to(torch.int64)
        diff = (r64 - ref).abs()
        sentinel = res == torch.iinfo(res.dtype).min
        bad = int((diff != 0).sum())
        if bad:
            detail = f"{bad} of {diff.numel()} elements differ"
            if bool(sentinel.any()):
                detail += f"; {int(sentinel.sum())} left unwritten (poison)"
        d = diff.double()
    else:
        r = res.double()
        nan = ~torch.isfinite(r)
        d = (r - ref.double()).abs()
        if bool(nan.any()):
            detail = f"{int(nan.sum())} of {r.numel()} elements NaN/inf (unwritten poison or overflow)"
            d = torch.where(nan, torch.full_like(d, float("inf")), d)
    max_abs = float(d.max()) if d.numel() else 0.0
    if max_abs == 0.0:  # equal everywhere (exact or not): every relative error is 0, no |x| @ |w| needed
        return 0.0, 0.0, True, ""
    denom = denom_fn()
    safe = torch.where(denom > 0, denom, torch.ones_like(denom))
    rel = torch.where(denom > 0, d / safe, torch.where(d > 0, float("inf"), 0.0))
    max_rel = float(rel.max()) if rel.numel() else 0.0
    passed = (max_abs == 0.0) if exact else (max_rel <= tol)
    if not passed and not detail:
        detail = f"max rel err {max_rel:.3g} > tol {tol:.3g}" if not exact else "results differ"
    return max_abs, max_rel, passed, detail


def _int8_ok(fmt: Format) -> bool:
    return fmt.is_integer and fmt.qmin >= -128 and fmt.qmax <= 127


def _oracles(x: torch.Tensor, w: torch.Tensor, w_fmt: Format, a_fmt: Format, exact: bool, device: str,
             wv: torch.Tensor | None = None) -> list[tuple[str, torch.Tensor, float]]:
    """[(oracle name, reference, oracle tolerance)] on `device`."""
    m, k = x.shape
    n = w.shape[1]
    if exact:
        bound = k * max(abs(a_fmt.qmin), abs(a_fmt.qmax)) * max(abs(w_fmt.qmin), abs(w_fmt.qmax))
        if device == "cuda":
            if _int8_ok(w_fmt) and _int8_ok(a_fmt) and m > 16 and k % 8 == 0 and n % 8 == 0:
                ref = torch._int_mm(x.to(torch.int8), w.to(torch.int8)).to(torch.int64)
                return [("torch._int_mm int8 (cuda)", ref, 0.0)]
            if bound >= 2 ** 53:
                raise InvalidSpecError(f"K={k} too large for an exact float64 oracle")
            return [("torch.matmul float64 (cuda)", torch.matmul(x.double(), w.double()).to(torch.int64), 0.0)]
        if m * k * n <= _INT_ORACLE_MAX_MACS:
            return [("torch int64 matmul", torch.matmul(x.to(torch.int64), w.to(torch.int64)), 0.0)]
        if bound >= 2 ** 53:
            raise InvalidSpecError(f"K={k} too large for an exact float64 oracle")
        return [("torch float64 matmul (exact)", torch.matmul(x.double(), w.double()).to(torch.int64), 0.0)]
    wv = _weight_values(w, w_fmt) if wv is None else wv
    if device == "cuda":
        prev = torch.backends.cuda.matmul.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = False
        try:
            out = [("torch.matmul fp32 (cuda)", torch.matmul(x.float(), wv.float()).double(), FP32_ORACLE_TOL)]
        finally:
            torch.backends.cuda.matmul.allow_tf32 = prev
        wb = wv.to(torch.bfloat16)
        if str(a_fmt) == "bf16" and bool((wb.double() == wv).all()):
            ref = torch.matmul(x.to(torch.bfloat16), wb).double()
            out.append(("torch.matmul bf16 (cuda)", ref, BF16_ORACLE_TOL))
        return out
    return [("torch float64 matmul", torch.matmul(x.double(), wv.double()), 0.0)]


def verify_one(kern: RefKernel, w_fmt: Format, a_fmt: Format, shape: tuple[int, int, int],
               seed: int, device: str = "cpu", extreme: bool = False) -> list[CheckResult]:
    """Run one kernel on one (formats, shape) draw; one row per oracle (a crash is a FAIL row)."""
    m, k, n = shape
    gen = torch.Generator().manual_seed(seed)
    label = (str(w_fmt), str(a_fmt), kern.name, kern.family, device, shape)

    def fail(detail: str, oracle: str = "-") -> list[CheckResult]:
        return [CheckResult(*label, oracle, float("inf"), float("inf"), kern.rel_tol, False, 0.0, seed, detail)]

    drawn = None
    try:
        x = draw_activations(a_fmt, m, k, gen, extreme).to(device)
        if kern.draw is not None:  # structured weights (composite formats) and their values
            w_obj, drawn = kern.draw(w_fmt, k, n, gen, extreme)
            w, drawn = w_obj.to(device), drawn.to(device)
        else:
            w = draw_weight_codes(w_fmt, k, n, gen, extreme).to(device)
    except UnsupportedFormatError as exc:
        return fail(f"cannot draw inputs: {exc}")
    try:
        res, dt = _run_kernel(kern, x, w, w_fmt, a_fmt, device)
    except Exception as exc:  # a crashing kernel is a failed check, reported, not a harness crash
        log.debug("kernel %s crashed", kern.name, exc_info=True)
        return fail(f"kernel raised {type(exc).__name__}: {exc}")
    wv = drawn if drawn is not None else (None if kern.exact else _weight_values(w, w_fmt))
    cache: list[torch.Tensor] = []

    def denom() -> torch.Tensor:
        # a scale for the relative error: float32 is plenty (results are float64)
        if not cache:
            wa = (w if wv is None else wv).float().abs_()
            cache.append(torch.matmul(x.abs().float(), wa).double())
        return cache[0]

    rows = []
    if drawn is not None:  # dyadic values: a float64 matmul is exact in any summation order
        oracles = [("torch float64 matmul (dequantised)", torch.matmul(x.double(), drawn.double()), 0.0)]
    else:
        oracles = _oracles(x, w, w_fmt, a_fmt, kern.exact, device, wv)
    for oname, ref, otol in oracles:
        tol = 0.0 if kern.exact else kern.rel_tol + otol
        ab, rl, ok, detail = _compare(res, ref, denom, kern.exact, tol)
        rows.append(CheckResult(*label, oname, ab, rl, tol, ok, dt, seed, detail))
    return rows


def _selected(kernels: Sequence[RefKernel], formats: Iterable[str] | None
              ) -> list[tuple[RefKernel, Format, Format]]:
    wanted = None
    if formats is not None:
        wanted = {str(base_format(f)): f for f in formats}
    triples: list[tuple[RefKernel, Format, Format]] = []
    seen: set[str] = set()
    for kern in kernels:
        for wf in kern.weight_formats:
            w_fmt = Format.parse(wf)
            if wanted is not None and str(base_format(w_fmt)) not in wanted:
                continue
            seen.add(str(base_format(w_fmt)))
            for af in kern.act_formats:
                triples.append((kern, w_fmt, Format.parse(af)))
    if wanted is not None:
        missing = [orig for key, orig in wanted.items() if key not in seen]
        if missing:
            known = sorted({str(base_format(f)) for kk in kernels for f in kk.weight_formats})
            raise InvalidSpecError(f"no registered kernel runs format(s) {', '.join(missing)}; "
                                   f"registered weight formats: {', '.join(known)}")
    return triples


def verify_kernels(formats: Iterable[str] | None = None, device: str = "cpu", seed: int | None = None,
                   shapes: Sequence[tuple[int, int, int]] | None = None,
                   kernels: Sequence[RefKernel] | None = None, extreme: bool = True) -> VerifyReport:
    """Verify every registered (kernel, weight format, activation format) on `device`.

    `formats` filters weight formats (granularity and scale are ignored: kernels
    see codes); `seed` None draws a fresh base seed (recorded in the report);
    `kernels` defaults to `registry.all_kernels()`.
    """
    if device not in ("cpu", "cuda"):
        raise InvalidSpecError(f"device must be 'cpu' or 'cuda', got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise InvalidSpecError("device 'cuda' requested but torch.cuda.is_available() is False on this machine")
    if formats is not None:
        formats = list(formats)
        for f in formats:
            Format.parse(f)  # UnsupportedFormatError names the bad one
    base = new_seed() if seed is None else int(seed)
    kerns = all_kernels() if kernels is None else tuple(kernels)
    if not kerns:
        raise InvalidSpecError("no reference kernels are registered")
    shapes = tuple(shapes) if shapes is not None else default_shapes(device)
    rows: list[CheckResult] = []
    for kern, w_fmt, a_fmt in _selected(kerns, formats):
        runs = [(s, False) for s in shapes]
        if extreme and (kern.exact or kern.draw is not None):
            runs.append(((2 if device == "cpu" else 32, EXTREME_K, 8), True))
        for shape, ext in runs:
            s = check_seed(base, kern.name, w_fmt, a_fmt, shape, device)
            rows.extend(verify_one(kern, w_fmt, a_fmt, shape, s, device, ext))
    return VerifyReport(base, device, tuple(rows))


def format_table(rows: Sequence[CheckResult]) -> str:
    """Fixed-width text table of check rows."""
    head = ("format", "act", "kernel", "device", "shape", "oracle", "max_abs_err", "max_rel_err", "tol",
            "result", "time_s")
    lines = [head]
    for r in rows:
        lines.append((r.w_format, r.a_format, r.kernel, r.device, "x".join(map(str, r.shape)), r.oracle,
                      f"{r.max_abs_err:.3g}", f"{r.max_rel_err:.3g}", f"{r.tol:.3g}",
                      "pass" if r.passed else "FAIL", f"{r.time_s:.4f}"))
    widths = [max(len(row[i]) for row in lines) for i in range(len(head))]
    out = ["  ".join(c.ljust(wd) for c, wd in zip(row, widths)).rstrip() for row in lines]
    for r in rows:
        if not r.passed:
            out.append(f"FAIL {r.kernel} {r.w_format} x {r.a_format} {'x'.join(map(str, r.shape))} "
                       f"seed={r.seed}: {r.detail}")
    return "\n".join(out)
