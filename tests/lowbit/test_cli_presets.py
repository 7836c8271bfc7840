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
    with pytest.raises(SystemExit) as ei:
        main(["--version"])
    assert ei.value.code == 0
    assert capsys.readouterr().out.strip() == "lowbit 0.1.0"
