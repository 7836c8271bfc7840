"""search.codesign and `lowbit sweep`: validated design spaces, exact per-point results,
determinism, executors agreeing, SIGKILL + --resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from lowbit.kernels_ref.errors import InvalidSpecError
from lowbit.search.codesign import load_space, parse_space, run_sweep
from lowbit.search.store import ResultStore

from lowbit.cli import main

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[2]

SPACE = """
name: t
formats: [int2, int4, int8]
budgets: {latency: 0.6x}
models: [resnet-18]
hardware:
  - base: bitmod
    params:
      num_cores: [1, 2]
      freq_hz: [5.0e8, 1.0e9]
"""


def _space(tmp_path: Path, text: str = SPACE, name: str = "space.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


@pytest.mark.parametrize("old, new, key, what", [
    ("name: t", "name: t\nbogus: 1", "bogus", "unknown key"),
    ("num_cores: [1, 2]", "core.nope: [1]", "hardware[0].params.core.nope", "value 1"),
    ("freq_hz: [5.0e8, 1.0e9]", "freq_hz: [0]", "hardware[0].params.freq_hz", "value 0"),
    ("models: [resnet-18]", "models: [resnet-81]", "models[0].name", "unknown model 'resnet-81'"),
    ("budgets: {latency: 0.6x}", "budgets: {speed: 0.5x}", "budgets.speed", "unknown metric"),
    ("formats: [int2, int4, int8]", "formats: [int2, int99q]", "formats", "int99q"),
    ("name: t", "name: t\nstrategy: annealing", "strategy", "unknown strategy 'annealing'"),
    ("num_cores: [1, 2]", "num_cores: {range: [8, 1], step: 1}", "hardware[0].params.num_cores.range",
     "low 8 is above high 1"),
    ("num_cores: [1, 2]", "num_cores: []", "hardware[0].params.num_cores", "has no values"),
    ("base: bitmod", "base: nosuchchip", "hardware[0].base", "nosuchchip"),
    ("models: [resnet-18]", "", "models", "missing"),
])
def test_bad_space_is_one_typed_error_naming_file_and_key(tmp_path, old, new, key, what) -> None:  # type: ignore[no-untyped-def]
    p = _space(tmp_path, SPACE.replace(old, new, 1))
    with pytest.raises(InvalidSpecError) as ei:
        load_space(p)
    msg = str(ei.value)
    assert msg.startswith(f"{p}: {key}") and what in msg and "\n" not in msg, msg


def test_bad_space_from_cli_exits_2_with_one_line(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    p = _space(tmp_path, SPACE.replace("num_cores: [1, 2]", "num_cores: [1, -2]"))
    assert main(["sweep", "--space", str(p), "--db", str(tmp_path / "x.sqlite"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "num_cores" in err and str(p) in err, err
    assert main(["sweep", "--space", str(tmp_path / "missing.yaml"), "--quiet"]) == 2


def test_points_equal_a_direct_evaluation_at_their_own_clock(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Every point is priced at 1 GHz with leakage rescaled; the result must equal hwsim run
    directly on the point's own accelerator with the chosen formats."""
    from lowbit.hwsim import evaluate_workload
    from lowbit.hwsim.spec import load_accelerator
    from lowbit.models import zoo

    space = load_space(_space(tmp_path))
    with ResultStore(tmp_path / "r.sqlite") as st:
        s = run_sweep(space, st, executor="serial", quiet=True)
        rows = st.snapshot()
    assert (s.evaluated, s.ok) == (4, 4)
    wl = zoo.get("resnet-18")
    by = {}
    for _k, p, r in rows:
        accel = load_accelerator("bitmod").with_changes(**p["params"])
        ref = evaluate_workload(wl, dict(zip(r["layers"], r["choices"])), accel)
        assert r["cycles"] == ref.total_cycles
        assert r["latency_s"] == pytest.approx(ref.latency_s, rel=1e-12)
        assert r["energy_j"] == pytest.approx(ref.total_energy_j, rel=1e-9)
        # the ILP honoured the budget: 0.6x of this design's own all-int8 latency
        assert r["latency_s"] <= 0.6 * r["uniform"]["int8"]["latency_s"] * (1 + 1e-12)
        # and no uniform allocation within the budget has a lower quality loss
        for lab, u in r["uniform"].items():
            if u["latency_s"] <= r["latency_s"]:
                assert r["quality"] <= u["quality"] + 1e-12, lab
        by[(p["params"]["num_cores"], p["params"]["freq_hz"])] = r
    for cores in (1, 2):  # the clock changes seconds and leakage, never cycles or formats
        slow, fast = by[(cores, 5.0e8)], by[(cores, 1.0e9)]
        assert slow["cycles"] == fast["cycles"] and slow["choices"] == fast["choices"]
        assert slow["layer_energy_j"]["leakage"][3] == pytest.approx(2 * fast["layer_energy_j"]["leakage"][3])
    assert by[(2, 1.0e9)]["cycles"] < by[(1, 1.0e9)]["cycles"]


