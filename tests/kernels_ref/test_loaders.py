"""kernels_ref.loaders: the one hardened YAML/JSON reader. Bounded work (aliases, nesting,
size, digits), strict values (duplicates, NaN, 64-bit), encodings named, messages short."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lowbit.kernels_ref.errors import InvalidSpecError
from lowbit.kernels_ref.loaders import Limits, load_json, load_yaml, read_text, short


def _err(fn, *args, **kw) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidSpecError) as ei:
        fn(*args, **kw)
    msg = str(ei.value)
    assert "\n" not in msg and len(msg) < 300, msg
    return msg


def _bomb(levels: int, fan: int) -> str:
    names = [f"l{i}" for i in range(levels + 1)]
    out = [f"{names[0]}: &{names[0]} [" + ",".join(["lol"] * fan) + "]"]
    for i in range(1, levels + 1):
        out.append(f"{names[i]}: &{names[i]} [" + ",".join([f"*{names[i - 1]}"] * fan) + "]")
    return "\n".join(out) + "\n"


def test_alias_bomb_refused_fast_and_short() -> None:
    t0 = time.perf_counter()
    msg = _err(load_yaml, _bomb(9, 9), "bomb.yaml")  # 9**10 = 3.5e9 leaves
    assert time.perf_counter() - t0 < 1.0
    assert msg.startswith("bomb.yaml: ") and "expands to over 5000000 values" in msg


def test_many_aliases_refused() -> None:
    text = "a: &a 1\nb: [" + ",".join(["*a"] * 300) + "]\n"
    assert "more than 256 aliases" in _err(load_yaml, text, "x.yaml")
    assert load_yaml("a: &a 1\nb: [*a, *a]\n", "x.yaml") == {"a": 1, "b": [1, 1]}


def test_small_alias_use_and_merge_keys_still_load() -> None:
    d = load_yaml("base: &b {x: 1, y: 2}\nd:\n  <<: *b\n  x: 5\n", "m.yaml")
    assert d == {"base": {"x": 1, "y": 2}, "d": {"x": 5, "y": 2}}


@pytest.mark.parametrize("loader,text", [(load_yaml, "[" * 1000 + "]" * 1000),
                                         (load_json, "[" * 1000 + "]" * 1000),
                                         (load_json, "[" * 100 + "]" * 100)])
def test_deep_nesting_is_one_error(loader, text) -> None:  # type: ignore[no-untyped-def]
    assert "nested deeper" in _err(loader, text, "deep")


def test_duplicate_yaml_key_names_key_and_both_lines() -> None:
    msg = _err(load_yaml, "core:\n  rows: 4\nclock: 1\ncore:\n  rows: 8\n", "spec.yaml")
    assert msg == "spec.yaml: line 4: duplicate key 'core' (first at line 1)"


def test_duplicate_json_key() -> None:
    assert "duplicate key 'a'" in _err(load_json, '{"a": 1, "a": 2}', "c.json")


@pytest.mark.parametrize("text,what", [("x: 1" + "0" * 400, "beyond 64 bits"),
                                       ("x: .nan", "not a finite number"),
                                       ("x: -.inf", "not a finite number"),
                                       ("x: 9223372036854775808", "beyond 64 bits")])
def test_yaml_numbers_checked(text: str, what: str) -> None:
    msg = _err(load_yaml, text, "n.yaml")
    assert what in msg and msg.startswith("n.yaml: x: ")
    assert len(msg) < 120  # the 401-digit value is quoted as a short prefix


def test_yaml_int64_edge_accepted() -> None:
    assert load_yaml("x: 9223372036854775807", "n.yaml") == {"x": 2**63 - 1}
    assert load_yaml("x: 1e9\ny: 1.5E-3", "n.yaml") == {"x": 1e9, "y": 1.5e-3}  # YAML 1.2 floats


@pytest.mark.parametrize("text,what", [('{"a": NaN}', "NaN is not a number"),
                                       ('{"a": Infinity}', "Infinity is not a number"),
                                       ('{"a": 1' + "0" * 400 + "}", "integer of 401 digits"),
                                       ('{"a": [1,\n 2,, 3]}', "line 2 column 4")])
def test_json_strict(text: str, what: str) -> None:
    assert what in _err(load_json, text, "c.json")


def test_unsafe_yaml_tag_never_runs() -> None:
    assert "could not determine a constructor" in _err(
        load_yaml, "x: !!python/object/apply:os.system ['touch /tmp/lowbit-pwned']", "t.yaml")
    assert not Path("/tmp/lowbit-pwned").exists()


def test_encodings_named(tmp_path: Path) -> None:
    p = tmp_path / "s.csv"
    p.write_bytes("layer,int4\nconv1,0.5\n".encode("utf-16"))
    assert "UTF-16-LE" in _err(read_text, p, "sensitivity CSV")
    p.write_bytes("layer,int4\nkonv\xe4,0.5\n".encode("latin-1"))
    assert "line 2: byte 0xe4 is not UTF-8" in _err(read_text, p, "sensitivity CSV")
    p.write_bytes(b"a: 1\x00\x00")
    assert "NUL byte at offset 4" in _err(read_text, p, "spec")
    p.write_bytes(b"  \n\t\n")
    assert _err(read_text, p, "design space") == f"{p}: design space is empty"
    p.write_bytes("\ufeffa: 1\n".encode())  # a UTF-8 byte-order mark is fine
    assert load_yaml(read_text(p), str(p)) == {"a": 1}


def test_read_text_bounds_and_paths(tmp_path: Path) -> None:
    p = tmp_path / "big.json"
    p.write_text("[" + "1," * 1000 + "1]")
    assert "over the 100-byte limit" in _err(read_text, p, "costs file", Limits(max_bytes=100))
    assert "not found" in _err(read_text, tmp_path / "nope.yaml", "spec")
    assert "is a directory" in _err(read_text, tmp_path, "spec")
    assert "expected a path, got int" in _err(read_text, 123, "spec")  # type: ignore[arg-type]


def test_long_strings_bounded() -> None:
    assert "over the 10 limit" in _err(load_yaml, "name: " + "x" * 11, "s.yaml", Limits(max_str=10))


def test_short_cuts_and_says_length() -> None:
    assert short("x" * 1000).endswith("... (1002 chars)") and len(short("x" * 1000)) < 80
    assert short([1] * 10**6) == "<list of 1000000>"
    assert short(3) == "3"


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_load_or_fail_cleanly(raw: bytes) -> None:
    from lowbit.kernels_ref.loaders import decode

    for loader in (load_yaml, load_json):
        try:
            loader(decode(raw, "f"), "f")
        except InvalidSpecError as exc:
            assert str(exc).startswith("f: ") and "\n" not in str(exc)


def test_numbers_in_lists_checked_in_line_with_their_path() -> None:
    with pytest.raises(InvalidSpecError, match=r"f\.json: costs\.size\.1\.0: inf is not a finite number"):
        load_json('{"costs": {"size": [[1, 2], [1e400, 3]]}}', "f.json")
    with pytest.raises(InvalidSpecError, match=r"f\.json: a\.2: integer 9223372036854775808 is beyond 64 bits"):
        load_json('{"a": [0, 1.5, 9223372036854775808]}', "f.json")
    assert load_json('{"a": [[0, 1.5], [-9223372036854775807, 2]]}', "f.json")["a"][1][0] == -(2**63 - 1)
