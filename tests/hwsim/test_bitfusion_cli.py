"""The two issue-4 CLI commands run and report sane totals (bit_serial presets end to end)."""

import json

import pytest

from lowbit.cli import main


def _run(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_simulate_bitfusion_resnet18_int4(capsys):
    out = _run(capsys, ["simulate", "--hw", "bitfusion-eyeriss-budget", "--model", "resnet18",
                        "--weights", "int4", "--acts", "int4", "--json"])
    layers = out["layers"]
    assert len(layers) == 21  # 20 convs (incl. 3 downsample 1x1) + fc
    total = out["total"]["cycles"]
    assert total == sum(l["cycles"] for l in layers)
    # lower bound: ResNet-18 1.81 GMACs at 2048 4b x 4b MACs per cycle (512 FUs x 4)
    assert total >= 1.81e9 / 2048
    assert out["total"]["latency_s"] == pytest.approx(total / 5e8)


def test_simulate_bitmod_llama2_decode_int4g128(capsys):
    out = _run(capsys, ["simulate", "--hw", "bitmod", "--model", "llama-2-7b", "--phase", "decode",
                        "--weights", "int4g128", "--json"])
    total = out["total"]["cycles"]
    assert total == pytest.approx(sum(l["cycles"] for l in out["layers"]))
    # lower bound: 6.74e9 weights at 4.125 bits over 32 DRAM bytes per cycle
    assert total >= 6.74e9 * 4.125 / 8 / 32
    assert out["total"]["energy_j"] > 0