def test_infeasible_budget_names_the_smallest_achievable(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # Stripes is serial in the activations only: weight bits do not change its cycles, so no
    # allocation reaches 0.6x of all-int8 latency; the point says the smallest it can do.
    space = parse_space({"name": "s", "formats": ["int4", "int8"], "budgets": {"latency": "0.6x"},
                         "models": ["resnet-18"], "hardware": ["stripes"]})
    with ResultStore(tmp_path / "r.sqlite") as st:
        run_sweep(space, st, executor="serial", quiet=True)
        [(_k, _p, r)] = st.snapshot()
    assert r["status"] == "infeasible"
    assert "smallest achievable" in r["message"] and "latency_s" in r["message"]
    assert r["minimum"]["latency_s"] > r["budget"]["latency_s"]


def _strategy_space(strategy: str, seed: int) -> dict:  # type: ignore[type-arg]
    return {"name": f"{strategy}{seed}", "seed": seed, "strategy": strategy, "samples": 8, "population": 4,
            "formats": ["int2", "int4", "int8"], "budgets": {"latency": "0.7x"}, "models": ["resnet-18"],
            "hardware": [{"base": "loom", "params": {"core.rows": [32, 64, 128, 256],
                                                     "core.cols": [8, 16, 32]}}]}


@pytest.mark.parametrize("strategy", ["random", "evolutionary"])
def test_strategies_are_deterministic_under_a_seed(tmp_path, strategy) -> None:  # type: ignore[no-untyped-def]
    snaps = []
    for i, seed in enumerate((3, 3, 4)):
        with ResultStore(tmp_path / f"{i}.sqlite") as st:
            s = run_sweep(parse_space(_strategy_space(strategy, seed)), st, executor="serial", quiet=True)
            snaps.append(st.snapshot())
        assert s.evaluated == 8  # `samples` distinct designs x 1 model
    designs = [sorted(p["design"] for _k, p, _r in snap) for snap in snaps]
    assert designs[0] == designs[1] and snaps[0][0][2] == snaps[1][0][2]
    assert designs[0] != designs[2]  # another seed explores other designs
    assert len(set(designs[0])) == 8


@pytest.mark.slow
def test_executors_store_identical_results(tmp_path) -> None:  # type: ignore[no-untyped-def]
    space = load_space(_space(tmp_path))
    snaps = {}
    for ex in ("serial", "local", "dask"):
        with ResultStore(tmp_path / f"{ex}.sqlite") as st:
            run_sweep(space, st, executor=ex, workers=2, quiet=True)
            snaps[ex] = st.snapshot()
    assert len(snaps["serial"]) == 4
    assert snaps["serial"] == snaps["local"] == snaps["dask"]


RESUME_SPACE = """
name: resume
formats: [int2, int4, int8]
budgets: {latency: 0.7x}
models: [resnet-18]
hardware:
  - base: loom
    params:
      core.rows: [32, 64, 128, 256, 512]
      core.cols: [8, 16, 32, 64]
      dram.bandwidth_bytes_per_cycle: [16, 64]
"""


@pytest.mark.slow
def test_sigkill_mid_sweep_then_resume_equals_an_uninterrupted_run(tmp_path) -> None:  # type: ignore[no-untyped-def]
    space = _space(tmp_path, RESUME_SPACE)
    db = tmp_path / "killed.sqlite"
    cmd = [sys.executable, "-m", "lowbit", "sweep", "--space", str(space), "--db", str(db),
           "--executor", "serial", "--quiet"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    killed_at = 0
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if db.exists():
                try:
                    with ResultStore(db) as st:
                        killed_at = st.count()
                except InvalidSpecError:
                    killed_at = 0
                if killed_at >= 5:
                    break
            time.sleep(0.05)
        assert proc.poll() is None, "the sweep finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    with ResultStore(db) as st:
        kept = st.snapshot()
    assert 5 <= len(kept) < 40
    # resume: the finished points are kept as they were, the rest are run
    assert main(["sweep", "--space", str(space), "--db", str(db), "--executor", "serial", "--quiet"]) == 2
    assert main(["sweep", "--space", str(space), "--db", str(db), "--executor", "serial", "--quiet",
                 "--resume"]) == 0
    with ResultStore(db) as st:
        resumed = st.snapshot()
        assert st.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert all(r in resumed for r in kept)  # nothing finished before the kill was lost or changed
    with ResultStore(tmp_path / "clean.sqlite") as st:
        run_sweep(load_space(space), st, executor="serial", quiet=True)
        clean = st.snapshot()
    assert len(clean) == 40 and resumed == clean


def test_range_budget_is_a_fraction_of_the_achievable_range() -> None:
    import numpy as np
    from lowbit.search.costs import CostTable

    # Hand derivation: fastest allocation 1 + 3 = 4 cycles, all-int8 2 + 4 = 6, so 0.5r = 5,
    # 0r = 4 and 1r = 6; "0.5r:int4" is measured against all-int4 (= the minimum here) -> 4.
    t = CostTable(layers=("a", "b"), choices=("int4", "int8"), sensitivity=np.array([[1.0, 0.0], [1.0, 0.0]]),
                  costs={"latency": np.array([[1.0, 2.0], [3.0, 4.0]])})
    assert t.resolve_budget("latency", "0.5r") == 5.0
    assert t.resolve_budget("latency", "0r") == 4.0
    assert t.resolve_budget("latency", "1r") == 6.0
    assert t.resolve_budget("latency", "0.5r:int4") == 4.0
    with pytest.raises(InvalidSpecError, match="bad fraction before 'r'"):
        t.resolve_budget("latency", "abcr")


def test_allocate_builtin_sensitivity_agrees_with_the_sweep_point(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """`lowbit allocate --sensitivity builtin-fit` and a sweep point of the same design solve the same
    ILP (a design space's built-in ResNet-18 quality includes the int2 fit)."""
    import json

    out = tmp_path / "alloc.json"
    assert main(["allocate", "--hw", "bitmod", "--model", "resnet-18", "--formats", "int2,int4,int8",
                 "--sensitivity", "builtin-fit", "--latency", "0.6x", "-o", str(out)]) == 0
    doc = json.loads(out.read_text())
    space = parse_space({"name": "one", "formats": ["int2", "int4", "int8"], "budgets": {"latency": "0.6x"},
                         "models": ["resnet-18"], "hardware": ["bitmod"]})
    with ResultStore(tmp_path / "r.sqlite") as st:
        run_sweep(space, st, executor="serial", quiet=True)
        [(_k, _p, r)] = st.snapshot()
    chosen = {n: c for n, c, w in zip(r["layers"], r["choices"], r["has_weights"]) if w}
    assert {ly["name"]: ly["format"] for ly in doc["layers"]} == chosen
    assert r["quality"] == pytest.approx(doc["totals"]["sensitivity"], rel=1e-12)
    assert r["cycles"] == doc["totals"]["cycles"]  # no weightless layers in ResNet-18




def test_malformed_spaces_only_ever_raise_typed_errors() -> None:
    """Random edits of a valid space (any key, any JSON-like value): parse_space either accepts
    it or raises InvalidSpecError; nothing else escapes (the CLI turns that into one line, exit 2)."""
    import yaml
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    base = yaml.safe_load(SPACE)
    leaf = st.one_of(st.none(), st.booleans(), st.integers(-3, 10**12), st.floats(allow_nan=True),
                     st.text(max_size=8), st.lists(st.integers(-2, 300), max_size=3))
    value = st.recursive(leaf, lambda c: st.one_of(st.lists(c, max_size=3),
                                                   st.dictionaries(st.text(max_size=6), c, max_size=3)),
                         max_leaves=6)
    paths = st.sampled_from(["name", "formats", "budgets", "models", "hardware", "strategy", "samples",
                             "seed", "workload", "objectives", "hardware.0", "hardware.0.params",
                             "hardware.0.params.num_cores", "hardware.0.base", "models.0", "bogus"])

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(path=paths, v=value)
    def check(path: str, v: object) -> None:
        import copy

        d = copy.deepcopy(base)
        cur = d
        keys = path.split(".")
        for k in keys[:-1]:
            cur = cur[int(k)] if isinstance(cur, list) else cur[k]
        last = keys[-1]
        if isinstance(cur, list):
            cur[int(last)] = v
        else:
            cur[last] = v
        try:
            parse_space(d, "fuzz.yaml")
        except InvalidSpecError as exc:
            assert "\n" not in str(exc) and str(exc).startswith("fuzz.yaml")

    check()


def test_worker_caches_are_bounded_and_never_change_a_result(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from lowbit.search.codesign import SweepCaches, evaluate_group, model_contexts, points_for
    from lowbit.search.codesign.worker import LRU

    lru: LRU[str, int] = LRU(2)
    lru.put("a", 1)
    lru.put("b", 2)
    assert lru.get("a") == 1  # "a" is now the most recent: "b" goes first
    lru.put("c", 3)
    assert (lru.get("b"), lru.get("a"), lru.get("c"), len(lru)) == (None, 1, 3, 2)
    with pytest.raises(ValueError):
        LRU(0)

    space = load_space(_space(tmp_path))
    ctxs = model_contexts(space)
    pts = points_for(space, [(0, (i, j)) for i in range(2) for j in range(2)])
    sctx = space.context()
    fresh = evaluate_group((pts, ctxs, sctx))
    tight = SweepCaches(priced=LRU(1), ilp=LRU(1), accels=LRU(1), workloads=LRU(1))
    shared = evaluate_group((pts, ctxs, sctx), caches=tight)
    alone = [evaluate_group(([p], ctxs, sctx))[0] for p in pts]
    assert [r["status"] for r in fresh] == ["ok"] * 4
    assert fresh == shared == alone
    assert (len(tight.priced), len(tight.ilp), len(tight.accels), len(tight.workloads)) == (1, 1, 1, 1)


def test_strategies_are_a_registry_that_the_parser_follows() -> None:
    from lowbit.search.codesign import STRATEGIES

    assert set(STRATEGIES) == {"grid", "random", "evolutionary"}
    with pytest.raises(TypeError):
        STRATEGIES["annealing"] = STRATEGIES["grid"]  # type: ignore[index]
    base = {"name": "s", "formats": ["int4", "int8"], "models": ["digits"], "hardware": ["stripes"]}
    for name in STRATEGIES:
        assert parse_space({**base, "strategy": name}).strategy == name


def test_codesign_and_the_digits_workload_import_no_torch() -> None:
    code = ("import sys; import lowbit.search.codesign; from lowbit.models import zoo; "
            "w = zoo.get('digits'); assert w.total_macs == 337536, w.total_macs; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    r = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True,
                       cwd=ROOT)
    assert r.returncode == 0, r.stderr
