"""Sensitivity files (CSV / JSON) from users: encodings, shapes and values checked, one line each."""

from __future__ import annotations

from pathlib import Path

import pytest
from lowbit.kernels_ref.errors import InvalidSpecError
from lowbit.models.sensitivity import load


def _write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    p = tmp_path / name
    p.write_bytes(data if isinstance(data, bytes) else data.encode())
    return p


def test_good_csv_and_json(tmp_path: Path) -> None:
    t = load(_write(tmp_path, "s.csv", "layer,format,value\nfc1,int4,0.5\nfc1,int8,-0.01\n"))
    assert t.layers == ("fc1",) and t.formats == ("int4", "int8")
    assert t.values.tolist() == [[0.5, -0.01]]  # a negative loss delta stays valid
    j = load(_write(tmp_path, "s.json", '{"layers": ["a"], "formats": ["int4"], "values": [[1.5]]}'))
    assert j.values.tolist() == [[1.5]]


@pytest.mark.parametrize("name,data,what", [
    ("u16.csv", "layer,format,value\nfc1,int4,0.5\n".encode("utf-16"), "UTF-16-LE"),
    ("l1.csv", "layer,format,value\nfc\xe41,int4,0.5\n".encode("latin-1"), "byte 0xe4 is not UTF-8"),
    ("extra.csv", "layer,format,value\nfc1,int4,0.5,9\n", "s:2: expected 3 fields"),
    ("cols.csv", "layer,format,value,note\nfc1,int4,0.5,x\n", "exactly the columns"),
    ("dup.csv", "layer,format,value\nfc1,int4,0.5\nfc1,int4,0.7\n", ":3: duplicate row"),
    ("nan.csv", "layer,format,value\nfc1,int4,nan\n", ":2: value 'nan' is not finite"),
    ("big.csv", "layer,format,value\nfc1,int4,1" + "0" * 400 + "\n", "is not finite"),
    ("empty.csv", "layer,format,value\n,int4,0.5\n", "empty layer or format name"),
    ("nan.json", '{"layers": ["a"], "formats": ["int4"], "values": [[NaN]]}', "NaN is not a number"),
    ("dup.json", '{"layers": ["a"], "layers": ["b"], "formats": [], "values": []}', "duplicate key"),
])
def test_bad_files_are_one_line_naming_the_file(tmp_path: Path, name: str, data, what: str) -> None:  # type: ignore[no-untyped-def]
    p = _write(tmp_path, name, data)
    with pytest.raises(InvalidSpecError) as ei:
        load(p)
    msg = str(ei.value).replace(str(p), "s")
    assert what in msg and "\n" not in msg and len(msg) < 200, msg
