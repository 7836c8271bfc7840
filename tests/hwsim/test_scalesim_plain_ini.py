"""hwsim.scalesim_io's plain-line cfg reader equals configparser wherever it accepts a text.

The fast reader (`_PlainIni.parse`) either returns exactly what SCALE-Sim's configparser reads
(sections -> lower-cased keys -> stripped values) or declines (None) and configparser decides.
Held here on every cfg under tests/data, on hand-picked tricky lines, and on random texts drawn
from a grammar of the lines configparser treats specially; and `read_config` gives the same
`ScaleSimConfig` (or the same error) with the fast reader switched off.
"""

from __future__ import annotations

import configparser
import random
from pathlib import Path

import pytest
from lowbit.hwsim import scalesim_io
from lowbit.hwsim.scalesim_io import _PlainIni, read_config
from lowbit.kernels_ref.errors import InvalidSpecError

DATA = Path(__file__).resolve().parents[1] / "data"
CFGS = sorted(DATA.rglob("*.cfg"))


def _configparser(text: str) -> dict[str, dict[str, str]] | None:
    p = configparser.ConfigParser()
    try:
        p.read_string(text)
        return {s: {k: p.get(s, k) for k in p.options(s)} for s in p.sections()}
    except configparser.Error:
        return None


def _plain(text: str) -> dict[str, dict[str, str]] | None:
    r = _PlainIni.parse(text)
    return None if r is None else r._s


def test_every_cfg_here_reads_plainly_and_equal() -> None:
    assert len(CFGS) >= 6
    plain = 0
    for path in CFGS:
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError:  # a fuzz input in another encoding: read_text refuses it first
            continue
        got = _plain(text)
        if got is not None:
            plain += 1
            assert got == _configparser(text), path
    assert plain >= 6  # the golden cfgs take the fast path


TRICKY = [
    "[a]\nk: v\n",
    "[a]\nK = V : W\n",           # key ends at the first delimiter
    "[a]\nk : v = w\n",
    "[a] junk\nk: v\n",           # header is up to the last ]
    "[a]b]\nk: v\n",
    "[ a ]\nk: v\n",              # section name keeps its spaces
    "[a]\nk:\n",                  # empty value
    "[a]\nk: v\n\n\n[b]\nk: w\n",
    "[a]\n  # indented comment\nk: v\n; c\n",
    "[a]\nk: v\n  continued\n",   # continuation: declined
    "[a]\nk: v\n\n  more\n",
    "[a]\nk: 10%\n",              # interpolation: declined
    "k: v\n",                     # no section: declined (configparser errors)
    "[a]\nk: v\nK: w\n",          # duplicate key: declined
    "[a]\n[a]\n",                 # duplicate section: declined
    "[DEFAULT]\nk: v\n[a]\n",
    "[a]\n: v\n",
    "[a]\njust a line\n",
    "[]\nk: v\n",
    "[a\nk: v\n",
    "[a]\nk\t=\tv\r\n",
    "[a]\r\nk: v\r\n",
    "[a]\nk: v\x0bw\n",           # \v is not a line end for configparser
    "[a]\nk: v\u2028w\n",
]


@pytest.mark.parametrize("text", TRICKY)
def test_tricky_lines(text: str) -> None:
    got = _plain(text)
    if got is not None:
        assert got == _configparser(text)


def _random_text(rng: random.Random) -> str:
    pieces = ["[general]", "[a]", "[ b ]", "[DEFAULT]", "[a] x", "[]", "[c", "k: v", "K = v",
              "key:value:x", "k=", "  indented: 1", "\tk: 2", "# c", "  ; c", "", "   ",
              "ArrayHeight:    32", "x = 5%", "novalue", ": v", "k : v = w", "Dataflow : os",
              "k: v\r", "MemoryBanks: 1 "]
    return "\n".join(rng.choice(pieces) for _ in range(rng.randint(1, 9))) + rng.choice(["", "\n"])


def test_random_texts_never_differ() -> None:
    rng = random.Random(0)
    accepted = 0
    for _ in range(4000):
        text = _random_text(rng)
        got = _plain(text)
        if got is not None:
            accepted += 1
            assert got == _configparser(text), repr(text)
    assert accepted > 200  # the property was exercised, not vacuous


@pytest.mark.parametrize("path", CFGS, ids=lambda p: p.name)
def test_read_config_same_with_and_without_the_fast_reader(path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    def run() -> object:
        try:
            return read_config(path)
        except InvalidSpecError as exc:
            return str(exc)

    fast = run()
    monkeypatch.setattr(scalesim_io._PlainIni, "parse", classmethod(lambda cls, text: None))
    assert run() == fast
