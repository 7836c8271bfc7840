"""hwsim.spec.load_accelerator on what users actually pass: preset names that a local
directory must not shadow, mappings, wrong types, and hostile YAML (issues 14 and 20)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from lowbit.hwsim.spec import PRESET_DIR, load_accelerator, looks_like_path
from lowbit.kernels_ref.errors import InvalidSpecError
from lowbit.kernels_ref.loaders import load_yaml


def test_a_local_directory_never_shadows_a_preset(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bitmod").mkdir()
    (tmp_path / "loom").write_text("not yaml: [")  # even a file without .yaml is not read
    assert load_accelerator("bitmod").name == "bitmod"
    assert load_accelerator("loom").name == "loom"
    assert not looks_like_path("bitmod") and looks_like_path("./bitmod") and looks_like_path("a.yml")


def test_a_path_must_look_like_one(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine.yaml").write_text((PRESET_DIR / "tpu-like.yaml").read_text())
    assert load_accelerator("mine.yaml").name == "tpu-like"
    assert load_accelerator("./mine.yaml").name == "tpu-like"
    with pytest.raises(InvalidSpecError, match="did you mean bitmod"):
        load_accelerator("bitmd")


def test_a_mapping_in_the_yaml_layout_is_accepted() -> None:
    d = load_yaml((PRESET_DIR / "tpu-like.yaml").read_text())
    assert load_accelerator(d) == load_accelerator("tpu-like")


@pytest.mark.parametrize("bad", [None, 123, b"tpu-like", "", ["tpu-like"]])
def test_wrong_types_are_one_typed_error(bad) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidSpecError, match="expected a preset name or a YAML path"):
        load_accelerator(bad)


def test_duplicate_core_block_is_an_error(tmp_path: Path) -> None:
    text = (PRESET_DIR / "tpu-like.yaml").read_text() + "\ncore:\n  family: mac_array\n  rows: 4\n"
    p = tmp_path / "dup.yaml"
    p.write_text(text)
    with pytest.raises(InvalidSpecError, match=r"dup.yaml: line \d+: duplicate key 'core' \(first at line \d+\)"):
        load_accelerator(p)


def test_alias_bomb_spec_is_refused_quickly_with_a_short_message(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    p = tmp_path / "bomb.yaml"
    p.write_text("\n".join(lines) + "\nname: x\n")
    t0 = time.perf_counter()
    with pytest.raises(InvalidSpecError) as ei:
        load_accelerator(p)
    assert time.perf_counter() - t0 < 2.0 and len(str(ei.value)) < 200
    assert "expands to over" in str(ei.value) and str(p) in str(ei.value)


@pytest.mark.parametrize("raw,what", [("x: 1".encode("utf-16"), "UTF-16"),
                                      (b"\x00\x01", "NUL byte"), (b"   \n", "is empty")])
def test_undecodable_spec_files(tmp_path: Path, raw: bytes, what: str) -> None:
    p = tmp_path / "s.yaml"
    p.write_bytes(raw)
    with pytest.raises(InvalidSpecError, match=what):
        load_accelerator(p)


@pytest.mark.parametrize("wl,acc", [(None, "tpu-like"), ("resnet18", "tpu-like"), ("resnet18", None)])
def test_evaluate_workload_wrong_types_are_typed(wl, acc) -> None:  # type: ignore[no-untyped-def]
    from lowbit.hwsim import evaluate_workload
    from lowbit.models import zoo

    workload = zoo.get("resnet18") if wl == "resnet18" and acc is None else wl
    accel = load_accelerator(acc) if acc else acc
    with pytest.raises(InvalidSpecError, match="evaluate_workload: expected an? "):
        evaluate_workload(workload, "int8", accel)
