"""Shared pieces of the compiled SCALE-Sim stall kernel (`hwsim.scalesim_jit`): integer
ceil division, the layer's one work array, and an operand source read with -1 padding."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
from numba import njit
from numba.core import config as _numba_config

__all__ = ["INF", "JIT_MODULES", "PREVIOUS_CACHE_DIR", "U", "at", "cache_dir", "cdiv", "filled", "source_tag", "take"]

INF = 1 << 62

#: An index cast for the hot loops: numba wraps a signed index (a select per access, and no
#: vectorisation; 2-4x on a plain loop); an index the code knows to be >= 0 is cast to this.
U = np.uint64

#: The modules of the compiled kernel. numba keys a cached function on its own file's time
#: stamp and size only, so an edit (or an upgrade) of a sibling module whose functions were
#: compiled into `layer_kernel` would load the old machine code; the cache directory is named
#: by a hash of all of them instead.
JIT_MODULES = ("scalesim_jit.py", "scalesim_jit_base.py", "scalesim_jit_rows.py", "scalesim_jit_user.py")


def source_tag(folder: Path) -> str:
    """`lowbit-scalesim-jit-<hash of JIT_MODULES' bytes in folder>`."""
    h = hashlib.sha256()
    for name in JIT_MODULES:
        h.update(name.encode() + b"\0" + (folder / name).read_bytes() + b"\0")
    return f"lowbit-scalesim-jit-{h.hexdigest()[:20]}"


def cache_dir(folder: Path, user_dir: str) -> str:
    """Where the kernel's compiled code goes: `<NUMBA_CACHE_DIR or folder/__pycache__>/<tag>`,
    else `<XDG_CACHE_HOME or ~/.cache>/lowbit/<tag>` where that is not writable; '' if neither
    is (numba then compiles without a cache in that process)."""
    tag = source_tag(folder)
    home = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    for root in (user_dir or str(folder / "__pycache__"), os.path.join(home, "lowbit")):
        path = os.path.join(root, tag)
        try:
            os.makedirs(path, exist_ok=True)
        except OSError:
            continue
        if os.access(path, os.W_OK):
            return path
    return ""


#: NUMBA_CACHE_DIR as it was; `hwsim.scalesim_jit` puts it back once its functions exist (a
#: function's cache path is fixed when it is decorated, so only the kernel's use the tagged one).
PREVIOUS_CACHE_DIR = _numba_config.CACHE_DIR
_numba_config.CACHE_DIR = cache_dir(Path(__file__).resolve().parent, PREVIOUS_CACHE_DIR) or PREVIOUS_CACHE_DIR


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
        out[U(i)] = v
    return out


@njit(cache=True, error_model="numpy")
def at(a: np.ndarray, trans: bool, r: int, c: int) -> int:
    """a[r, c] (a.T[r, c] if trans), -1 outside (the -1 padding)."""
    if trans:
        r, c = c, r
    if r < a.shape[0] and c < a.shape[1]:
        return a[U(r), U(c)]
    return -1
