"""Results committed one transaction per chunk (`ResultStore.put_many`, `executors.run(on_chunk=)`):
all of a chunk or none of it, a chunk of a process pool committed as it arrives, and a sweep on
a process pool killed with SIGKILL loses no committed point and resumes to the uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from lowbit.kernels_ref.errors import InvalidSpecError
from lowbit.search.codesign import load_space, run_sweep
from lowbit.search.executors import run
from lowbit.search.store import ResultStore

from lowbit.cli import main

ROOT = Path(__file__).resolve().parents[2]


def _children(pid: int) -> list[int]:
    """Process ids whose parent is `pid` (Linux /proc)."""
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                stat = Path(f"/proc/{d}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(d))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
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
      core.lanes: [8, 16, 32]
"""


def _double(x: int) -> int:
    return 2 * x


def test_put_many_is_one_transaction_and_keeps_first_results(tmp_path: Path) -> None:
    with ResultStore(tmp_path / "b.sqlite") as st:
        assert st.put("a", "s", {"p": 0}, {"r": 0})
        new = st.put_many([("b", "s", {"p": 1}, {"r": 1}), ("a", "s", {"p": 0}, {"r": 99}),
                           ("c", "s", {"p": 2}, {"r": 2})])
        assert new == [True, False, True]  # "a" was there: its first result stays
        assert st.put_many([]) == []
        assert st.snapshot() == [("a", {"p": 0}, {"r": 0}), ("b", {"p": 1}, {"r": 1}), ("c", {"p": 2}, {"r": 2})]
        assert not st.conn.in_transaction


def test_a_process_pool_hands_each_chunk_over_at_once() -> None:
    chunks: list[list[tuple[int, int]]] = []
    n = run(_double, range(10), executor="local", workers=2, quiet=True, on_chunk=chunks.append, chunksize=4)
    assert n == 10 and sorted(len(c) for c in chunks) == [2, 4, 4]
    assert sorted(p for c in chunks for p in c) == [(i, 2 * i) for i in range(10)]
    serial: list[list[tuple[int, int]]] = []
    run(_double, range(3), executor="serial", quiet=True, on_chunk=serial.append)
    assert serial == [[(0, 0)], [(1, 2)], [(2, 4)]]  # serially nothing waits: one item per chunk
    with pytest.raises(InvalidSpecError, match="not both"):
        run(_double, range(3), executor="serial", on_chunk=serial.append, on_result=lambda i, r: None)


_FILL = textwrap.dedent("""
    import resource, sys
    from lowbit.kernels_ref.errors import LowbitError
    from lowbit.search.store import ResultStore
    st = ResultStore(sys.argv[1]).open()
    resource.setrlimit(resource.RLIMIT_FSIZE, (400_000, resource.RLIM_INFINITY))  # ulimit -f
    n = 0
    try:
        while n < 100_000:
            st.put_many([(f"k{n + i:06d}", "s", {"i": n + i}, {"pad": "x" * 2000}) for i in range(7)])
            n += 7
    except LowbitError as exc:
        print(n)
        print(exc, file=sys.stderr)
        sys.exit(2)
""")


@pytest.mark.slow
def test_a_failed_batch_leaves_none_of_its_points(tmp_path: Path) -> None:
    db = tmp_path / "full.sqlite"
    r = subprocess.run([sys.executable, "-c", _FILL, str(db)], check=False, capture_output=True, text=True,
                       timeout=120, cwd=ROOT)
    assert r.returncode == 2, r.stderr[-2000:]
    committed = int(r.stdout.strip())
    assert committed >= 14 and "full.sqlite: cannot write the result store" in r.stderr
    with ResultStore(db) as st:  # every batch that returned, none of the one that failed
        assert st.count() == committed
        assert st.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


@pytest.mark.slow
def test_sigkill_of_a_pool_sweep_loses_no_committed_chunk_and_resumes(tmp_path: Path) -> None:
    space = tmp_path / "p.yaml"
    space.write_text(SPACE.format(name="p"))
    db = tmp_path / "killed.sqlite"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "lowbit", "sweep", "--space", str(space), "--db", str(db),
           "--executor", "local", "--workers", "2", "--quiet"]
    seen: list[int] = []
    for _ in range(2):  # killed twice mid-sweep, each time after a few more chunks were committed
        before = seen[-1] if seen else 0
        proc = subprocess.Popen(cmd + (["--resume"] if seen else []), cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 120
            while proc.poll() is None and time.monotonic() < deadline:
                try:
                    with ResultStore(db) as st:
                        if st.count() >= before + 10:
                            break
                except InvalidSpecError:
                    pass
                time.sleep(0.02)
            assert proc.poll() is None, "the sweep finished before it could be killed"
            workers = _children(proc.pid)
            assert len(workers) >= 2  # the pool's worker processes
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
            deadline = time.monotonic() + 20  # orphaned workers exit on their own (executors)
            while any(_alive(w) for w in workers) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert not [w for w in workers if _alive(w)], "pool workers outlived the killed sweep"
        finally:
            if proc.poll() is None:
                proc.kill()
        with ResultStore(db) as st:
            seen.append(st.count())
            kept = st.snapshot()
            assert st.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert seen[0] >= 10 and seen[1] >= seen[0] + 10 and seen[1] < 180
    assert main(["sweep", "--space", str(space), "--db", str(db), "--executor", "local", "--workers", "2",
                 "--quiet", "--resume"]) == 0
    with ResultStore(db) as st:
        resumed = st.snapshot()
    assert all(r in resumed for r in kept)  # nothing committed before the kills was lost or changed
    with ResultStore(tmp_path / "clean.sqlite") as st:
        run_sweep(load_space(space), st, executor="serial", quiet=True)
        clean = st.snapshot()
    assert len(clean) == 180 and resumed == clean
