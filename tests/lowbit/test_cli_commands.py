"""Every command module is registered; a missing one is an error, never a dropped command."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from lowbit import cli

LOWBIT = Path(cli.__file__).resolve().parent
# The commands `lowbit --help` must offer (cmd_allocate registers `allocate` and `pareto`).
EXPECTED = {"models", "presets", "formats", "simulate", "verify", "allocate", "pareto", "export", "sweep", "report",
            "demo", "rtl"}


def _subcommands(parser: argparse.ArgumentParser) -> set[str]:
    [sub] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return set(sub.choices)


def test_every_cmd_module_is_listed_and_registers() -> None:
    on_disk = {p.stem.removeprefix("cmd_") for p in LOWBIT.glob("cmd_*.py")}
    assert on_disk == set(cli._COMMAND_MODULES) == set(cli._COMMANDS.values())
    assert _subcommands(cli.build_parser()) == set(cli._COMMANDS) == EXPECTED


@pytest.mark.parametrize("command", sorted(EXPECTED))
def test_one_command_builds_only_its_module(command: str) -> None:
    """`lowbit CMD ...` builds CMD's module alone: the map names the module that registers it."""
    module = cli._COMMANDS[command]
    assert _subcommands(cli.build_parser(command)) == {c for c, m in cli._COMMANDS.items() if m == module}


def test_command_word_skips_options() -> None:
    assert cli._command_of(["-v", "simulate", "--hw", "x"]) == "simulate"
    assert cli._command_of(["--help"]) is None
    assert _subcommands(cli.build_parser(None)) == EXPECTED
    assert _subcommands(cli.build_parser("no-such-command")) == EXPECTED  # argparse names the choices


def test_a_missing_command_module_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "_COMMAND_MODULES", (*cli._COMMAND_MODULES, "no_such_command"))
    with pytest.raises(ModuleNotFoundError, match="lowbit.cmd_no_such_command"):
        cli.build_parser()
    monkeypatch.setitem(cli._COMMANDS, "ghost", "no_such_command")
    with pytest.raises(ModuleNotFoundError, match="lowbit.cmd_no_such_command"):
        cli.main(["ghost"])
