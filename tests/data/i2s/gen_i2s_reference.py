"""Regenerate i2s_reference.json: BitNet's own I2_S quantiser run here on a known weight.

Source: microsoft/BitNet at commit 16da220ae2b510caff437d403288882687f44ae5
  - utils/convert-hf-to-gguf-bitnet.py `weight_quant` (absmean ternarisation, torch), run as is;
  - src/ggml-bitnet-mad.cpp lines 11-15 (QK_I2_S) and 51-196 (`quantize_i2_s`), compiled
    unmodified with g++ behind a shim (ggml_row_size(GGML_TYPE_I2_S, n) = n bytes, as
    their ggml fork's I2_S type traits: block 1, 1 byte), twice: x86 (-mavx2 with
    ACT_PARALLEL, the default of include/gemm-config.h: QK_I2_S = 128) and ARM
    (-D__ARM_NEON on a compiler without AVX: QK_I2_S = 64).

Usage: python gen_i2s_reference.py /path/to/BitNet/checkout   (a checkout at that commit)
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

COMMIT = "16da220ae2b510caff437d403288882687f44ae5"
ROWS, COLS = 8, 256  # ggml: 8 rows (output channels) of 256 (K); nrow % 4 == 0


def known_weight() -> np.ndarray:
    """float32 [ROWS, COLS]: a deterministic mix of signs and magnitudes, with exact zeros."""
    i = np.arange(ROWS * COLS, dtype=np.float64)
    w = np.sin(i * 0.37) * np.cos(i * 0.011) * 0.05
    w[::17] = 0.0
    return w.astype(np.float32).reshape(ROWS, COLS)


def weight_quant(weight: torch.Tensor) -> torch.Tensor:  # verbatim from their converter
    dtype = weight.dtype
    weight = weight.float()
    s = 1 / weight.abs().mean().clamp(min=1e-5)
    result = (weight * s).round().clamp(-1, 1) / s
    return result.type(dtype)


SHIM = """
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <assert.h>
#include <stdio.h>
#define ACT_PARALLEL
enum { GGML_TYPE_I2_S = 36 };
static size_t ggml_row_size(int type, int64_t n) { (void)type; return (size_t)n; }
"""

MAIN = """
int main(void) {
    static float src[%(n)d];
    static unsigned char dst[%(n)d / 4 + 32];
    if (fread(src, sizeof(float), %(n)d, stdin) != %(n)d) return 1;
    memset(dst, 0xAA, sizeof dst);
    size_t sz = quantize_i2_s(src, dst, %(rows)d, %(cols)d, NULL);
    printf("%%zu\\n", sz);
    for (size_t i = 0; i < sizeof dst; i++) printf("%%02x", dst[i]);
    printf("\\n");
    return 0;
}
"""


def run_c(repo: Path, flags: list[str], src: np.ndarray) -> tuple[int, str]:
    text = subprocess.run(["git", "-C", str(repo), "show", f"{COMMIT}:src/ggml-bitnet-mad.cpp"],
                          check=True, capture_output=True, text=True).stdout.splitlines()
    body = "\n".join(text[10:15] + text[50:196])  # lines 11-15 and 51-196 (1-based)
    with tempfile.TemporaryDirectory() as d:
        c = Path(d) / "q.cpp"
        c.write_text(SHIM + body + MAIN % {"n": ROWS * COLS, "rows": ROWS, "cols": COLS})
        exe = Path(d) / "q"
        subprocess.run(["g++", "-O0", *flags, str(c), "-o", str(exe)], check=True)
        out = subprocess.run([str(exe)], input=src.astype("<f4").tobytes(), capture_output=True,
                             check=True).stdout.decode().split()
    return int(out[0]), out[1]


def main() -> None:
    repo = Path(sys.argv[1])
    w = known_weight()
    wq = weight_quant(torch.from_numpy(w)).numpy()
    x86_size, x86 = run_c(repo, ["-mavx2"], wq)
    arm_size, arm = run_c(repo, ["-mno-avx", "-mno-sse3", "-D__ARM_NEON"], wq)
    doc = {
        "source": f"microsoft/BitNet@{COMMIT}: utils/convert-hf-to-gguf-bitnet.py weight_quant, "
                  "src/ggml-bitnet-mad.cpp quantize_i2_s (compiled and run by gen_i2s_reference.py)",
        "rule": "codes q = 0 (-1), 1 (0), 2 (+1); scale = max|w_q| as fp32 after the n/4 code bytes "
                "in a 32-byte tail; x86 (ACT_PARALLEL, QK=128): in each 128-element block, byte j "
                "holds elements j, j+32, j+64, j+96 at shifts 6, 4, 2, 0; ARM (QK=64): 16 bytes, "
                "elements j, j+16, j+32, j+48",
        "rows": ROWS, "cols": COLS,
        "weight_formula": "float32(sin(0.37 i) cos(0.011 i) 0.05), every 17th element 0, i row-major",
        "x86": {"returned_size": x86_size, "bytes_hex": x86},
        "arm": {"returned_size": arm_size, "bytes_hex": arm},
    }
    out = Path(__file__).with_name("i2s_reference.json")
    out.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
