"""Issue 14 items 3/4: SCALE-Sim mode gives mapping efficiency and utilisation in every output;
`--quiet` silences third-party output in one place; a sweep ends with a summary."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from lowbit.cli import main

DATA = Path(__file__).resolve().parents[1] / "data"


def test_scalesim_every_output_has_utilisation_and_mapping_efficiency(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["simulate", "--scalesim-cfg", str(DATA / "scalesim/a32x32_os.cfg"),
            "--topology", str(DATA / "scalesim/conv_layers.csv")]
    assert main([*argv, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    rows = doc["layers"]
    busy = sum(r["compute_cycles"] for r in rows)
    for k in ("compute_util_pct", "mapping_efficiency_pct"):
        assert all(k in r for r in rows)
        want = sum(r[k] * r["compute_cycles"] for r in rows) / busy
        assert doc["total"][k] == pytest.approx(want, rel=1e-12) and 0 < doc["total"][k] <= 100
    assert main([*argv, "--csv"]) == 0
    head = capsys.readouterr().out.splitlines()[0].split(",")
    assert "compute_util_pct" in head and "mapping_efficiency_pct" in head
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    total = next(ln for ln in lines if ln.startswith("total "))
    assert f"{doc['total']['mapping_efficiency_pct']:.2f}" in total.split()
    assert f"{doc['total']['compute_util_pct']:.2f}" in total.split()
    assert "map.eff%" in lines[0] and "util%" in lines[0]


def test_quiet_silences_third_party_in_one_place(monkeypatch: pytest.MonkeyPatch) -> None:
    from lowbit import quiet

    for k in ("TRANSFORMERS_VERBOSITY", "HF_HUB_DISABLE_PROGRESS_BARS", "DASK_LOGGING__DISTRIBUTED", "TQDM_DISABLE"):
        monkeypatch.delenv(k, raising=False)
    levels = {n: logging.getLogger(n).level for n in quiet.THIRD_PARTY_LOGGERS}
    try:
        assert main(["-q", "presets", "list"]) == 0
        assert os.environ["TRANSFORMERS_VERBOSITY"] == "error" and os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] == "1"
        assert os.environ["DASK_LOGGING__DISTRIBUTED"] == "error" and os.environ["TQDM_DISABLE"] == "1"
        assert all(logging.getLogger(n).level == logging.ERROR for n in ("transformers", "distributed"))
    finally:
        for n, lv in levels.items():
            logging.getLogger(n).setLevel(lv)


def test_dask_workers_read_the_quiet_level(monkeypatch: pytest.MonkeyPatch) -> None:
    """The variable dask's worker processes read at start turns distributed's INFO lines off."""
    import dask
    from distributed.config import initialize_logging

    monkeypatch.setenv("DASK_LOGGING__DISTRIBUTED", "error")
    cfg = dask.config.merge(dask.config.config, dask.config.collect_env())  # as a fresh worker builds it
    assert cfg["logging"]["distributed"] == "error"
    before = logging.getLogger("distributed").level
    try:
        initialize_logging(cfg)
        assert logging.getLogger("distributed").level == logging.ERROR
    finally:
        logging.getLogger("distributed").setLevel(before)


@pytest.mark.slow  # > 2 s; the slow lane (make test) runs it
def test_sweep_summary_names_the_unmet_budget_and_the_best_designs(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    space = tmp_path / "s.yaml"
    text = ("name: tiny\nhardware:\n  - base: loom\n    params:\n      core.rows: [16, 32]\n"
            "models: [digits]\nformats: [int2, int4, int8]\nbudgets: {latency: BUDGET}\n")
    space.write_text(text.replace("BUDGET", "1ns"))
    assert main(["sweep", "--space", str(space), "--db", str(tmp_path / "a.sqlite"), "--executor", "serial",
                 "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "0 ok, 2 infeasible" in out
    line = next(ln for ln in out.splitlines() if "most frequent reason" in ln)
    assert "latency budget cannot be met on 2 of 2" in line and "smallest achievable" in line
    assert "µs" in line and "core.rows=32" in line and "1 ns" in line  # the faster array is closer
    space.write_text(text.replace("BUDGET", "0.9x"))
    assert main(["sweep", "--space", str(space), "--db", str(tmp_path / "b.sqlite"), "--executor", "serial",
                 "--quiet"]) == 0
    out = capsys.readouterr().out
    best = {ln.split(" for ")[0].strip(): ln for ln in out.splitlines() if ln.strip().startswith("best ")}
    assert set(best) == {"best latency", "best energy", "best area", "best quality"}
    assert "core.rows=32" in best["best latency"] and "core.rows=16" in best["best area"]
