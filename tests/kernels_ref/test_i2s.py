"""BitNet I2_S: our quantiser and packing against bitnet.cpp's own output (tests/data/i2s)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from lowbit.kernels_ref.errors import InvalidSpecError, UnsupportedFormatError
from lowbit.kernels_ref.formats import Format
from lowbit.kernels_ref.i2s import i2s_gemm, pack_i2s, quantize_i2s, unpack_i2s
from lowbit.kernels_ref.quant import dequantize, quantize
from lowbit.kernels_ref.verify import verify_kernels

torch.set_num_threads(1)
REF = json.loads((Path(__file__).resolve().parents[1] / "data" / "i2s" / "i2s_reference.json").read_text())


def _known_weight() -> np.ndarray:
    """The weight of gen_i2s_reference.known_weight (the formula stated in the JSON)."""
    i = np.arange(REF["rows"] * REF["cols"], dtype=np.float64)
    w = np.sin(i * 0.37) * np.cos(i * 0.011) * 0.05
    w[::17] = 0.0
    return w.astype(np.float32).reshape(REF["rows"], REF["cols"])


def _transcribed_bytes(q8: np.ndarray, qk: int) -> bytes:
    """A line-by-line transcription of quantize_i2_s's packing loop (ggml-bitnet-mad.cpp)."""
    n = q8.size
    out = bytearray(n // 4)
    for i in range(n // qk):
        for j in range(qk):
            group_idx, group_pos = j // (qk // 4), j % (qk // 4)
            out[i * (qk // 4) + group_pos] |= (int(q8[i * qk + j]) << (6 - 2 * group_idx)) & 0xFF
    return bytes(out)


@pytest.mark.parametrize("build,qk", [("x86", 128), ("arm", 64)])
def test_pack_equals_bitnet_cpp_bytes(build, qk):
    w = _known_weight()  # ggml layout [N rows, K]
    qt = quantize_i2s(torch.from_numpy(w).t())
    data = pack_i2s(qt.codes, float(qt.scales), build)
    ref = bytes.fromhex(REF[build]["bytes_hex"])
    n = w.size
    assert len(data) == REF[build]["returned_size"] == n // 4 + 32
    assert data[:n // 4] == ref[:n // 4]  # the codes, as bitnet.cpp wrote them
    assert data[n // 4:n // 4 + 4] == ref[n // 4:n // 4 + 4]  # its fp32 scale
    assert data[n // 4 + 4:] == bytes(28)  # the converter zero-fills the rest of the tail
    # and the packing loop transcribed by hand agrees on codes from the ternary weight
    q8 = (qt.codes.t().reshape(-1).numpy() + 1).astype(np.uint8)
    assert _transcribed_bytes(q8, qk) == data[:n // 4]


def test_quantiser_follows_weight_quant():
    w = torch.from_numpy(_known_weight())
    s = 1 / w.abs().mean().clamp(min=1e-5)  # BitNet's weight_quant, float32
    expect = (w * s).round().clamp(-1, 1)
    qt = quantize_i2s(w.t())
    assert torch.equal(qt.codes.t(), expect.to(torch.int64))
    assert float(qt.scales) == float(torch.tensor(1.0) / s)
    assert float(qt.scales) == pytest.approx(0.019744157791137695, abs=0)
    assert torch.equal(dequantize(qt), (qt.codes * float(qt.scales)).double())
    assert str(quantize(w.t(), "i2_s").fmt) == "i2_s"


def test_unpack_round_trip_and_kernel():
    gen = torch.Generator().manual_seed(3)
    codes = torch.randint(-1, 2, (256, 12), generator=gen)
    data = pack_i2s(codes, 0.5)
    back, scale = unpack_i2s(data, 256, 12)
    assert torch.equal(back, codes) and scale == 0.5
    x = torch.randint(-128, 128, (3, 256), generator=gen)
    assert torch.equal(i2s_gemm(x, data, 256, 12), x @ codes)


def test_errors_and_storage():
    with pytest.raises(InvalidSpecError, match="whole blocks of 128"):
        pack_i2s(torch.zeros(100, 3, dtype=torch.int64), 1.0)
    with pytest.raises(InvalidSpecError, match="-1, 0 or \\+1"):
        pack_i2s(torch.full((128, 1), 2), 1.0)
    with pytest.raises(InvalidSpecError, match="bytes are not I2_S"):
        unpack_i2s(bytes(10), 128, 1)
    fmt = Format.parse("i2_s")
    assert fmt.bits_per_weight == 2.0 and fmt.storage_bits(2560, 6912) == 2 * 2560 * 6912 + 256
    with pytest.raises(UnsupportedFormatError):
        Format.parse("i2_sg128")


def test_verify_runs_i2s_kernels():
    rep = verify_kernels(["i2_s"], seed=5)
    assert rep.passed and {r.kernel for r in rep.rows} == {"i2s-mad-x86", "i2s-mad-arm"}
    assert len(rep.rows) == 16
