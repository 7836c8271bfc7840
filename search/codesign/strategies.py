"""Search strategies over a design space, as a registry: name -> strategy.

A strategy decides which designs to evaluate; it never evaluates one itself. It is called
as ``strategy(space, evaluate, rng, progress)``, where ``evaluate(designs)`` runs every
(design, model) point of `designs` (committing each to the store) and returns, per design,
its results in the space's model order. So a strategy does not know about executors,
stores or resuming, and the same points give the same results whichever strategy asked.

- ``grid``: every design of every hardware block.
- ``random``: `samples` distinct designs, blocks drawn in proportion to their size.
- ``evolutionary``: NSGA-II style: the parents are the best `population` designs seen so
  far by (non-domination rank, crowding distance) over the space's objectives, binary
  tournaments among them, uniform crossover within a hardware block, one-gene mutation
  (mostly a step to a neighbouring value); `samples` designs in all.
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Callable, Iterable, Sequence
from types import MappingProxyType
from typing import Any, Protocol

import numpy as np
from lowbit.search.codesign.space import Design, DesignSpace

__all__ = ["STRATEGIES", "Evaluate", "Strategy", "all_designs", "first_fronts", "random_designs"]

#: Runs the points of some designs; returns each design's results, one per model.
Evaluate = Callable[[Sequence[Design]], list[list[dict[str, Any]]]]
Strategy = Callable[[DesignSpace, Evaluate, np.random.Generator, Callable[[str], None] | None], None]

_METRIC_KEY = {"latency": "latency_s", "energy": "energy_j", "quality": "quality", "memory": "memory_bytes"}


def all_designs(space: DesignSpace) -> list[Design]:
    out = []
    for bi, b in enumerate(space.hardware):
        for idx in itertools.product(*[range(len(v)) for _, v in b.params]):
            out.append((bi, tuple(idx)))
    return out


class Excluded(Protocol):
    """What `random_designs` must not draw: anything that answers `in` and `len`."""

    def __contains__(self, d: object, /) -> bool: ...

    def __len__(self) -> int: ...


def random_designs(space: DesignSpace, n: int, rng: np.random.Generator,
                   exclude: Excluded = frozenset()) -> list[Design]:
    total = space.num_designs
    want = min(n, total - len(exclude))
    picked: dict[Design, None] = {}
    sizes = np.array([b.size for b in space.hardware], dtype=np.float64)
    tries = 0
    while len(picked) < want and tries < 50 * want + 100:
        tries += 1
        bi = int(rng.choice(len(sizes), p=sizes / sizes.sum()))
        idx = tuple(int(rng.integers(len(v))) for _, v in space.hardware[bi].params)
        d = (bi, idx)
        if d not in exclude:
            picked.setdefault(d, None)
    return list(picked)


def _grid(space: DesignSpace, evaluate: Evaluate, rng: np.random.Generator,
          progress: Callable[[str], None] | None) -> None:
    evaluate(all_designs(space))


def _random(space: DesignSpace, evaluate: Evaluate, rng: np.random.Generator,
            progress: Callable[[str], None] | None) -> None:
    evaluate(random_designs(space, space.samples, rng))


def _objective_vector(space: DesignSpace, results: Sequence[dict[str, Any]]) -> np.ndarray | None:
    """Per design: sum over models of log(metric) for latency/energy/quality, area once."""
    if any(r.get("status") != "ok" for r in results):
        return None
    vec = []
    for o in space.objectives:
        if o == "area":
            vec.append(math.log(max(results[0]["area_mm2"], 1e-30)))
        else:
            vec.append(sum(math.log(max(r[_METRIC_KEY[o]], 1e-30)) for r in results))
    return np.array(vec)


def _dominates(c: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[i, j]: is row i of `c` no worse than row j of `b` everywhere and better somewhere? One
    2-D comparison per objective (a 3-D comparison reduced over its short last axis was ~8x
    slower)."""
    if c.shape[1] == 0:
        return np.zeros((len(c), len(b)), dtype=bool)
    le = c[:, None, 0] <= b[None, :, 0]
    lt = c[:, None, 0] < b[None, :, 0]
    for k in range(1, c.shape[1]):
        le &= c[:, None, k] <= b[None, :, k]
        lt |= c[:, None, k] < b[None, :, k]
    return le & lt


