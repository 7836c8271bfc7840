"""The result store under faults and concurrency (issue 20 item 4): older schemas and foreign
SQLite files refused, a full disk is a clear error that keeps every committed point, many
writers lose and duplicate nothing, stores shared between spaces, SIGKILLs + --resume, a dask
worker killed mid-sweep."""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from lowbit.kernels_ref.errors import InvalidSpecError
from lowbit.search.codesign import load_space, run_sweep
from lowbit.search.store import SCHEMA_VERSION, ResultStore

from lowbit.cli import main

ROOT = Path(__file__).resolve().parents[2]
SPACE = """
name: {name}
formats: [int4, int8]
budgets: {{latency: 0.8x}}
models: [resnet-18]
hardware:
  - base: loom
    params:
      core.rows: [32, 64, 128, 256]
      core.cols: [8, 16, 32]
"""


def _space(tmp_path: Path, name: str = "a") -> Path:
    p = tmp_path / f"{name}.yaml"
    p.write_text(SPACE.format(name=name))
    return p


def test_older_schema_is_refused_with_what_to_do(tmp_path):
    db = tmp_path / "old.sqlite"
    with sqlite3.connect(db) as c:  # the schema-1 layout: same tables, user_version 0
        c.execute("CREATE TABLE points (key TEXT PRIMARY KEY, sweep TEXT NOT NULL, point TEXT NOT NULL, "
                  "result TEXT NOT NULL)")
        c.execute("CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
        c.execute("INSERT INTO points VALUES ('k', 's', '{}', '{}')")
    with pytest.raises(InvalidSpecError, match=r"old.sqlite: a result store of an older lowbit \(schema 1"):
        ResultStore(db).open()
    with sqlite3.connect(db) as c:  # refused, and left as it was
        assert c.execute("SELECT COUNT(*) FROM points").fetchone()[0] == 1


def test_foreign_sqlite_is_refused_and_not_written(tmp_path, capsys):
    db = tmp_path / "other.sqlite"
    with sqlite3.connect(db) as c:
        c.execute("CREATE TABLE customers (id INTEGER, name TEXT)")
    with pytest.raises(InvalidSpecError, match="not a lowbit result store .tables: customers"):
        ResultStore(db).open()
    with sqlite3.connect(db) as c:
        tables = {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == {"customers"}
    assert main(["sweep", "--space", str(_space(tmp_path)), "--db", str(db), "--executor", "serial",
                 "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "other.sqlite" in err[0]


def test_new_store_carries_its_schema_version(tmp_path):
    with ResultStore(tmp_path / "n.sqlite") as st:
        assert st.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


_FILL = textwrap.dedent("""
    import resource, sys
    from lowbit.kernels_ref.errors import LowbitError
    from lowbit.search.store import ResultStore
    st = ResultStore(sys.argv[1]).open()
    resource.setrlimit(resource.RLIMIT_FSIZE, (400_000, resource.RLIM_INFINITY))  # ulimit -f
    n = 0
    try:
        while n < 100_000:
            st.put(f"k{n:06d}", "s", {"i": n}, {"pad": "x" * 2000})
            n += 1
    except LowbitError as exc:
        print(n)
        print(exc, file=sys.stderr)
        sys.exit(2)
""")


@pytest.mark.slow  # > 2 s; the slow lane (make test) runs it
def test_full_disk_is_a_clear_error_and_keeps_committed_points(tmp_path):
    db = tmp_path / "full.sqlite"
    r = subprocess.run([sys.executable, "-c", _FILL, str(db)], check=False, capture_output=True, text=True, timeout=120,
                       cwd=ROOT)
    assert r.returncode == 2, r.stderr[-2000:]
    committed = int(r.stdout.strip())
    assert committed > 10
    assert "full.sqlite: cannot write the result store" in r.stderr and "Traceback" not in r.stderr
    with ResultStore(db) as st:
        assert st.count() == committed  # every put that returned is there, nothing half-written
        assert st.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert {k for k, _, _ in st.rows()} == {f"k{i:06d}" for i in range(committed)}


def _writer(path: str, start: int) -> None:
    with ResultStore(path, timeout_s=120) as st:
        for i in range(start, start + 150):
            st.put(f"k{i:05d}", "s", {"i": i}, {"v": i * 3})


@pytest.mark.slow
@pytest.mark.parametrize("n", [2, 4])
def test_many_processes_writing_one_store(tmp_path, n):
    db = str(tmp_path / "r.sqlite")
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(db, 50 * i)) for i in range(n)]  # overlapping ranges
    for p in procs:
        p.start()
    for p in procs:
        p.join(180)
        assert p.exitcode == 0  # no "database is locked" escaped
    with ResultStore(db) as st:
        rows = st.snapshot()
        assert [r[0] for r in rows] == [f"k{i:05d}" for i in range(50 * (n - 1) + 150)]
        assert all(r[2]["v"] == r[1]["i"] * 3 for r in rows)


@pytest.mark.slow   # 0.9-1.3 s: out of the fast lane (make test runs it)
def test_two_spaces_share_one_store(tmp_path):
    """Same points, different space names: each space keeps its own rows, and --resume of
    either finds everything done (before keys held the space name, the second re-ran forever)."""
    db = tmp_path / "shared.sqlite"
    with ResultStore(db) as st:
        ra = run_sweep(load_space(_space(tmp_path, "a")), st, executor="serial", quiet=True)
        rb = run_sweep(load_space(_space(tmp_path, "b")), st, executor="serial", quiet=True)
        assert st.count() == 24
        assert len(st.done_keys("a")) == len(st.done_keys("b")) == 12
        a = {tuple(sorted(p.items())).__repr__(): r for _, p, r in st.rows("a")}
        b = {tuple(sorted(p.items())).__repr__(): r for _, p, r in st.rows("b")}
        assert a == b  # the same designs give the same results under either name
    del ra, rb
    out = subprocess.run([sys.executable, "-m", "lowbit", "sweep", "--space", str(_space(tmp_path, "b")),
                          "--db", str(db), "--executor", "serial", "--quiet", "--resume"],
                         check=False, capture_output=True, text=True, cwd=ROOT, timeout=120,
                         env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert out.returncode == 0, out.stderr
    assert "12 already done, 0 evaluated" in out.stdout


BIG = SPACE.replace("core.cols: [8, 16, 32]", "core.cols: [8, 16, 32, 64, 128]\n"
                    "      dram.bandwidth_bytes_per_cycle: [16, 32, 64]")  # 60 points
HUGE = BIG.replace("core.rows: [32, 64, 128, 256]", "core.rows: [32, 64, 128, 256]\n"
                   "      core.lanes: [8, 16, 32]")  # 180 points


def _count(db: Path) -> int:
    try:
        with ResultStore(db) as st:
            return st.count()
    except InvalidSpecError:  # the first process has not made the schema yet
        return 0


@pytest.mark.slow
def test_twenty_sigkills_then_resume_equal_an_uninterrupted_run(tmp_path):
    space = tmp_path / "k.yaml"
    space.write_text(HUGE.format(name="k"))
    db = tmp_path / "killed.sqlite"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    rng = random.Random(20)
    kills, progress = 0, []
    for _ in range(20):
        before = _count(db)
        cmd = [sys.executable, "-m", "lowbit", "sweep", "--space", str(space), "--db", str(db),
               "--executor", "serial", "--quiet", "--resume"]
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if rng.random() < 0.25:  # during start-up / store opening
            time.sleep(rng.uniform(0.05, 0.8))
        else:  # mid-sweep, after a random number of new commits
            target, deadline = before + rng.randint(1, 6), time.monotonic() + 60
            while proc.poll() is None and _count(db) < target and time.monotonic() < deadline:
                time.sleep(0.01)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait(60)
        progress.append(_count(db))
    assert kills == 20, progress
    assert progress == sorted(progress) and progress[-1] < 180  # nothing lost; not yet finished
    assert main(["sweep", "--space", str(space), "--db", str(db), "--executor", "serial", "--quiet",
                 "--resume"]) == 0
    with ResultStore(db) as st:
        resumed = st.snapshot()
        assert st.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with ResultStore(tmp_path / "clean.sqlite") as st:
        run_sweep(load_space(space), st, executor="serial", quiet=True)
        clean = st.snapshot()
    assert len(clean) == 180 and resumed == clean


@pytest.mark.slow
def test_dask_worker_killed_mid_sweep_completes_with_every_point_once(tmp_path):
    from dask.distributed import LocalCluster

    space = tmp_path / "d.yaml"
    space.write_text(BIG.format(name="d"))
    db = tmp_path / "dask.sqlite"
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        proc = subprocess.Popen([sys.executable, "-m", "lowbit", "sweep", "--space", str(space), "--db", str(db),
                                 "--executor", "dask", "--scheduler", cluster.scheduler_address, "--quiet"],
                                cwd=ROOT, env={**os.environ, "HF_HUB_OFFLINE": "1"},
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            if db.exists():
                try:
                    with ResultStore(db) as st:
                        if st.count() >= 3:
                            break
                except InvalidSpecError:
                    pass
            time.sleep(0.1)
        pids = [w.pid for w in cluster.workers.values() if getattr(w, "pid", None)]
        assert pids and proc.poll() is None, "the sweep finished before a worker could be killed"
        os.kill(pids[0], signal.SIGKILL)  # the nanny restarts it; its tasks are rescheduled
        _, err = proc.communicate(timeout=400)
    assert proc.returncode == 0, err[-2000:]
    with ResultStore(db) as st:
        keys = [k for k, _, _ in st.rows()]
        rows = st.snapshot()
    assert len(keys) == len(set(keys)) == 60
    with ResultStore(tmp_path / "clean.sqlite") as st:
        run_sweep(load_space(space), st, executor="serial", quiet=True)
        assert st.snapshot() == rows
