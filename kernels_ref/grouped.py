"""Per-group popcount GEMMs: one exact integer product per run of g rows along K.

A composite format (dbllm, pbllm, salient) scales every group of g weights along K by its own
value, so its popcount GEMM must keep one integer per group, [G, M, N], where `binary.wxay_gemm`
returns their sum. `grouped_wxay_gemm` computes them by the same AND-popcount plane products
and shift-add as `wxay_gemm`, with each group packed into whole 64-bit words of its own:

- on CPU, from `JIT_FROM_MACS` multiply-adds on, two compiled loops (`popc_jit`, numba): the
  weight planes packed by an 8 x 8 bit transpose per 64-bit word, and every group's plane
  products accumulated straight into its [M, N] slot (a 4096 x 4096 pbllm weight at 16 rows:
  0.06 s for the products, where the per-group torch loop took 4.3 s);
- elsewhere (CUDA; CPU on request; or where numba cannot load, with one warning),
  `binary.popcount_groups_torch`, chunked broadcasting.

Both are integer arithmetic, so they give the same integers (`tests/kernels_ref/test_grouped.py`
holds them equal to each other and to x @ w per group).
"""

from __future__ import annotations

import logging
from types import ModuleType

import numpy as np
import torch
from lowbit.kernels_ref.binary import (
    Backend,
    _as_int,
    _check_shapes,
    _operand_sums,
    _pack_planes,
    _packed_operand,
    _pad_groups,
    _plane_source,
    _use_numpy,
    _with_offsets,
    popcount_groups_torch,
)
from lowbit.kernels_ref.errors import InvalidSpecError
from lowbit.kernels_ref.formats import Format

__all__ = ["grouped_wxay_gemm"]

log = logging.getLogger(__name__)

_CHUNK_ELEMS = 1 << 22  # plane products per column chunk of the torch path (x16 on CUDA)
#: `auto` on CPU takes the compiled loops from this many multiply-adds (M x N x K) on, or once
#: they are loaded: below it the torch path takes well under the ~0.7 s CPU of importing numba
#: and loading the cached loops (an int8 x int8 product costs the torch path ~20 ns, measured),
#: so `lowbit verify`'s small default shapes never import numba.
JIT_FROM_MACS = 1 << 24

_JIT: list[ModuleType | None] = []


def _jit() -> ModuleType | None:
    """`popc_jit`, loaded and checked once; None (with one warning) where numba cannot load it."""
    if not _JIT:
        try:
            from lowbit.kernels_ref import popc_jit
            popc_jit.warm()
            _JIT.append(popc_jit)
        except Exception as exc:  # noqa: BLE001 -- numba missing or unable to compile: torch gives the same integers
            log.warning("kernels_ref: the compiled grouped popcount is unavailable (%s: %s); using torch",
                        type(exc).__name__, exc)
            _JIT.append(None)
    return _JIT[0]


