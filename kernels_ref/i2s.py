"""BitNet b1.58's I2_S weight format as bitnet.cpp lays it out, and its multiply-add kernel.

Source: microsoft/BitNet at commit 16da220ae2b510caff437d403288882687f44ae5,
`utils/convert-hf-to-gguf-bitnet.py` (`weight_quant`, `quantize_to_i2_s`) and
`src/ggml-bitnet-mad.cpp` (`quantize_i2_s`, the default x86 build with ACT_PARALLEL from
`include/gemm-config.h`; the ARM NEON build uses QK_I2_S = 64).

- Ternarisation (`weight_quant`, in float32): s = 1 / max(mean|W|, 1e-5), code = clamp(round(W s),
  -1, 1) (round half to even, as torch.round), dequantised value code / s.
- Scale (`quantize_i2_s`): max|code / s| over the tensor, i.e. float32(1 / s) unless every code is
  0 (then 0); stored as little-endian float32 right after the codes, in a 32-byte tail whose
  other 28 bytes are zero (`quantize_to_i2_s` zero-fills them; the C function leaves them).
- Codes: q = code + 1 in {0, 1, 2} (the C rule: 1 where |w| < 1e-6, else 2 if w > 0 else 0).
- Layout: the ggml tensor is N rows of K (W, torch's Linear layout; lowbit's W^T [K, N] is its
  transpose), flattened row-major and cut into blocks of QK = 128 elements (64 on ARM); block b
  takes QK/4 bytes, and byte j of it holds elements j, j + QK/4, j + QK/2, j + 3QK/4 at bit
  shifts 6, 4, 2, 0. Total n/4 + 32 bytes.

The kernel (`i2s_gemm`) reads the packed bytes, as bitnet.cpp's `ggml_vec_dot_i2_i8_s` does:
x . w = sum_k q_k x_k - sum_k x_k over int8 activations, exactly, in int64.
"""

from __future__ import annotations

import numpy as np
import torch
from lowbit.kernels_ref.errors import InvalidSpecError, UnsupportedFormatError
from lowbit.kernels_ref.formats import I2S_TAIL_BYTES, Format
from lowbit.kernels_ref.quant import QTensor, quantize
from lowbit.kernels_ref.registry import RefKernel

__all__ = ["I2S_BLOCKS", "i2s_gemm", "kernels", "pack_i2s", "quantize_i2s", "unpack_i2s"]

#: elements per I2_S block by build: x86 (AVX/SSSE3, ACT_PARALLEL) and ARM NEON
I2S_BLOCKS = {"x86": 128, "arm": 64}
_FMT = Format.parse("i2_s")


def quantize_i2s(w_kn: torch.Tensor) -> QTensor:
    """BitNet's ternarisation of a weight W^T [K, N] (float32 arithmetic, see module docstring;
    the rule lives in `quant.quantize`'s i2_s branch). Codes [K, N] in {-1, 0, 1}, scales [1, 1]."""
    w = torch.as_tensor(w_kn)
    if w.ndim != 2:
        raise InvalidSpecError(f"i2_s quantises a 2-d W^T [K, N], got shape {tuple(w.shape)}")
    return quantize(w, _FMT, axis=0)


def _block(build: str) -> int:
    if build not in I2S_BLOCKS:
        raise InvalidSpecError(f"I2_S build must be one of {', '.join(I2S_BLOCKS)}, got {build!r}")
    return I2S_BLOCKS[build]


