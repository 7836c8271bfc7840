"""One hardened reader for every YAML and JSON file lowbit takes from a user.

Bounded work by design, not by timeout:

- the file is read as bytes up to a size limit and decoded as UTF-8; anything else (a UTF-16
  byte-order mark, Latin-1 bytes, NUL bytes) is an error that says what encoding was expected;
- YAML is loaded safely (no tags that run code), with YAML 1.2 floats (`1e9`), duplicate keys
  rejected naming the key and both lines, nesting limited, and aliases limited both in count
  and in the size of the tree they expand to (a "billion laughs" file is refused while it is
  still a few hundred nodes);
- JSON refuses NaN/Infinity, duplicate keys, and integer literals longer than 20 digits
  (10**400 never reaches numpy);
- loaded numbers are checked: no integer beyond int64, no NaN or infinite float, no string
  longer than a bound;
- messages quote at most a short prefix of a bad value (`short`).

Every failure is an `InvalidSpecError` naming the file (`where`) and, where known, the line
and column. Limits are keyword arguments with stated defaults (`Limits`).

It sits beside `errors.py` at the bottom of the dependency graph so that every package can
use it without importing upwards.
"""

from __future__ import annotations

import functools
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lowbit.kernels_ref.errors import InvalidSpecError

__all__ = ["Limits", "check_tree", "load_json", "load_yaml", "read_text", "short"]

INT64_MAX = 2**63 - 1


@dataclass(frozen=True)
class Limits:
    """Bounds on one input file. The defaults fit every file lowbit ships with a wide margin:
    the largest preset is ~3 KB, 8 levels deep, with no aliases; a 100,000-layer costs file
    is ~15 MB."""

    max_bytes: int = 64 * 2**20      # 64 MiB
    max_depth: int = 64              # nesting of mappings/sequences
    max_aliases: int = 256           # `*name` references in one YAML document
    max_nodes: int = 5_000_000       # nodes of the tree after alias expansion
    max_str: int = 100_000           # characters in one string value or key


DEFAULT = Limits()


def short(value: Any, n: int = 60) -> str:
    """repr of a value cut to `n` characters, with its full length said when cut."""
    r = repr(value) if not isinstance(value, (list, dict, tuple, set)) else \
        f"<{type(value).__name__} of {len(value)}>"
    return r if len(r) <= n else f"{r[:n]}... ({len(r)} chars)"


_BOMS = ((b"\xff\xfe\x00\x00", "UTF-32-LE"), (b"\x00\x00\xfe\xff", "UTF-32-BE"),
         (b"\xff\xfe", "UTF-16-LE"), (b"\xfe\xff", "UTF-16-BE"))


def decode(raw: bytes, where: str) -> str:
    """UTF-8 text of `raw` (a UTF-8 BOM is dropped), or an error saying what was found."""
    for bom, name in _BOMS:
        if raw.startswith(bom):
            raise InvalidSpecError(f"{where}: is {name} text (byte-order mark); expected UTF-8")
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    nul = raw.find(b"\x00")
    if nul >= 0:
        raise InvalidSpecError(f"{where}: NUL byte at offset {nul}: a binary file, or UTF-16 "
                               "without a byte-order mark; expected UTF-8 text")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InvalidSpecError(f"{where}: line {line}: byte 0x{raw[exc.start]:02x} is not UTF-8 "
                               "(Latin-1 or another 8-bit encoding?); expected UTF-8 text") from None


def read_text(path: str | Path, what: str = "file", limits: Limits = DEFAULT) -> str:
    """The UTF-8 text of a user file, size-checked before reading it."""
    if not isinstance(path, (str, Path)):
        raise InvalidSpecError(f"{what}: expected a path, got {type(path).__name__}")
    p = Path(path)
    try:
        size = p.stat().st_size
        if p.is_dir():
            raise InvalidSpecError(f"{p}: is a directory, expected a {what}")
        if size > limits.max_bytes:
            raise InvalidSpecError(f"{p}: {size} bytes, over the {limits.max_bytes}-byte limit "
                                   f"for a {what}")
        with p.open("rb") as fh:
            raw = fh.read(limits.max_bytes + 1)
    except FileNotFoundError:
        raise InvalidSpecError(f"{p}: {what} not found") from None
    except OSError as exc:
        raise InvalidSpecError(f"{p}: cannot read {what}: {exc.strerror or exc}") from None
    if len(raw) > limits.max_bytes:  # a file that grew, or a device
        raise InvalidSpecError(f"{p}: over the {limits.max_bytes}-byte limit for a {what}")
    text = decode(raw, str(p))
    if not text.strip():
        raise InvalidSpecError(f"{p}: {what} is empty")
    return text


