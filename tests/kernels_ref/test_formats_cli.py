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
    assert main(["formats", "show", "int9"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "int9" in err
    assert main(["formats", "show", "int4g128", "--k", "100"]) == 2
    err = capsys.readouterr().err
    assert "K=100" in err and "128" in err and err.count("\n") == 1