def _dominated_by(c: np.ndarray, b: np.ndarray) -> np.ndarray:
    """For each row of `b`: is some row of `c` no worse everywhere and better somewhere?"""
    return _dominates(c, b).any(0)


def _non_dominated(a: np.ndarray, block: int = 256) -> np.ndarray:
    """`pareto.non_dominated` of the rows of `a` (see `_non_dominated_all`), in lexicographic
    order: a row can only be dominated by a row before it in that order, and a dominated row is
    dominated by some non-dominated row (dominance is transitive), so each block of rows is
    compared with the non-dominated rows found so far and with itself, not with every row
    (the whole-archive ranking of a long sweep was quadratic in its designs)."""
    if len(a) == 0 or not np.isfinite(a).all():
        return _non_dominated_all(a, block)
    out = np.zeros(len(a), dtype=bool)
    order = np.lexsort(a.T[::-1])
    s = a[order]
    front = s[:0]
    for st in range(0, len(s), block):
        b = s[st:st + block]
        keep = ~_dominated_by(b, b)
        if len(front):
            keep &= ~_dominated_by(front, b)
        out[order[st:st + block]] = keep
        front = np.concatenate([front, b[keep]])
    return out


def _non_dominated_all(a: np.ndarray, block: int = 256) -> np.ndarray:
    """`pareto.non_dominated` of the rows of `a`, every row against every row, a block of rows
    at a time (memory block x rows x objectives, not rows^2 x objectives)."""
    out = np.ones(len(a), dtype=bool)
    for s in range(0, len(a), block):
        out[s:s + block] = ~_dominated_by(a, a[s:s + block])
    return out


def first_fronts(objs: np.ndarray, need: int) -> np.ndarray:
    """`pareto.nondominated_ranks(objs)` for the fronts that together hold at least `need` rows
    (front 0, then the front once 0 is removed, ...); the rows of the later fronts, which NSGA-II
    survival never reaches, get rank len(objs). A sweep's seen designs grow with every
    generation, and ranking all of them peeled every front over all rows each generation."""
    ranks = np.full(len(objs), len(objs), dtype=np.int64)
    remaining = np.arange(len(objs))
    r = covered = 0
    while remaining.size and covered < need:
        front = _non_dominated(objs[remaining])
        ranks[remaining[front]] = r
        covered += int(front.sum())
        remaining = remaining[~front]
        r += 1
    return ranks


def _crowding(objs: np.ndarray, ranks: np.ndarray) -> np.ndarray:
    """NSGA-II crowding distance within each rank (boundary points infinite)."""
    out = np.zeros(len(objs))
    for r in np.unique(ranks):
        idx = np.flatnonzero(ranks == r)
        if idx.size <= 2:
            out[idx] = np.inf
            continue
        for m in range(objs.shape[1]):
            o = idx[np.argsort(objs[idx, m], kind="stable")]
            span = objs[o[-1], m] - objs[o[0], m]
            out[o[0]] = out[o[-1]] = np.inf
            if span > 0:
                out[o[1:-1]] += (objs[o[2:], m] - objs[o[:-2], m]) / span
    return out


def _dominator_counts(c: np.ndarray, b: np.ndarray, block: int = 256) -> np.ndarray:
    """For each row of `b`: how many rows of `c` are no worse everywhere and better somewhere
    (a block of `b` at a time: memory len(c) x block x objectives)."""
    out = np.zeros(len(b), dtype=np.int64)
    if len(c) == 0:
        return out
    for s in range(0, len(b), block):
        out[s:s + block] = _dominates(c, b[s:s + block]).sum(0)
    return out


