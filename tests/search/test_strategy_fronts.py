"""The evolutionary strategy ranks only the fronts its survival can reach (`first_fronts`): the
same ranks as `pareto.nondominated_ranks` on those fronts, and the same sweep."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from lowbit.search.codesign import parse_space, run_sweep
from lowbit.search.codesign import strategies as S
from lowbit.search.pareto import nondominated_ranks
from lowbit.search.store import ResultStore


@pytest.mark.parametrize("seed", range(3))
def test_first_fronts_are_nondominated_ranks_until_need_rows(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, m = int(rng.integers(1, 400)), int(rng.integers(1, 5))
    objs = rng.integers(0, 6, size=(n, m)).astype(float)  # many ties and duplicate rows
    objs[rng.random(n) < 0.3] = objs[0]
    full = nondominated_ranks(objs)
    for need in (1, 16, 64, n, n + 5):
        got = S.first_fronts(objs, need)
        last = int(got[got < n].max())
        assert np.sum(full <= last) >= min(need, n)          # enough rows ranked
        assert last == 0 or np.sum(full <= last - 1) < need   # and no front more than needed
        assert np.array_equal(got[full <= last], full[full <= last])
        assert np.all(got[full > last] == n)


def test_an_evolutionary_sweep_is_the_same_as_with_every_front_ranked(tmp_path: Path, monkeypatch) -> None:
    d = {"name": "ev", "strategy": "evolutionary", "samples": 40, "population": 8, "seed": 3,
         "formats": ["int2", "int4", "int8"], "budgets": {"latency": "0.6x"}, "models": ["resnet-18"],
         "hardware": [{"base": "loom", "params": {"core.rows": [16, 32, 64, 128, 256], "core.cols": [4, 8, 16, 32],
                                                  "freq_hz": [5.0e8, 8.0e8, 1.0e9]}}]}
    space = parse_space(d)
    snaps = []
    for full in (False, True):
        if full:
            monkeypatch.setattr(S, "first_fronts", lambda objs, need: nondominated_ranks(objs))
        with ResultStore(tmp_path / f"{full}.sqlite") as st:
            run_sweep(space, st, executor="serial", quiet=True)
            snaps.append(st.snapshot())
    assert len(snaps[0]) == 40 and snaps[0] == snaps[1]


@pytest.mark.parametrize("seed", range(6))
def test_lexicographic_non_dominated_equals_every_row_against_every_row(seed: int) -> None:
    """The lexicographic cull (rows compared only with the non-dominated rows before them) gives
    the same mask as comparing every row with every row: ties, duplicates, several blocks."""
    rng = np.random.default_rng(seed)
    for _ in range(20):
        n, m = int(rng.integers(1, 700)), int(rng.integers(1, 5))
        objs = (rng.integers(0, 5, size=(n, m)).astype(float) if rng.random() < 0.5
                else rng.random((n, m)) + np.arange(n)[:, None] * rng.random() * 1e-3)
        objs[rng.random(n) < 0.2] = objs[int(rng.integers(n))]
        block = int(rng.choice([1, 7, 64, 256]))
        want = S._non_dominated_all(objs, block)
        assert np.array_equal(S._non_dominated(objs, block), want)
        assert want.any()  # a finite set has a non-dominated row
    objs = np.array([[1.0, np.nan], [0.0, 1.0], [2.0, 2.0]])  # non-finite rows: the plain comparison
    assert np.array_equal(S._non_dominated(objs), S._non_dominated_all(objs))
