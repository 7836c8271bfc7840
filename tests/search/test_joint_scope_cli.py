"""Joint choices under --memory-scope weights+kv and in `lowbit pareto` (issues 15 and 16): the
memory budget counts the weights plus each attention's KV cache in the format it chooses (or
one --kv format when the attentions do not choose), every answer equals brute force on a
one-block decoder in phase generate, an unmeetable budget names the smallest achievable
weights + cache, and each point of the joint Pareto sweep is the joint ILP at its budget."""

from __future__ import annotations

import csv
import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from lowbit.kernels_ref.formats import Format
from lowbit.models.sensitivity import SensitivityTable
from lowbit.search.joint import build_joint, parse_choice, solve_joint
from lowbit.search.joint_model import joint_table_for_model, scope_memory
from lowbit.search.model_tables import workload_for

from lowbit.cli import main

CONFIG = {"model_type": "llama", "hidden_size": 256, "intermediate_size": 688, "num_attention_heads": 8,
          "num_key_value_heads": 2, "num_hidden_layers": 1, "vocab_size": 1000,
          "max_position_embeddings": 8192, "tie_word_embeddings": False}
HW = "bitmod"
SHAPE = {"phase": "generate", "seq_len": 256, "generate": 4, "batch": 16}
FLAGS = ["--phase", "generate", "--prompt", "256", "--generate", "4", "--batch", "16"]
W, K = ["int4", "int8"], ["int2", "int4", "int8"]


