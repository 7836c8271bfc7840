"""The generated reference (docs/reference) is what the code says, and the generator cannot
be fooled by an undocumented key."""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
from pathlib import Path

import pytest
from lowbit.hwsim.cores import family_module
from lowbit.hwsim.cores.base import CoreFamily

from lowbit import docgen
from lowbit.docgen_fields import MissingDocError, field_docs, unit_of

REF = Path(__file__).resolve().parents[2] / "docs" / "reference"


def test_committed_reference_is_up_to_date(tmp_path: Path) -> None:
    written = docgen.write(tmp_path)
    assert {p.name for p in written} == set(docgen.PAGES)
    stale = []
    for p in written:
        ref = REF / p.name
        if not ref.is_file() or ref.read_text(encoding="utf-8") != p.read_text(encoding="utf-8"):
            stale.append(p.name)
    extra = sorted(p.name for p in REF.glob("*.md") if p.name not in docgen.PAGES)
    assert not stale and not extra, (
        f"docs/reference is out of date ({', '.join(stale + extra)} differ): run `make docs`")
    assert docgen.check(REF) == []


@pytest.mark.slow   # 1.2-2.3 s: out of the fast lane (make test runs it)
def test_check_reports_a_changed_page(tmp_path: Path) -> None:
    docgen.write(tmp_path)
    page = tmp_path / "accelerator.md"
    page.write_text(page.read_text(encoding="utf-8").replace("| `freq_hz` |", "| `freq_mhz` |"),
                    encoding="utf-8")
    problems = docgen.check(tmp_path)
    assert len(problems) == 1 and "freq_mhz" in problems[0]
    assert docgen.main(["--out", str(tmp_path), "--check"]) == 1


def test_every_spec_field_and_family_is_documented() -> None:
    page = docgen.accelerator_page()
    for fam in CoreFamily:
        assert f"### `{fam.value}`" in page
        for f in dataclasses.fields(family_module(fam).Spec):
            assert f"| `{f.name}` |" in page, (fam, f.name)
    # units from the names, defaults from the dataclasses, the overrides no preset sets
    assert "| `freq_hz` | number | Hz | required |" in page
    assert "| `energy_j_per_byte` | number or null | J/byte | `null` |" in page
    assert "| `leakage_w_per_mm2` | number or null | W/mm² | `null` |" in page and "| none |" in page
    assert "| `scalesim_mode` | bool | — | `false` |" in page


def test_every_command_has_its_help() -> None:
    from lowbit.cli import _COMMANDS

    page = docgen.cli_page()
    for cmd in _COMMANDS:
        assert f"## `lowbit {cmd}`" in page
    assert "usage: lowbit presets show" in page


def test_schema_pages_carry_the_validators_keys() -> None:
    from lowbit.models import workload_io
    from lowbit.search.codesign import parse

    space = docgen.design_space_page()
    for k in parse._TOP_KEYS:
        assert f"| `{k}` |" in space
    assert "| `samples` | int >= 1 | `64` |" in space  # default read from the parser
    work = docgen.workload_page()
    for k in workload_io._TOP | workload_io._LAYER:
        assert f"| `{k}` |" in work
    costs = docgen.costs_page()
    for k in ("layers", "choices", "sensitivity", "ties", "fixed", "allowed"):
        assert f"| `{k}` |" in costs
    alloc = docgen.allocation_page()
    assert '"format": "int4"' in alloc  # the example is a real solve under a budget


def test_a_validator_key_without_a_meaning_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    from lowbit.search.codesign import parse

    monkeypatch.setattr(parse, "_TOP_KEYS", (*parse._TOP_KEYS, "warp_factor"))
    with pytest.raises(MissingDocError, match="warp_factor"):
        docgen.design_space_page()


