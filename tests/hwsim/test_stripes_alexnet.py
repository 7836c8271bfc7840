"""Stripes on AlexNet: speedup over the 16-bit bit-parallel DaDianNao-like baseline.

Per-layer activation precisions 9-8-5-5-7 (conv1..conv5) are the ones FIDELITY.md quotes for
Stripes' AlexNet (Judd et al., MICRO 2016, Table I, 100% relative accuracy profile); the
search tools reached only the paper's abstract, not Table I, so they are not independently
verified here. Layers: the Caffe BVLC AlexNet the paper evaluates (groups of 2 in conv2, 4, 5).

Compute-bound: the comparison is of stall-free compute cycles of the two cores, so memory
cannot dilute the ratio. Expected: sum(MACs) / sum(MACs * p/16), the MAC-weighted ideal
16/p, within 5%. That identity needs both arrays equally utilised on every layer, so the
main test uses one tile of each (16 filters; every AlexNet filter count is a multiple of 16).
On the full 16-tile chips (`stripes` / `dadiannao` presets: 256 filters across tiles) conv1's
96 filters fill 37.5% of both arrays, which weights its 16/9 speedup more heavily in time
than in MACs: 2.164x there (second test), 7% under the MAC-weighted 2.330x.

Every layer runs at its own precision (INT 1..16 are all formats; conv1 is int9); the p/16 law
is tested exactly in test_bitserial_core.py.
"""

import pytest
from lowbit.hwsim.cores.bit_serial import GemmDim, Model, SerialOperands, Spec
from lowbit.hwsim.spec import load_accelerator
from lowbit.kernels_ref.formats import Format
from lowbit.models.ir import ConvGeometry, Layer

ALEXNET = [  # (name, geometry, activation precision)
    ("conv1", ConvGeometry(3, 96, 227, 227, 11, 11, 4, 4), 9),
    ("conv2", ConvGeometry(96, 256, 27, 27, 5, 5, pad_h=2, pad_w=2, groups=2), 8),
    ("conv3", ConvGeometry(256, 384, 13, 13, 3, 3, pad_h=1, pad_w=1), 5),
    ("conv4", ConvGeometry(384, 384, 13, 13, 3, 3, pad_h=1, pad_w=1, groups=2), 5),
    ("conv5", ConvGeometry(384, 256, 13, 13, 3, 3, pad_h=1, pad_w=1, groups=2), 7),
]


# core: sections of hwsim/presets/stripes.yaml and hwsim/presets/dadiannao.yaml (rows = tiles x 16)
def _stripes(tiles):
    return Spec(serial=SerialOperands.ACTIVATIONS, bits_per_cycle_a=1, parallel_bits_w=16, parallel_bits_a=16,
                rows=16 * tiles, cols=16, lanes=16, rows_dim=GemmDim.N, cols_dim=GemmDim.M)


def _dadn(tiles):
    return Spec(serial=SerialOperands.NONE, parallel_bits_w=16, parallel_bits_a=16,
                rows=16 * tiles, cols=1, lanes=16, rows_dim=GemmDim.N, cols_dim=GemmDim.M)


def _speedup(tiles):
    w16 = Format.parse("int16")
    STRIPES, DADN = _stripes(tiles), _dadn(tiles)
    stripes = dadn = 0
    macs = weighted = 0.0
    for name, geom, p in ALEXNET:
        layer = Layer.conv2d(name, geom)
        a = Format.parse(f"int{p}")
        stripes += Model(STRIPES).compute(layer.m, layer.k, layer.n, w16, a, batch=layer.batch).cycles
        dadn += Model(DADN).compute(layer.m, layer.k, layer.n, w16, Format.parse("int16"), batch=layer.batch).cycles
        macs += layer.macs
        weighted += layer.macs * p / 16
    return dadn / stripes, macs / weighted


def test_stripes_alexnet_speedup_is_mac_weighted_16_over_p():
    speedup, ideal = _speedup(1)
    # MAC-weighted 16/p of the Caffe AlexNet convs: 2.330. (FIDELITY.md quotes 2.38; torchvision's
    # ungrouped AlexNet shapes give 2.368, Caffe's without groups 2.313: the quote is approximate.)
    assert ideal == pytest.approx(2.330, abs=0.001)
    assert speedup == pytest.approx(2.280, abs=0.001)  # measured (2.2 % under): 13x13 maps pad to 11 x 16 windows
    assert speedup == pytest.approx(ideal, rel=0.05)
    assert speedup <= ideal * 1.0001  # padding of 16 windows can only lose


def test_stripes_full_chip_speedup_weighted_by_baseline_time():
    speedup, ideal = _speedup(16)
    assert speedup == pytest.approx(2.164, abs=0.001)
    assert speedup < ideal * 0.95


def test_presets_are_the_full_chips():
    assert load_accelerator("stripes").core == _stripes(16)
    assert load_accelerator("dadiannao").core == _dadn(16)
