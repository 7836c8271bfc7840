"""`lowbit presets list|show` and `lowbit --version` (issue 14 items 2 and 4)."""

from __future__ import annotations

import json

import pytest
from lowbit.hwsim.spec import list_presets, load_accelerator
from lowbit.kernels_ref.loaders import load_yaml

from lowbit.cli import main


def test_presets_list_has_every_preset_with_family_clock_and_source(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["presets", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == list(list_presets())
    by = {r["name"]: r for r in rows}
    assert by["bitmod"]["family"] == "bit_serial" and by["bitmod"]["freq_hz"] == 1e9
    assert by["a100-like"]["cores"] == 108 and by["a100-like"]["freq_hz"] == pytest.approx(1.41e9)
    assert by["tpu-like"]["peak_int8_macs_per_cycle"] == 128 * 128  # its 128 x 128 array
    assert all(r["source"] for r in rows), [r["name"] for r in rows if not r["source"]]
    assert main(["presets", "list"]) == 0
    text = capsys.readouterr().out
    assert "1.41 GHz" in text and "lut_tensor_core" in text and len(text.splitlines()) == len(rows) + 1


def test_presets_show_prints_the_resolved_yaml(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["presets", "show", "loom"]) == 0
    d = load_yaml(capsys.readouterr().out)
    assert load_accelerator(d) == load_accelerator("loom")
    assert main(["presets", "show", "lom"]) == 2
    assert "did you mean loom" in capsys.readouterr().err


def test_version(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == "lowbit 0.1.0"


def test_simulate_compares_several_designs_in_one_table(capsys) -> None:  # type: ignore[no-untyped-def]
    from lowbit.hwsim import evaluate_workload
    from lowbit.models import zoo

    argv = ["simulate", "--hw", "bitmod", "--hw", "lut-tc-a100-like", "--hw", "a100-like",
            "--model", "resnet18", "--weights", "int4"]
    assert main([*argv, "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    rows = d["designs"]
    assert [r["hardware"] for r in rows] == ["bitmod", "lut-tc-a100-like", "a100-like"]
    wl = zoo.get("resnet18")
    for r in rows:  # every figure is the library's own, in SI units
        ref = evaluate_workload(wl, "int4", load_accelerator(r["hardware"]))
        assert r["latency_s"] == pytest.approx(ref.latency_s) and r["energy_j"] == pytest.approx(ref.total_energy_j)
        assert r["speedup"] == pytest.approx(rows[0]["latency_s"] / ref.latency_s)
        assert 0.0 <= r["stall_share"] <= 1.0 and 0.0 < r["utilization"] <= 1.0
    assert rows[0]["speedup"] == 1.0 and rows[1]["speedup"] > 10  # LUT TC vs a bit-serial ASIC
    assert main([*argv, "--csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split(",")[:3] == ["hardware", "latency_s", "cycles"] and len(lines) == 4
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "speed-up vs bitmod" in text and " ms" in text or " µs" in text
    assert "seq 0" not in text  # a CNN header has no sequence length
