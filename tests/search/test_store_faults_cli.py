"""`lowbit sweep` itself under store faults (issue 20 item 4), beside the store-level tests of
test_store_faults.py: the file-size limit hit mid-sweep (a full disk) on the serial and the
local executor, two and four sweep processes on one store at once, and a worker of the
LocalCluster that `--executor dask` starts itself killed mid-sweep."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from lowbit.kernels_ref.errors import InvalidSpecError
from lowbit.search.codesign import load_space, run_sweep
from lowbit.search.store import ResultStore

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
SPACE = """
name: {name}
formats: [int4, int8]
budgets: {{latency: 0.8x}}
models: [resnet-18]
hardware:
  - base: loom
    params:
      core.rows: [32, 64, 128, 256]
      core.cols: [8, 16, 32, 64, 128]
      dram.bandwidth_bytes_per_cycle: [16, 32, 64]
"""  # 60 points


def _space(tmp_path: Path, name: str) -> Path:
    p = tmp_path / f"{name}.yaml"
    p.write_text(SPACE.format(name=name))
    return p


def _sweep(space: Path, db: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "lowbit", "sweep", "--space", str(space), "--db", str(db), "--quiet",
            *extra]


def _clean(tmp_path: Path, space: Path) -> list:
    with ResultStore(tmp_path / "clean.sqlite") as st:
        run_sweep(load_space(space), st, executor="serial", quiet=True)
        return st.snapshot()


def _limit_file_size(nbytes: int) -> None:  # runs in the child before exec: `ulimit -f`
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG), no kill
    resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, resource.RLIM_INFINITY))


@pytest.mark.slow
@pytest.mark.parametrize("executor", ["serial", "local"])
def test_full_disk_mid_sweep_is_one_line_and_resume_completes(tmp_path, executor):
    space = _space(tmp_path, "f")
    db = tmp_path / "full.sqlite"
    r = subprocess.run(_sweep(space, db, "--executor", executor, "--workers", "1"), cwd=ROOT,
                       env=ENV, capture_output=True, text=True, timeout=300, check=False,
                       preexec_fn=lambda: _limit_file_size(160_000))
    err = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.returncode == 2, r.stderr[-2000:]
    assert len(err) == 1 and err[0].startswith("lowbit: error: ") and "full.sqlite" in err[0], err
    clean = {k: (p, res) for k, p, res in _clean(tmp_path, space)}
    with ResultStore(db) as st:
        assert st.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        kept = st.snapshot()
    assert 0 < len(kept) < 60  # the limit hit mid-sweep
    assert all(clean[k] == (p, res) for k, p, res in kept)  # every committed point whole
    r = subprocess.run(_sweep(space, db, "--executor", "serial", "--resume"), cwd=ROOT, env=ENV,
                       capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 0, r.stderr[-2000:]
    assert f"{len(kept)} already done, {60 - len(kept)} evaluated" in r.stdout
    with ResultStore(db) as st:
        assert {k: (p, res) for k, p, res in st.snapshot()} == clean


@pytest.mark.slow
@pytest.mark.parametrize("n", [2, 4])
def test_sweeps_in_many_processes_on_one_store(tmp_path, n):
    """n `lowbit sweep --resume` processes of one space into one store at once: each runs to exit 0
    (no 'database is locked' escapes), the store holds every point once, as a lone sweep would.
    --resume, because without it a sweep refuses a store that already holds points, and which
    process commits first is a race."""
    space = _space(tmp_path, "c")
    db = tmp_path / "shared.sqlite"
    procs = [subprocess.Popen(_sweep(space, db, "--executor", "serial", "--resume"), cwd=ROOT, env=ENV,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(n)]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (_o, e) in zip(procs, outs):
        assert p.returncode == 0 and "locked" not in e, e[-2000:]
    with ResultStore(db) as st:
        rows = st.snapshot()
        assert st.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    keys = [k for k, _, _ in rows]
    assert len(keys) == len(set(keys)) == 60
    assert rows == _clean(tmp_path, space)


def _count(db: Path) -> int:
    try:
        with ResultStore(db) as st:
            return st.count()
    except InvalidSpecError:  # the sweep has not made the schema yet
        return 0


@pytest.mark.slow
def test_dask_worker_of_the_sweeps_own_cluster_killed_mid_sweep(tmp_path):
    """`--executor dask` without --scheduler starts a LocalCluster inside the sweep (once, for
    the whole sweep); SIGKILL one of its worker processes mid-sweep: its nanny restarts it, the
    lost tasks run again, the sweep completes and every point is in the store once."""
    import psutil

    space = _space(tmp_path, "k")
    db = tmp_path / "dask.sqlite"
    proc = subprocess.Popen(_sweep(space, db, "--executor", "dask", "--workers", "2"), cwd=ROOT,
                            env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None and _count(db) < 3:
            time.sleep(0.1)
        workers = [c for c in psutil.Process(proc.pid).children(recursive=True)
                   if "spawn_main" in " ".join(c.cmdline())]
        assert workers and proc.poll() is None, "the sweep finished before a worker could be killed"
        before = _count(db)
        workers[0].send_signal(signal.SIGKILL)
        _out, err = proc.communicate(timeout=400)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-2000:]
    assert before < 60
    with ResultStore(db) as st:
        rows = st.snapshot()
    assert len({k for k, _, _ in rows}) == len(rows) == 60
    assert rows == _clean(tmp_path, space)
