"""`lowbit demo` (what `make demo` runs) end to end on the embedded default, fewer Pareto points."""

from __future__ import annotations

import json

import pytest
import torch

from lowbit.cli import main

torch.set_num_threads(1)


@pytest.mark.slow
def test_demo_allocates_on_three_presets_sweeps_and_writes_the_report(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    from lowbit.search.store import ResultStore

    out = tmp_path / "demo"
    assert main(["demo", "-o", str(out), "--points", "3", "--workers", "2", "--quiet"]) == 0
    printed = capsys.readouterr().out
    index = out / "report" / "index.html"
    assert f"report: {index.resolve()}" in printed
    html = index.read_text()
    assert html.count("data:image/png;base64,") >= 10  # figures embedded, self-contained
    with ResultStore(out / "sweep.sqlite") as st:
        rows = st.snapshot()
    assert len(rows) == 60  # 30 designs (3 presets + 27 Loom points) x 2 models
    presets = {(p["base"], p["model"]): r for _k, p, r in rows if not p["params"]}
    assert set(presets) == {(hw, m) for hw in ("bitmod", "lut-tc-a100-like", "btc-a100-like")
                            for m in ("resnet-18", "minilm-l6")}
    for (hw, m), r in presets.items():
        assert r["status"] == "ok", (hw, m, r.get("message"))
        u8 = r["uniform"]["int8"]
        # budget 0.5r: strictly faster than all-int8 but not free, and a real mix of formats
        assert r["latency_s"] < u8["latency_s"], (hw, m)
        assert r["quality"] > u8["quality"], (hw, m)
        assert len({c for c in r["choices"] if c in r["uniform"]}) >= 2, (hw, m)
    fronts = json.loads((out / "pareto" / "resnet-18__bitmod" / "pareto.json").read_text())
    assert fronts["swept"] == "latency_s" and len(fronts["points"]) >= 3
