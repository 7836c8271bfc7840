"""Result store (SQLite WAL) and executors (serial, local pool, dask) give identical results."""

import multiprocessing as mp

import pytest
from lowbit.kernels_ref.errors import InvalidSpecError
from lowbit.search.executors import run
from lowbit.search.store import ResultStore


def _square(x: int) -> dict:
    return {"x": x, "y": x * x}


def _writer(path: str, start: int) -> None:
    with ResultStore(path) as st:
        for i in range(start, start + 200):
            st.put(f"k{i:05d}", "s", {"i": i}, {"v": i * 3})


def test_store_put_is_idempotent_and_resumable(tmp_path):
    db = tmp_path / "r.sqlite"
    with ResultStore(db) as st:
        assert st.put("a", "s", {"p": 1}, {"r": 2})
        assert not st.put("a", "s", {"p": 1}, {"r": 999})  # first result kept
        assert st.done_keys() == {"a"}
    with ResultStore(db) as st:  # reopened: still there
        assert st.snapshot() == [("a", {"p": 1}, {"r": 2})]


@pytest.mark.slow
def test_two_processes_writing_one_store_do_not_corrupt_it(tmp_path):
    db = str(tmp_path / "r.sqlite")
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(db, s)) for s in (0, 100)]  # overlap 100..199
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    with ResultStore(db) as st:
        rows = st.snapshot()
        assert len(rows) == 300
        assert all(r[2]["v"] == r[1]["i"] * 3 for r in rows)
        assert st.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_not_a_store_is_one_clear_error(tmp_path):
    bad = tmp_path / "x.sqlite"
    bad.write_text("this is not sqlite" * 100)
    with pytest.raises(InvalidSpecError, match="x.sqlite"):
        ResultStore(bad).open()


@pytest.mark.parametrize("kind", ["serial", "local", pytest.param("dask", marks=pytest.mark.slow)])
def test_executors_agree(kind):
    got = {}
    n = run(_square, range(40), executor=kind, workers=2, quiet=True,
            on_result=lambda it, r: got.__setitem__(it, r), chunksize=7)
    assert n == 40
    assert got == {i: {"x": i, "y": i * i} for i in range(40)}


def test_unknown_executor():
    with pytest.raises(InvalidSpecError, match="unknown executor 'ray'"):
        run(_square, [1], executor="ray")


@pytest.mark.slow
def test_dask_executor_reaches_a_scheduler_by_address():
    """`--executor dask --scheduler tcp://host:port`: the Client path, against a cluster started here."""
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        got = {}
        n = run(_square, range(9), executor="dask", scheduler=cluster.scheduler_address, quiet=True,
                on_result=lambda it, r: got.__setitem__(it, r), chunksize=4)
    assert n == 9 and got == {i: {"x": i, "y": i * i} for i in range(9)}


@pytest.mark.slow
def test_unreachable_dask_scheduler_is_one_clear_error():
    with pytest.raises(InvalidSpecError, match="cannot reach dask scheduler tcp://127.0.0.1:9"):
        run(_square, [1], executor="dask", scheduler="tcp://127.0.0.1:9", connect_timeout_s=1.0)


def _pid(x: int) -> tuple[int, int]:
    import os

    return x, os.getpid()


@pytest.mark.parametrize("kind", ["local", pytest.param("dask", marks=pytest.mark.slow)])
def test_a_session_runs_every_round_on_the_same_workers(kind):
    """`executors.session`: the evolutionary strategy's generations (here three rounds) run on
    workers started once; before, every round started (and imported lowbit in) new ones."""
    import os

    from lowbit.search.executors import session

    pids: list[set[int]] = []
    with session(kind, workers=2) as s:
        for r in range(3):
            got: dict[int, tuple[int, int]] = {}
            n = run(_pid, range(10 * r, 10 * r + 10), on_result=got.__setitem__, chunksize=2,
                    quiet=True, session=s)
            assert n == 10 and sorted(v[0] for v in got.values()) == list(range(10 * r, 10 * r + 10))
            pids.append({v[1] for v in got.values()})
    every = set().union(*pids)
    assert 1 <= len(every) <= 2 and os.getpid() not in every


def test_a_failing_sink_stops_the_round_and_the_session_still_works():
    """A sink that raises (the store's disk is full) ends the round with that error; the chunks
    not yet started are dropped, and the session's workers still run the next round."""
    from lowbit.search.executors import session

    def sink(_it: int, _r: dict) -> None:
        raise OSError(28, "No space left on device")

    with session("local", workers=1) as s:
        with pytest.raises(OSError, match="No space left"):
            run(_square, range(200), on_result=sink, chunksize=1, quiet=True, session=s)
        got = {}
        assert run(_square, range(5), on_result=got.__setitem__, quiet=True, session=s) == 5
    assert got == {i: {"x": i, "y": i * i} for i in range(5)}