def test_a_field_without_a_comment_fails(tmp_path: Path) -> None:
    src = tmp_path / "lowbit_docgen_probe.py"
    src.write_text(
        "from dataclasses import dataclass\n\n\n@dataclass(frozen=True)\nclass S:\n"
        "    \"\"\"Probe.\n\n    - `c_bytes`: from the docstring\n    \"\"\"\n\n"
        "    a_hz: float = 1.0  # trailing\n                       # continued\n"
        "    # above\n    b: int = 2\n    c_bytes: int = 3\n    d: int = 4\n",
        encoding="utf-8")
    spec = importlib.util.spec_from_file_location("lowbit_docgen_probe", src)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["lowbit_docgen_probe"] = mod
    try:
        spec.loader.exec_module(mod)
        with pytest.raises(MissingDocError, match=r"S\.d: no comment"):
            field_docs(mod.S)
        docs = {f.name: f for f in field_docs(mod.S, skip=("d",))}
    finally:
        del sys.modules["lowbit_docgen_probe"]
    assert docs["a_hz"].meaning == "trailing continued" and docs["a_hz"].unit == "Hz"
    assert docs["b"].meaning == "above" and docs["b"].default == "2"
    assert docs["c_bytes"].meaning == "from the docstring" and docs["c_bytes"].unit == "bytes"


@pytest.mark.parametrize(("name", "unit"), [
    ("freq_hz", "Hz"), ("size_bytes", "bytes"), ("bandwidth_bytes_per_cycle", "bytes/cycle"),
    ("energy_j_per_byte", "J/byte"), ("mac_int8_j", "J"), ("node_nm", "nm"),
    ("leakage_w_per_mm2", "W/mm²"), ("pe_area_um2", "µm²"), ("launch_cycles", "cycles"),
    ("bits_per_cycle_w", ""), ("parallel_bits_a", ""), ("rows", ""), ("accumulator_bits", "bits"),
])
def test_unit_from_name(name: str, unit: str) -> None:
    assert unit_of(name) == unit


def test_readme_cli_table_shows_every_command_and_required_argument() -> None:
    import argparse

    from lowbit.cli import build_parser

    readme = (REF.parents[1] / "README.md").read_text(encoding="utf-8")
    rows = [ln for ln in readme.splitlines() if ln.startswith("| `lowbit ")]
    for path, p in docgen._subcommands(build_parser(), ("lowbit",)):
        if len(path) == 1 or any(isinstance(a, argparse._SubParsersAction) for a in p._actions):
            continue  # command groups: their leaves are checked
        cmd = " ".join(path)
        mine = [r for r in rows if r.startswith((f"| `{cmd} ", f"| `{cmd}`"))]
        assert mine, f"README's command table has no row for {cmd}"
        for a in p._actions:
            if not a.option_strings:
                word = (a.metavar or a.dest).upper()
                assert any(word in r for r in mine), f"README: {cmd} lacks its argument {word}"
            elif a.required:
                assert any(any(f"{o} " in r for o in a.option_strings) for r in mine), (
                    f"README: {cmd} lacks its required {a.option_strings[-1]}")


@pytest.mark.slow
def test_site_builds_strict(tmp_path: Path) -> None:
    """`mkdocs build --strict` (make docs) succeeds: every page, link and API entry resolves."""
    import subprocess

    root = REF.parents[1]
    mkdocs = Path(sys.executable).with_name("mkdocs")
    proc = subprocess.run([str(mkdocs), "build", "--strict", "-q", "-d", str(tmp_path / "site")],
                          check=False, cwd=root, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    api = (tmp_path / "site" / "api" / "index.html").read_text(encoding="utf-8")
    for name in ("from_torch", "from_hf_config", "from_onnx", "resolve_model", "evaluate_workload",
                 "from_hwsim", "solve", "sweep"):
        assert name in api
    import inspect

    from lowbit.hwsim import evaluate_workload
    from lowbit.search.costs import CostTable

    for fn in (evaluate_workload, CostTable.from_hwsim):  # docstrings rendered, not just names
        first = inspect.getdoc(fn).split("`")[0].splitlines()[0].strip()
        assert len(first) > 10 and first in api, first
