"""Shared pieces of the compiled SCALE-Sim stall kernel (`hwsim.scalesim_jit`): integer
ceil division, the layer's one work array, and an operand source read with -1 padding."""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["INF", "at", "cdiv", "filled", "take"]

INF = 1 << 62


@njit(cache=True, error_model="numpy")
def cdiv(a: int, b: int) -> int:
    return -((-a) // b)


@njit(cache=True, error_model="numpy")
def take(mem: np.ndarray, n: int) -> np.ndarray:
    """n int64 from the layer's one work array (mem[0]: the next free slot)."""
    p = mem[0]
    mem[0] = p + n
    return mem[p:p + n]


@njit(cache=True, error_model="numpy")
def filled(mem: np.ndarray, n: int, v: int) -> np.ndarray:
    out = take(mem, n)
    for i in range(n):
        out[i] = v
    return out


@njit(cache=True, error_model="numpy")
def at(a: np.ndarray, trans: bool, r: int, c: int) -> int:
    """a[r, c] (a.T[r, c] if trans), -1 outside (the -1 padding)."""
    if trans:
        r, c = c, r
    if r < a.shape[0] and c < a.shape[1]:
        return a[r, c]
    return -1
