"""Read a frozen spec dataclass's fields as documentation: type, unit, default, meaning.

The meaning of a field is read from its source, in this order:

1. the comment trailing the field's line (continued on comment-only lines aligned with it);
2. the comment lines directly above the field;
3. a ``- `name`: text`` bullet in the class docstring.

A field with none of these is an error (`MissingDocError`), so a new spec key cannot reach
the generated reference undocumented. The unit comes from the SI suffix of the name
(DESIGN.md rule 2: `freq_hz`, `size_bytes`, `energy_j_per_byte`, ...).
"""

from __future__ import annotations

import ast
import dataclasses
import enum
import inspect
import io
import re
import sys
import tokenize
import types
import typing
from dataclasses import dataclass
from typing import Any

from lowbit.kernels_ref.errors import LowbitError

__all__ = ["FieldDoc", "MissingDocError", "class_comments", "field_docs", "plain", "type_text",
           "unit_of"]


class MissingDocError(LowbitError):
    """A spec field or schema key has no meaning written next to it in the code."""


# Longest suffix first; a name that ends in none of these has no unit (a count or a flag).
_UNITS: tuple[tuple[str, str], ...] = (
    ("_bytes_per_cycle", "bytes/cycle"),
    ("_words_per_cycle", "words/cycle"),
    ("_macs_per_cycle", "MACs/cycle"),
    ("_ops_per_cycle", "ops/cycle"),
    ("_per_cycle", "per cycle"),
    ("_cycles_per_group", "cycles/group"),
    ("_cycles_per_lookup", "cycles/lookup"),
    ("_j_per_byte", "J/byte"),
    ("_w_per_mm2", "W/mm²"),
    ("_ops_per_entry", "ops/entry"),
    ("_ops", "ops"),
    ("_hz", "Hz"),
    ("_bytes", "bytes"),
    ("_bits", "bits"),
    ("_cycles", "cycles"),
    ("_mm2", "mm²"),
    ("_um2", "µm²"),
    ("_nm", "nm"),
    ("_j", "J"),
    ("_s", "s"),
    ("_w", "W"),
)
# Names whose last part looks like a unit but is not one (`bits_per_cycle_w`: w = weights).
_NOT_UNITS = re.compile(r"_(per_cycle|bits)_[wa]$")


def unit_of(name: str) -> str:
    """The SI unit a field's name carries ('' when none): `freq_hz` -> Hz."""
    if _NOT_UNITS.search(name):
        return ""
    for suffix, unit in _UNITS:
        if name.endswith(suffix) or name == suffix[1:]:
            return unit
    return ""


def type_text(hint: Any) -> str:
    """A type hint in words a YAML author reads: `int`, `number`, `list of int`, `int or null`."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        text = " or ".join(type_text(a) for a in args)
        return f"{text} or null" if len(args) < len(typing.get_args(hint)) else text
    if origin is tuple:
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return f"list of {type_text(args[0])}"
        return "list [" + ", ".join(type_text(a) for a in args) + "]"
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return "one of " + ", ".join(f"`{m.value}`" for m in hint)
    names = {int: "int", float: "number", bool: "bool", str: "string"}
    if hint in names:
        return names[hint]
    if hint is Any:
        return "any"
    return getattr(hint, "__name__", str(hint))


def plain(v: Any) -> str:
    """A default value as it is written in YAML."""
    if isinstance(v, enum.Enum):
        return str(v.value)
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    if isinstance(v, (tuple, list)):
        return "[" + ", ".join(plain(x) for x in v) + "]"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def _module_parts(module_name: str) -> tuple[ast.Module, dict[int, tuple[int, str]], tuple[str, ...]]:
    """(ast, {line: (column, comment text)}, source lines) of a module."""
    src = inspect.getsource(sys.modules[module_name])
    comments: dict[int, tuple[int, str]] = {}
    for tok in tokenize.generate_tokens(io.StringIO(src).readline):
        if tok.type == tokenize.COMMENT:
            comments[tok.start[0]] = (tok.start[1], tok.string.lstrip("#").strip())
    return ast.parse(src), comments, tuple(src.splitlines())


def _class_node(cls: type) -> ast.ClassDef:
    tree, _, _ = _module_parts(cls.__module__)
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == cls.__name__:
            return node
    raise MissingDocError(f"{cls.__module__}.{cls.__name__}: class not found at module level")


def _docstring_bullets(doc: str | None) -> dict[str, str]:
    out: dict[str, str] = {}
    name = None
    for line in (doc or "").splitlines():
        m = re.match(r"\s*- `([A-Za-z_][A-Za-z0-9_]*)`:\s*(.*)", line)
        if m:
            name = m.group(1)
            out[name] = m.group(2).strip()
        elif name and line.strip() and not line.strip().startswith("- "):
            out[name] += " " + line.strip()
        else:
            name = None
    return out


def class_comments(cls: type) -> dict[str, str]:
    """Attribute name -> its comment (trailing, continued, or above) for the assignments in a
    class body: dataclass fields and enum members alike."""
    node = _class_node(cls)
    _, comments, lines = _module_parts(cls.__module__)
    out: dict[str, str] = {}
    for stmt in node.body:
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            name = stmt.target.id
        elif isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            name = stmt.targets[0].id
        else:
            continue
        end = stmt.end_lineno or stmt.lineno
        trailing = [(ln, comments[ln]) for ln in range(stmt.lineno, end + 1) if ln in comments]
        if trailing:
            ln, (col, text) = trailing[0]
            parts = [text]
            nxt = end + 1
            while nxt in comments and comments[nxt][0] == col and not lines[nxt - 1][:col].strip():
                parts.append(comments[nxt][1])
                nxt += 1
            out[name] = " ".join(parts)
            continue
        above = []
        ln = stmt.lineno - 1
        while ln in comments and comments[ln][0] == stmt.col_offset:  # own lines, field indent
            above.append(comments[ln][1])
            ln -= 1
        if above:
            out[name] = " ".join(reversed(above))
    return out


@dataclass(frozen=True)
class FieldDoc:
    """One documented field of a spec dataclass."""

    name: str
    type: str
    unit: str
    default: str | None  # None: required
    meaning: str


def field_docs(cls: type, skip: tuple[str, ...] = ()) -> tuple[FieldDoc, ...]:
    """Every init field of dataclass `cls` (but `skip`), documented from its source;
    MissingDocError naming the class and field when one has no meaning there."""
    hints = typing.get_type_hints(cls)
    comments = class_comments(cls)
    bullets = _docstring_bullets(cls.__doc__)
    out = []
    for f in dataclasses.fields(cls):
        if not f.init or f.name in skip:
            continue
        meaning = comments.get(f.name) or bullets.get(f.name)
        if not meaning:
            raise MissingDocError(
                f"{cls.__module__}.{cls.__qualname__}.{f.name}: no comment says what this field "
                f"means; add one on its line (the reference in docs/reference is built from it)")
        if f.default is not dataclasses.MISSING:
            default: str | None = plain(f.default)
        elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            default = "(defaults below)" if dataclasses.is_dataclass(f.default_factory) else plain(
                f.default_factory())  # type: ignore[misc]
        else:
            default = None
        out.append(FieldDoc(f.name, type_text(hints[f.name]), unit_of(f.name), default, meaning))
    return tuple(out)
