"""Fully distinct-design sweep, before vs after issue 19 item 2's changes, in one process.

"before" puts back, by monkeypatching, what the sweep did until then: `hwsim.evaluate` searched
a mapping and priced it again with `mapper.price_mapping` (`mapper.tiling.search_priced`
replaced by `search` + no cost), and the codesign worker parsed the base preset's YAML for every
point. "after" is the code as it is. Both on `benchmarks/spaces/distinct.yaml` (300 points,
serial), alternated twice, CPU seconds of this process (the mapper is today's in both).

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_sweep_ab.py
"""

from __future__ import annotations

import importlib
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from lowbit.mapper import tiling
from lowbit.search.codesign import load_space, run_sweep, worker
from lowbit.search.codesign.driver import model_contexts
from lowbit.search.store import ResultStore

SPACE = Path(__file__).resolve().parent / "spaces" / "distinct.yaml"


def _old_search_priced(layer: Any, w: Any, a: Any, accel: Any, *, max_per_dim: int = 10,
                       table: Any = None) -> tuple[Any, None]:
    return tiling.search(layer, w, a, accel, "latency", max_per_dim=max_per_dim, table=table), None


def _old_accel(base: str, params: tuple[tuple[str, Any], ...], caches: Any) -> Any:
    from lowbit.hwsim.spec import load_accelerator

    key = (base, params)
    acc = caches.accels.get(key)
    if acc is None:
        acc = caches.accels.put(key, load_accelerator(base).with_changes(**dict(params)) if params
                                else load_accelerator(base))
    return acc


def main() -> int:
    ev = importlib.import_module("lowbit.hwsim.evaluate")
    space = load_space(str(SPACE))
    ctxs = model_contexts(space, None)
    runs = [("before", _old_search_priced, _old_accel), ("after", tiling.search_priced, worker._accel)] * 2
    for label, sp, acc in runs:
        tiling.search_priced, worker._accel = sp, acc
        ev.clear_cache()
        with tempfile.TemporaryDirectory() as tmp, ResultStore(Path(tmp) / "d.sqlite") as st:
            c0 = time.process_time()
            s = run_sweep(space, st, executor="serial", quiet=True, contexts=ctxs)
            cpu = time.process_time() - c0
        print(f"{label}: {s.evaluated} points ({s.ok} ok) in {cpu:.2f} CPU s = {s.evaluated / cpu:.1f} points "
              f"per CPU-second; load average {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
