"""Where sweep points run: a local process pool (default) or dask.distributed.

`run(fn, items, executor=..., on_result=...)` calls `fn(item)` for every item
and hands each `(item, result)` to `on_result` in the calling process as soon as
it completes (completion order), so the caller can commit it to the store at
once. `on_chunk` instead gets the list of `(item, result)` of each chunk as it arrives
(the items a worker ran in one task, which finish together; serially, one item), so the
caller can commit a chunk in one transaction and still hold nothing that finished
uncommitted while it waits for the next. `fn` and the items must be picklable (module-level functions, plain data).
Results do not depend on the executor: each point's computation is a pure
function of the point.

`session(executor, ...)` holds the process pool or the dask client (and its LocalCluster)
open across several `run(..., session=s)` calls, so a strategy that evaluates in rounds (the
evolutionary one: one round per generation) starts its workers once, not once per round.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any, TypeVar

from lowbit.kernels_ref.errors import InvalidSpecError
from lowbit.kernels_ref.progress import progress

__all__ = ["ExecutorKind", "Session", "run", "session"]

log = logging.getLogger(__name__)
#: Messages of each connection dask keeps for debugging (`distributed.admin.low-level-log-length`,
#: 1000 by default) in the client and the LocalCluster this module starts. The scheduler's compute-task messages carry
#: the tasks' arguments, a sweep's points, so with dask's default the driver held the points of
#: the last 1000 messages per worker (its RSS grew with every point until then).
DASK_MESSAGE_LOG = 16
#: What else dask keeps per event in the driver (the LocalCluster's scheduler runs there), all
#: bounded but long enough to grow through a long sweep: the system monitor's samples (every
#: 500 ms, 7200 kept: an hour of growth) and the last computations' records (100 kept).
DASK_BOUNDED_LOGS = {"distributed.admin.low-level-log-length": DASK_MESSAGE_LOG,
                     "distributed.admin.system-monitor.log-length": 120,
                     "distributed.diagnostics.computations.max-history": 8}
#: Two more things dask keeps per generation in the driver that no config key bounds
#: (distributed 2026.8), trimmed after each run of a session on the LocalCluster it started:
#: - the scheduler's spans (its "spans" extension): a new "default" span each time work arrives
#:   after the previous work finished, i.e. one per evolutionary generation, each holding its
#:   task group and per-span worker metrics; nothing in dask ever drops one. A done span whose
#:   tasks stopped over DASK_SPAN_AGE_S ago (far past any worker heartbeat that could still
#:   report metrics for it) is dropped, except the newest DASK_SPANS_KEPT;
#: - `dask.utils.key_split`'s memo (an lru_cache of 100,000 keys, ~250 B each with the key it
#:   keeps alive): a sweep's task keys are all new, so the memo only grows; it is cleared.
DASK_SPANS_KEPT = 16
DASK_SPAN_AGE_S = 60.0
T = TypeVar("T")
R = TypeVar("R")


class ExecutorKind(enum.Enum):
    SERIAL = "serial"
    LOCAL = "local"
    DASK = "dask"


@dataclass
class Session:
    """An open executor: the process pool (local) or the dask client (dask), or neither."""

    kind: ExecutorKind
    pool: ProcessPoolExecutor | None = None
    client: Any = None
    #: the dask client's LocalCluster was started by this session (its state is trimmed)
    own_cluster: bool = False


def _kind(executor: ExecutorKind | str) -> ExecutorKind:
    try:
        return ExecutorKind(executor) if isinstance(executor, str) else executor
    except ValueError:
        known = ", ".join(k.value for k in ExecutorKind)
        raise InvalidSpecError(f"unknown executor {executor!r} (known: {known})") from None


@contextlib.contextmanager
def session(executor: ExecutorKind | str = ExecutorKind.LOCAL, *, workers: int | None = None,
            scheduler: str | None = None, connect_timeout_s: float = 10.0) -> Iterator[Session]:
    """The executor's workers started once (a process pool of `workers`, or a dask client on
    `scheduler` or on a LocalCluster of `workers`), shut down on exit."""
    kind = _kind(executor)
    if kind is ExecutorKind.SERIAL:
        yield Session(kind)
    elif kind is ExecutorKind.LOCAL:
        with _process_pool(workers) as pool:
            yield Session(kind, pool=pool)
    elif kind is ExecutorKind.DASK:
        with _dask_client(workers, scheduler, connect_timeout_s) as client:
            yield Session(kind, client=client, own_cluster=not scheduler)
    else:  # pragma: no cover - closed enum
        raise InvalidSpecError(f"executor {kind} has no implementation")


def run(fn: Callable[[T], R], items: Iterable[T], *, executor: ExecutorKind | str = ExecutorKind.LOCAL,
        workers: int | None = None, scheduler: str | None = None,
        on_result: Callable[[T, R], None] | None = None, quiet: bool = False,
        desc: str = "sweep", chunksize: int = 16, unit_weight: Callable[[T], int] | None = None,
        connect_timeout_s: float = 10.0, session: Session | None = None,
        on_chunk: Callable[[list[tuple[T, R]]], None] | None = None) -> int:
    """Run `fn` over `items`; returns how many completed. The progress bar counts
    `unit_weight(item)` units per item (default 1), e.g. points in a group. With `session`
    (see `session()`), its pool or client runs the items and `executor`, `workers` and
    `scheduler` are not used; without, this call starts its own and shuts it down. Results go
    to `on_chunk` (a chunk's `(item, result)` pairs at once) when given, else to `on_result`."""
    kind = session.kind if session is not None else _kind(executor)
    todo = list(items)
    done = 0
    if on_chunk is not None and on_result is not None:
        raise InvalidSpecError("run: give on_result or on_chunk, not both")
    each = on_result or (lambda _i, _r: None)

    def one_by_one(pairs: list[tuple[T, R]]) -> None:
        for it, res in pairs:
            each(it, res)

    sink = on_chunk or one_by_one
    weigh = unit_weight or (lambda _i: 1)
    bar = progress(sum(weigh(it) for it in todo), desc, quiet=quiet, unit="pt")
    try:
        if kind is ExecutorKind.SERIAL or not todo:
            for it in todo:
                sink([(it, fn(it))])
                done += 1
                bar.update(weigh(it))
        elif session is not None and kind is ExecutorKind.LOCAL:
            done = _run_pool(session.pool, fn, todo, sink, bar, chunksize, weigh)
        elif kind is ExecutorKind.LOCAL:
            with _process_pool(workers) as pool:
                done = _run_pool(pool, fn, todo, sink, bar, chunksize, weigh)
        elif session is not None and kind is ExecutorKind.DASK:
            done = _map_dask(session.client, fn, todo, sink, bar, chunksize, weigh)
            if session.own_cluster:
                _trim_dask_state(session.client)
        elif kind is ExecutorKind.DASK:
            with _dask_client(workers, scheduler, connect_timeout_s) as client:
                done = _map_dask(client, fn, todo, sink, bar, chunksize, weigh)
        else:  # pragma: no cover - closed enum
            raise InvalidSpecError(f"executor {kind} has no implementation")
    finally:
        bar.close()
    return done


#: How often a pool worker checks that the process that started it is still alive (seconds).
PARENT_POLL_S = 0.5


def _process_pool(workers: int | None) -> ProcessPoolExecutor:
    """The local pool; each worker exits when its parent is gone (see `_exit_with_parent`)."""
    return ProcessPoolExecutor(max_workers=workers or min(os.cpu_count() or 1, 8),
                               initializer=_exit_with_parent, initargs=(os.getpid(),))


def _exit_with_parent(parent: int) -> None:
    """Pool worker initializer: a daemon thread ends the worker once `parent` has died.

    When the sweep process is SIGKILLed its pool workers are re-parented, and each one still
    holds the write end of the pool's call queue (inherited from the parent), so a worker
    waiting on that queue never sees end-of-file: without this they waited forever."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_S)
        os._exit(0)

    threading.Thread(target=watch, name="lowbit-parent-watch", daemon=True).start()


def _run_pool(pool: Any, fn: Callable[[T], R], todo: list[T], sink: Callable[[list[tuple[T, R]]], None],
              bar: Any, chunksize: int, weigh: Callable[[T], int]) -> int:
    done = 0
    futs = {pool.submit(_apply_chunk, fn, c): c for c in _chunks(todo, chunksize)}
    try:
        for fut in as_completed(futs):
            pairs = list(zip(futs[fut], fut.result()))
            sink(pairs)
            done += len(pairs)
            bar.update(sum(weigh(it) for it in futs[fut]))
    finally:
        for f in futs:  # a failed sink (full disk): what has not started is dropped
            f.cancel()
    return done


def _chunks(todo: list[T], size: int) -> list[list[T]]:
    return [todo[i:i + size] for i in range(0, len(todo), max(size, 1))]


def _apply_chunk(fn: Callable[[T], R], chunk: list[T]) -> list[R]:
    return [fn(it) for it in chunk]


@contextlib.contextmanager
def _dask_client(workers: int | None, scheduler: str | None, connect_timeout_s: float) -> Iterator[Any]:
    try:
        import dask
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise InvalidSpecError("the dask executor needs dask.distributed: pip install 'lowbit[dist]'") from None
    # read as connections open: the client's and, in a LocalCluster, the scheduler's and workers'
    with dask.config.set(DASK_BOUNDED_LOGS):
        yield from _open_client(Client, LocalCluster, workers, scheduler, connect_timeout_s)


def _open_client(Client: Any, LocalCluster: Any, workers: int | None, scheduler: str | None,
                 connect_timeout_s: float) -> Iterator[Any]:
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
        with client:
            yield client
    finally:
        if cluster is not None:
            cluster.close()


def _map_dask(client: Any, fn: Callable[[T], R], todo: list[T], sink: Callable[[list[tuple[T, R]]], None],
              bar: Any, chunksize: int, weigh: Callable[[T], int]) -> int:
    from dask.distributed import as_completed as dask_completed

    done = 0
    chunks = _chunks(todo, chunksize)
    futs = client.map(_apply_chunk, [fn] * len(chunks), chunks, pure=False)
    index = {f.key: c for f, c in zip(futs, chunks)}
    try:
        for fut in dask_completed(futs):
            chunk = index.pop(fut.key)  # the driver keeps nothing of a chunk once it is handed on
            pairs = list(zip(chunk, fut.result()))
            fut.release()
            sink(pairs)
            done += len(pairs)
            bar.update(sum(weigh(it) for it in chunk))
    except BaseException:
        client.cancel(futs)  # a failed sink (full disk): nothing left running on a shared cluster
        raise
    return done


def _trim_dask_state(client: Any) -> None:
    """After a run on a session's own LocalCluster: drop its old spans, clear key_split's memo
    here and in every worker (each worker process keeps its own, up to 100,000 task keys)."""
    client.run_on_scheduler(_drop_old_spans, keep=DASK_SPANS_KEPT, age_s=DASK_SPAN_AGE_S)
    client.run(_clear_key_split)
    _clear_key_split()


def _clear_key_split() -> int:
    """Empty dask.utils.key_split's memo in this process; returns how many keys it held."""
    from dask.utils import key_split

    held = key_split.cache_info().currsize
    key_split.cache_clear()
    return held


def _drop_old_spans(dask_scheduler: Any, keep: int, age_s: float) -> int:
    """Runs on the scheduler's event loop: drop the done root spans (and their sub-spans) whose
    tasks stopped over `age_s` ago, except the newest `keep`; returns how many were dropped."""
    from distributed.metrics import time as span_clock  # the clock of Span.stop

    ext = dask_scheduler.extensions.get("spans")
    if ext is None:
        return 0
    now = span_clock()
    old = ext.root_spans[:-keep] if keep > 0 else list(ext.root_spans)
    drop = {sub.id for sp in old if sp.done and now - sp.stop > age_s
            for sub in sp.traverse_spans()}
    if not drop:
        return 0
    ext.root_spans[:] = [sp for sp in ext.root_spans if sp.id not in drop]
    for index in (ext.spans_search_by_name, ext.spans_search_by_tag):
        for name in list(index):
            index[name][:] = [sp for sp in index[name] if sp.id not in drop]
            if not index[name]:
                del index[name]
    for span_id in drop:
        del ext.spans[span_id]
    return len(drop)
