"""`lowbit allocate` joint flags (issue 16 item 4): --kv-formats, --tie-residual-acts and
--quality-terms with --quality NAME=BOUND each give the brute-force optimum on a one-block
MiniLM workload (8 layers, q/k/v tied: 4^6 assignments), with sensitivity from a FILE of
'W' / 'act:A' / 'kv:K' columns."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from lowbit.kernels_ref.errors import InvalidSpecError
from lowbit.models.sensitivity import SensitivityTable
from lowbit.search.joint import parse_choice
from lowbit.search.joint_model import joint_table_for_model, quality_terms, solve_model

from lowbit.cli import main

W, A, K = ["int4", "int8"], ["int4", "int8"], ["int4", "int8"]


@pytest.fixture(scope="module")
def block(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, tuple[str, ...]]:
    from lowbit.models import zoo
    from lowbit.models.workload_io import workload_to_dict

    d = workload_to_dict(zoo.get("minilm-l6"))
    keep = [ly for ly in d["layers"] if ly["name"].startswith("layers.0.")]
    names = {ly["name"] for ly in keep}
    d.update(layers=keep, edges=[e for e in d["edges"] if e[0] in names and e[1] in names], name="minilm-block0")
    for k in ("total_params", "total_macs"):
        d.pop(k, None)
    tmp = tmp_path_factory.mktemp("joint")
    wl = tmp / "block.json"
    wl.write_text(json.dumps(d))
    rng = np.random.default_rng(3)
    layers = tuple(ly["name"] for ly in keep)
    cols = (*W, *(f"act:{a}" for a in A), *(f"kv:{k}" for k in K))
    vals = rng.lognormal(-3, 1, (len(layers), len(cols)))
    vals[:, 1] *= 0.05  # int8 weights and activations cheaper in quality than int4
    vals[:, 3] *= 0.05
    vals[:, 5] *= 0.05
    sens = tmp / "sens.csv"
    SensitivityTable(layers, cols, vals).save(sens)
    return wl, sens, layers


def _brute(t: Any, act_of: np.ndarray, bud: dict[str, float], objective: str = "sensitivity", act_ties: Any = ()) -> float:
    gid = t.group_of()
    groups = sorted(set(gid.tolist()))
    opts = [np.flatnonzero(t.allowed[np.flatnonzero(gid == g)[0]]) for g in groups]
    best = np.inf
    rows = np.arange(t.num_layers)
    for pick in itertools.product(*opts):
        asg = np.array([pick[groups.index(g)] for g in gid])
        if any(len({int(act_of[asg[i]]) for i in grp}) > 1 for grp in act_ties):
            continue
        if all(t.metric(n)[rows, asg].sum() <= b * (1 + 1e-12) for n, b in bud.items()):
            best = min(best, float(t.metric(objective)[rows, asg].sum()))
    return best


def _alloc(tmp: Path, *extra: str) -> dict:
    out = tmp / "alloc.json"
    assert main(["allocate", *extra, "-o", str(out)]) == 0
    return json.loads(out.read_text())


def test_kv_formats_cli_equals_brute_force(block: tuple, tmp_path: Path) -> None:
    wl, sens, _ = block
    args = ["--hw", "loom", "--model", str(wl), "--formats", ",".join(W), "--act-formats", ",".join(A),
            "--kv-formats", ",".join(K), "--sensitivity", str(sens)]
    jt = joint_table_for_model(str(wl), "loom", W, A, K, sensitivity=str(sens))
    t = jt.table
    assert {c for i, k in enumerate(jt.kinds) if k == "matmul" for c in np.array(t.choices)[t.allowed[i]]} \
        == {f"kv:{k}/{a}" for a in A for k in K}
    full = t.totals(t.uniform("int8/int8"))
    for frac in (0.55, 0.7, 0.85):
        lat = frac * full["latency_s"]
        doc = _alloc(tmp_path, *args, "--budget", f"latency_s={lat!r}")
        assert doc["status"] == "optimal" and doc["totals"]["latency_s"] <= lat * (1 + 1e-12)
        assert doc["objective"] == pytest.approx(_brute(t, jt.act_of, {"latency_s": lat}), rel=1e-9)
        kinds = {ly["name"]: parse_choice(ly["format"]) for ly in doc["layers"]}
        assert kinds["layers.0.attn_score"].kv in K and kinds["layers.0.q_proj"].weight in W
    # Hubara's form on the same table: latency minimised under a quality bound
    q = 0.5 * (t.totals(t.uniform("int4/int4"))["sensitivity"] + full["sensitivity"])
    doc = _alloc(tmp_path, *args, "--objective", "latency", "--quality", repr(q))
    assert doc["objective"] == pytest.approx(_brute(t, jt.act_of, {"sensitivity": q}, "latency_s"), rel=1e-9)
    # KV bytes budget: every MATMUL's K/V at int4 halves kv_memory_bytes
    kvb = 0.5 * full["kv_memory_bytes"]
    doc = _alloc(tmp_path, *args, "--budget", f"kv_memory_bytes={kvb!r}")
    assert all(parse_choice(ly["format"]).kv == "int4" for ly in doc["layers"] if "attn_" in ly["name"])
    assert doc["objective"] == pytest.approx(_brute(t, jt.act_of, {"kv_memory_bytes": kvb}), rel=1e-9)


def test_tie_residual_acts_cli_equals_brute_force(block: tuple, tmp_path: Path) -> None:
    wl, sens, _ = block
    args = ["--hw", "btc-a100-like", "--model", str(wl), "--formats", ",".join(W), "--act-formats", ",".join(A),
            "--kv-formats", ",".join(K), "--sensitivity", str(sens)]
    jt = joint_table_for_model(str(wl), "btc-a100-like", W, A, K, sensitivity=str(sens), residual_ties=True)
    t = jt.table
    (g,) = jt.act_ties
    assert {t.layers[i].rsplit(".", 1)[1] for i in g} == {"q_proj", "k_proj", "v_proj", "fc1"}
    full = t.totals(t.uniform("int8/int8"))["latency_s"]
    differs = 0
    for frac in (0.6, 0.75, 0.9):
        lat = frac * full
        doc = _alloc(tmp_path, *args, "--tie-residual-acts", "--budget", f"latency_s={lat!r}")
        want = _brute(t, jt.act_of, {"latency_s": lat}, act_ties=jt.act_ties)
        assert doc["status"] == "optimal" and doc["objective"] == pytest.approx(want, rel=1e-9)
        acts = {parse_choice(ly["format"]).act for ly in doc["layers"] if ly["name"].endswith(("_proj", "fc1"))
                and not ly["name"].endswith("o_proj")}
        assert len(acts) == 1
        differs += want > _brute(t, jt.act_of, {"latency_s": lat}) * (1 + 1e-9)
    assert differs >= 1  # the tie binds somewhere (else the test could not tell)


def test_quality_terms_cli_minimise_one_metric_under_bound_on_another(block: tuple, tmp_path: Path) -> None:
    wl, _sens, layers = block
    rng = np.random.default_rng(5)
    labels = [f"{w}/{a}" for w in W for a in A] + [f"kv:{k}/{a}" for a in A for k in K]
    mats = {}
    metrics = {}
    for name in ("content", "quality"):
        v = rng.normal(0, 1, (len(layers), len(labels)))  # negative entries: shifted, bound stays raw
        mats[name] = v
        metrics[name] = {"layers": list(layers), "formats": labels, "values": v.tolist()}
    qf = tmp_path / "terms.json"
    qf.write_text(json.dumps({"metrics": metrics}))
    sens = tmp_path / "pairs.csv"  # jointly measured full labels as the sensitivity
    SensitivityTable(layers, tuple(labels), np.abs(rng.normal(0, 1, (len(layers), len(labels))))).save(sens)
    jt = joint_table_for_model(str(wl), "loom", W, A, K, sensitivity=str(sens))
    assert set(jt.quality_source.values()) == {"joint"}
    t = jt.table
    raw = {n: np.where(t.allowed, np.stack([m[:, labels.index(c)] for c in t.choices], axis=1), 0.0)
           for n, m in mats.items()}
    rows = np.arange(t.num_layers)
    gid = t.group_of()
    opts = [np.flatnonzero(t.allowed[np.flatnonzero(gid == g)[0]]) for g in sorted(set(gid.tolist()))]
    lat_b = 0.8 * float(t.totals(t.uniform("int8/int8"))["latency_s"])
    tot = [(raw["content"][rows, a].sum(), raw["quality"][rows, a].sum(), t.costs["latency_s"][rows, a].sum())
           for a in (np.array([p[g] for g in gid]) for p in itertools.product(*opts))]
    qs = sorted(float(x[1]) for x in tot)
    for qb in (qs[len(qs) // 4], qs[len(qs) // 2]):
        want = min((c for c, q, lat in tot if q <= qb + 1e-12 and lat <= lat_b * (1 + 1e-12)), default=np.inf)
        doc = _alloc(tmp_path, "--hw", "loom", "--model", str(wl), "--formats", ",".join(W), "--act-formats",
                     ",".join(A), "--kv-formats", ",".join(K), "--sensitivity", str(sens), "--quality-terms",
                     str(qf), "--objective", "content", "--quality", f"quality={qb!r}", "--budget",
                     f"latency_s={lat_b!r}")
        assert doc["status"] == "optimal" and doc["objective"] == pytest.approx(want, rel=1e-9, abs=1e-9)
        assert doc["totals"]["quality"] <= qb + 1e-9 and doc["budgets"]["quality"] == pytest.approx(qb)
    _jt2, off = quality_terms(qf, jt)
    assert off["content"] < 0 and off["quality"] < 0
    with pytest.raises(InvalidSpecError, match="quality-term bound"):
        solve_model(jt, {"quality": "0.5x"}, objective="content", quality_terms_file=qf)


def test_joint_flags_errors(block: tuple, tmp_path: Path) -> None:
    wl, sens, _ = block
    w_only = tmp_path / "w.csv"
    SensitivityTable(("layers.0.q_proj",), ("int4",), [[1.0]]).save(w_only)
    assert main(["allocate", "--costs", str(w_only), "--kv-formats", "int4"]) == 2
    assert main(["allocate", "--hw", "loom", "--model", str(wl), "--formats", "int4,int8", "--act-formats",
                 "int4,int8", "--kv-formats", "int4", "--sensitivity", str(sens), "--method", "greedy"]) == 2
    with pytest.raises(InvalidSpecError, match="no value"):  # KV terms missing for a KV format
        joint_table_for_model(str(wl), "loom", W, A, ["int2"], sensitivity=str(sens))
