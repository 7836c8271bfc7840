"""models.importers.onnx_import: an ONNX export of a torch model we build here gives the same
layers (GEMM views, MACs, parameters) as tracing that model; bad files are one-line errors."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
from lowbit.kernels_ref.errors import InvalidSpecError
from lowbit.models.importers import from_onnx, from_torch
from lowbit.models.ir import OpKind
from torch import nn

torch.set_num_threads(1)


class Attn(nn.Module):
    """Hand-written single-head attention over 16 tokens."""

    def __init__(self, d: int) -> None:
        super().__init__()
        self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.q(x), self.k(x), self.v(x)
        s = (q @ k.transpose(-1, -2)).softmax(-1)
        return self.o(s @ v)


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, stride=2, padding=1)
        self.dw = nn.Conv2d(16, 16, 3, padding=2, dilation=2, groups=16)
        self.grp = nn.Conv2d(16, 32, 1, groups=4)
        self.up = nn.ConvTranspose2d(32, 8, 2, stride=2)
        self.pool = nn.AdaptiveAvgPool2d(4)
        self.proj = nn.Linear(8, 24)
        self.attn = Attn(24)
        self.head = nn.Linear(24, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.conv(x))
        x = torch.relu(self.dw(x))
        x = self.up(self.grp(x))
        x = self.pool(x).flatten(2).transpose(1, 2)  # (1, 16 tokens, 8)
        x = self.attn(self.proj(x))
        return self.head(x.mean(1))


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    net, x = Net().eval(), torch.randn(1, 3, 32, 32)
    path = tmp_path_factory.mktemp("onnx") / "net.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (x,), str(path), dynamo=False, input_names=["x"])
    return path, net, x


def _gemm_views(wl) -> list[tuple[str, int, int, int, int]]:  # type: ignore[no-untyped-def]
    return sorted((l.op.value, l.m, l.k, l.n, l.batch) for l in wl.layers)


def test_onnx_equals_tracing_the_same_model(exported) -> None:  # type: ignore[no-untyped-def]
    path, net, x = exported
    onnx_wl = from_onnx(path)
    traced = from_torch(net, x)
    assert _gemm_views(onnx_wl) == _gemm_views(traced)
    assert onnx_wl.total_macs == traced.total_macs and onnx_wl.total_params == traced.total_params
    ops = {l.op for l in onnx_wl.layers}
    assert {OpKind.CONV2D, OpKind.DWCONV2D, OpKind.CONV_TRANSPOSE, OpKind.LINEAR,
            OpKind.MATMUL} <= ops
    dw = next(l for l in onnx_wl.layers if l.op is OpKind.DWCONV2D)
    assert (dw.conv.dilation_h, dw.conv.pad_h, dw.batch, dw.k) == (2, 2, 16, 9)
    scores = [l for l in onnx_wl.layers if l.op is OpKind.MATMUL]
    assert sorted((l.m, l.k, l.n) for l in scores) == [(16, 16, 24), (16, 24, 16)]
    # every weight held, biases counted as auxiliary: nothing left uncovered
    assert onnx_wl.param_coverage == pytest.approx(1.0)
    assert dict(onnx_wl.meta)["uncovered_ops"] == ()
    assert onnx_wl.graph.number_of_edges() >= len(onnx_wl.layers) - 1


def test_dynamic_batch_needs_a_shape(tmp_path: Path) -> None:
    lin = nn.Linear(8, 4)
    path = tmp_path / "dyn.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(lin, (torch.randn(2, 8),), str(path), dynamo=False, input_names=["x"],
                          dynamic_axes={"x": {0: "batch"}})
    with pytest.raises(InvalidSpecError, match=r"input 'x' has dynamic dimensions \['batch', '\?'\]|"
                                               r"input 'x' has dynamic dimensions"):
        from_onnx(path)
    wl = from_onnx(path, input_shapes={"x": [5, 8]})
    (layer,) = wl.layers
    assert (layer.op, layer.m, layer.k, layer.n) == (OpKind.LINEAR, 5, 8, 4)
    with pytest.raises(InvalidSpecError, match="does not fit its rank 2"):
        from_onnx(path, input_shapes={"x": [5]})


def test_unknown_mac_op_is_listed_once_and_lowers_coverage(tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    class WithGRU(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gru = nn.GRU(8, 8, batch_first=True)
            self.fc = nn.Linear(8, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(self.gru(x)[0])

    path = tmp_path / "gru.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(WithGRU().eval(), (torch.randn(1, 5, 8),), str(path), dynamo=False)
    with caplog.at_level("WARNING"):
        wl = from_onnx(path)
    warns = [r for r in caplog.records if "not understood" in r.getMessage()]
    assert len(warns) == 1 and "GRU x1" in warns[0].getMessage()
    assert "GRU" in dict(wl.meta)["uncovered_ops"]
    assert 0.0 < wl.param_coverage < 0.5  # the GRU holds most of the parameters


def test_bad_files(tmp_path: Path) -> None:
    p = tmp_path / "bad.onnx"
    p.write_bytes(b"\x08\x07garbage that is not a protobuf \xff\xff")
    with pytest.raises(InvalidSpecError, match="bad.onnx"):
        from_onnx(p)
    with pytest.raises(InvalidSpecError, match="ONNX file not found"):
        from_onnx(tmp_path / "none.onnx")
