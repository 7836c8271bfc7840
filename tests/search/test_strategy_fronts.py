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


def _synthetic_sweep(seed: int, prune: bool, population: int,
                     samples: int) -> tuple[list[list[tuple]], list[str]]:
    """The batches an evolutionary sweep asks for, on made-up metrics with many ties, duplicate
    objective vectors and failed designs, and its progress lines."""
    vals = [16, 24, 32, 48, 64, 96, 128, 256]
    d = {"name": "syn", "strategy": "evolutionary", "samples": samples, "population": population, "seed": seed,
         "objectives": ["latency", "energy", "area"], "formats": ["int4", "int8"], "models": ["resnet-18"],
         "hardware": [{"base": "loom", "params": {"core.rows": vals, "core.cols": vals[:6],
                                                  "dram.bandwidth_bytes_per_cycle": vals[:5],
                                                  "freq_hz": [5e8, 6e8, 7e8, 8e8, 9e8, 1e9]}},
                      {"base": "stripes", "params": {"core.rows": vals, "core.cols": vals[:4]}}]}
    space = parse_space(d)
    table = np.random.default_rng(100 + seed).integers(1, 5, size=(2, 3, 4, 8))  # block, metric, gene, value
    batches: list[list[tuple]] = []
    lines: list[str] = []

    def evaluate(designs):
        batches.append(list(designs))
        out = []
        for bi, genes in designs:
            lat, en, area = (float(sum(table[bi, k, j, g] for j, g in enumerate(genes))) for k in range(3))
            ok = (hash((bi, genes)) % 11) != 0
            out.append([{"status": "ok" if ok else "error", "latency_s": lat, "energy_j": en,
                         "area_mm2": area + (bi == 1)}])
        return out

    S._evolve(space, evaluate, np.random.default_rng(seed), lines.append, prune=prune)
    return batches, lines


@pytest.mark.parametrize("seed,population,samples", [
    (3, 1, 160), pytest.param(0, 8, 700, marks=pytest.mark.slow), pytest.param(1, 4, 700, marks=pytest.mark.slow),
    pytest.param(2, 16, 700, marks=pytest.mark.slow), pytest.param(4, 2, 700, marks=pytest.mark.slow)])
def test_pruned_archive_gives_the_same_sweep_as_ranking_every_design(seed: int, population: int,
                                                                    samples: int) -> None:
    """Designs dominated by `population` others leave the ranking; the sweep asks for the same
    designs, generation by generation, as when every design seen is ranked (population 1 also
    fails if the archive kept one dominator too few)."""
    ref, _ = _synthetic_sweep(seed, False, population, samples)
    got, lines = _synthetic_sweep(seed, True, population, samples)
    assert sum(map(len, got)) == samples and got == ref
    parents = int(lines[-1].split(", ")[1].split()[0])
    assert parents < samples // 2  # the archive really was pruned


def test_archive_keeps_exactly_the_designs_with_fewer_than_population_dominators() -> None:
    rng = np.random.default_rng(7)
    objs = rng.integers(0, 6, size=(500, 3)).astype(float)
    objs[rng.random(500) < 0.2] = objs[3]
    arch = S._Archive(population=5)
    for s in range(0, 500, 37):  # arriving in batches of several sizes
        arch.add([(0, (i,)) for i in range(s, min(s + 37, 500))], list(objs[s:s + 37]))
    want = [(0, (i,)) for i in range(500) if S._dominator_counts(objs, objs[i:i + 1])[0] < 5]
    assert arch.designs == want and 0 < len(want) < 500
    assert np.array_equal(arch.objs, objs[[i for (_, (i,)) in want]])
    for pop in (1, 5, 40):  # front 0 read off the counts, or peeled when it is too small
        a = S._Archive(population=pop)
        a.add([(0, (i,)) for i in range(500)], list(objs))
        assert np.array_equal(a.first_fronts(), S.first_fronts(a.objs, pop))


def test_dominance_matrix_against_a_plain_double_loop() -> None:
    rng = np.random.default_rng(11)
    for m in (1, 2, 4):
        c = rng.integers(0, 3, size=(30, m)).astype(float)
        b = rng.integers(0, 3, size=(20, m)).astype(float)
        c[0, 0] = b[1, -1] = np.nan  # a NaN row dominates nothing and nothing dominates it
        want = np.array([[all(x <= y for x, y in zip(ci, bj)) and any(x < y for x, y in zip(ci, bj))
                          for bj in b] for ci in c])
        assert np.array_equal(S._dominates(c, b), want) and want.any()
        assert np.array_equal(S._dominator_counts(c, b, block=7), want.sum(0))


@pytest.mark.parametrize("big", [False, True])
def test_seen_designs_bitmap_or_set_answers_like_a_set_of_designs(big: bool, monkeypatch) -> None:
    d = {"name": "s", "strategy": "evolutionary", "samples": 10, "models": ["resnet-18"], "formats": ["int8"],
         "hardware": [{"base": "loom", "params": {"core.rows": [16, 32, 64], "core.cols": [4, 8]}},
                      {"base": "stripes", "params": {"core.rows": [16, 32], "core.cols": [4, 8, 16, 32]}},
                      {"base": "loom"}]}
    space = parse_space(d)
    if big:  # the set of design numbers used past 2**27 designs
        monkeypatch.setattr(type(space), "num_designs", property(lambda self: (1 << 27) + 1))
    every = S.all_designs(space)
    assert len(every) == 15
    rng = np.random.default_rng(0)
    seen, ref = S._Seen(space), set()
    for _ in range(6):
        batch = [every[int(i)] for i in rng.integers(len(every), size=4)]
        seen.update(batch)
        ref.update(batch)
        assert len(seen) == len(ref) and all((x in seen) == (x in ref) for x in every)
    assert (seen._bits is None) == big
    rest = [x for x in every if x not in ref][:2]
    both = seen.with_extra(rest)
    assert len(both) == len(ref) + len(rest) and all((x in both) == (x in ref or x in rest) for x in every)
    assert len(seen) == len(ref)  # the union does not change the seen set
    got = S.random_designs(space, 20, rng, exclude=both)
    assert sorted(got) == sorted(set(every) - ref - set(rest))
