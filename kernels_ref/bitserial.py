"""Bit-serial reference GEMM: two's-complement bit-plane decomposition.

An integer code c of b bits (two's complement when signed) is split into
S = ceil(b / s) digits of s bits, least significant first:

    c = sum_{i<S} d_i * 2^(i*s),
    d_i = (c >> i*s) & (2^s - 1)        for i < S-1 (unsigned digits)
    d_{S-1} = c >> (S-1)*s              (arithmetic shift: the top digit is signed)

With s = 1 the top digit is the sign plane, d_{S-1} in {-1, 0}, which is the
sign bit carrying weight -2^(b-1). x @ w is then a shift-add over digit-plane
products, and each digit-plane product is ONE matmul over the whole [M,K]x[K,N]
operands (float32 when every partial sum is below 2^24, float64 below 2^53,
else float64 over K chunks that stay below 2^53, summed in int64) — exact, never
a loop over elements. Operands of any width 1..16 (signed or not) are exact:
the bound K * max|digit_a| * max|digit_w| (K * 2^15 * 2^15 for two bit-parallel
int16 operands) picks the accumulator.

`serial` picks which operands are decomposed: weights (BitMoD-style),
activations (Stripes) or both (Loom). `partial_sums` exposes the running sum
after every step for the cycle-stepped simulators.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator

import torch
from lowbit.kernels_ref.errors import InvalidSpecError, UnsupportedFormatError
from lowbit.kernels_ref.formats import Format, FormatKind
from lowbit.kernels_ref.registry import RefKernel

__all__ = [
    "Serial",
    "bitplanes",
    "bitserial_matmul",
    "kernels",
    "operand_bits",
    "partial_sums",
    "plane_products",
]


class Serial(enum.Enum):
    WEIGHTS = "weights"
    ACTS = "acts"
    BOTH = "both"


def operand_bits(fmt: Format) -> tuple[int, bool]:
    """(bits, signed) with which integer codes of `fmt` enter the bit-serial datapath.

    TERNARY is 2-bit two's complement; BINARY codes {-1,+1} are taken as 2-bit
    two's complement too (-1 = 0b11, +1 = 0b01)."""
    if fmt.kind is FormatKind.INT:
        return fmt.bits, True
    if fmt.kind is FormatKind.UINT:
        return fmt.bits, False
    if fmt.kind in (FormatKind.TERNARY, FormatKind.BINARY):
        return 2, True
    raise UnsupportedFormatError(f"bit-serial kernels take integer codes, not {fmt}")


def _check_codes(c: torch.Tensor, bits: int, signed: bool, what: str) -> torch.Tensor:
    if c.is_floating_point() or c.is_complex() or c.dtype is torch.bool:
        raise InvalidSpecError(f"{what}: bit-serial kernels take integer codes, got {c.dtype}")
    c = c.to(torch.int64)
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    if c.numel():
        cmin, cmax = (int(v) for v in torch.aminmax(c))
    if c.numel() and (cmin < lo or cmax > hi):
        raise InvalidSpecError(
            f"{what}: codes span [{cmin}, {cmax}], outside the {bits}-bit "
            f"{'signed' if signed else 'unsigned'} range [{lo}, {hi}]")
    return c