# ---------------------------------------------------------------- checks on a loaded tree

def _path(chain: Any) -> str:
    """'a.0.b' from the (parent, key) chain `check_tree` carries (built only for a message)."""
    keys = []
    while chain is not None:
        chain, k = chain
        keys.append(str(k))
    return ".".join(reversed(keys)) or "<top>"


def check_tree(data: Any, where: str, limits: Limits = DEFAULT) -> Any:
    """Walk a loaded tree once (iteratively; shared sub-trees counted as often as they appear,
    each distinct one walked once) and refuse what no lowbit key accepts. Numbers in a list are
    checked in line and paths are spelt out only for a message, so a 100,000-layer costs file
    (~1.3 M values) is walked in well under a second."""
    counts: dict[int, int] = {}  # id -> expanded node count, for containers already walked
    max_depth, max_nodes = limits.max_depth, limits.max_nodes

    def size(obj: Any, depth: int, path: Any) -> int:
        if depth > max_depth:
            raise InvalidSpecError(f"{where}: {_path(path)}: nested deeper than {max_depth} levels")
        if isinstance(obj, dict):
            if id(obj) in counts:
                return counts[id(obj)]
            total = 1
            for k, v in obj.items():
                _scalar(k, (path, k), key=True)
                total += size(v, depth + 1, (path, k))
                if total > max_nodes:
                    break
        elif isinstance(obj, list):
            if id(obj) in counts:
                return counts[id(obj)]
            total = 1
            inline = depth + 1 <= max_depth
            for i, v in enumerate(obj):
                t = type(v)
                if inline and t is float:  # v - v is nan for inf and nan
                    if v - v != 0.0:
                        _scalar(v, (path, i))
                    total += 1
                elif inline and t is int:
                    if not -INT64_MAX <= v <= INT64_MAX:
                        _scalar(v, (path, i))
                    total += 1
                else:
                    total += size(v, depth + 1, (path, i))
                if total > max_nodes:
                    break
        else:
            _scalar(obj, path)
            return 1
        if total > max_nodes:
            raise InvalidSpecError(f"{where}: {_path(path)}: expands to over "
                                   f"{max_nodes} values (aliases?)")
        counts[id(obj)] = total
        return total

    def _scalar(v: Any, path: Any, key: bool = False) -> None:
        if isinstance(v, bool) or v is None:
            return
        if isinstance(v, int):
            if abs(v) > INT64_MAX:
                raise InvalidSpecError(f"{where}: {_path(path)}: integer {short(v, 30)} is beyond 64 bits")
        elif isinstance(v, float):
            if not math.isfinite(v):
                raise InvalidSpecError(f"{where}: {_path(path)}: {v} is not a finite number")
        elif isinstance(v, str):
            if len(v) > limits.max_str:
                raise InvalidSpecError(f"{where}: {_path(path)}: {'key' if key else 'string'} of "
                                       f"{len(v)} characters, over the {limits.max_str} limit")
        elif key:
            raise InvalidSpecError(f"{where}: {_path(path)}: key of type {type(v).__name__}")

    # recursion depth is bounded by max_depth (checked on entry), far below Python's limit
    size(data, 0, None)
    return data


# ---------------------------------------------------------------- YAML

