"""`lowbit verify --model` takes the zoo names `lowbit allocate` writes into alloc.json
(digits-cnn, minilm-l6) as well as the short names and the zoo's aliases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lowbit.kernels_ref.errors import InvalidSpecError

from lowbit.cli import main
from lowbit.cmd_verify import model_key


@pytest.mark.parametrize("name,key", [("minilm", "minilm"), ("minilm-l6", "minilm"), ("MiniLM-L6", "minilm"),
                                      ("digits", "digits"), ("digits-cnn", "digits")])
def test_model_key(name: str, key: str) -> None:
    assert model_key(name) == key


def test_unknown_model_names_the_known_ones() -> None:
    with pytest.raises(InvalidSpecError, match=r"known: digits \(digits-cnn\), minilm \(minilm-l6\)"):
        model_key("llama-2-7b")
    with pytest.raises(InvalidSpecError, match="unknown model 'nonesuch'"):
        model_key("nonesuch")


def test_verify_takes_the_zoo_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--model minilm-l6 passes the name check and reaches the document check (a digits
    document here, so the run stops there: exit 2, one line, before any model loads)."""
    p = tmp_path / "a.json"
    p.write_text(json.dumps({"model": "digits-cnn", "layers": [{"name": "fc1", "format": "int8"}]}))
    capsys.readouterr()
    assert main(["verify", "--model", "minilm-l6", "--allocation", str(p)]) == 2
    err = capsys.readouterr().err
    assert "allocates 'digits-cnn', not --model 'minilm-l6'" in err and err.count("\n") == 1
    assert main(["verify", "--model", "llama-2-7b", "--allocation", str(p)]) == 2
    assert "unknown model 'llama-2-7b'" in capsys.readouterr().err