def pack_i2s(codes_kn: torch.Tensor, scale: float, build: str = "x86", pad: bool = False) -> bytes:
    """I2_S bytes of ternary codes W^T [K, N] and the tensor's scale.

    bitnet.cpp packs whole blocks only (N*K a multiple of the block); `pad=True` (our
    extension, used by the kernel on odd verify shapes) fills the last block with code 0."""
    qk = _block(build)
    c = torch.as_tensor(codes_kn)
    if c.ndim != 2:
        raise InvalidSpecError(f"pack_i2s takes codes W^T [K, N], got shape {tuple(c.shape)}")
    flat = c.t().contiguous().reshape(-1).to(torch.int64).cpu().numpy()  # ggml order: N rows of K
    if flat.size and (flat.min() < -1 or flat.max() > 1):
        raise InvalidSpecError("i2_s codes must be -1, 0 or +1")
    if flat.size % qk and not pad:
        raise InvalidSpecError(f"I2_S packs whole blocks of {qk}: N*K = {flat.size} is not a multiple")
    flat = np.concatenate([flat, np.zeros((-flat.size) % qk, dtype=np.int64)])
    q = (flat + 1).astype(np.uint8).reshape(-1, 4, qk // 4)  # [blocks, 4 sub-groups, qk/4 bytes]
    body = (q[:, 0] << 6) | (q[:, 1] << 4) | (q[:, 2] << 2) | q[:, 3]
    tail = np.zeros(I2S_TAIL_BYTES, dtype=np.uint8)
    tail[:4] = np.frombuffer(np.float32(scale).astype("<f4").tobytes(), dtype=np.uint8)
    return body.reshape(-1).astype(np.uint8).tobytes() + tail.tobytes()


def _fields(data: bytes, k: int, n: int, build: str) -> tuple[np.ndarray, float]:
    """q in {0, 1, 2} as uint8 [N, K] (ggml order) and the scale, from I2_S bytes
    (a padded last block is accepted)."""
    qk = _block(build)
    count = k * n
    nb = -(-count // qk) * qk // 4  # code bytes, whole blocks
    if len(data) != nb + I2S_TAIL_BYTES:
        raise InvalidSpecError(f"{len(data)} bytes are not I2_S data of {n} x {k} "
                               f"({nb + I2S_TAIL_BYTES} expected)")
    raw = np.frombuffer(data, dtype=np.uint8)
    body = raw[:nb].reshape(-1, 1, qk // 4)
    shifts = np.array([6, 4, 2, 0], dtype=np.uint8).reshape(1, 4, 1)
    q = ((body >> shifts) & 3).reshape(-1)[:count].reshape(n, k)
    if bool((q == 3).any()):
        raise InvalidSpecError("I2_S data holds the unused code 3")
    scale = float(raw[nb:nb + 4].view("<f4")[0])
    return q, scale


def unpack_i2s(data: bytes, k: int, n: int, build: str = "x86") -> tuple[torch.Tensor, float]:
    """Inverse of `pack_i2s`: ternary codes W^T [K, N] (int64) and the scale."""
    q, scale = _fields(data, k, n, build)
    return torch.from_numpy(q.astype(np.int64) - 1).t().contiguous(), scale


def i2s_gemm(x: torch.Tensor, data: bytes, k: int, n: int, build: str = "x86") -> torch.Tensor:
    """x [M, K] integer codes @ the I2_S weight: sum_k q x - sum_k x (int64 [M, N], unscaled)."""
    x = torch.as_tensor(x)
    if x.is_floating_point() or x.ndim != 2 or x.shape[1] != k:
        raise InvalidSpecError(f"i2s_gemm takes integer activations [M, {k}], got {x.dtype} {tuple(x.shape)}")
    q, _ = _fields(data, k, n, build)
    qt = torch.from_numpy(q.astype(np.int64)).t().to(x.device)  # [K, N]
    xi = x.to(torch.int64)
    if x.device.type == "cuda":  # no int64 matmul on CUDA: float64 is exact here (K * 2 * 2^7 << 2^53)
        prod = torch.matmul(xi.double(), qt.double()).to(torch.int64)
    else:
        prod = torch.matmul(xi, qt)
    return prod - xi.sum(dim=1, keepdim=True)


def _kernel(build: str):  # type: ignore[no-untyped-def]
    def run(x: torch.Tensor, w_codes: torch.Tensor, w_fmt: Format, a_fmt: Format) -> torch.Tensor:
        if w_fmt.variant != "i2_s":
            raise UnsupportedFormatError(f"the I2_S kernel takes i2_s weights, not {w_fmt}")
        k, n = w_codes.shape
        return i2s_gemm(x, pack_i2s(w_codes, 1.0, build, pad=True), k, n, build)
    run.__name__ = f"i2s_mad_{build}"
    return run


def kernels() -> tuple[RefKernel, ...]:
    """bitnet.cpp's I2_S multiply-add on its packed bytes (x86 and ARM block layouts)."""
    return tuple(RefKernel(f"i2s-mad-{b}", "dense", ("i2_s",), ("int8", "int4"), _kernel(b))
                 for b in I2S_BLOCKS)