_FLOAT_12 = re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""", re.VERBOSE)


@functools.lru_cache(maxsize=8)  # one class per Limits value (frozen, hashable); yaml loads here
def _loader_class(limits: Limits) -> type:
    """SafeLoader with YAML 1.2 floats, duplicate-key errors, and bounded nesting and aliases.
    Built on first use, so that importing this module does not import PyYAML."""
    import yaml

    class _Loader(yaml.SafeLoader):
        """SafeLoader with YAML 1.2 floats, duplicate-key errors, and bounded nesting and aliases."""

        limits: Limits = DEFAULT

        def __init__(self, stream: str) -> None:
            super().__init__(stream)
            self._depth = 0
            self._aliases = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                self._aliases += 1
                if self._aliases > self.limits.max_aliases:
                    mark = self.peek_event().start_mark
                    raise InvalidSpecError(f"line {mark.line + 1} column {mark.column + 1}: more than "
                                           f"{self.limits.max_aliases} aliases")
                return super().compose_node(parent, index)
            self._depth += 1
            if self._depth > self.limits.max_depth:
                mark = self.peek_event().start_mark
                raise InvalidSpecError(f"line {mark.line + 1} column {mark.column + 1}: nested deeper "
                                       f"than {self.limits.max_depth} levels")
            try:
                return super().compose_node(parent, index)
            finally:
                self._depth -= 1

        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            if isinstance(node, yaml.MappingNode):
                seen: dict[Any, int] = {}
                for key_node, _ in node.value:
                    if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *base` may be overridden
                        continue
                    key = self.construct_object(key_node, deep=True)
                    try:
                        hash(key)
                    except TypeError:
                        m = key_node.start_mark
                        raise InvalidSpecError(f"line {m.line + 1} column {m.column + 1}: a mapping "
                                               "key must be a scalar") from None
                    line = key_node.start_mark.line + 1
                    if key in seen:
                        raise InvalidSpecError(f"line {line}: duplicate key {short(key, 40)} (first "
                                               f"at line {seen[key]})")
                    seen[key] = line
            return super().construct_mapping(node, deep=deep)

    _Loader.limits = limits
    _Loader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT_12, list("-+0123456789."))
    return _Loader


def load_yaml(text: str, where: str = "<yaml>", limits: Limits = DEFAULT) -> Any:
    """Safe, bounded YAML: InvalidSpecError naming `where` (and the line) on any problem."""
    if len(text) > limits.max_bytes:
        raise InvalidSpecError(f"{where}: {len(text)} characters, over the {limits.max_bytes} limit")
    import yaml

    loader = None
    try:
        loader = _loader_class(limits)(text)  # the reader checks characters here already
        data = loader.get_single_data()
    except InvalidSpecError as exc:
        raise InvalidSpecError(f"{where}: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).split("\n")[0]
        if isinstance(exc, yaml.reader.ReaderError):
            problem = f"character #x{exc.character:04x} at offset {exc.position} is not allowed"
        at = f"line {mark.line + 1} column {mark.column + 1}: " if mark is not None else ""
        raise InvalidSpecError(f"{where}: YAML syntax error: {at}{short(problem, 120)[1:-1]}") \
            from None
    except RecursionError:  # unreachable with max_depth < ~300; kept as a typed last line
        raise InvalidSpecError(f"{where}: nested too deeply") from None
    finally:
        if loader is not None:
            loader.dispose()
    return check_tree(data, where, limits)


# ---------------------------------------------------------------- JSON

def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {short(k, 40)}")
        out[k] = v
    return out


def _int(digits: str) -> int:
    if len(digits.lstrip("-")) > 20:
        raise ValueError(f"integer of {len(digits.lstrip('-'))} digits (at most 20)")
    return int(digits)


def load_json(text: str, where: str = "<json>", limits: Limits = DEFAULT) -> Any:
    """Strict, bounded JSON: InvalidSpecError naming `where`, line and column on any problem."""
    if len(text) > limits.max_bytes:
        raise InvalidSpecError(f"{where}: {len(text)} characters, over the {limits.max_bytes} limit")
    try:
        data = json.loads(text, object_pairs_hook=_pairs, parse_constant=_no_constant,
                          parse_int=_int)
    except json.JSONDecodeError as exc:
        raise InvalidSpecError(f"{where}: not valid JSON: line {exc.lineno} column "
                               f"{exc.colno}: {exc.msg}") from None
    except ValueError as exc:
        m = re.search(r"(?<![\w.])-?[0-9]{21,}", text) if "digits" in str(exc) else None
        at = ""
        if m is not None:
            line = text.count("\n", 0, m.start()) + 1
            at = f"line {line} column {m.start() - text.rfind(chr(10), 0, m.start())}: "
        raise InvalidSpecError(f"{where}: {at}{exc}") from None
    except RecursionError:
        raise InvalidSpecError(f"{where}: nested deeper than Python's JSON reader allows") from None
    return check_tree(data, where, limits)