class _Archive:
    """The evaluated designs that can still be chosen as parents, in the order they were seen.

    NSGA-II survival takes the best `population` designs by (rank, crowding, order seen). A
    design dominated by at least `population` designs is never among them, now or later: its
    dominators all have smaller ranks, and the designs seen only grow. `prune` drops such designs,
    which gives the same parents as ranking every design seen (`prune=False`, the reference):
    - Let S be every design seen and K those with fewer than P = `population` dominators in S.
      A dominator of x in K has fewer dominators than x (dominance is transitive), so it is in
      K: K is closed under domination, and so a design of K has the same rank in K as in S.
    - A front that holds a design outside K comes after at least P designs of smaller rank, so
      survival never reaches it; every front it does reach is wholly in K, with the same
      members, hence the same crowding distances, and the same order seen: the same parents.
    - Counting dominators within K is enough: a design dominated by one outside K is dominated
      by that one's P or more dominators in K (take a dominator outside K with no dominator
      outside K). So any count over a set between K and S decides membership exactly; each
      design's count covers the designs kept when it arrived and every design seen after it.
    """

    def __init__(self, population: int, prune: bool = True) -> None:
        self.population = population
        self.prune = prune
        self.designs: list[Design] = []
        self.objs: np.ndarray | None = None
        self.dominators = np.zeros(0, dtype=np.int64)

    def add(self, designs: Sequence[Design], vecs: Sequence[np.ndarray]) -> None:
        if not designs:
            return
        new = np.stack(vecs)
        old = self.objs if self.objs is not None else new[:0]
        both = np.concatenate([old, new])
        if self.prune:
            counts = np.concatenate([self.dominators + _dominator_counts(new, old),
                                     _dominator_counts(both, new)])
            keep = counts < self.population
        else:
            counts = np.zeros(len(both), dtype=np.int64)
            keep = np.ones(len(both), dtype=bool)
        every = self.designs + list(designs)
        self.designs = [d for d, k in zip(every, keep.tolist()) if k]
        self.objs, self.dominators = both[keep], counts[keep]

    def first_fronts(self) -> np.ndarray:
        """`first_fronts(self.objs, population)`. When pruning, a kept design with no dominator
        counted has none at all (see the class), so front 0 is read off the counts; when it
        holds `population` designs survival needs no other front."""
        assert self.objs is not None
        if self.prune:
            front = self.dominators == 0
            if int(front.sum()) >= self.population:
                return np.where(front, 0, len(self.objs))
        return first_fronts(self.objs, self.population)


