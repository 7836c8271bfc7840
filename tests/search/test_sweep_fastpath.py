"""The sweep worker's fast path (`codesign.worker`) equals the reference path
(`codesign.reference`: one `hwsim.evaluate` per layer and choice, every point assembled alone)
point for point, float for float, on random spaces: clocks sharing a structure, budgets that
read a clocked metric (energy) and ones that do not (cycles), absolute latency budgets that some
clocks cannot meet, (W, A) choices, tied layers (decode steps reusing the prefill's weights)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from lowbit.models import zoo
from lowbit.models.sensitivity import SensitivityTable
from lowbit.search.codesign import SweepCaches, evaluate_point, parse_space, points_for
from lowbit.search.codesign.driver import model_contexts
from lowbit.search.codesign.strategies import random_designs

LOOM = {"base": "loom", "params": {"core.rows": [16, 32, 64, 128], "core.cols": [8, 16, 32],
                                   "buffers.wbuf.size_bytes": [65536, 1048576],
                                   "freq_hz": [5.0e8, 1.0e9, 1.3e9]}}
BITMOD = {"base": "bitmod", "params": {"num_cores": [1, 4], "core.rows": [16, 64],
                                       "dram.bandwidth_bytes_per_cycle": [16, 128],
                                       "freq_hz": [6.0e8, 1.0e9]}}


def _sens(tmp_path: Path, model: str, cols: tuple[str, ...], seed: int, **wl: Any) -> str:
    """A random quality file over the model's weight layers (no torch, no measuring)."""
    names = tuple(ly.name for ly in zoo.get(model, **wl).layers if ly.weight_params > 0)
    rng = np.random.default_rng(seed)
    p = tmp_path / f"{model}-{seed}-{len(cols)}.csv"
    SensitivityTable(names, cols, np.sort(rng.random((len(names), len(cols))), axis=1)[:, ::-1]).save(p)
    return str(p)


def _compare(space_dict: dict[str, Any], n: int, seed: int) -> list[dict[str, Any]]:
    space = parse_space(space_dict)
    ctxs = model_contexts(space)
    designs = random_designs(space, n, np.random.default_rng(seed))
    pts = points_for(space, designs)
    pts = pts + pts[: len(pts) // 3]  # again, from warm caches
    sctx = space.context()
    ref, fast = SweepCaches(reference=True), SweepCaches()
    want = [evaluate_point(p, ctxs[p.model], sctx, ref) for p in pts]
    got = [evaluate_point(p, ctxs[p.model], sctx, fast) for p in pts]
    for p, g, w in zip(pts, got, want):
        assert g == w, p.key  # every field, floats exactly
    if any(r["status"] == "ok" for r in want):  # the fast path ran, not the reference
        assert any(len(pr.rows) for pr in fast.priced._d.values())
    return want


def test_fast_path_equals_reference_point_for_point(tmp_path: Path) -> None:
    d = {"name": "fp", "formats": ["int2", "int4", "int8"], "budgets": {"latency": "0.6x"},
         "models": [{"name": "resnet-18"}], "hardware": [LOOM]}
    res = _compare(d, 14, seed=1)
    assert {r["status"] for r in res} == {"ok"}
    # an absolute latency budget: cycles = seconds x clock, so the slow clocks cannot meet it
    d = {**d, "name": "fp2", "budgets": {"latency": "20 ms"}}
    res = _compare(d, 14, seed=2)
    assert {r["status"] for r in res} == {"ok", "infeasible"}


@pytest.mark.slow  # ~10 s: transformers, (W, A) pairs, clocked budgets, two families
@pytest.mark.parametrize("seed", [0, 1])
def test_fast_path_equals_reference_on_random_spaces(tmp_path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    fm = ["int4", "int6", "int8"]
    models = [{"name": "resnet-18"},
              {"name": "minilm-l6", "formats": fm, "seq_len": 64,
               "sensitivity": _sens(tmp_path, "minilm-l6", tuple(fm), seed, seq_len=64)}]
    budgets = [{"latency": "0.6x"}, {"energy": "0.8x"}, {"latency": "0.5r", "memory": "0.9x"}, {}]
    for i, b in enumerate(budgets):
        obj = str(rng.choice(["sensitivity", "energy", "latency"])) if b else "energy"
        d = {"name": f"r{seed}{i}", "formats": ["int2", "int4", "int8"], "budgets": b, "objective": obj,
             "models": models, "hardware": [LOOM, BITMOD]}
        _compare(d, 6, seed=seed * 10 + i)
    # (W, A) choices with their own terms, and a generate workload (decode steps reuse weights)
    wa = ("int4", "int8", "act:int4", "act:int8")  # weight terms + activation terms (additive)
    d = {"name": f"wa{seed}", "formats": ["int4", "int8"], "act_formats": ["int4", "int8"],
         "budgets": {"latency": "0.7x"}, "hardware": [BITMOD],
         "models": [{"name": "minilm-l6", "seq_len": 32, "sensitivity": _sens(tmp_path, "minilm-l6", wa, seed,
                                                                                seq_len=32)}]}
    _compare(d, 5, seed=seed)
    gen = {"phase": "generate", "seq_len": 8, "generate": 2}
    d = {"name": f"g{seed}", "formats": ["int4", "int8"], "budgets": {"latency": "0.8x"}, "workload": gen,
         "hardware": [BITMOD], "models": [{"name": "opt-1.3b", "sensitivity": _sens(
             tmp_path, "opt-1.3b", ("int4", "int8"), seed, **gen)}]}
    res = _compare(d, 4, seed=seed)
    assert any(r["status"] == "ok" and not all(r["has_weights"]) for r in res)
