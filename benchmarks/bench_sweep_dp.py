"""Fully distinct-design sweep with the inner program solved by the ILP vs by `search.mckp`'s
exact one-budget dynamic program (issue 19 item 2), alternated twice in one process.

"ilp" forces `search.ilp.solve(method="ilp")` (what the sweep worker did before); "dp" is the
code as it is (`method="auto"`: one budget -> the dynamic program). Both on
`benchmarks/spaces/distinct.yaml` (300 points, serial), CPU seconds of this process. It also
checks the two give every point the same objective (quality) and the same status.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_sweep_dp.py
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from lowbit.search import ilp
from lowbit.search.codesign import load_space, run_sweep
from lowbit.search.codesign.driver import model_contexts
from lowbit.search.store import ResultStore

SPACE = Path(__file__).resolve().parent / "spaces" / "distinct.yaml"


def main() -> int:
    space = load_space(str(SPACE))
    ctxs = model_contexts(space, None)
    real = ilp.solve

    def forced(*a: Any, **k: Any) -> Any:
        k["method"] = "ilp"
        return real(*a, **k)

    results: dict[str, dict[str, Any]] = {}
    for label, fn in [("ilp", forced), ("dp", real)] * 2:
        ilp.solve = fn  # type: ignore[assignment]
        with tempfile.TemporaryDirectory() as tmp, ResultStore(Path(tmp) / "d.sqlite") as st:
            c0 = time.process_time()
            s = run_sweep(space, st, executor="serial", quiet=True, contexts=ctxs)
            cpu = time.process_time() - c0
            res = st.results(st.done_keys(space.name))
        results[label] = res
        print(f"{label}: {s.evaluated} points ({s.ok} ok, {s.infeasible} infeasible) in {cpu:.2f} CPU s = "
              f"{s.evaluated / cpu:.1f} points per CPU-second; load average {os.getloadavg()[0]:.2f}")
    ilp.solve = real  # type: ignore[assignment]
    a, b = results["ilp"], results["dp"]
    assert a.keys() == b.keys()
    worst = 0.0
    for k in a:
        assert a[k]["status"] == b[k]["status"], k
        if a[k]["status"] == "ok":
            qa, qb = a[k]["quality"], b[k]["quality"]
            worst = max(worst, abs(qa - qb) / max(abs(qa), 1e-300))
    print(f"same status on all {len(a)} points; largest relative objective difference {worst:.2e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
