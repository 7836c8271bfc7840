"""Issue 20 item 3: formats the chosen sensitivity does not cover are an error naming the covered
formats (exit 2, one line), never a solve on something else."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from lowbit.kernels_ref.errors import InvalidSpecError
from lowbit.models import quality as Q

from lowbit.cli import main

COSTS = Path(__file__).resolve().parents[1] / "data" / "fuzz" / "costs" / "ok_hawq.json"
HAWQ = Path(Q.__file__).parent / "data" / "hawq_v3_resnet18.json"


def _err(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err
    return err


def test_builtin_resnet18_outside_hawq_v3_is_an_error_naming_int4_int8(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["allocate", "--hw", "bitmod", "--model", "resnet-18", "--formats", "int3,int5",
                 "--sensitivity", "builtin", "--latency", "0.8x"]) == 2
    err = _err(capsys)
    assert "covers int4, int8 only, not int3, int5" in err and "builtin-fit" in err
    # the default formats (int2,int3,int4,int8) reach outside the table too
    assert main(["allocate", "--hw", "bitmod", "--model", "resnet-18", "--sensitivity", "builtin"]) == 2
    assert "not int2, int3" in _err(capsys)


def test_builtin_resnet18_on_int4_int8_is_hawq_v3_published_table(tmp_path: Path) -> None:
    out = tmp_path / "a.json"
    assert main(["allocate", "--hw", "bitmod", "--model", "resnet-18", "--formats", "int4,int8",
                 "--sensitivity", "builtin", "--method", "uniform:int4", "-o", str(out)]) == 0
    doc = json.loads(out.read_text())
    d = json.loads(HAWQ.read_text())
    # stage1.unit1.quant_convbn1 is layer1.0.conv1: trace x ||Q4(W) - W||^2, as published
    row = next(ly for ly in doc["layers"] if ly["name"] == "layer1.0.conv1")
    want = d["hutchinson_trace"][0] * d["delta_weights_4bit_square"][0]
    assert row["format"] == "int4" and row["sensitivity"] == pytest.approx(want, rel=1e-12)


def test_builtin_fit_covers_other_int_widths_by_the_stated_fit() -> None:
    q = Q.for_model("resnet-18", ["int3", "int4", "int5", "int8"], method="builtin-fit")
    d = json.loads(HAWQ.read_text())
    i = q.layers.index("layer1.0.conv1")
    d8, d4, tr = d["delta_weights_8bit_square"][0], d["delta_weights_4bit_square"][0], d["hutchinson_trace"][0]
    fit = [tr * d8 * (d4 / d8) ** ((8 - b) / 4) for b in (3, 4, 5, 8)]
    np.testing.assert_allclose(q.values[i], fit, rtol=1e-12)
    with pytest.raises(InvalidSpecError, match="covers int4, int8 only, not int3, int5"):
        Q.for_model("resnet-18", ["int3", "int4", "int5"], method="builtin")
    with pytest.raises(InvalidSpecError, match="signed INT formats only"):
        Q.for_model("resnet-18", ["binary", "int4"], method="builtin-fit")
    assert Q.for_model("resnet-18", ["int8", "int4"], method="builtin").formats == ("int8", "int4")


def test_costs_file_with_formats_or_sensitivity_flags_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    """A costs file brings its own choices and sensitivity: the flags were silently ignored."""
    assert main(["allocate", "--costs", str(COSTS), "--formats", "int3,int5", "--sensitivity", "builtin"]) == 2
    err = _err(capsys)
    assert "covers choices int4, int8" in err and "--formats int3,int5 and --sensitivity builtin" in err
    assert main(["pareto", "--costs", str(COSTS), "--sensitivity", "builtin", "--sweep", "size",
                 "-o", "/nonexistent/x"]) == 2
    assert "covers choices int4, int8" in _err(capsys)
    # the default --formats is not a choice made on the command line; the same text typed is
    assert main(["allocate", "--costs", str(COSTS), "--budget", "size=0.7x"]) == 0
    capsys.readouterr()
    assert main(["allocate", "--costs", str(COSTS), "--formats", "int2,int3,int4,int8"]) == 2
    assert "--formats int2,int3,int4,int8 apply only" in _err(capsys)