def bitplanes(codes: torch.Tensor, bits: int, signed: bool, step_bits: int = 1
              ) -> tuple[torch.Tensor, tuple[int, ...]]:
    """Digit planes [S, *codes.shape] (int64) and their coefficients 2^(i*step_bits).

    sum_i coef_i * planes[i] == codes exactly (see the module docstring)."""
    if not 1 <= bits <= 16:
        raise InvalidSpecError(f"bits must be 1..16, got {bits}")
    if not 1 <= step_bits <= bits:
        raise InvalidSpecError(f"step_bits must be 1..{bits}, got {step_bits}")
    c = _check_codes(torch.as_tensor(codes), bits, signed, "bitplanes")
    n_steps = -(-bits // step_bits)
    shifts = torch.arange(n_steps, dtype=torch.int64, device=c.device) * step_bits
    view = shifts.view(-1, *([1] * c.ndim))
    planes = (c.unsqueeze(0) >> view) & ((1 << step_bits) - 1)
    if signed:
        planes[-1] = c >> int(shifts[-1])  # arithmetic shift: signed top digit
    coefs = tuple(1 << int(s) for s in shifts)
    return planes, coefs


def _digit_range(bits: int, signed: bool, step_bits: int | None) -> int:
    """Largest |digit| of an operand decomposed with step_bits (None: whole operand)."""
    if step_bits is None:
        return (1 << (bits - 1)) if signed else (1 << bits) - 1
    top = bits - (-(-bits // step_bits) - 1) * step_bits
    top_max = (1 << (top - 1)) if signed else (1 << top) - 1
    return max((1 << step_bits) - 1 if bits > step_bits else 0, top_max)


def _fits_int8(bits: int, signed: bool, step_bits: int | None) -> bool:
    """Whether every digit of an operand decomposed with step_bits (None: whole) lies in int8."""
    if step_bits is None:
        return bits <= (8 if signed else 7)
    top = bits - (-(-bits // step_bits) - 1) * step_bits
    low_ok = bits <= step_bits or step_bits <= 7  # lower digits: unsigned step_bits-bit
    return low_ok and top <= (8 if signed else 7)


def _exact_matmul(a: torch.Tensor, b: torch.Tensor, bound: int, int8: bool = False) -> torch.Tensor:
    """a[M, K] @ b[K, N] (or batched) of integer tensors, exact, through the cheapest dtype.

    `bound` bounds every |partial sum| (K * max|a| * max|b|): with `int8` (both operands'
    values lie in int8) on CPU and bound below 2^31, one int8 x int8 -> int32 matmul
    (`torch._int_mm`: integer arithmetic, exact); integers below 2^24 (float32) or 2^53
    (float64) are exact in any summation order; above 2^53, K is cut into chunks whose sums
    stay below 2^53."""
    if int8 and not a.is_cuda and a.ndim == 2 and b.ndim == 2 and bound < 2 ** 31 and a.numel() and b.numel():
        return torch._int_mm(a.to(torch.int8), b.to(torch.int8)).to(torch.int64)
    tf32 = a.is_cuda and torch.backends.cuda.matmul.allow_tf32  # TF32 would round operands
    if bound < 2 ** 24 and not tf32:
        return torch.matmul(a.to(torch.float32), b.to(torch.float32)).to(torch.int64)
    if bound < 2 ** 53:
        return torch.matmul(a.to(torch.float64), b.to(torch.float64)).to(torch.int64)
    # Wide operands (e.g. 16b x 16b bit-parallel: 2^15 * 2^15 per product) over a long K:
    # float64 matmuls over K chunks whose partial sums stay below 2^53, added in int64
    # (exact; torch has no int64 matmul on CUDA).
    k = a.shape[-1]
    per_product = -(-bound // max(k, 1))
    chunk = max(1, (2 ** 53 - 1) // per_product)
    out = torch.zeros(*a.shape[:-1], b.shape[-1], dtype=torch.int64, device=a.device)
    for k0 in range(0, k, chunk):
        out += torch.matmul(a[..., k0:k0 + chunk].to(torch.float64),
                            b[..., k0:k0 + chunk, :].to(torch.float64)).to(torch.int64)
    return out


def plane_products(x: torch.Tensor, w: torch.Tensor, *, a_bits: int, a_signed: bool,
                   w_bits: int, w_signed: bool, serial: Serial | str = Serial.WEIGHTS,
                   step_bits: int = 1) -> tuple[torch.Tensor, tuple[int, ...], tuple[int, ...]]:
    """Unshifted products of every (activation digit, weight digit) pair.

    Returns P [Sa, Sw, M, N] int64 with x @ w == sum_ij a_coef_i * w_coef_j * P[i, j].
    A non-serial operand is one "digit" with coefficient 1."""
    planes, ac, wc, (sa, m, n), dev = _plane_matmuls(x, w, a_bits=a_bits, a_signed=a_signed, w_bits=w_bits,
                                                     w_signed=w_signed, serial=serial, step_bits=step_bits)
    out = torch.empty(sa, len(wc), m, n, dtype=torch.int64, device=dev)
    for j, pj in planes:
        out[:, j] = pj
    return out, ac, wc


def _plane_matmuls(x: torch.Tensor, w: torch.Tensor, *, a_bits: int, a_signed: bool,
                   w_bits: int, w_signed: bool, serial: Serial | str = Serial.WEIGHTS,
                   step_bits: int = 1) -> tuple[Iterator[tuple[int, torch.Tensor]], tuple[int, ...],
                                                tuple[int, ...], tuple[int, int, int], torch.device]:
    """(iterator of (weight digit j, P[:, j] [Sa, M, N] int64), activation coefficients, weight
    coefficients, (Sa, M, N), device): one matmul per weight digit plane, planes made lazily."""
    serial = Serial(serial)
    x = _check_codes(torch.as_tensor(x), a_bits, a_signed, "activations")
    w = _check_codes(torch.as_tensor(w), w_bits, w_signed, "weights")
    if x.ndim != 2 or w.ndim != 2 or x.shape[1] != w.shape[0]:
        raise InvalidSpecError(f"bit-serial GEMM needs x [M,K] and w [K,N], got {tuple(x.shape)} and {tuple(w.shape)}")
    a_step = min(step_bits, a_bits) if serial in (Serial.ACTS, Serial.BOTH) else None
    w_step = min(step_bits, w_bits) if serial in (Serial.WEIGHTS, Serial.BOTH) else None
    if a_step is not None:
        ap, ac = bitplanes(x, a_bits, a_signed, a_step)
    else:
        ap, ac = x.unsqueeze(0), (1,)
    k = x.shape[1]
    bound = k * _digit_range(a_bits, a_signed, a_step) * _digit_range(w_bits, w_signed, w_step)
    m, n = x.shape[0], w.shape[1]
    sa = ap.shape[0]
    # all activation planes stacked along M: one matmul per weight digit plane,
    # the plane cut from a compact copy of w on the fly (never all planes at once)
    a_stack = ap.reshape(sa * m, k)
    if w_step is None:
        wc: tuple[int, ...] = (1,)
    else:
        wc = tuple(1 << (j * w_step) for j in range(-(-w_bits // w_step)))
    # Digit planes are cut on the fly from byte-wide copies of w (a 9..16-bit code is split
    # into its low byte and its high byte once), so each plane costs one pass over 1-byte
    # elements. int8 shifts are arithmetic, which keeps the signed top digit's sign.
    if w_step is None:
        w_bytes: list[torch.Tensor] = [w]
    elif w_bits <= 8:
        w_bytes = [w.to(torch.int8 if w_signed else torch.uint8)]
    elif 8 % w_step == 0:
        w_bytes = [(w & 0xFF).to(torch.uint8), (w >> 8).to(torch.int8 if w_signed else torch.uint8)]
    else:  # a digit would straddle the byte boundary: cut from one wide copy
        w_bytes = [w.to(torch.int16 if w_bits <= 15 else torch.int32)]
    per = 8 if len(w_bytes) == 2 else 64  # bits held by each copy (one copy holds them all)
    # CPU: one int8 x int8 -> int32 matmul per weight plane when every weight digit fits int8.
    # A whole (non-serial) activation enters as int8 parts: x = sum_r c_r (part_r - s_r) + C,
    # C = sum_r c_r s_r (an 8-bit unsigned x as x - 128; a 9..16-bit x as its high byte and its
    # low byte - 128), with a row of ones giving C x the plane's column sums: exact integers.
    parts: list[tuple[torch.Tensor, int]] = []  # (part - shift as int8 rows, coefficient)
    const = 0
    int8 = not x.is_cuda and _fits_int8(w_bits, w_signed, w_step) and m * k > 0 \
        and k * 128 * _digit_range(w_bits, w_signed, w_step) < 2 ** 31
    if int8 and (a_step is not None or _fits_int8(a_bits, a_signed, None)):
        if not _fits_int8(a_bits, a_signed, a_step):
            int8 = False
    elif int8:
        if a_bits <= 8:  # 8-bit unsigned
            pieces = [(a_stack, 1, 128)]
        else:
            hi_shift = 128 if (not a_signed and a_bits == 16) else 0
            pieces = [(a_stack & 0xFF, 1, 128), (a_stack >> 8, 256, hi_shift)]
        for t, c, sh in pieces:
            parts.append(((t - sh).to(torch.int8), c))
            const += c * sh
        a_stack = torch.cat([pt for pt, _ in parts] + [torch.ones(1, k, dtype=torch.int8, device=x.device)])
    if int8 and not parts:
        a_stack = a_stack.to(torch.int8)

    def gen() -> Iterator[tuple[int, torch.Tensor]]:
        for j in range(len(wc)):
            if w_step is None:
                plane = w
            else:
                src, shift = w_bytes[(j * w_step) // per], (j * w_step) % per
                top = src >> shift if shift else src
                plane = top if w_signed and j == len(wc) - 1 else top & ((1 << w_step) - 1)
            p = _exact_matmul(a_stack, plane, 0 if int8 else bound, int8)
            if parts:
                rows = sa * m
                p = sum((c * p[r * rows:(r + 1) * rows] for r, (_, c) in enumerate(parts)),
                        const * p[-1])  # type: ignore[assignment]
            yield j, p.reshape(sa, m, n)

    return gen(), ac, wc, (sa, m, n), x.device


def bitserial_matmul(x: torch.Tensor, w: torch.Tensor, *, a_bits: int, a_signed: bool = True,
                     w_bits: int, w_signed: bool = True, serial: Serial | str = Serial.WEIGHTS,
                     step_bits: int = 1) -> torch.Tensor:
    """x [M,K] @ w [K,N] on integer codes, bit-serially; int64, exactly torch's integer matmul.

    The shift-add of `plane_products`, accumulated one weight digit plane at a time (the
    [Sa, Sw, M, N] products are never all held at once)."""
    planes, ac, wc, (sa, m, n), dev = _plane_matmuls(x, w, a_bits=a_bits, a_signed=a_signed, w_bits=w_bits,
                                                     w_signed=w_signed, serial=serial, step_bits=step_bits)
    a_coef = torch.tensor(ac, dtype=torch.int64, device=dev)[:, None, None]
    out = torch.zeros(m, n, dtype=torch.int64, device=dev)
    for j, pj in planes:
        out += (pj * a_coef).sum(dim=0) * wc[j] if sa > 1 else pj[0] * wc[j]
    return out


def partial_sums(x: torch.Tensor, w: torch.Tensor, *, a_bits: int, a_signed: bool = True,
                 w_bits: int, w_signed: bool = True, serial: Serial | str = Serial.WEIGHTS,
                 step_bits: int = 1) -> torch.Tensor:
    """Running output after each serial step, LSB digits first: [steps, M, N] int64.

    For BOTH, the step order is activation digit outer, weight digit inner
    (step t = i * Sw + j). The last entry equals `bitserial_matmul`."""
    p, ac, wc = plane_products(x, w, a_bits=a_bits, a_signed=a_signed, w_bits=w_bits,
                               w_signed=w_signed, serial=serial, step_bits=step_bits)
    coef = torch.tensor(ac, dtype=torch.int64, device=p.device)[:, None] \
        * torch.tensor(wc, dtype=torch.int64, device=p.device)[None, :]
    contrib = (p * coef[:, :, None, None]).reshape(-1, p.shape[2], p.shape[3])
    return torch.cumsum(contrib, dim=0)


def _fn(serial: Serial, step_bits: int) -> Callable[[torch.Tensor, torch.Tensor, Format, Format], torch.Tensor]:
    def run(x: torch.Tensor, w_codes: torch.Tensor, w_fmt: Format, a_fmt: Format) -> torch.Tensor:
        wb, ws = operand_bits(w_fmt)
        ab, as_ = operand_bits(a_fmt)
        return bitserial_matmul(x, w_codes, a_bits=ab, a_signed=as_, w_bits=wb, w_signed=ws,
                                serial=serial, step_bits=step_bits)
    run.__name__ = f"bitserial_{serial.value}_{step_bits}b"
    return run


def kernels() -> tuple[RefKernel, ...]:
    """Reference entries: serial weights (BitMoD), serial activations (Stripes),
    serial both (Loom), and a 2-bits-per-step variant.

    Every INT width 1..16 is registered for the serial operand of the weight- and
    activation-serial kernels (Stripes/Loom run any per-layer precision 1..16);
    the other kernels carry a representative subset of the 9..16-bit widths
    (int9, int12, int15, int16, uint12/uint13/uint16: odd, byte-straddling and
    full-width codes), which keeps `lowbit verify` on CPU within its time budget.
    Serial-both runs Pa x Pw plane products (one int8 x int8 -> int32 matmul per weight digit
    plane on CPU, all activation planes stacked); it verifies the wide weights int9/int12/int16
    too (issue 19: each 4096x4096 check under 1 s CPU at one thread)."""
    ints = tuple(f"int{b}" for b in range(1, 17))
    return (
        RefKernel("bitserial-weights", "bit_serial", ints + ("uint4", "uint12", "ternary", "binary"),
                  ("int8", "uint8"), _fn(Serial.WEIGHTS, 1)),
        RefKernel("bitserial-acts", "bit_serial", ("int8", "int4", "int16"),
                  ints + ("uint4", "uint8", "uint12", "uint16"), _fn(Serial.ACTS, 1)),
        RefKernel("bitserial-both", "bit_serial", ("int2", "int4", "ternary", "int9", "int12", "int16"),
                  ("int2", "int4", "int8", "uint8", "int9", "int16"), _fn(Serial.BOTH, 1)),
        RefKernel("bitserial-weights-2b", "bit_serial",
                  ("int3", "int4", "int5", "int8", "uint8", "int9", "int15", "uint13"),
                  ("int8", "int16"), _fn(Serial.WEIGHTS, 2)),
    )
