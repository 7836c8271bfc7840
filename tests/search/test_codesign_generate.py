"""`lowbit sweep --phase generate --prompt P --generate G` (issue 15 item 6): the sweep prices
the generation scenario, and the space file takes the same keys."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from lowbit.hwsim import evaluate_workload
from lowbit.hwsim.spec import load_accelerator
from lowbit.kernels_ref.errors import InvalidSpecError
from lowbit.models.sensitivity import SensitivityTable
from lowbit.search.codesign import parse_space
from lowbit.search.codesign.parse import with_workload
from lowbit.search.model_tables import workload_for
from lowbit.search.store import ResultStore

from lowbit.cli import main

P, G = 8, 2


def _space(tmp_path: Path, extra: str = "") -> Path:
    wl = workload_for("opt-1.3b", phase="generate", seq_len=P, generate=G)
    names = [ly.name for ly in wl.layers if ly.weight_params > 0]
    sens = tmp_path / "s.csv"
    SensitivityTable(tuple(names), ("int4", "int8"), np.outer(np.ones(len(names)), [1.0, 0.0])).save(sens)
    p = tmp_path / "space.yaml"
    p.write_text(f"name: gen\nformats: [int4, int8]\nobjectives: [latency, energy]\n{extra}"
                 f"models:\n  - {{name: opt-1.3b, sensitivity: {sens}}}\nhardware:\n  - bitmod\n")
    return p


def test_sweep_generate_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "g.sqlite"
    assert main(["sweep", "--space", str(_space(tmp_path)), "--db", str(db), "--executor", "serial", "--quiet",
                 "--phase", "generate", "--prompt", str(P), "--generate", str(G)]) == 0
    assert "1 ok" in capsys.readouterr().out
    with ResultStore(db) as store:
        ((_, _, res),) = list(store.rows("gen"))
    gen = workload_for("opt-1.3b", phase="generate", seq_len=P, generate=G)
    ref = evaluate_workload(gen, "int8", load_accelerator("bitmod"))
    assert res["layers"] == [ly.name for ly in gen.layers]  # prefill, then decode1 ... decodeG
    assert res["uniform"]["int8"]["latency_s"] == pytest.approx(ref.latency_s, rel=1e-12)
    assert res["uniform"]["int8"]["energy_j"] == pytest.approx(ref.total_energy_j, rel=1e-12)
    assert res["choices"][res["layers"].index("prefill.layers.0.q_proj")] == "int8"  # no budget: least loss


def test_space_file_generate_keys_and_errors(tmp_path: Path) -> None:
    sp = parse_space({"name": "s", "formats": ["int8"], "workload": {"phase": "generate", "seq_len": P, "generate": G},
                      "models": ["opt-1.3b"], "hardware": ["bitmod"]})
    assert dict(sp.models[0].workload) == {"phase": "generate", "seq_len": P, "generate": G}
    with pytest.raises(InvalidSpecError, match="generate.*goes with phase"):
        parse_space({"name": "s", "formats": ["int8"], "workload": {"generate": 3},
                     "models": ["opt-1.3b"], "hardware": ["bitmod"]})
    # the command line overrides the file; a later prefill phase drops the decode steps
    sp2 = with_workload(sp, phase="prefill", seq_len=32)
    assert dict(sp2.models[0].workload) == {"phase": "prefill", "seq_len": 32}
    assert with_workload(sp) is sp
    with pytest.raises(InvalidSpecError, match="goes with phase"):
        with_workload(sp2, generate=4)
    assert main(["sweep", "--space", str(_space(tmp_path)), "--db", str(tmp_path / "x.sqlite"),
                 "--generate", "3"]) == 2