def test_an_evolutionary_sweep_starts_one_pool(tmp_path, monkeypatch):
    import concurrent.futures

    from lowbit.search import executors
    from lowbit.search.codesign import parse_space, run_sweep

    made = []

    class Counting(concurrent.futures.ProcessPoolExecutor):
        def __init__(self, *a, **kw):
            made.append(1)
            super().__init__(*a, **kw)

    monkeypatch.setattr(executors, "ProcessPoolExecutor", Counting)
    space = parse_space({"name": "evo", "strategy": "evolutionary", "samples": 9, "population": 3,
                         "formats": ["int4", "int8"], "budgets": {"latency": "0.8x"},
                         "models": ["resnet-18"], "hardware": [{"base": "loom", "params": {
                             "core.rows": [32, 64, 128], "core.cols": [8, 16, 32]}}]})
    gens = []
    with ResultStore(tmp_path / "e.sqlite") as st:
        s = run_sweep(space, st, executor="local", workers=1, quiet=True, progress=gens.append)
        assert st.count() == 9 and s.evaluated == 9
    assert len(gens) == 3 and made == [1]


@pytest.mark.slow
def test_a_dask_session_bounds_what_the_driver_keeps_per_event():
    """The LocalCluster's scheduler runs in the sweep's process: its system-monitor samples and
    computation records are capped (dask keeps an hour of samples and 100 computations), so a
    long sweep's driver does not grow with them."""
    from lowbit.search.executors import DASK_BOUNDED_LOGS, session

    with session("dask", workers=1) as s:
        for r in range(12):
            assert run(_square, range(r, r + 3), quiet=True, session=s) == 3
        sched = s.client.cluster.scheduler
        assert sched.monitor.quantities["cpu"].maxlen == 120 == DASK_BOUNDED_LOGS[
            "distributed.admin.system-monitor.log-length"]
        assert sched.computations.maxlen == 8 and len(sched.computations) == 8
        # the per-connection message logs: dask keeps 1000 messages by default
        assert sched.transition_log.maxlen == 16 == DASK_BOUNDED_LOGS[
            "distributed.admin.low-level-log-length"]
        assert {bc.recent_message_log.maxlen for bc in sched.stream_comms.values()} == {16}
        assert s.client.scheduler_comm.recent_message_log.maxlen == 16


@pytest.mark.slow
def test_a_dask_session_drops_old_spans_and_the_key_split_memo(monkeypatch):
    """dask's scheduler keeps one span per batch of work that arrives after the previous one
    finished (one per generation of a sweep) and never drops one; a session on its own
    LocalCluster drops the done ones older than DASK_SPAN_AGE_S but the newest DASK_SPANS_KEPT,
    and clears dask.utils.key_split's memo of task keys (its own and each worker's), after each run."""
    import time

    from dask.utils import key_split
    from lowbit.search import executors
    from lowbit.search.executors import session

    monkeypatch.setattr(executors, "DASK_SPAN_AGE_S", 1e9)  # nothing old enough: dask's own
    with session("dask", workers=1) as s:
        spans = s.client.cluster.scheduler.extensions["spans"]
        for r in range(6):
            assert run(_square, range(r, r + 3), quiet=True, session=s) == 3
            assert key_split.cache_info().currsize == 0
            assert list(s.client.run(executors._clear_key_split).values()) == [0]  # the worker's too
        assert len(spans.spans) == len(spans.root_spans) == 6  # one per run, all kept
        time.sleep(1.5)  # past the workers' heartbeats for those runs
        monkeypatch.setattr(executors, "DASK_SPAN_AGE_S", 1.0)
        monkeypatch.setattr(executors, "DASK_SPANS_KEPT", 2)
        newest = spans.root_spans[-1].id
        assert run(_square, range(5), quiet=True, session=s) == 5
        # the six old spans are done and over 1 s old: all but the newest two go
        assert spans.root_spans[0].id == newest and len(spans.root_spans) == 2
        assert set(spans.spans) == {sp.id for sp in spans.root_spans}
        assert spans.spans_search_by_name["default",] == spans.root_spans
        assert spans.spans_search_by_tag["default"] == spans.root_spans
        # the cluster still works, and reports its metrics, after the drop
        time.sleep(1.5)
        assert run(_square, range(4), quiet=True, session=s) == 4
        assert len(spans.root_spans) == 2
        assert s.client.gather(s.client.map(_square, [7])) == [{"x": 7, "y": 49}]
        # work sent past run() fills the worker's memo (so the [0] above is the trim's doing)
        assert next(iter(s.client.run(executors._clear_key_split).values())) > 0
