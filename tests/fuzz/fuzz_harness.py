"""Run one fuzz input through the CLI in-process and classify how it ended.

An input ends in exactly one acceptable way:

- ``clean_error``: exit code 2 and exactly one stderr line ``lowbit: error: ...`` (for a file
  input, the line names the file);
- ``valid``: exit code 0 (1 for `verify`, whose 1 means "a check failed"), with no Python
  warning raised on the way (warnings are errors inside the harness) and no NaN, infinity or
  wrapped int64 in what it printed.

Everything else is a failure, counted by kind:

- ``traceback``: an exception escaped `lowbit.cli.main` (including a warning turned error);
- ``hang``: the case ran past its time bound (SIGALRM);
- ``blowup``: MemoryError under the address-space bound the harness sets for the case;
- ``silent_accept``: exit 0 for an input the case says is wrong, or a valid-looking result
  carrying NaN/inf/-2**63;
- ``bad_error``: exit 2 but not one clean line, or a line that does not name the file.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import resource
import signal
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["FAILURE_KINDS", "KINDS", "Case", "Outcome", "run_case"]

KINDS = ("clean_error", "valid", "traceback", "hang", "blowup", "silent_accept", "bad_error")
FAILURE_KINDS = KINDS[2:]

# A printed number that is really an overflow: nan, inf, or int64's minimum.
# (a word in prose such as "no inf/NaN" is not a number: '/' on either side excludes it)
_SUSPICIOUS = re.compile(r"(?<![\w./])(?:-?nan|-?inf|-9223372036854775808)(?![\w./])", re.IGNORECASE)


class _Hang(BaseException):
    """Raised by SIGALRM; a BaseException so that no `except Exception` swallows it."""


@dataclass(frozen=True)
class Case:
    """One input: the argv (after `lowbit`), what it should do, and its bounds.

    expect: "error" (the input is wrong: exit 2 required), "valid" (exit 0 required) or
    "any" (a mutated input of unknown validity: either clean end is fine).
    names: a string the error line must contain (the file's name) when it fails.
    """

    kind: str
    label: str
    argv: tuple[str, ...]
    expect: str = "any"
    names: str | None = None
    time_s: float = 20.0
    mem_bytes: int = 2 * 2**30
    setup: Callable[[], None] | None = field(default=None, compare=False)


@dataclass
class Outcome:
    case: Case
    kind: str
    rc: int | None
    stdout: str
    stderr: str
    elapsed_s: float
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.kind in ("clean_error", "valid")

    def describe(self) -> str:
        return (f"[{self.kind}] {self.case.kind}/{self.case.label} rc={self.rc} "
                f"{self.elapsed_s:.2f}s argv={' '.join(self.case.argv)[:300]}\n"
                f"  stderr: {self.stderr[-600:]!r}\n  detail: {self.detail[-1500:]}")


def _vm_bytes() -> int:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[0]) * resource.getpagesize()
    except OSError:  # pragma: no cover - not Linux
        return 0


@contextlib.contextmanager
def _memory_bound(extra: int):
    """Address space capped at what the process maps now plus `extra` bytes."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = _vm_bytes() + extra
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


@contextlib.contextmanager
def _time_bound(seconds: float):
    def fire(signum, frame):
        raise _Hang()

    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def run_case(case: Case) -> Outcome:
    """Run `lowbit.cli.main(case.argv)` with stdout/stderr captured, warnings as errors,
    numpy floating-point errors raised, a time bound and an address-space bound."""
    from lowbit.cli import main

    if case.setup is not None:
        case.setup()
    out, err = io.StringIO(), io.StringIO()
    handler = logging.StreamHandler(err)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    rc: int | None = None
    kind = ""
    detail = ""
    t0 = time.perf_counter()
    try:
        # a mutated relative `-o %` must not write into the caller's directory (the repo)
        with tempfile.TemporaryDirectory(prefix="lowbit-fuzz-") as scratch, contextlib.chdir(scratch), \
                contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
                warnings.catch_warnings(), np.errstate(over="raise", divide="raise", invalid="raise"):
            warnings.simplefilter("error")
            with _time_bound(case.time_s), _memory_bound(case.mem_bytes):
                try:
                    rc = main(list(case.argv))
                except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
                    rc = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    except _Hang:
        kind, detail = "hang", f"past the {case.time_s} s bound"
    except MemoryError:
        kind, detail = "blowup", f"MemoryError under a {case.mem_bytes} byte bound"
    except BaseException:  # noqa: BLE001 - anything else escaping main is a traceback
        kind, detail = "traceback", traceback.format_exc()
    finally:
        root.removeHandler(handler)
    elapsed = time.perf_counter() - t0
    so, se = out.getvalue(), err.getvalue()
    if not kind:
        kind, detail = _classify(case, rc, so, se)
    return Outcome(case, kind, rc, so, se, elapsed, detail)


def _classify(case: Case, rc: int | None, so: str, se: str) -> tuple[str, str]:
    ok_rcs = (0, 1) if case.argv[:1] == ("verify",) else (0,)
    if rc == 2:
        lines = [ln for ln in se.splitlines() if ln.strip()]
        errs = [ln for ln in lines if ln.startswith("lowbit: error:")]
        if "Traceback" in se:
            return "traceback", se
        if not se.strip() and so.startswith("usage:"):  # a command group without its subcommand
            return "clean_error", ""
        if len(errs) != 1 or len(lines) != 1:
            return "bad_error", f"{len(lines)} stderr lines, {len(errs)} error lines"
        if len(errs[0]) > 2000:
            return "bad_error", f"error line of {len(errs[0])} characters"
        if case.expect == "valid":
            return "bad_error", "a valid input was refused"
        if case.names and case.names not in errs[0]:
            return "bad_error", f"error line does not name {case.names!r}"
        return "clean_error", ""
    if rc in ok_rcs:
        if case.expect == "error":
            return "silent_accept", "exit 0 for an input that is wrong"
        m = _SUSPICIOUS.search(so)
        if m:
            return "silent_accept", f"printed {m.group(0)!r}: {so[max(0, m.start() - 80):m.end() + 40]!r}"
        return "valid", ""
    return "bad_error", f"exit code {rc}"


def run_all(cases: Sequence[Case]) -> list[Outcome]:
    return [run_case(c) for c in cases]


def counts(outcomes: Sequence[Outcome]) -> dict[str, int]:
    c = {k: 0 for k in KINDS}
    for o in outcomes:
        c[o.kind] += 1
    return c


def write_file(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.write_bytes(data)
    return path


if __name__ == "__main__":  # pragma: no cover
    o = run_case(Case("argv", "cli", tuple(sys.argv[1:])))
    print(o.describe())
