"""`lowbit formats` command tests."""

from __future__ import annotations

import json

from lowbit.cli import main


def test_formats_list_table(capsys):
    assert main(["formats", "list"]) == 0
    out = capsys.readouterr().out
    header = out.splitlines()[0].split()
    assert header[:4] == ["name", "kind", "bits", "bits/weight"]
    row = next(line for line in out.splitlines() if line.startswith("int4g128 "))
    assert row.split()[:4] == ["int4g128", "int", "4", "4.125"]
    assert "bitmod4g128" in out and "nf4g64" in out


def test_formats_list_json(capsys):
    assert main(["formats", "list", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["int4g128"]["bits_per_weight"] == 4.125
    assert rows["fp16"]["bits"] == 16


def test_formats_show_storage(capsys):
    assert main(["formats", "show", "int4g128", "--k", "256", "--n", "2"]) == 0
    out = capsys.readouterr().out
    # 4 bits x 512 + 2 groups x 2 columns x 16 bits = 2112 bits = 264 bytes
    assert "264 bytes" in out


def test_formats_errors_one_line_exit_2(capsys):
    assert main(["formats", "show", "int17"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "int17" in err and "1-16 bits" in err
    assert main(["formats", "show", "int4g128", "--k", "100"]) == 2
    err = capsys.readouterr().err
    assert "K=100" in err and "128" in err and err.count("\n") == 1


def test_formats_list_names_every_int_width_compactly(capsys):
    # one range line for the 32 INT/UINT widths instead of 32 rows; int12 is the catalog example
    assert main(["formats", "list"]) == 0
    out = capsys.readouterr().out
    assert "int1 .. int16, uint1 .. uint16" in out
    row = next(line for line in out.splitlines() if line.startswith("int12 "))
    assert row.split()[:4] == ["int12", "int", "12", "12"]
    assert not any(line.startswith(("int9 ", "uint13 ")) for line in out.splitlines())


def test_formats_show_wide_ints(capsys):
    assert main(["formats", "show", "int12", "--k", "256", "--n", "2"]) == 0
    out = capsys.readouterr().out
    # 12 bits x 512 + 2 columns x 16-bit scale = 6176 bits = 772 bytes; 6176 / 512 = 12.0625
    assert "772 bytes (12.0625 bits/weight)" in out
    assert main(["formats", "show", "uint9g64_sfp32"]) == 0
    out = capsys.readouterr().out
    assert "9.5" in out  # 9 + 32/64 bits per weight
