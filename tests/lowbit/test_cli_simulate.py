"""`lowbit simulate`: table/JSON/CSV output, SCALE-Sim files, and typed errors (no tracebacks)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lowbit.cli import main

DATA = Path(__file__).resolve().parents[1] / "data"


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_json_exact_keys(capsys):
    rc, out, err = _run(capsys, "simulate", "--hw", "tpu-like", "--model", "llama-2-7b", "--phase", "decode",
                        "--seq", "64", "--json")
    assert rc == 0, err
    d = json.loads(out)
    assert set(d) == {"hardware", "model", "freq_hz", "layers", "total"}
    assert d["hardware"] == "tpu-like" and d["model"] == "llama-2-7b"
    for row in d["layers"]:
        assert set(row) == {"name", "cycles", "compute_cycles", "stall_cycles", "utilization", "energy_j",
                                   "dram_bytes", "sram_bytes", "mapping", "ran_as"}  # as in --csv
        assert row["cycles"] == row["compute_cycles"] + row["stall_cycles"]
    assert set(d["total"]) == {"cycles", "energy_j", "latency_s"}
    assert d["total"]["cycles"] == sum(r["cycles"] for r in d["layers"])
    assert d["total"]["energy_j"] == pytest.approx(sum(sum(r["energy_j"].values()) for r in d["layers"]))
    assert d["total"]["latency_s"] == pytest.approx(d["total"]["cycles"] / 7e8)


def test_table_and_csv(capsys):
    rc, out, _ = _run(capsys, "simulate", "--hw", "a100-like", "--model", "bert-base", "--weights", "int4",
                      "--acts", "int8")
    assert rc == 0 and "total" in out and "latency" in out and "stall" in out
    rc, out, _ = _run(capsys, "simulate", "--hw", "a100-like", "--model", "bert-base", "--csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rc == 0 and rows and {"name", "cycles", "compute_cycles", "stall_cycles", "energy_j"} <= set(rows[0])


def test_scalesim_files_match_golden(capsys):
    golden = json.loads((DATA / "scalesim_golden.json").read_text())["layers"]
    for cfg, topo, gemm in (("scalesim/a32x32_os.cfg", "scalesim/conv_layers.csv", False),
                            ("scalesim/a16x8_ws.cfg", "scalesim/gemm_layers.csv", True)):
        argv = ["simulate", "--scalesim-cfg", str(DATA / cfg), "--topology", str(DATA / topo), "--json"]
        rc, out, err = _run(capsys, *(argv + (["--gemm"] if gemm else [])))
        assert rc == 0, err
        got = {r["name"]: r["compute_cycles"] for r in json.loads(out)["layers"]}
        want = {g["layer"]: g["total_cycles"] for g in golden if g["cfg"] == cfg and g["topology"] == topo}
        assert want and all(got[k] == v for k, v in want.items())


@pytest.mark.parametrize("argv", [
    ["simulate", "--hw", "no-such-hw", "--model", "llama-2-7b"],
    ["simulate", "--hw", "tpu-like", "--model", "no-such-model"],
    ["simulate", "--hw", "tpu-like", "--model", "llama-2-7b", "--weights", "int99q"],
    ["simulate", "--hw", "tpu-like"],
    ["simulate", "--hw", "tpu-like", "--model", "llama-2-7b", "--batch", "0"],
    ["simulate", "--scalesim-cfg", "x.cfg"],
])
def test_errors_one_line_exit_2(capsys, argv):
    rc, _out, err = _run(capsys, *argv)
    assert rc == 2
    assert err.count("\n") == 1 and err.startswith("lowbit: error:") and "Traceback" not in err


GOOD = yaml.safe_load((Path(__file__).resolve().parents[2] / "hwsim" / "presets" / "scalesim-32x32.yaml").read_text())
_scalar = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**6), st.floats(allow_nan=True),
                    st.text(max_size=8), st.lists(st.integers(-2, 5), max_size=3))


@st.composite
def _malformed(draw):
    """A spec with one part broken: a value replaced, a key dropped or added, or raw text."""
    import copy
    d = copy.deepcopy(GOOD)
    how = draw(st.sampled_from(["top", "core", "buffer", "dram", "drop", "extra", "text"]))
    if how == "text":
        return draw(st.text(max_size=60))
    if how == "top":
        d[draw(st.sampled_from(sorted(d)))] = draw(_scalar)
    elif how == "core":
        d["core"][draw(st.sampled_from(sorted(d["core"])))] = draw(_scalar)
    elif how == "buffer":
        b = d["buffers"][draw(st.integers(0, len(d["buffers"]) - 1))]
        b[draw(st.sampled_from(sorted(b)))] = draw(_scalar)
    elif how == "dram":
        d["dram"][draw(st.sampled_from(sorted(d["dram"])))] = draw(_scalar)
    elif how == "drop":
        sect = draw(st.sampled_from(["top", "core"]))
        tgt = d if sect == "top" else d["core"]
        tgt.pop(draw(st.sampled_from(sorted(tgt))))
    else:
        d[draw(st.text(min_size=1, max_size=6))] = draw(_scalar)
    return yaml.safe_dump(d)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=_malformed())
def test_malformed_yaml_never_tracebacks(tmp_path_factory, capsys, text):
    path = tmp_path_factory.mktemp("spec") / "hw.yaml"
    path.write_text(text)
    try:
        rc = main(["simulate", "--hw", str(path), "--model", "minilm-l6", "--seq", "8"])
    except SystemExit as exc:  # argparse usage errors
        rc = exc.code
    _out, err = capsys.readouterr()
    assert "Traceback" not in err
    if rc != 0:
        assert rc == 2 and err.count("\n") == 1 and err.startswith("lowbit: error:")


def test_objective_energy_never_costs_more_energy(capsys):
    totals = {}
    for obj in ("latency", "energy"):
        rc, out, err = _run(capsys, "simulate", "--hw", "scalesim-32x32", "--model", "minilm-l6", "--seq", "32",
                            "--objective", obj, "--json")
        assert rc == 0, err
        totals[obj] = json.loads(out)["total"]
    assert totals["energy"]["energy_j"] <= totals["latency"]["energy_j"] * (1 + 1e-12)
    assert totals["latency"]["cycles"] <= totals["energy"]["cycles"]


def test_cnn_on_eyeriss_table(capsys):
    rc, out, err = _run(capsys, "simulate", "--hw", "eyeriss-like", "--model", "mobilenetv2", "--weights", "int16")
    assert rc == 0, err
    assert "mobilenetv2" in out and out.strip().splitlines()[-1].startswith("latency")
