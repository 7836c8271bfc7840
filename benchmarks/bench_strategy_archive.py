"""The evolutionary strategy's own cost per generation (issue 19 item 6): designs that can no
longer be parents pruned from the ranking (`strategies._Archive`, the default) against ranking
every design seen (`prune=False`, the reference), in one process, on a long sweep's real results.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_strategy_archive.py STORE [--every 20]

STORE is a result store of `benchmarks/spaces/scale100k.yaml` (`bench_sweep_scale.py
--keep-store STORE`). Both runs replay it through `run_sweep` (serial executor): every point
they ask for is already in the store, so nothing is evaluated and what is timed is the strategy
plus the store lookups, which are the same for both. Each run stops when it has asked for every
design the store holds; both must ask for the same designs in the same order. Prints CPU
milliseconds per generation, over windows of `--every` generations, by designs seen, and the
archive size of the pruned run.
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import tempfile
import time
from pathlib import Path

from lowbit.search.codesign import load_space, run_sweep
from lowbit.search.codesign import strategies as S
from lowbit.search.store import ResultStore

SPACE = Path(__file__).resolve().parent / "spaces" / "scale100k.yaml"


class _Done(Exception):
    pass


def replay(store: Path, prune: bool, designs: int) -> tuple[list[tuple[float, int, str]], list[str]]:
    """(cpu seconds, designs seen, message) per generation, and the keys asked for in order."""
    space = load_space(SPACE)
    marks: list[tuple[float, int, str]] = []
    asked: list[str] = []
    orig = S._evolve
    S._evolve = functools.partial(orig, prune=prune)  # type: ignore[assignment]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "replay.sqlite"
            shutil.copyfile(store, path)
            with ResultStore(path) as st:
                real = st.results

                def results(keys: list[str]) -> dict:  # type: ignore[type-arg]
                    asked.extend(keys)
                    return real(keys)

                st.results = results  # type: ignore[method-assign]

                def progress(msg: str) -> None:
                    seen = int(msg.split(": ")[1].split()[0])
                    marks.append((time.process_time(), seen, msg))
                    if seen >= designs:
                        raise _Done

                try:
                    run_sweep(space, st, executor="serial", quiet=True, progress=progress)
                except _Done:
                    pass
                n = st.count()
            if n != designs * len(space.models):
                raise SystemExit(f"the replay evaluated new points ({n} rows, store had "
                                 f"{designs * len(space.models)}): STORE is not a scale100k store")
    finally:
        S._evolve = orig  # type: ignore[assignment]
    return marks, asked


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("store", type=Path)
    ap.add_argument("--every", type=int, default=20, help="generations per printed window")
    args = ap.parse_args()
    space = load_space(SPACE)
    with ResultStore(args.store) as st:
        designs = st.count() // len(space.models)
    print(f"store {args.store}: {designs} designs; load average {os.getloadavg()[0]:.2f}")
    c0 = time.process_time()
    new, asked_new = replay(args.store, True, designs)
    c1 = time.process_time()
    ref, asked_ref = replay(args.store, False, designs)
    c2 = time.process_time()
    same = asked_new == asked_ref
    print(f"pruned: {len(new)} generations, {c1 - c0:.1f} CPU s; every design ranked: {len(ref)} "
          f"generations, {c2 - c1:.1f} CPU s; same designs asked in the same order: {same}")
    print("| generations | designs seen | CPU ms/generation, every design ranked | pruned | "
          "pruned archive (can be parents) |")
    print("|---|---:|---:|---:|---:|")
    for a in range(1, min(len(new), len(ref)), args.every):
        b = min(a + args.every, len(new) - 1, len(ref) - 1)
        if b <= a:
            break
        r = (ref[b][0] - ref[a][0]) / (b - a) * 1e3
        p = (new[b][0] - new[a][0]) / (b - a) * 1e3
        kept = new[b][2].split(", ")[1].split()[0]
        print(f"| {a}-{b} | {new[b][1]} | {r:.1f} | {p:.1f} | {kept} |")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
