"""SCALE-Sim cfg text helpers for `hwsim.scalesim_io`: where a key or section sits (for error
messages), and `_PlainIni`, the plain-line reader that gives configparser's mapping without
configparser's cost on the common, plainly valid cfg."""
from __future__ import annotations

import configparser
import re


def _line_of(text: str, section: str, key: str) -> int:
    """1-based line of `key` in `section` (0 when absent)."""
    current = None
    for i, raw in enumerate(text.splitlines(), 1):
        s = raw.strip()
        m = re.fullmatch(r"\[\s*(.+?)\s*\]", s)
        if m:
            current = m.group(1)
            continue
        if current == section:
            km = re.match(r"([^:=]+?)\s*[:=]", s)
            if km and km.group(1).strip().lower() == key.lower():
                return i
    return 0


def _section_line(text: str, section: str) -> int:
    for i, raw in enumerate(text.splitlines(), 1):
        if re.fullmatch(r"\[\s*" + re.escape(section) + r"\s*\]", raw.strip()):
            return i
    return 0


class _PlainIni:
    """The sections of a cfg made only of plain lines, read as configparser reads them.

    `parse` accepts a text only when every line is blank, a full-line comment (`#` or `;` after
    stripping), a `[section]` header, or `key <:|=> value` starting in column 0, with no `%`
    anywhere, no `[DEFAULT]`, no key before the first header and no duplicate section or key.
    For such a text configparser (SCALE-Sim's: default options, BasicInterpolation) gives
    exactly `{section: {key.rstrip().lower(): value.strip()}}` (the key ends at the first `:` or
    `=`; a section name is what lies between `[` and the last `]`): no continuation lines, no
    interpolation, no error. Any other text returns None and goes to configparser itself, so
    the semantics stay configparser's; tests hold both paths equal on every cfg here.
    """

    BOOLEAN_STATES = configparser.ConfigParser.BOOLEAN_STATES

    def __init__(self, sections: dict[str, dict[str, str]]) -> None:
        self._s = sections

    @classmethod
    def parse(cls, text: str) -> _PlainIni | None:
        if "%" in text:
            return None
        sections: dict[str, dict[str, str]] = {}
        cur: dict[str, str] | None = None
        for line in text.split("\n"):  # configparser iterates a StringIO: lines end at \n only
            s = line.strip()
            if not s or s[0] in "#;":
                continue
            if line[0] != s[0]:  # indented: a continuation line or worse
                return None
            if s[0] == "[":
                end = s.rfind("]")
                name = s[1:end]
                if end < 2 or name in sections or name == "DEFAULT":
                    return None
                cur = sections[name] = {}
                continue
            i, j = s.find(":"), s.find("=")
            cut = min(i, j) if i >= 0 and j >= 0 else max(i, j)
            if cur is None or cut < 1:
                return None
            key = s[:cut].rstrip().lower()
            if not key or key in cur:
                return None
            cur[key] = s[cut + 1:].strip()
        return cls(sections)

    def has_section(self, section: str) -> bool:
        return section in self._s

    def has_option(self, section: str, key: str) -> bool:
        return section in self._s and key.lower() in self._s[section]

    def get(self, section: str, key: str, *, raw: bool = False, fallback: str | None = None) -> str:
        del raw  # no '%' in the text: raw and interpolated values are the same
        value = self._s[section].get(key.lower())
        if value is None:
            if fallback is None:
                raise KeyError(key)
            return fallback
        return value
