"""1-bit GEMMs by AND/XNOR + popcount on packed words, and what builds on them.

Packing: a 0/1 matrix [R, K] is packed along K into words of 32 or 64 bits,
bit j of word w holding element w * word_bits + j (little-endian bit order,
K zero-padded to whole words). numpy words are uint32/uint64 and popcount is
`np.bitwise_count`; torch words are int32/int64 and popcount is the SWAR bit
trick (torch has no popcount op), which runs on CPU and CUDA alike.

One-bit products:
- {0,1} encoding: a . b = popcount(a AND b)
- {-1,+1} encoding (bit 1 = +1): a . b = K - 2 popcount(a XOR b) (XNOR-Net);
  the zero padding XORs to 0, so padding never counts.

WxAy (ABQ-LLM): each integer operand is split into 0/1 planes with a
coefficient and an offset, value = sum_i c_i p_i + o (INT: 2^i, sign plane
-2^(b-1); UINT: 2^i; ternary: 2-bit two's complement; binary: c = 2, o = -1);
zero points subtract as value - z. Then

  x . w = sum_ij ca_i cw_j (P_i . Q_j) + o_w sum_i ca_i |P_i| + o_a sum_j cw_j |Q_j| + K o_a o_w

with every P_i . Q_j one AND-popcount GEMM (all x*y of them computed as one
stacked popcount GEMM) and |P| plane popcounts; all integer, so exact.

DB-LLM dual binarisation: a 2-bit weight code is alpha1 B1 + alpha2 B2 + beta
with B1, B2 in {-1,+1} (for uint2 c = B1 + B0/2 + 3/2, int2 c = -B1 + B0/2 - 1/2);
x @ w is two scaled ±1 GEMMs. Binarised convolution (BiBench style) lowers to
these GEMMs by im2col (torch unfold).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from lowbit.kernels_ref.errors import InvalidSpecError, UnsupportedFormatError
from lowbit.kernels_ref.formats import Format, FormatKind, code_range
from lowbit.kernels_ref.registry import RefKernel

__all__ = [
    "Backend",
    "DualBinary",
    "Planes",
    "binary_conv2d",
    "decompose",
    "dual_binarize",
    "dual_binary_gemm",
    "kernels",
    "pack_bits_numpy",
    "pack_bits_torch",
    "popcount_gemm_numpy",
    "popcount_gemm_torch",
    "popcount_groups_torch",
    "popcount_torch",
    "wxay_gemm",
    "xnor_gemm",
]

_CHUNK_WORDS = 1 << 19  # words per intermediate [rows, cols, W] block


class Backend(enum.Enum):
    NUMPY = "numpy"
    TORCH = "torch"
    AUTO = "auto"  # numpy for CPU tensors, torch otherwise


# ===================================================================== packing
def _check_word_bits(word_bits: int) -> None:
    if word_bits not in (32, 64):
        raise InvalidSpecError(f"word_bits must be 32 or 64, got {word_bits}")


def pack_bits_numpy(bits: np.ndarray, word_bits: int = 64) -> np.ndarray:
    """Pack a 0/1 array [R, K] along K into uint32/uint64 words [R, ceil(K/word_bits)]."""
    _check_word_bits(word_bits)
    bits = np.asarray(bits, dtype=np.uint8)
    r, k = bits.shape
    pad = (-k) % word_bits
    if pad:
        bits = np.concatenate([bits, np.zeros((r, pad), np.uint8)], axis=1)
    by = np.packbits(bits, axis=1, bitorder="little")
    return np.ascontiguousarray(by).view("<u8" if word_bits == 64 else "<u4")


def pack_bits_torch(bits: torch.Tensor, word_bits: int = 64) -> torch.Tensor:
    """Pack a 0/1 tensor [R, K] along K into int32/int64 words (same bit order as numpy)."""
    _check_word_bits(word_bits)
    b = bits.to(torch.uint8)
    r, k = b.shape
    pad = (-k) % word_bits
    if pad:
        b = torch.cat([b, torch.zeros(r, pad, dtype=torch.uint8, device=b.device)], dim=1)
    shifts = torch.arange(8, dtype=torch.uint8, device=b.device)
    by = (b.view(r, -1, 8) << shifts).sum(dim=2, dtype=torch.uint8)  # little-endian bytes
    return by.contiguous().view(torch.int64 if word_bits == 64 else torch.int32)


def popcount_torch(words: torch.Tensor) -> torch.Tensor:
    """Set bits per int32/int64 word (SWAR; arithmetic shifts are masked off)."""
    if words.dtype == torch.int64:
        m1, m2, m4, h01, top = 0x5555555555555555, 0x3333333333333333, 0x0F0F0F0F0F0F0F0F, 0x0101010101010101, 56
    elif words.dtype == torch.int32:
        m1, m2, m4, h01, top = 0x55555555, 0x33333333, 0x0F0F0F0F, 0x01010101, 24
    else:
        raise InvalidSpecError(f"popcount_torch takes int32/int64 words, got {words.dtype}")
    x = words - ((words >> 1) & m1)
    x = (x & m2) + ((x >> 2) & m2)
    x = (x + (x >> 4)) & m4
    return (x * h01) >> top


def popcount_gemm_numpy(a: np.ndarray, b: np.ndarray, op: str = "and") -> np.ndarray:
    """out[i, j] = sum_w popcount(a[i, w] OP b[j, w]) for packed words; int64 [Ra, Rb]."""
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise InvalidSpecError(f"packed operands {a.shape} and {b.shape} do not match")
    fn = {"and": np.bitwise_and, "xor": np.bitwise_xor}.get(op)
    if fn is None:
        raise InvalidSpecError(f"op must be 'and' or 'xor', got {op!r}")
    ra, w = a.shape
    rb = b.shape[0]
    out = np.empty((ra, rb), dtype=np.int64)
    step = max(1, _CHUNK_WORDS // max(1, ra * w))
    for j in range(0, rb, step):
        blk = fn(a[:, None, :], b[None, j:j + step, :])
        out[:, j:j + step] = np.bitwise_count(blk).sum(axis=2, dtype=np.int64)
    return out


def popcount_gemm_torch(a: torch.Tensor, b: torch.Tensor, op: str = "and") -> torch.Tensor:
    """Torch twin of `popcount_gemm_numpy` (int32/int64 words, CPU or CUDA)."""
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise InvalidSpecError(f"packed operands {tuple(a.shape)} and {tuple(b.shape)} do not match")
    return popcount_groups_torch(a, b, a.shape[1], op)[:, :, 0]


def popcount_groups_torch(a: torch.Tensor, b: torch.Tensor, words_per_group: int, op: str = "and"
                          ) -> torch.Tensor:
    """out[i, j, g] = sum over the g-th run of `words_per_group` words of popcount(a[i, w] OP
    b[j, w]); int64 [Ra, Rb, W / words_per_group] (one group: `popcount_gemm_torch`)."""
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise InvalidSpecError(f"packed operands {tuple(a.shape)} and {tuple(b.shape)} do not match")
    fn = {"and": torch.bitwise_and, "xor": torch.bitwise_xor}.get(op)
    if fn is None:
        raise InvalidSpecError(f"op must be 'and' or 'xor', got {op!r}")
    ra, w = a.shape
    rb = b.shape[0]
    if w == 0:
        return torch.zeros(ra, rb, 1, dtype=torch.int64, device=a.device)
    wpg = max(1, words_per_group)
    if w % wpg:
        raise InvalidSpecError(f"{w} words do not split into groups of {wpg}")
    groups = w // wpg
    out = torch.empty(ra, rb, groups, dtype=torch.int64, device=a.device)
    chunk = _CHUNK_WORDS * (16 if a.is_cuda else 1)
    step = max(1, chunk // max(1, ra * w))
    for j in range(0, rb, step):
        blk = popcount_torch(fn(a[:, None, :], b[None, j:j + step, :]))
        out[:, j:j + step] = blk.view(ra, blk.shape[1], groups, -1).sum(dim=3, dtype=torch.int64)
    return out


def _use_numpy(backend: Backend, t: torch.Tensor) -> bool:
    if backend is Backend.AUTO:
        return t.device.type == "cpu"
    return backend is Backend.NUMPY


def xnor_gemm(x: torch.Tensor, w: torch.Tensor, *, backend: Backend | str = Backend.AUTO,
              word_bits: int = 64) -> torch.Tensor:
    """±1 codes x [M, K] @ w [K, N] by XNOR-popcount: K - 2 popcount(a XOR b). int64."""
    backend = Backend(backend)
    x, w = _as_int(x, "activations"), _as_int(w, "weights")
    _check_shapes(x, w)
    for t, what in ((x, "activations"), (w, "weights")):
        if t.numel() and not bool(((t == 1) | (t == -1)).all()):
            raise InvalidSpecError(f"xnor_gemm: {what} must be ±1 codes")
    k = x.shape[1]
    use_np = _use_numpy(backend, x)
    if use_np and (x.device.type != "cpu" or w.device.type != "cpu"):
        raise InvalidSpecError("the numpy backend needs CPU tensors")
    binf = Format.parse("binary")
    aw = _packed_operand(x.T, binf, word_bits, use_np)[0]
    ww = _packed_operand(w, binf, word_bits, use_np)[0]
    if use_np:
        d = torch.from_numpy(popcount_gemm_numpy(aw, ww, "xor"))  # type: ignore[arg-type]
    else:
        d = popcount_gemm_torch(aw, ww, "xor")  # type: ignore[arg-type]
    return (k - 2 * d).to(x.device)


# ================================================================= WxAy (ABQ)
@dataclass(frozen=True)
class Planes:
    """value = sum_i coefs[i] * bits[i] + offset (- zero point, handled by the GEMM)."""

    bits: torch.Tensor  # [P, R, K] uint8, rows = operand rows (x rows or w columns)
    coefs: tuple[int, ...]
    offset: int


def _as_int(t: torch.Tensor, what: str) -> torch.Tensor:
    t = torch.as_tensor(t)
    if t.is_floating_point() or t.is_complex() or t.dtype is torch.bool:
        raise InvalidSpecError(f"{what}: binary kernels take integer codes, got {t.dtype}")
    return t  # any integer dtype; results are accumulated in int64


def _check_shapes(x: torch.Tensor, w: torch.Tensor) -> None:
    if x.ndim != 2 or w.ndim != 2 or x.shape[1] != w.shape[0]:
        raise InvalidSpecError(f"GEMM needs x [M,K] and w [K,N], got {tuple(x.shape)} and {tuple(w.shape)}")


def decompose(rows: torch.Tensor, fmt: Format) -> Planes:
    """Split integer codes [R, K] of `fmt` into 0/1 planes (see the module docstring)."""
    planes, coefs, offset = _plane_bits(_as_int(rows, "codes"), fmt)
    return Planes(torch.stack(planes), coefs, offset)


def _plane_bits(codes: torch.Tensor, fmt: Format) -> tuple[list[torch.Tensor], tuple[int, ...], int]:
    """0/1 planes (uint8, the shape of `codes`), coefficients and offset; validates the codes."""
    src, bits, coefs, offset = _plane_source(codes, fmt)
    return [((src >> i) & 1).to(torch.uint8) for i in range(bits)], coefs, offset


def _plane_source(codes: torch.Tensor, fmt: Format) -> tuple[torch.Tensor, int, tuple[int, ...], int]:
    """What the planes are cut from (bit i is plane i): uint8 where every plane fits the low
    byte (two's complement), else int32; the plane count, coefficients and offset. Validates."""
    if not fmt.is_integer:
        raise UnsupportedFormatError(f"binary kernels take integer formats, not {fmt}")
    lo, hi = code_range(fmt)
    if codes.numel():
        cmin, cmax = (int(v) for v in torch.aminmax(codes))
        if cmin < lo or cmax > hi:
            raise InvalidSpecError(f"codes outside {fmt}'s range [{lo}, {hi}]")
    if fmt.kind is FormatKind.BINARY:
        if bool((codes == 0).any()):
            raise InvalidSpecError("binary codes must be -1 or +1, found 0")
        return (codes > 0).to(torch.uint8), 1, (2,), -1
    bits = 2 if fmt.kind is FormatKind.TERNARY else fmt.bits
    signed = fmt.kind is not FormatKind.UINT
    if bits > 8:
        src = codes.to(torch.int32)
    elif codes.dtype in (torch.int8, torch.uint8):
        src = codes.view(torch.uint8)  # the same two's-complement bytes, no copy
    else:
        src = (codes & 0xFF).to(torch.uint8)
    coefs = tuple(-(1 << i) if (signed and i == bits - 1) else (1 << i) for i in range(bits))
    return src, bits, coefs, 0


def _pack_planes(src: torch.Tensor, bits: int, word_bits: int) -> list[torch.Tensor]:
    """Planes 0..bits-1 of a `_plane_source` [K, R], each packed along K into words [R, W]
    (plane by plane: in torch that beats an 8 x 8 bit transpose of the bytes, which took
    2.6-9x longer on a 4096 x 4096 weight; `popc_jit.pack_planes_kernel` does the transpose
    compiled)."""
    return [_pack_columns(((src >> i) & 1).to(torch.uint8), word_bits) for i in range(bits)]


def _pack_columns(bits_kn: torch.Tensor, word_bits: int) -> torch.Tensor:
    """Pack a 0/1 [K, N] matrix along K into words [N, W] without transposing the
    elements: bytes are packed along K first, and only the 8x smaller byte matrix
    is transposed (numpy's packbits along axis 0 is slower)."""
    k, n = bits_kn.shape
    kp = -(-k // word_bits) * word_bits
    b = bits_kn
    if kp > k:
        b = torch.cat([b, torch.zeros(kp - k, n, dtype=torch.uint8, device=b.device)], dim=0)
    shifts = torch.arange(8, dtype=torch.uint8, device=b.device).view(1, 8, 1)
    by = (b.view(kp // 8, 8, n) << shifts).sum(dim=1, dtype=torch.uint8)  # [Kp/8, N]
    out = torch.empty(n, kp // 8, dtype=torch.uint8, device=b.device)
    out.copy_(by.T)  # a fresh row-major buffer (a transpose of one column would keep odd strides)
    return out.view(torch.int64 if word_bits == 64 else torch.int32)


def _packed_operand(codes_kn: torch.Tensor, fmt: Format, word_bits: int, numpy_words: bool,
                    group: int | None = None
                    ) -> tuple[np.ndarray | torch.Tensor, tuple[int, ...], int, torch.Tensor]:
    """Packed planes of a [K, R] operand (R = its rows in the GEMM: columns of w, or
    rows of x given transposed): words [P*R, W], coefficients, offset, and the
    per-plane popcounts [P, R] (int64). With `group`: each run of `group` rows along K
    packed into whole words of its own (zero padded), and popcounts [P, R, K / group]."""
    src, bits, coefs, offset = _plane_source(codes_kn, fmt)
    if group is not None and group % word_bits:
        src = _pad_groups(src, group, word_bits)
    cat = torch.cat(_pack_planes(src, bits, word_bits), dim=0)
    if numpy_words:
        cat = cat.numpy().view("<u8" if word_bits == 64 else "<u4")  # type: ignore[assignment]
    nw = cat.shape[1]
    groups = 1 if group is None else codes_kn.shape[0] // group
    shape = (bits, codes_kn.shape[1], groups, nw // groups)
    if numpy_words:
        counts = torch.from_numpy(np.bitwise_count(cat).reshape(shape).sum(axis=-1, dtype=np.int64))
    else:
        counts = popcount_torch(cat).view(shape).sum(dim=-1, dtype=torch.int64)
    if group is None:
        counts = counts[:, :, 0]
    return cat, coefs, offset, counts.to(codes_kn.device)


def _pad_groups(bits_kr: torch.Tensor, group: int, word_bits: int) -> torch.Tensor:
    """[G * group, R] -> [G * group', R], each group zero padded to whole words (zero codes
    have no bit set in any plane)."""
    k, r = bits_kr.shape
    gp = -(-group // word_bits) * word_bits
    out = bits_kr.new_zeros(k // group, gp, r)
    out[:, :group] = bits_kr.view(k // group, group, r)
    return out.view(-1, r)


def _operand_sums(coefs: torch.Tensor, counts: torch.Tensor, offset: int, length: int) -> torch.Tensor:
    """An operand's sums over K from its plane popcounts: counts [P, R] -> [R], or per group
    [P, R, G] -> [R, G] (with `length` the group's); broadcast, as CUDA has no int64 matmul."""
    return (coefs.view(-1, *([1] * (counts.ndim - 1))) * counts).sum(0) + offset * length


def _with_offsets(prod: torch.Tensor, rowsum: torch.Tensor, colsum: torch.Tensor, a_off: int, w_off: int,
                  k: int) -> torch.Tensor:
    """sum_k (p + a_off)(q + w_off) from the plane products' shift-add `prod` [..., M, N], the
    operands' sums rowsum [..., M] = sum_k x and colsum [..., N] = sum_k w, and the length k."""
    if w_off:
        prod = prod + w_off * (rowsum - a_off * k)[..., :, None]
    if a_off:
        prod = prod + a_off * (colsum - w_off * k)[..., None, :]
    return prod + k * a_off * w_off if a_off and w_off else prod


def wxay_gemm(x: torch.Tensor, w: torch.Tensor, a_fmt: Format | str, w_fmt: Format | str, *,
              a_zero: torch.Tensor | int | None = None, w_zero: torch.Tensor | int | None = None,
              backend: Backend | str = Backend.AUTO, word_bits: int = 64) -> torch.Tensor:
    """(x - a_zero) @ (w - w_zero) on integer codes by x*y one-bit AND-popcount GEMMs.

    `a_zero` is a scalar or per-row [M] zero point, `w_zero` a scalar or per-column [N]
    one. Returns int64 [M, N], exactly the integer product."""
    a_fmt = Format.parse(a_fmt) if isinstance(a_fmt, str) else a_fmt
    w_fmt = Format.parse(w_fmt) if isinstance(w_fmt, str) else w_fmt
    backend = Backend(backend)
    _check_word_bits(word_bits)
    x, w = _as_int(x, "activations"), _as_int(w, "weights")
    _check_shapes(x, w)
    m, k = x.shape
    n = w.shape[1]
    dev = x.device
    use_np = _use_numpy(backend, x)
    if use_np and (x.device.type != "cpu" or w.device.type != "cpu"):
        raise InvalidSpecError("the numpy backend needs CPU tensors")
    aw, ca_t, a_off, a_cnt = _packed_operand(x.T, a_fmt, word_bits, use_np)
    ww, cw_t, w_off, w_cnt = _packed_operand(w, w_fmt, word_bits, use_np)
    ya, xw = len(ca_t), len(cw_t)
    # all x*y one-bit GEMMs at once: activation planes stacked on rows, weight planes on columns
    if use_np:
        prod = torch.from_numpy(popcount_gemm_numpy(aw, ww, "and"))  # type: ignore[arg-type]
    else:
        prod = popcount_gemm_torch(aw, ww, "and")  # type: ignore[arg-type]
    prod = prod.to(dev).reshape(ya, m, xw, n)
    ca = torch.tensor(ca_t, dtype=torch.int64, device=dev)
    cw = torch.tensor(cw_t, dtype=torch.int64, device=dev)
    # shift-add of the x*y plane products (broadcast, not einsum: no int64 matmul on CUDA)
    out = (prod * (ca.view(ya, 1, 1, 1) * cw.view(1, 1, xw, 1))).sum(dim=(0, 2))
    rowsum = _operand_sums(ca, a_cnt, a_off, k)   # sum_k x[m, k]
    colsum = _operand_sums(cw, w_cnt, w_off, k)   # sum_k w[k, n]
    out = _with_offsets(out, rowsum, colsum, a_off, w_off, k)
    if w_zero is not None:
        zw = torch.as_tensor(w_zero, dtype=torch.int64, device=dev).reshape(-1)
        out = out - rowsum[:, None] * zw[None, :]
    if a_zero is not None:
        za = torch.as_tensor(a_zero, dtype=torch.int64, device=dev).reshape(-1)
        out = out - za[:, None] * colsum[None, :]
        if w_zero is not None:
            out = out + k * za[:, None] * zw[None, :]
    return out


# ============================================================ DB-LLM (dual bin)
@dataclass(frozen=True)
class DualBinary:
    """w = alpha1 * b1 + alpha2 * b2 + beta with b1, b2 in {-1,+1} ([K, N] int8);
    alphas and beta are per output column [N] (float64)."""

    b1: torch.Tensor
    b2: torch.Tensor
    alpha1: torch.Tensor
    alpha2: torch.Tensor
    beta: torch.Tensor


def dual_binarize(w_codes: torch.Tensor, w_fmt: Format | str,
                  scale: torch.Tensor | None = None) -> DualBinary:
    """DB-LLM flexible dual binarisation of 2-bit codes (int2 or uint2):
    uint2 c = 2 m + l -> (+1) B_m + (1/2) B_l + 3/2; int2 c = -2 m + l -> (-1) B_m + (1/2) B_l - 1/2,
    with B = 2 bit - 1. `scale` [N] (the quantiser's per-column scale) multiplies the alphas and beta."""
    w_fmt = Format.parse(w_fmt) if isinstance(w_fmt, str) else w_fmt
    if w_fmt.kind not in (FormatKind.INT, FormatKind.UINT) or w_fmt.bits != 2:
        raise UnsupportedFormatError(f"dual binarisation takes int2 or uint2 weights, not {w_fmt}")
    w = _as_int(w_codes, "weights")
    lo, hi = code_range(w_fmt)
    if w.numel() and (int(w.min()) < lo or int(w.max()) > hi):
        raise InvalidSpecError(f"codes outside {w_fmt}'s range [{lo}, {hi}]")
    u = (w & 3).to(torch.int8)
    b_hi = 2 * ((u >> 1) & 1) - 1  # int8 ±1 matrices
    b_lo = 2 * (u & 1) - 1
    n = w.shape[1]
    signed = w_fmt.kind is FormatKind.INT
    a1 = torch.full((n,), -1.0 if signed else 1.0, dtype=torch.float64, device=w.device)
    a2 = torch.full((n,), 0.5, dtype=torch.float64, device=w.device)
    beta = torch.full((n,), -0.5 if signed else 1.5, dtype=torch.float64, device=w.device)
    if scale is not None:
        s = torch.as_tensor(scale, dtype=torch.float64, device=w.device).reshape(-1)
        a1, a2, beta = a1 * s, a2 * s, beta * s
    return DualBinary(b_hi, b_lo, a1, a2, beta)


def dual_binary_gemm(x: torch.Tensor, db: DualBinary, a_fmt: Format | str, *,
                     backend: Backend | str = Backend.AUTO, word_bits: int = 64) -> torch.Tensor:
    """x @ (alpha1 B1 + alpha2 B2 + beta): two ±1-weight popcount GEMMs plus a row sum.

    float64 [M, N]; when 2*alpha and 2*beta are integers (unscaled codes) the
    result is an exact integer — `_dbllm` returns it as int64."""
    a_fmt = Format.parse(a_fmt) if isinstance(a_fmt, str) else a_fmt
    binf = Format.parse("binary")
    p1 = wxay_gemm(x, db.b1, a_fmt, binf, backend=backend, word_bits=word_bits).double()
    p2 = wxay_gemm(x, db.b2, a_fmt, binf, backend=backend, word_bits=word_bits).double()
    rowsum = _as_int(x, "activations").sum(dim=1, dtype=torch.int64).double()
    return p1 * db.alpha1 + p2 * db.alpha2 + rowsum[:, None] * db.beta


# ================================================================ conv (BiBench)
def binary_conv2d(x: torch.Tensor, w: torch.Tensor, a_fmt: Format | str, w_fmt: Format | str, *,
                  stride: int = 1, padding: int = 0, dilation: int = 1, pad_value: int | None = None,
                  backend: Backend | str = Backend.AUTO, word_bits: int = 64) -> torch.Tensor:
    """Convolution of integer codes x [B, C, H, W] with w [O, C, R, S] (groups = 1) by
    im2col (torch unfold) + `wxay_gemm`. int64 [B, O, OH, OW].

    Padding inserts `pad_value` codes (default 0; binary activations have no 0
    code, so they need an explicit ±1)."""
    a_fmt = Format.parse(a_fmt) if isinstance(a_fmt, str) else a_fmt
    w_fmt = Format.parse(w_fmt) if isinstance(w_fmt, str) else w_fmt
    x, w = _as_int(x, "activations"), _as_int(w, "weights")
    if x.ndim != 4 or w.ndim != 4 or x.shape[1] != w.shape[1]:
        raise InvalidSpecError(f"conv needs x [B,C,H,W] and w [O,C,R,S] with equal C, got "
                               f"{tuple(x.shape)} and {tuple(w.shape)}")
    if padding:
        pv = 0 if pad_value is None else int(pad_value)
        lo, hi = code_range(a_fmt)
        if not lo <= pv <= hi or (a_fmt.kind is FormatKind.BINARY and pv == 0):
            raise InvalidSpecError(f"padding value {pv} is not a code of {a_fmt}; pass pad_value")
        x = F.pad(x, (padding,) * 4, value=pv)
    b, c, h, wd = x.shape
    o, _, r, s = w.shape
    oh = (h - dilation * (r - 1) - 1) // stride + 1
    ow = (wd - dilation * (s - 1) - 1) // stride + 1
    if oh < 1 or ow < 1:
        raise InvalidSpecError(f"kernel {r}x{s} does not fit the {h}x{wd} input")
    # unfold works on floats; codes up to 16 bits are exact in float64
    cols = F.unfold(x.double(), (r, s), dilation=dilation, stride=stride)  # [B, C*R*S, L]
    rows = cols.transpose(1, 2).reshape(b * oh * ow, c * r * s).round().to(torch.int64)
    out = wxay_gemm(rows, w.reshape(o, c * r * s).T, a_fmt, w_fmt, backend=backend, word_bits=word_bits)
    return out.reshape(b, oh * ow, o).transpose(1, 2).reshape(b, o, oh, ow)


# =================================================================== registry
def _wxay_fn(backend: Backend, word_bits: int) -> Callable[[torch.Tensor, torch.Tensor, Format, Format], torch.Tensor]:
    def run(x: torch.Tensor, w_codes: torch.Tensor, w_fmt: Format, a_fmt: Format) -> torch.Tensor:
        return wxay_gemm(x, w_codes, a_fmt, w_fmt, backend=backend, word_bits=word_bits)
    run.__name__ = f"binary_wxay_{backend.value}_{word_bits}"
    return run


def _xnor_fn(x: torch.Tensor, w_codes: torch.Tensor, w_fmt: Format, a_fmt: Format) -> torch.Tensor:
    if w_fmt.kind is not FormatKind.BINARY or a_fmt.kind is not FormatKind.BINARY:
        raise UnsupportedFormatError(f"XNOR-popcount takes binary x binary, not {w_fmt} x {a_fmt}")
    return xnor_gemm(x, w_codes, backend=Backend.TORCH)


def _dbllm(x: torch.Tensor, w_codes: torch.Tensor, w_fmt: Format, a_fmt: Format) -> torch.Tensor:
    out = dual_binary_gemm(x, dual_binarize(w_codes, w_fmt), a_fmt)
    return torch.round(out).to(torch.int64)  # an exact integer: 2*alpha, 2*beta are integers


def kernels() -> tuple[RefKernel, ...]:
    """AND-popcount WxAy (numpy popcount on CPU, torch SWAR elsewhere; and a
    forced-torch 32-bit-word variant), XNOR-popcount binary, DB-LLM dual binary."""
    wts = ("binary", "uint1", "ternary", "int1", "int2", "int3", "int4", "uint2", "uint4")
    acts = ("binary", "uint1", "int2", "int4", "int8", "uint8")
    return (
        RefKernel("binary-and-popc", "binary", wts, acts, _wxay_fn(Backend.AUTO, 64)),
        RefKernel("binary-and-popc-torch32", "binary", ("binary", "int2", "ternary"),
                  ("binary", "int2", "int4", "int8"), _wxay_fn(Backend.TORCH, 32)),
        RefKernel("binary-xnor-popc", "binary", ("binary",), ("binary",), _xnor_fn),
        RefKernel("binary-dbllm-dual", "binary", ("int2", "uint2"), ("int8", "int4", "uint8"), _dbllm),
    )
