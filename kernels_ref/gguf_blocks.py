"""lowbit codes and scales in GGUF's block layout, and back (numpy; no gguf import).

A weight W [N, K] (torch's Linear layout; lowbit quantises W^T [K, N] along K) is,
in GGUF, N rows of K elements, each row cut into blocks along K. Per block, as
ggml lays it out (ggml-common.h `block_q8_0`, `block_q4_0`, `block_tq2_0`,
`block_mxfp4`):

- Q8_0 (34 bytes / 32): fp16 d, then 32 int8 codes.
- Q4_0 (18 bytes / 32): fp16 d, then 16 bytes; byte i holds element i in its low
  nibble and element i + 16 in its high nibble, each as code + 8.
- TQ2_0 (66 bytes / 256): 64 bytes of 2-bit codes (code + 1), then fp16 d; in each
  32-byte half, byte j holds elements 128h + 32s + j at bit shift 2s (s = 0..3).
- MXFP4 (17 bytes / 32): E8M0 exponent e (scale 2^(e - 127)), then 16 bytes of
  E2M1 codes (sign|exp|man, lowbit's fp4 bit patterns) in Q4_0's nibble order.
- F16 / BF16: the raw 2-byte values.

`to_gguf(qt)` packs a QTensor of a format with a counterpart (`gguf_types`);
`from_gguf(rows, gguf_type, k, n)` unpacks bytes into the QTensor of the lowbit format.
"""

from __future__ import annotations

import numpy as np
import torch
from lowbit.kernels_ref.errors import InvalidSpecError, UnsupportedFormatError
from lowbit.kernels_ref.formats import Format
from lowbit.kernels_ref.gguf_types import GGUF_COUNTERPARTS, gguf_type
from lowbit.kernels_ref.quant import QTensor

__all__ = ["BLOCK", "from_gguf", "to_gguf"]

#: GGUF type -> (elements per block, bytes per block)
BLOCK: dict[str, tuple[int, int]] = {"Q8_0": (32, 34), "Q4_0": (32, 18), "TQ2_0": (256, 66),
                                     "MXFP4": (32, 17), "F16": (1, 2), "BF16": (1, 2)}
_FORMAT_OF = {v: k for k, v in GGUF_COUNTERPARTS.items()}


def _nibbles(c: np.ndarray) -> np.ndarray:
    """[B, 32] values 0..15 -> [B, 16] bytes (element i low, i + 16 high)."""
    return (c[:, :16] | (c[:, 16:] << 4)).astype(np.uint8)


def _unnibbles(b: np.ndarray) -> np.ndarray:
    return np.concatenate([b & 0x0F, b >> 4], axis=1).astype(np.int64)


def to_gguf(qt: QTensor) -> tuple[np.ndarray, str]:
    """(uint8 [N, bytes per row], GGUF type) of a QTensor of W^T [K, N] quantised along axis 0."""
    gt = gguf_type(qt.fmt)
    if gt is None:
        raise UnsupportedFormatError(f"{qt.fmt} has no GGUF counterpart")
    if qt.axis != 0 or qt.codes.ndim != 2:
        raise InvalidSpecError("to_gguf packs a 2-d W^T [K, N] quantised along axis 0")
    k, n = qt.codes.shape
    if gt in ("F16", "BF16"):
        dt = torch.float16 if gt == "F16" else torch.bfloat16
        raw = qt.codes.t().contiguous().to(torch.int16).view(dt).view(torch.int16).numpy()
        return raw.view(np.uint8).reshape(n, 2 * k), gt
    g, _ = BLOCK[gt]
    if k % g:
        raise InvalidSpecError(f"K={k} is not a multiple of {gt}'s block of {g}")
    codes = qt.codes.t().contiguous().numpy().reshape(n * (k // g), g)  # blocks in row-major (n, block)
    assert qt.scales is not None
    scales = qt.scales.t().contiguous().numpy().reshape(-1)  # [N, G] -> per block
    if gt == "Q8_0":
        body = codes.astype(np.int8).view(np.uint8)
        head = scales.astype(np.float16).view(np.uint8).reshape(-1, 2)
        blocks = np.concatenate([head, body], axis=1)
    elif gt == "Q4_0":
        head = scales.astype(np.float16).view(np.uint8).reshape(-1, 2)
        blocks = np.concatenate([head, _nibbles(codes + 8)], axis=1)
    elif gt == "TQ2_0":
        q = (codes + 1).astype(np.uint8).reshape(-1, 2, 4, 32)
        body = (q[:, :, 0] | (q[:, :, 1] << 2) | (q[:, :, 2] << 4) | (q[:, :, 3] << 6)).reshape(-1, 64)
        tail = scales.astype(np.float16).view(np.uint8).reshape(-1, 2)
        blocks = np.concatenate([body, tail], axis=1)
    else:  # MXFP4
        e = np.log2(scales)
        if not np.all(e == np.round(e)) or e.min() < -127 or e.max() > 127:
            raise InvalidSpecError("MXFP4 needs power-of-two scales 2^-127 .. 2^127")
        head = (np.round(e) + 127).astype(np.uint8).reshape(-1, 1)
        blocks = np.concatenate([head, _nibbles(codes)], axis=1)
    return np.ascontiguousarray(blocks.reshape(n, -1)), gt


def from_gguf(rows: np.ndarray, gt: str, k: int, n: int) -> QTensor:
    """The QTensor (lowbit format `GGUF_COUNTERPARTS` inverse) of GGUF bytes [N, bytes per row]."""
    if gt not in _FORMAT_OF:
        raise UnsupportedFormatError(f"GGUF type {gt} has no lowbit counterpart")
    fmt = Format.parse(_FORMAT_OF[gt])
    g, nb = BLOCK[gt]
    data = np.ascontiguousarray(rows).view(np.uint8).reshape(-1)
    if data.size != n * (k // g) * nb or k % g:
        raise InvalidSpecError(f"{data.size} bytes are not {n} rows of {k} {gt} elements")
    if gt in ("F16", "BF16"):
        raw = torch.from_numpy(data.view(np.int16).reshape(n, k).copy())
        codes = (raw.to(torch.int64) & 0xFFFF).t().contiguous()
        return QTensor(codes, None, None, fmt, 0)
    b = data.reshape(-1, nb)
    if gt == "Q8_0":
        s = b[:, :2].copy().view(np.float16).reshape(-1).astype(np.float64)
        c = b[:, 2:].view(np.int8).astype(np.int64)
    elif gt == "Q4_0":
        s = b[:, :2].copy().view(np.float16).reshape(-1).astype(np.float64)
        c = _unnibbles(b[:, 2:]) - 8
    elif gt == "TQ2_0":
        s = b[:, 64:].copy().view(np.float16).reshape(-1).astype(np.float64)
        q = b[:, :64].reshape(-1, 2, 1, 32) >> np.array([0, 2, 4, 6], dtype=np.uint8).reshape(1, 1, 4, 1)
        c = (q & 3).reshape(-1, 256).astype(np.int64) - 1
    else:  # MXFP4
        s = np.exp2(b[:, 0].astype(np.float64) - 127)
        c = _unnibbles(b[:, 1:])
    codes = torch.from_numpy(c.reshape(n, k)).t().contiguous()
    scales = torch.from_numpy(s.reshape(n, k // g)).t().contiguous()
    return QTensor(codes, scales, None, fmt, 0)