def grouped_wxay_gemm(x: torch.Tensor, w: torch.Tensor, a_fmt: Format | str, w_fmt: Format | str, group: int,
                      *, backend: Backend | str = Backend.AUTO) -> torch.Tensor:
    """x[:, Kg] @ w[Kg, :] for every run Kg of `group` rows along K: int64 [K / group, M, N].

    `backend`: numpy (CPU tensors: the compiled loops), torch, or auto (CPU: the compiled loops
    for products of at least `JIT_FROM_MACS` multiply-adds or once loaded, else torch)."""
    a_fmt = Format.parse(a_fmt) if isinstance(a_fmt, str) else a_fmt
    w_fmt = Format.parse(w_fmt) if isinstance(w_fmt, str) else w_fmt
    backend = Backend(backend)
    x, w = _as_int(x, "activations"), _as_int(w, "weights")
    _check_shapes(x, w)
    m, k = x.shape
    n = w.shape[1]
    if not isinstance(group, int) or isinstance(group, bool) or group < 1 or k % group:
        raise InvalidSpecError(f"group size {group!r} must be a positive integer dividing K={k}")
    groups, dev = k // group, x.device
    if groups == 0:
        return torch.zeros(0, m, n, dtype=torch.int64, device=dev)
    big = m * n * k >= JIT_FROM_MACS or bool(_JIT)
    jit = _jit() if _use_numpy(backend, x) and (big or backend is Backend.NUMPY) else None
    if jit is not None and (x.device.type != "cpu" or w.device.type != "cpu"):
        raise InvalidSpecError("the numpy backend needs CPU tensors")
    aw, ca_t, a_off, a_cnt = _packed_operand(x.T, a_fmt, 64, jit is not None, group)
    ya, nw = len(ca_t), aw.shape[1]
    ca = torch.tensor(ca_t, dtype=torch.int64, device=dev)
    if jit is not None:
        ww, cw_t, w_off, w_cnt = _weight_words(w, w_fmt, group, jit)
        acc = np.zeros((groups, m, n), dtype=np.int64)
        jit.grouped_popc_kernel(aw.reshape(ya, m, nw), np.array(ca_t, dtype=np.int64), ww,  # type: ignore[union-attr]
                                np.array(cw_t, dtype=np.int64), nw // groups, acc)
        prod = torch.from_numpy(acc)
        cw = torch.tensor(cw_t, dtype=torch.int64)
    else:
        ww, cw_t, w_off, w_cnt = _packed_operand(w, w_fmt, 64, False, group)
        xw = len(cw_t)
        cw = torch.tensor(cw_t, dtype=torch.int64, device=dev)
        coef = ca.view(ya, 1, 1, 1, 1) * cw.view(1, 1, xw, 1, 1)
        wv = ww.view(xw, n, nw)  # type: ignore[union-attr]
        prod = torch.empty(groups, m, n, dtype=torch.int64, device=dev)
        step = max(1, (_CHUNK_ELEMS * (16 if x.is_cuda else 1)) // (ya * m * xw * groups))
        for j in range(0, n, step):  # columns a chunk: the [planes x M, planes x cols, G] products stay small
            cols = wv[:, j:j + step].reshape(-1, nw)
            per = popcount_groups_torch(aw, cols, nw // groups, "and")  # type: ignore[arg-type]
            prod[:, :, j:j + step] = (per.view(ya, m, xw, -1, groups) * coef).sum(dim=(0, 2)).permute(2, 0, 1)
    rowsum = _operand_sums(ca, a_cnt, a_off, group).T   # [G, M]: sum of x over each group
    colsum = _operand_sums(cw, w_cnt, w_off, group).T   # [G, N]
    return _with_offsets(prod, rowsum, colsum, a_off, w_off, group)


def _weight_words(w: torch.Tensor, w_fmt: Format, group: int, jit: ModuleType
                  ) -> tuple[np.ndarray, tuple[int, ...], int, torch.Tensor]:
    """The weight's planes as uint64 [P, W, N] (N innermost, as the compiled product loop reads
    them), coefficients, offset and per-group plane popcounts [P, N, G]."""
    src, bits, coefs, offset = _plane_source(w, w_fmt)
    if group % 64:
        src = _pad_groups(src, group, 64)
    kp, n = src.shape
    groups = w.shape[0] // group
    if src.dtype == torch.uint8:
        out = np.empty((bits, kp // 64, n, 8), dtype=np.uint8)
        jit.pack_planes_kernel(src.contiguous().numpy(), bits, out)
        words = out.view(np.uint64).reshape(bits, kp // 64, n)
    else:  # wider than a byte: packed per plane, then turned to N innermost
        planes = torch.stack(_pack_planes(src, bits, 64)).numpy().view(np.uint64)  # [P, N, W]
        words = np.ascontiguousarray(planes.transpose(0, 2, 1))
    counts = np.bitwise_count(words).reshape(bits, groups, -1, n).sum(axis=2, dtype=np.int64)
    return words, coefs, offset, torch.from_numpy(counts).permute(0, 2, 1)