class _Seen:
    """The designs a sweep has asked for, as one bit per design of the space (a fixed size from
    the first generation: 12.5 kB for 100,000 designs, where a set of design tuples grew by
    ~170 B a design), or a set of design numbers for a space over 2**27 designs. `_extra`, a
    set of designs none of which is seen (`with_extra`), answers as part of it."""

    def __init__(self, space: DesignSpace) -> None:
        self._radix = [tuple(len(v) for _, v in b.params) for b in space.hardware]
        self._offset = list(itertools.accumulate([b.size for b in space.hardware], initial=0))
        n = space.num_designs
        self._bits: bytearray | None = bytearray((n + 7) // 8) if n <= 1 << 27 else None
        self._set: set[int] = set()
        self._n = 0
        self._extra: set[Design] = set()

    def _number(self, d: Design) -> int:
        bi, idx = d
        k = 0
        for i, r in zip(idx, self._radix[bi]):
            k = k * r + i
        return self._offset[bi] + k

    def _has(self, k: int) -> bool:
        return bool(self._bits[k >> 3] >> (k & 7) & 1) if self._bits is not None else k in self._set

    def __contains__(self, d: object) -> bool:
        return self._has(self._number(d)) or (bool(self._extra) and d in self._extra)  # type: ignore[arg-type]

    def __len__(self) -> int:
        return self._n + len(self._extra)

    def update(self, designs: Iterable[Design]) -> None:
        for d in designs:
            k = self._number(d)
            if not self._has(k):
                if self._bits is not None:
                    self._bits[k >> 3] |= 1 << (k & 7)
                else:
                    self._set.add(k)
                self._n += 1

    def with_extra(self, designs: Iterable[Design]) -> _Seen:
        """This set and `designs` (none of them seen), sharing this one's bits."""
        out = copy.copy(self)
        out._extra = set(designs)
        return out


def _evolve(space: DesignSpace, evaluate: Evaluate, rng: np.random.Generator,
            progress: Callable[[str], None] | None, prune: bool = True) -> None:
    """`_evolutionary`; `prune=False` ranks every design seen (the reference of `_Archive`)."""
    seen = _Seen(space)
    archive = _Archive(space.population, prune)
    pop = random_designs(space, min(space.population, space.samples), rng)
    gen = 0
    while True:
        new = [d for d in pop if d not in seen]
        got = [(d, _objective_vector(space, rs)) for d, rs in zip(new, evaluate(new))]
        seen.update(new)
        archive.add([d for d, v in got if v is not None], [v for _, v in got if v is not None])
        if progress:
            progress(f"generation {gen}: {len(seen)} designs evaluated, {len(archive.designs)} can be parents")
        if len(seen) >= min(space.samples, space.num_designs):
            return
        ok = archive.designs
        if not ok:
            pop = random_designs(space, space.population, rng, exclude=seen)
            gen += 1
            continue
        objs = archive.objs
        assert objs is not None
        ranks = archive.first_fronts()  # later fronts are never parents
        crowd = _crowding(objs, ranks)
        # NSGA-II survival: the parents are the best `population` designs seen so far by
        # (non-domination rank, crowding distance), then binary tournaments among them.
        order = sorted(range(len(ok)), key=lambda i: (ranks[i], -crowd[i], i))[:space.population]
        pool = [ok[i] for i in order]
        better = {d: (int(ranks[i]), -float(crowd[i]), k) for k, (i, d) in enumerate(zip(order, pool))}
        children: dict[Design, None] = {}
        want = min(space.population, space.samples - len(seen), space.num_designs - len(seen))
        tries = 0
        while len(children) < want and tries < 200 * want:
            tries += 1
            a, b = (min((pool[int(i)] for i in rng.integers(len(pool), size=2)), key=better.__getitem__)
                    for _ in range(2))
            child_block = a[0]
            ga = list(a[1])
            gb = list(b[1]) if b[0] == a[0] else list(a[1])
            genes = [ga[i] if rng.random() < 0.5 else gb[i] for i in range(len(ga))]
            params = space.hardware[child_block].params
            if params:  # mutate one gene: mostly a step to a neighbouring value (ranges are ordered)
                j = int(rng.integers(len(params)))
                n = len(params[j][1])
                if n > 1 and rng.random() < 0.7:
                    genes[j] = min(max(genes[j] + (1 if rng.random() < 0.5 else -1), 0), n - 1)
                else:
                    genes[j] = int(rng.integers(n))
            child = (child_block, tuple(genes))
            if child not in seen:
                children.setdefault(child, None)
        if len(children) < want:  # the neighbourhood is exhausted: fill at random
            children.update(dict.fromkeys(random_designs(space, want - len(children), rng,
                                                         exclude=seen.with_extra(children))))
        pop = list(children)
        gen += 1


def _evolutionary(space: DesignSpace, evaluate: Evaluate, rng: np.random.Generator,
                  progress: Callable[[str], None] | None) -> None:
    """NSGA-II style: rank by non-domination over the space's objectives, binary tournaments,
    uniform crossover within a hardware block, one-gene mutation; `samples` designs in all.
    Designs that can no longer be parents leave the ranking (`_Archive`), so a generation costs
    what the designs that can still be parents cost, not what every design seen costs."""
    _evolve(space, evaluate, rng, progress)


#: name -> strategy; `parse_space` accepts exactly these names.
STRATEGIES: MappingProxyType[str, Strategy] = MappingProxyType(
    {"grid": _grid, "random": _random, "evolutionary": _evolutionary})
