"""The sweep driver: quality tables once, points grouped by structure, run on an executor,
every result committed to the store as it completes; the strategy picks the designs."""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from lowbit.search.codesign.space import Design, DesignSpace, Point, points_for
from lowbit.search.codesign.strategies import STRATEGIES
from lowbit.search.codesign.worker import ModelCtx, SweepCaches, evaluate_group, sweep_gc

__all__ = ["SweepSummary", "model_contexts", "run_points", "run_sweep"]


@dataclass
class SweepSummary:
    total: int = 0
    skipped: int = 0
    evaluated: int = 0
    ok: int = 0
    infeasible: int = 0
    invalid: int = 0
    seconds: float = 0.0

    @property
    def points_per_s(self) -> float:
        return self.evaluated / self.seconds if self.seconds > 0 else float("inf")


def model_contexts(space: DesignSpace, cache_dir: str | Path | None = None) -> dict[str, ModelCtx]:
    """Quality tables (built once, in the calling process) and workload arguments per model."""
    from lowbit.models import quality as Q

    out = {}
    acts = tuple(space.act_formats)
    for m in space.models:
        q = Q.for_model(m.name, list(m.formats), file=m.sensitivity, cache_dir=cache_dir)
        vals, source = np.asarray(q.values), q.source
        if acts:
            vals, source = _pair_values(m, q, acts, cache_dir)
        out[m.name] = ModelCtx(m.name, m.formats, m.workload, q.layers,
                               tuple(tuple(float(x) for x in r) for r in vals), q.fixed, q.ties,
                               act_formats=acts, source=source)
    return out


def _pair_values(m: Any, q: Any, acts: tuple[str, ...], cache_dir: str | Path | None) -> tuple[np.ndarray, str]:
    """[layer, (W, A) weight-major] of a model's quality source (`search.pair_terms`): a file's
    ``W/A`` or ``W`` + ``act:A`` columns, or the weight table plus measured activation terms
    (additivity assumed, as stated there). `parse_space` has already refused a source without
    activation terms."""
    from lowbit.search import pair_terms as P

    if m.sensitivity is not None:
        from lowbit.models import sensitivity as S

        vals, form = P.pair_array(S.load(m.sensitivity), q.layers, list(m.formats), list(acts),
                                  f"models {m.name}: sensitivity {m.sensitivity}")
        return vals, f"file {m.sensitivity} ({form})"
    vals = P.measured_pair_sensitivity(m.name, q.layers, np.asarray(q.values), acts, "measured", cache_dir)
    return vals, f"{q.source} + measured activation terms (additive)"


def _structure(p: Point) -> tuple[Any, ...]:
    return (p.base, tuple((k, v) for k, v in p.params if k != "freq_hz"), p.model)


def _groups(points: Sequence[Point], max_group: int = 64) -> list[list[Point]]:
    by: dict[tuple[Any, ...], list[Point]] = {}
    for p in points:
        by.setdefault(_structure(p), []).append(p)
    out = []
    for g in by.values():
        for i in range(0, len(g), max_group):
            out.append(g[i:i + max_group])
    return out


def _space_ctx(space: DesignSpace) -> dict[str, Any]:
    return {"budgets": dict(space.budgets), "objective": space.objective, "act_formats": list(space.act_formats)}


def run_points(points: Sequence[Point], ctxs: Mapping[str, ModelCtx], space: DesignSpace, store: Any, *,
               executor: str = "local", workers: int | None = None, scheduler: str | None = None,
               quiet: bool = False, summary: SweepSummary | None = None,
               caches: SweepCaches | None = None, session: Any = None) -> dict[str, dict[str, Any]]:
    """Evaluate the points not yet in `store`, committing each chunk of them in one transaction
    as it completes; return all results.

    `caches` go with every task (in-process executors share them; a process pool gets a
    copy per chunk of tasks), fresh ones when not given. `session` (`executors.session`) runs
    them on workers already started; without it this call starts and stops its own."""
    from lowbit.search.executors import run

    s = summary if summary is not None else SweepSummary()
    # the points finished before this call, looked up by key (keys include the space name): not
    # every key of the store, which made each generation of a long sweep read the whole store
    have = store.results([p.key for p in points])
    todo = [p for p in points if p.key not in have]
    s.total += len(points)
    s.skipped += len(points) - len(todo)
    sctx = _space_ctx(space)
    tasks = [(g, {p.model: ctxs[p.model] for p in g}, sctx) for g in _groups(todo)]

    out: dict[str, dict[str, Any]] = {}

    def sink(chunk: list[tuple[Any, list[dict[str, Any]]]]) -> None:
        # one transaction per chunk as it arrives: nothing finished waits uncommitted
        done = [(p, r) for task, results in chunk for p, r in zip(task[0], results)]
        new = store.put_many([(p.key, space.name, p.as_dict(), r) for p, r in done])
        for (p, r), fresh in zip(done, new):
            if fresh:  # a racing sweep's row wins otherwise
                out[p.key] = r
            s.evaluated += 1
            st = r.get("status")
            s.ok += st == "ok"
            s.infeasible += st == "infeasible"
            s.invalid += st == "invalid"

    fn = functools.partial(evaluate_group, caches=caches if caches is not None else SweepCaches())
    t0 = time.perf_counter()
    run(fn, tasks, executor=executor, workers=workers, scheduler=scheduler, on_chunk=sink,
        quiet=quiet, desc=f"sweep {space.name}", chunksize=4, unit_weight=lambda t: len(t[0]),
        session=session)
    s.seconds += time.perf_counter() - t0
    out.update(have)
    out.update(store.results([p.key for p in todo if p.key not in out]))  # a racing sweep's rows
    return out


def run_sweep(space: DesignSpace, store: Any, *, executor: str = "local", workers: int | None = None,
              scheduler: str | None = None, quiet: bool = False, cache_dir: str | Path | None = None,
              progress: Callable[[str], None] | None = None,
              contexts: Mapping[str, ModelCtx] | None = None,
              caches: SweepCaches | None = None, session: Any = None) -> SweepSummary:
    """Run the space's strategy, committing every point to `store` as it completes. The
    executor's workers start once for the whole sweep (every generation of the evolutionary
    strategy runs on them), or `session` (`executors.session`) gives workers already started."""
    from lowbit.search.executors import session as open_session

    s = SweepSummary()
    ctxs = contexts if contexts is not None else model_contexts(space, cache_dir)
    store.set_meta([("space", space.raw), ("space_name", space.name),
                    ("models", [m.name for m in space.models]),
                    ("formats", sorted({f for m in space.models for f in m.formats})),
                    ("budgets", dict(space.budgets)), ("objective", space.objective),
                    ("objectives", list(space.objectives)), ("strategy", space.strategy)])
    shared = caches if caches is not None else SweepCaches()
    nmodels = len(space.models)

    def evaluate(designs: Sequence[Design]) -> list[list[dict[str, Any]]]:
        pts = points_for(space, designs)
        res = run_points(pts, ctxs, space, store, executor=executor, workers=workers, scheduler=scheduler,
                         quiet=quiet, summary=s, caches=shared, session=ex)
        return [[res[p.key] for p in pts[i * nmodels:(i + 1) * nmodels]] for i in range(len(designs))]

    with contextlib.nullcontext(session) if session is not None else \
            open_session(executor, workers=workers, scheduler=scheduler) as ex, sweep_gc():
        STRATEGIES[space.strategy](space, evaluate, np.random.default_rng(space.seed), progress)
    return s
