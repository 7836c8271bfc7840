"""Building frozen spec dataclasses from YAML mappings, and the range checks every spec value
passes before it reaches numpy (split from `hwsim.spec`, which holds the spec types themselves).

`build_dataclass(cls, data, where)` builds any spec dataclass generically from its fields and
type hints (int, float, bool, str, Enum, tuple[...] of those, `X | None`); every problem is an
`InvalidSpecError` naming the key and the file (or "<kwargs>").
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import math
import types
import typing
from collections.abc import Mapping
from typing import Any

from lowbit.kernels_ref.errors import InvalidSpecError

__all__ = ["BANDWIDTH_MAX", "CORE_VALUE_MAX", "FREQ_HZ_MAX", "SIZE_BYTES_MAX", "build_dataclass",
           "check_core_values"]

def _err(where: str, key: str, msg: str) -> InvalidSpecError:
    """One-line error naming where (file) and key; odd characters in either are escaped."""
    where = where if where.isprintable() else repr(where)
    key = key if key.isprintable() and key.strip() == key and key else repr(key)
    return InvalidSpecError(" ".join(f"{where}: {key}: {msg}".splitlines()))


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _positive_int(where: str, key: str, v: Any) -> None:
    if not _is_int(v):
        raise _err(where, key, f"must be an integer, got {v!r}")
    if v <= 0:
        raise _err(where, key, f"must be positive, got {v}")


def _positive_num(where: str, key: str, v: Any) -> None:
    if not _is_num(v):
        raise _err(where, key, f"must be a number, got {v!r}")
    if not (v > 0 and math.isfinite(v)):
        raise _err(where, key, f"must be a positive finite number, got {v}")


#: Upper bounds on spec numbers, far above any real design (the largest preset value of each
#: kind is 1e3-1e4 times smaller) and low enough that cycles x sizes stay inside int64/float64:
#: core integers (array dims, lanes, bits, per-cycle counts) <= 2**20; buffer sizes <= 2**44
#: bytes (16 TiB); bandwidths <= 2**40 bytes/cycle; clocks <= 1e12 Hz; cores <= 2**20.
CORE_VALUE_MAX = 2**20
SIZE_BYTES_MAX = 2**44
BANDWIDTH_MAX = 2.0**40
FREQ_HZ_MAX = 1e12


def _at_most(where: str, key: str, v: Any, hi: float) -> None:
    if v > hi:
        raise _err(where, key, f"{str(v)[:30]} is over the limit {hi:.4g}")


def check_core_values(spec: Any, where: str = "core") -> None:
    """Every number of a core spec: finite, an integer where the field is an int, at most
    CORE_VALUE_MAX (array dims, bits, per-cycle counts; no family needs more)."""
    for f in dataclasses.fields(spec):
        v = getattr(spec, f.name)
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            continue
        if str(f.type) == "int" and not isinstance(v, int):
            raise _err(where, f.name, f"must be an integer, got {str(v)[:30]}")
        if not math.isfinite(v):
            raise _err(where, f.name, f"must be a finite number, got {v}")
        if abs(v) > CORE_VALUE_MAX:
            raise _err(where, f.name, f"{str(v)[:30]} is over the limit {CORE_VALUE_MAX} (2**20)")


def _plain(v: Any) -> Any:
    """A value as YAML-safe plain data (enums by value, tuples as lists, numpy scalars as Python)."""
    if isinstance(v, enum.Enum):
        return v.value
    if isinstance(v, (tuple, list)):
        return [_plain(x) for x in v]
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):
        return v.item()
    return v


# ---------------------------------------------------------------------- generic builder
def _convert(value: Any, hint: Any, where: str, key: str) -> Any:
    """Convert plain YAML data to a type hint's type, or raise naming key and file."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _convert(value, a, where, key)
            except InvalidSpecError as exc:
                errors.append(str(exc))
        raise _err(where, key, f"wrong type: {value!r} fits none of {hint}")
    if origin is tuple:
        args = typing.get_args(hint)
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            if len(args) == 2 and args[1] is Ellipsis:
                value = [value]  # a single value for a variable-length tuple
            else:
                raise _err(where, key, f"must be a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(v, args[0], where, key) for v in value)
        if len(args) != len(value):
            raise _err(where, key, f"must have {len(args)} entries, got {len(value)}")
        return tuple(_convert(v, a, where, key) for v, a in zip(value, args))
    if hint is Any:
        return value
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        if isinstance(value, hint):
            return value
        try:
            return hint(value)
        except ValueError:
            known = ", ".join(str(m.value) for m in hint)
            raise _err(where, key, f"unknown value {value!r} (known: {known})") from None
    if hint is bool:
        if not isinstance(value, bool):
            raise _err(where, key, f"wrong type: must be true or false, got {value!r}")
        return value
    if hint is int:
        if not _is_int(value):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise _err(where, key, f"wrong type: must be an integer, got {value!r}")
        return value
    if hint is float:
        if not _is_num(value):
            raise _err(where, key, f"wrong type: must be a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise _err(where, key, f"wrong type: must be a string, got {value!r}")
        return value
    raise _err(where, key, f"cannot build a value of type {hint}")


@functools.lru_cache(maxsize=128)
def _class_fields(cls: type) -> tuple[Mapping[str, Any], Mapping[str, dataclasses.Field]]:
    """A dataclass's resolved type hints and init fields, read-only (resolving the string
    annotations was ~4.5% of a distinct-design sweep, which builds a spec copy per point)."""
    hints = types.MappingProxyType(typing.get_type_hints(cls))
    return hints, types.MappingProxyType({f.name: f for f in dataclasses.fields(cls) if f.init})


def build_dataclass(cls: type, data: Any, where: str, prefix: str = "",
                    ignore: tuple[str, ...] = ()) -> Any:
    """Build frozen dataclass `cls` from a mapping by its fields and type hints.

    Unknown keys, missing keys without a default and wrong types raise InvalidSpecError
    naming `prefix + key` and `where`; the dataclass's own validation errors get `where`."""
    if not isinstance(data, Mapping):
        raise _err(where, prefix.rstrip(".") or "<top>", f"must be a mapping, got {type(data).__name__}")
    hints, fields = _class_fields(cls)
    unknown = [k for k in data if k not in fields and k not in ignore]
    if unknown:
        raise _err(where, prefix + str(unknown[0]),
                   f"unknown key (known: {', '.join(sorted(fields))})")
    kw: dict[str, Any] = {}
    for name, f in fields.items():
        if name in data:
            kw[name] = _convert(data[name], hints[name], where, prefix + name)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:  # type: ignore[misc]
            raise _err(where, prefix + name, "missing key")
    try:
        return cls(**kw)
    except InvalidSpecError as exc:
        raise InvalidSpecError(f"{where}: {prefix.rstrip('.') or cls.__name__}: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise InvalidSpecError(f"{where}: {prefix.rstrip('.') or cls.__name__}: {exc}") from None
