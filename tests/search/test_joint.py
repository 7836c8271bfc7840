"""Joint (weight, activation) / (activation, KV) choices: exact against brute force (with and
without activation ties), KV memory = the workload's KV cache, ran_as kept, labels parse."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from lowbit.hwsim.spec import load_accelerator
from lowbit.kernels_ref.errors import InfeasibleBudgetError, InvalidSpecError
from lowbit.kernels_ref.formats import Format
from lowbit.models import zoo
from lowbit.search.costs import CostTable
from lowbit.search.ilp import solve
from lowbit.search.joint import (
    JointTable,
    build_joint,
    compose_sensitivity,
    parse_choice,
    residual_act_ties,
    solve_joint,
)


def _random_joint(rng: np.random.Generator, L: int, W: int, A: int, ties: bool) -> JointTable:
    labels = [f"int{w}/int{a}" for w in range(2, 2 + W) for a in range(4, 4 + A)]
    act_of = np.array([a for _w in range(W) for a in range(A)])
    C = len(labels)
    sens = rng.lognormal(0, 1, (L, C))
    lat = rng.uniform(1, 10, (L, C)) * 1e6
    en = rng.uniform(1, 10, (L, C)) * 1e-3
    t = CostTable(layers=tuple(f"l{i}" for i in range(L)), choices=tuple(labels), sensitivity=sens,
                  costs={"latency": lat, "energy": en}, ties=((0, 1),) if ties else ())
    return JointTable(t, tuple(f"int{a}" for a in range(4, 4 + A)), act_of, tuple(("",) * C for _ in range(L)),
                      ("weight",) * L)


def _brute(jt: JointTable, bud: dict[str, float], objective: str = "sensitivity") -> float:
    t = jt.table
    best = np.inf
    for asg in itertools.product(range(t.num_choices), repeat=t.num_layers):
        if any(len({asg[i] for i in g}) > 1 for g in t.ties):
            continue
        if any(len({int(jt.act_of[asg[i]]) for i in g}) > 1 for g in jt.act_ties):
            continue
        tot = t.totals(asg)
        if all(tot[n] <= b for n, b in bud.items()):
            best = min(best, tot[objective])
    return best


@pytest.mark.parametrize("seed", range(6))
def test_joint_ilp_equals_brute_force_with_activation_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    jt = _random_joint(rng, L=4, W=2, A=2, ties=seed % 2 == 0)
    t = jt.table
    bud = {"latency": float(t.totals(t.uniform(t.choices[1]))["latency"]) * rng.uniform(0.8, 1.0),
           "energy": float(t.totals(t.uniform(t.choices[2]))["energy"]) * rng.uniform(0.9, 1.2)}
    for groups in ((), ((1, 2, 3),), ((0, 2), (1, 3))):
        j = jt.with_act_ties(groups)
        want = _brute(j, bud)
        if not np.isfinite(want):
            with pytest.raises(InfeasibleBudgetError):
                solve_joint(j, bud)
            continue
        a = solve_joint(j, bud)
        assert a.status == "optimal"
        assert a.objective == pytest.approx(want, rel=1e-9)
        for g in j.act_ties:  # the tie holds in the answer
            assert len({int(j.act_of[a.assignment[i]]) for i in g}) == 1
        # Hubara's form: latency minimised under a quality bound, same exactness
        qb = float(a.totals["sensitivity"]) * 1.3
        h = solve_joint(j, {"sensitivity": qb}, objective="latency")
        assert h.objective == pytest.approx(_brute(j, {"sensitivity": qb}, "latency"), rel=1e-9)
    # an activation tie can only cost quality
    loose = solve_joint(jt, bud) if np.isfinite(_brute(jt, bud)) else None
    if loose is not None and np.isfinite(_brute(jt.with_act_ties(((1, 2, 3),)), bud)):
        assert loose.objective <= solve_joint(jt.with_act_ties(((1, 2, 3),)), bud).objective + 1e-12


def test_no_activation_ties_is_ilp_solve() -> None:
    jt = _random_joint(np.random.default_rng(9), L=5, W=3, A=2, ties=True)
    bud = {"latency": "0.8x:int4/int5"}
    a, b = solve_joint(jt, bud), solve(jt.table, bud)
    assert a.assignment == b.assignment and a.method == "ilp"


def test_labels_parse() -> None:
    assert parse_choice("int4/int8") == parse_choice("int4/int8")
    c = parse_choice("kv:int4/int8")
    assert (c.weight, c.act, c.kv) == (None, "int8", "int4")
    c = parse_choice("int4g128/fp8e4m3")
    assert (c.weight, c.act, c.kv) == ("int4g128", "fp8e4m3", None)
    with pytest.raises(InvalidSpecError):
        parse_choice("kv:int4")


def test_kv_memory_is_the_workloads_kv_cache_and_budgets_combine() -> None:
    wl = zoo.get("llama-3-8b", phase="decode", seq_len=256, batch=2)
    wl = type(wl)(name=wl.name, phase=wl.phase, layers=wl.layers[:19], meta=dict(wl.meta))
    accel = load_accelerator("loom")
    jt = build_joint(wl, accel, ["int4", "int8"], ["int8"], ["int4", "int8"])
    t = jt.table
    mm = [i for i, k in enumerate(jt.kinds) if k == "matmul"]
    assert [t.layers[i] for i in mm] == ["layers.0.attn_score", "layers.0.attn_context",
                                         "layers.1.attn_score", "layers.1.attn_context"]
    # matmul rows may take only (act, kv) choices, weight rows only (w, a)
    assert all(t.allowed[i, c] == (t.choices[c].startswith("kv:") == (i in mm)) for i in range(t.num_layers)
               for c in range(t.num_choices))
    kv8 = t.choices.index("kv:int8/int8")
    per_layer_cache = zoo.get("llama-3-8b", phase="decode", seq_len=256, batch=2).kv_cache_bytes(8) / 32
    assert sum(t.costs["kv_memory"][i, kv8] for i in mm) == pytest.approx(2 * per_layer_cache)
    np.testing.assert_array_equal(t.costs["total_memory"], t.costs["memory"] + t.costs["kv_memory"])
    # budget on weights + KV and latency together: int4 KV is forced, weights stay int8 if they can
    sens = np.where(np.char.startswith(np.array(t.choices), "int4"), 100.0, 0.0)[None, :].repeat(t.num_layers, 0)
    sens[mm] = np.where(np.char.startswith(np.array(t.choices), "kv:int4"), 0.1, 0.0)
    t2 = t.with_sensitivity(sens)
    full = t2.totals(t2.uniform("int8/int8"))  # matmul rows: their least sensitive choice, kv int8
    assert full["kv_memory"] == pytest.approx(2 * per_layer_cache)
    need = full["total_memory"] - 0.4 * full["kv_memory"]
    a = solve_joint(JointTable(t2, jt.act_formats, jt.act_of, jt.ran_as, jt.kinds),
                    {"total_memory": need, "latency": full["latency"], "bops": full["bops"]})
    assert a.status == "optimal"
    assert [a.choices[i] for i in mm] == ["kv:int4/int8"] * 4
    assert all(a.choices[i] == "int8/int8" for i in range(t.num_layers) if i not in mm)


def test_ran_as_kept_and_residual_ties() -> None:
    wl = zoo.get("minilm-l6")
    accel = load_accelerator("btc-a100-like")
    jt = build_joint(wl, accel, ["int2", "int8"], ["int4", "int8"], ["int4", "int8"], residual_ties=True)
    t = jt.table
    i = t.layers.index("layers.0.fc1")
    c = t.choices.index("int2/int4")
    assert "2 weight x 4 activation planes" in jt.ran_as[i][c]
    assert jt.ran_as_of(t.uniform("int2/int4"))["layers.0.fc1"] == jt.ran_as[i][c]
    # q/k/v tied whole; the residual readers share one activation format
    q, k, v = (t.layers.index(f"layers.0.{s}_proj") for s in "qkv")
    assert (q, k, v) in t.ties
    (g,) = jt.act_ties
    assert {t.layers[x].rsplit(".", 1)[1] for x in g} == {"q_proj", "k_proj", "v_proj", "fc1"}
    assert residual_act_ties(["a.fc2", "b.o_proj"]) == ()
    # the solve keeps one activation format over the stream, weights free
    rng = np.random.default_rng(0)
    sens = rng.uniform(0, 1, (t.num_layers, t.num_choices))
    j2 = compose_sensitivity(jt, pairs={(n, lab): float(sens[r, cc]) for r, n in enumerate(t.layers)
                                        for cc, lab in enumerate(t.choices) if "attn_context" not in n},
                             act={(n, a): 0.0 for n in t.layers for a in jt.act_formats},
                             kv={(n, f): 0.0 for n in t.layers for f in ("int4", "int8")})
    # pairs given for a MATMUL's (act, KV) labels are used too; where absent, act + KV add up
    assert j2.quality_source["layers.0.fc1"] == "joint" and j2.quality_source["layers.0.attn_score"] == "joint"
    assert j2.quality_source["layers.0.attn_context"] == "additive"
    sc = t.layers.index("layers.0.attn_score")
    kv4 = t.choices.index("kv:int4/int8")
    assert j2.table.sensitivity[sc, kv4] == sens[sc, kv4]
    a = solve_joint(j2, {"latency": "0.7x:int8/int8"})
    acts = {parse_choice(a.choices[x]).act for x in g}
    assert a.status == "optimal" and len(acts) == 1


def test_compose_additive_and_missing_value_is_an_error() -> None:
    wl = zoo.get("digits-cnn")
    jt = build_joint(wl, load_accelerator("loom"), ["int4", "int8"], ["int4", "int8"])
    w = {(n, f): {"int4": 1.0, "int8": 0.1}[f] for n in jt.table.layers for f in ("int4", "int8")}
    a = {(n, f): {"int4": 0.5, "int8": 0.0}[f] for n in jt.table.layers for f in ("int4", "int8")}
    j = compose_sensitivity(jt, weight=w, act=a)
    c = j.table.choices.index("int4/int4")
    assert j.table.sensitivity[0, c] == pytest.approx(1.5)
    assert set(j.quality_source.values()) == {"additive"}
    del a[("fc2", "int4")]
    with pytest.raises(InvalidSpecError, match="fc2"):
        compose_sensitivity(jt, weight=w, act=a)
    assert Format.parse("int4").bits == 4
