"""The `lowbit` command line. Each command group lives in `lowbit/cmd_<name>.py`
and exports `register(subparsers)`; handlers return an exit code.

Any `LowbitError` (and bad files) becomes one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from lowbit.kernels_ref.errors import LowbitError

__all__ = ["build_parser", "main"]

# Command modules in the order `lowbit --help` lists them.
_COMMAND_MODULES = ("models", "presets", "formats", "simulate", "verify", "allocate", "export", "sweep", "report", "demo", "rtl")
# Command -> the module that registers it (tests hold this equal to what the modules register),
# so that `lowbit simulate ...` imports and builds only cmd_simulate.
_COMMANDS = {"models": "models", "presets": "presets", "formats": "formats", "simulate": "simulate", "verify": "verify",
             "allocate": "allocate", "pareto": "allocate", "export": "export", "sweep": "sweep", "report": "report",
             "demo": "demo", "rtl": "rtl"}


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        if len(message) > 300:  # argparse quotes a bad value whole; keep the line short
            message = f"{message[:300]}... ({len(message)} chars)"
        sys.stderr.write(f"lowbit: error: {self.prog}: {message}\n")
        raise SystemExit(2)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("lowbit")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or only of `command`'s module when it names one."""
    parser = _Parser(prog="lowbit", description="Co-design low-bit accelerators and number formats.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    parser.add_argument("-q", "--quiet", dest="quiet_all", action="store_true",
                        help="no progress bars and no third-party output (transformers, dask); "
                             "errors still print")
    parser.add_argument("--version", action="version", version=f"lowbit {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    modules = (_COMMANDS[command],) if command in _COMMANDS else _COMMAND_MODULES
    for name in modules:
        # A missing or broken command module is a bug: it raises here, never drops the command.
        # Command modules import only argparse-level code; heavy imports live in the handlers.
        importlib.import_module(f"lowbit.cmd_{name}").register(sub)
    return parser


def _command_of(argv: Sequence[str]) -> str | None:
    """The command word: the first argument that is not an option (`-v`, `-q` take no value)."""
    return next((a for a in argv if not a.startswith("-")), None)


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(_command_of(argv))
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # usage errors (one line, exit 2), --help and --version (exit 0)
        return int(exc.code) if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if args.quiet_all or getattr(args, "quiet", False):  # `lowbit -q CMD` or `CMD --quiet`
        from lowbit.quiet import silence

        silence()
        args.quiet = True
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except LowbitError as exc:
        msg = " ".join(str(exc).split("\n"))
        if len(msg) > 1000:  # a message quoting a long value whole: one readable line still
            msg = f"{msg[:1000]}... ({len(msg)} chars)"
        sys.stderr.write(f"lowbit: error: {msg}\n")
        return 2
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        sys.stderr.write(f"lowbit: error: cannot read {exc.filename}: {exc.strerror}\n")
        return 2
    except BrokenPipeError:
        return 0
    except OSError as exc:  # a name too long, a full disk, ...: what the OS said, on one line
        name = str(exc.filename or "")
        name = name if len(name) <= 80 else f"{name[:80]}... ({len(name)} chars)"
        sys.stderr.write(f"lowbit: error: {name + ': ' if name else ''}{exc.strerror or exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("lowbit: interrupted\n")
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
