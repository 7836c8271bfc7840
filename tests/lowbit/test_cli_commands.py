"""Every command module is registered; a missing one is an error, never a dropped command."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from lowbit import cli

LOWBIT = Path(cli.__file__).resolve().parent
# The commands `lowbit --help` must offer (cmd_allocate registers `allocate` and `pareto`).
EXPECTED = {"models", "formats", "simulate", "verify", "allocate", "pareto", "sweep", "report", "demo"}


def _subcommands(parser: argparse.ArgumentParser) -> set[str]:
    [sub] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return set(sub.choices)


def test_every_cmd_module_is_listed_and_registers() -> None:
    on_disk = {p.stem.removeprefix("cmd_") for p in LOWBIT.glob("cmd_*.py")}
    assert on_disk == set(cli._COMMAND_MODULES)
    assert _subcommands(cli.build_parser()) == EXPECTED


def test_a_missing_command_module_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "_COMMAND_MODULES", (*cli._COMMAND_MODULES, "no_such_command"))
    with pytest.raises(ModuleNotFoundError, match="lowbit.cmd_no_such_command"):
        cli.build_parser()
