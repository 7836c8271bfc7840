"""Where sweep points run: a local process pool (default) or dask.distributed.

`run(fn, items, executor=..., on_result=...)` calls `fn(item)` for every item
and hands each `(item, result)` to `on_result` in the calling process as soon as
it completes (completion order), so the caller can commit it to the store at
once. `fn` and the items must be picklable (module-level functions, plain data).
Results do not depend on the executor: each point's computation is a pure
function of the point.
"""

from __future__ import annotations

import enum
import logging
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, TypeVar

from lowbit.kernels_ref.errors import InvalidSpecError
from lowbit.kernels_ref.progress import progress

__all__ = ["ExecutorKind", "run"]

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")


class ExecutorKind(enum.Enum):
    SERIAL = "serial"
    LOCAL = "local"
    DASK = "dask"


def run(fn: Callable[[T], R], items: Iterable[T], *, executor: ExecutorKind | str = ExecutorKind.LOCAL,
        workers: int | None = None, scheduler: str | None = None,
        on_result: Callable[[T, R], None] | None = None, quiet: bool = False,
        desc: str = "sweep", chunksize: int = 16, unit_weight: Callable[[T], int] | None = None,
        connect_timeout_s: float = 10.0) -> int:
    """Run `fn` over `items`; returns how many completed. The progress bar counts
    `unit_weight(item)` units per item (default 1), e.g. points in a group."""
    try:
        kind = ExecutorKind(executor) if isinstance(executor, str) else executor
    except ValueError:
        known = ", ".join(k.value for k in ExecutorKind)
        raise InvalidSpecError(f"unknown executor {executor!r} (known: {known})") from None
    todo = list(items)
    done = 0
    sink = on_result or (lambda _i, _r: None)
    weigh = unit_weight or (lambda _i: 1)
    bar = progress(sum(weigh(it) for it in todo), desc, quiet=quiet, unit="pt")
    try:
        if kind is ExecutorKind.SERIAL or not todo:
            for it in todo:
                sink(it, fn(it))
                done += 1
                bar.update(weigh(it))
        elif kind is ExecutorKind.LOCAL:
            n = workers or min(os.cpu_count() or 1, 8)
            chunks = _chunks(todo, chunksize)
            with ProcessPoolExecutor(max_workers=n) as pool:
                futs = {pool.submit(_apply_chunk, fn, c): c for c in chunks}
                for fut in as_completed(futs):
                    for it, res in zip(futs[fut], fut.result()):
                        sink(it, res)
                        done += 1
                    bar.update(sum(weigh(it) for it in futs[fut]))
        elif kind is ExecutorKind.DASK:
            done = _run_dask(fn, todo, workers, scheduler, sink, bar, chunksize, weigh, connect_timeout_s)
        else:  # pragma: no cover - closed enum
            raise InvalidSpecError(f"executor {kind} has no implementation")
    finally:
        bar.close()
    return done


def _chunks(todo: list[T], size: int) -> list[list[T]]:
    return [todo[i:i + size] for i in range(0, len(todo), max(size, 1))]


def _apply_chunk(fn: Callable[[T], R], chunk: list[T]) -> list[R]:
    return [fn(it) for it in chunk]


def _run_dask(fn: Callable[[T], R], todo: list[T], workers: int | None, scheduler: str | None,
              sink: Callable[[T, R], None], bar: Any, chunksize: int, weigh: Callable[[T], int],
              connect_timeout_s: float) -> int:
    try:
        from dask.distributed import Client, LocalCluster
        from dask.distributed import as_completed as dask_completed
    except ImportError:
        raise InvalidSpecError("the dask executor needs dask.distributed: pip install 'lowbit[dist]'") from None
    cluster = None
    try:
        if scheduler:
            try:
                client = Client(scheduler, timeout=f"{connect_timeout_s}s")
            except OSError as exc:
                raise InvalidSpecError(f"cannot reach dask scheduler {scheduler}: {exc}") from None
        else:
            cluster = LocalCluster(n_workers=workers or 2, threads_per_worker=1, processes=True,
                                   dashboard_address=None)
            client = Client(cluster)
        done = 0
        with client:
            chunks = _chunks(todo, chunksize)
            futs = client.map(_apply_chunk, [fn] * len(chunks), chunks, pure=False)
            index = {f.key: c for f, c in zip(futs, chunks)}
            for fut in dask_completed(futs):
                chunk = index[fut.key]
                for it, res in zip(chunk, fut.result()):
                    sink(it, res)
                    done += 1
                bar.update(sum(weigh(it) for it in chunk))
        return done
    finally:
        if cluster is not None:
            cluster.close()
