"""`lowbit formats list/show` for i2_s, dbllm, pbllm and salient-channel formats."""

from __future__ import annotations

import json

import pytest

from lowbit.cli import main


def test_list_has_the_new_formats(capsys):
    assert main(["formats", "list", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["i2_s"]["bits_per_weight"] == 2.0 and rows["i2_s"]["kind"] == "ternary"
    assert rows["dbllmg64"]["bits_per_weight"] == 2.75
    assert rows["pbllm10g128"]["bits_per_weight"] == pytest.approx(379 / 128, abs=0)
    assert rows["salient20g128"]["bits_per_weight"] == pytest.approx(238 / 128, abs=0)


def test_show_counts_every_overhead(capsys):
    assert main(["formats", "show", "salient20g128", "--k", "256", "--n", "2"]) == 0
    out = capsys.readouterr().out
    # per group and column 26 x 4 + 102 x 1 + 2 x 16 = 238 bits; 2 groups x 2 columns + a 256-bit mask
    assert "26 of 128 input channels" in out and "151 bytes" in out  # (4 x 238 + 256) / 8
    assert main(["formats", "show", "i2_s", "--k", "256", "--n", "4"]) == 0
    out = capsys.readouterr().out
    assert "288 bytes" in out and "32-byte tail" in out  # 256 * 4 / 4 + 32
    assert main(["formats", "show", "pbllm10g128"]) == 0
    assert "13 of 128 weights" in capsys.readouterr().out


@pytest.mark.parametrize("bad", ["pbllm10", "pbllm1g16", "dbllmt", "dbllm10g64", "i2_sg128"])
def test_show_bad_names_exit_2(capsys, bad):
    assert main(["formats", "show", bad]) == 2
    err = capsys.readouterr().err
    assert bad in err and len(err.strip().splitlines()) == 1