@pytest.fixture(scope="module")
def decoder(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A one-block LLaMA config and a sensitivity FILE with W / act:A / kv:K columns."""
    d = tmp_path_factory.mktemp("dec")
    cfg = d / "config.json"
    cfg.write_text(json.dumps(CONFIG))
    wl = workload_for(str(cfg), **SHAPE)
    from lowbit.hwsim.spec import load_accelerator

    names = build_joint(wl, load_accelerator(HW), ["int8"], ["int8"], ["int8"]).table.layers
    cols = (*W, "act:int4", "act:int8", *(f"kv:{k}" for k in K))
    vals = np.random.default_rng(11).lognormal(-3, 1, (len(names), len(cols)))
    vals[:, 1] *= 0.05  # int8 weights cheaper in quality than int4
    vals[:, 3] *= 0.05
    vals[:, 4] *= 4.0   # kv int2 dearest, int8 cheapest
    vals[:, 6] *= 0.05
    sens = d / "sens.csv"
    SensitivityTable(tuple(names), cols, vals).save(sens)
    return str(cfg), str(sens)


def _brute(t: Any, bud: dict[str, float], act_of: np.ndarray | None = None, act_ties: Any = ()) -> float:
    gid = t.group_of()
    groups = sorted(set(gid.tolist()))
    opts = [np.flatnonzero(t.allowed[np.flatnonzero(gid == g)[0]]) for g in groups]
    rows = np.arange(t.num_layers)
    best = np.inf
    for pick in itertools.product(*opts):
        asg = np.asarray(pick)[gid]
        if act_of is not None and any(len({int(act_of[asg[i]]) for i in g}) > 1 for g in act_ties):
            continue
        if all(t.metric(n)[rows, asg].sum() <= b * (1 + 1e-12) for n, b in bud.items()):
            best = min(best, float(t.sensitivity[rows, asg].sum()))
    return best


def _args(cfg: str, sens: str, acts: str = "int8", kv: bool = True) -> list[str]:
    return ["--hw", HW, "--model", cfg, *FLAGS, "--formats", ",".join(W), "--act-formats", acts,
            *(["--kv-formats", ",".join(K)] if kv else []), "--sensitivity", sens]


def _alloc(tmp: Path, *args: str) -> dict:
    out = tmp / "alloc.json"
    assert main(["allocate", *args, "-o", str(out)]) == 0
    return json.loads(out.read_text())


def test_weights_plus_kv_memory_budget_equals_brute_force(decoder: tuple[str, str], tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    cfg, sens = decoder
    wl = workload_for(cfg, **SHAPE)
    jt = joint_table_for_model(cfg, HW, W, ["int8"], K, sensitivity=sens, **SHAPE)
    t = jt.table
    w_min = t.min_totals(["memory_bytes"])["memory_bytes"]  # weights alone
    cache = {k: wl.kv_cache_bytes(Format.parse(k).bits_per_weight) for k in K}
    st, kv = scope_memory(jt, "weights+kv", cfg, HW, **SHAPE)
    s = st.table
    np.testing.assert_array_equal(s.costs["memory_bytes"], t.costs["memory_bytes"] + t.costs["kv_memory_bytes"])
    smallest = w_min + cache["int2"]
    assert s.min_totals(["memory_bytes"])["memory_bytes"] == pytest.approx(smallest, rel=1e-12)
    assert "chosen per attention from int2,int4,int8" in kv.fmt
    full = s.totals(s.uniform("int8/int8"))["memory_bytes"]
    binding = 0
    for frac in (0.15, 0.4, 0.7):
        b = smallest + frac * (full - smallest)
        doc = _alloc(tmp_path, *_args(cfg, sens), "--memory-scope", "weights+kv", "--memory", repr(b))
        want = _brute(s, {"memory_bytes": b})
        assert doc["status"] == "optimal" and doc["objective"] == pytest.approx(want, rel=1e-9)
        # memory_bytes = weights + the cache in the KV formats chosen; the document says which
        kvs = {ly["name"]: parse_choice(ly["format"]).kv for ly in doc["layers"] if "attn_" in ly["name"]}
        rows = {n: cache[k] / 2 for n, k in kvs.items()}  # K and V rows hold half the cache each
        assert doc["totals"]["kv_memory_bytes"] == pytest.approx(sum(rows.values()), rel=1e-12)
        assert doc["totals"]["memory_bytes"] == pytest.approx(doc["totals"]["total_memory_bytes"], rel=1e-12)
        assert doc["totals"]["memory_bytes"] <= b * (1 + 1e-12)
        assert doc["memory_scope"] == "weights+kv" and doc["kv_cache"]["bytes"] == pytest.approx(sum(rows.values()))
        assert doc["kv_cache"]["context"] == 260 and doc["kv_cache"]["batch"] == 16
        binding += want > _brute(jt.table, {"memory_bytes": b}) * (1 + 1e-9)  # weights alone would allow more
        # energy by component adds up to each row's energy, decode steps included
        for ly in doc["layers"]:
            assert sum(ly["energy_components_j"].values()) == pytest.approx(ly["energy_j"], rel=1e-9)
    assert binding >= 1
    # lowbit report of that allocation: each attention row's KV format in its own column
    assert main(["report", str(tmp_path / "alloc.json"), "-o", str(tmp_path / "rep")]) == 0
    with open(tmp_path / "rep" / "alloc_layers.csv", newline="") as fh:
        shown = {r["layer"]: r["kv"] for r in csv.DictReader(fh)}
    assert {n: k for n, k in shown.items() if k} == kvs
    capsys.readouterr()
    assert main(["allocate", *_args(cfg, sens), "--memory-scope", "weights+kv", "--memory",
                 repr(0.99 * smallest)]) == 2
    err = capsys.readouterr().err
    assert f"memory_bytes <= {0.99 * smallest:.6g} (smallest achievable {smallest:.6g})" in err, err
    assert err.count("\n") == 1


def test_weights_plus_kv_with_one_kv_format(decoder: tuple[str, str], tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """Without --kv-formats (here: --tie-residual-acts) the cache is in --kv's one format."""
    cfg, sens = decoder
    wl = workload_for(cfg, **SHAPE)
    cache8 = wl.kv_cache_bytes(8)
    jt = joint_table_for_model(cfg, HW, W, ["int4", "int8"], None, sensitivity=sens, residual_ties=True, **SHAPE)
    st, kv = scope_memory(jt, "weights+kv", cfg, HW, kv_fmt="int8", **SHAPE)
    s = st.table
    assert kv.total_bytes == cache8 and kv.fmt == "int8"
    w_min = jt.table.min_totals(["memory_bytes"])["memory_bytes"]
    assert s.min_totals(["memory_bytes"])["memory_bytes"] == pytest.approx(w_min + cache8, rel=1e-12)
    b = w_min + cache8 + 0.3 * (jt.table.totals(jt.table.uniform("int8/int8"))["memory_bytes"] - w_min)
    doc = _alloc(tmp_path, *_args(cfg, sens, "int4,int8", kv=False), "--tie-residual-acts", "--memory-scope",
                 "weights+kv", "--kv", "int8", "--memory", repr(b))
    assert doc["objective"] == pytest.approx(_brute(s, {"memory_bytes": b}, st.act_of, st.act_ties), rel=1e-9)
    assert doc["kv_cache"] == {"format": "int8", "bytes": cache8, "context": 260, "batch": 16, "bits_per_elem": 8.0}
    capsys.readouterr()
    assert main(["allocate", *_args(cfg, sens, "int4,int8", kv=False), "--tie-residual-acts", "--memory-scope",
                 "weights+kv", "--kv", "int8", "--memory", repr(w_min)]) == 2
    assert f"smallest achievable {w_min + cache8:.6g}" in capsys.readouterr().err


def test_joint_scope_errors(decoder: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    cfg, sens = decoder
    capsys.readouterr()
    assert main(["allocate", *_args(cfg, sens), "--memory-scope", "weights+kv", "--kv", "int8"]) == 2
    assert "--kv int8 fixes one KV-cache format" in capsys.readouterr().err
    assert main(["allocate", *_args(cfg, sens), "--kv", "int8"]) == 2  # --kv without weights+kv
    assert "--kv sets the KV-cache format" in capsys.readouterr().err
    assert main(["pareto", *_args(cfg, sens), "--quality-terms", sens, "--sweep", "memory", "-o", "/nonexistent"]) == 2
    err = capsys.readouterr().err
    assert "--quality-terms is allocate-only" in err and err.count("\n") == 1


@pytest.mark.parametrize("ties", [False, True])
def test_joint_pareto_points_are_the_joint_ilp(decoder: tuple[str, str], tmp_path: Path, ties: bool,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    cfg, sens = decoder
    acts = "int4,int8" if ties else "int8"
    formats = ["int8"] if ties else W  # keeps the brute force small with two activation formats
    if ties:  # residual readers that prefer different activation formats: the tie binds
        from lowbit.models.sensitivity import load

        st = load(sens)
        v = np.array(st.values)
        a4, a8 = st.formats.index("act:int4"), st.formats.index("act:int8")
        for i, n in enumerate(st.layers):
            if n.endswith(("q_proj", "k_proj", "v_proj")):
                v[i, a4], v[i, a8] = 0.001, 0.5
            elif n.endswith(("gate_proj", "up_proj")):
                v[i, a4], v[i, a8] = 0.3, 0.001
        sens = str(tmp_path / "mixed.csv")
        SensitivityTable(st.layers, st.formats, v).save(sens)
    args = _args(cfg, sens, acts)
    args[args.index("--formats") + 1] = ",".join(formats)
    out = tmp_path / "front"
    extra = ["--tie-residual-acts"] if ties else []
    assert main(["pareto", *args, *extra, "--memory-scope", "weights+kv", "--sweep", "memory", "--points", "4",
                 "-o", str(out)]) == 0
    assert "memory_bytes includes the KV cache: chosen per attention" in capsys.readouterr().out
    jt = joint_table_for_model(cfg, HW, formats, acts.split(","), K, sensitivity=sens, residual_ties=ties, **SHAPE)
    jt, _kv = scope_memory(jt, "weights+kv", cfg, HW, **SHAPE)
    assert bool(jt.act_ties) == ties
    pts = [p for p in json.loads((out / "pareto.json").read_text())["points"] if p["kind"] == "ilp"]
    assert len(pts) == 4 and all(p["status"] == "optimal" for p in pts)
    for p in pts:
        a = solve_joint(jt, {"memory_bytes": p["budget"]})
        assert p["objective"] == pytest.approx(a.objective, rel=1e-9)
        assert p["objective"] == pytest.approx(_brute(jt.table, {"memory_bytes": p["budget"]}, jt.act_of,
                                                      jt.act_ties), rel=1e-9)
        assert p["totals"]["memory_bytes"] <= p["budget"] * (1 + 1e-9)
        assert any(c.startswith("kv:") for c in p["choices"])
        if ties:  # without the tie every point would be better: the sweep solved the tied ILP
            assert p["objective"] > _brute(jt.table, {"memory_bytes": p["budget"]}) + 0.1
    assert pts[0]["objective"] > pts[-1]["objective"]
