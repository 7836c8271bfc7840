"""Time `lowbit report` on long allocations (issue 20 item 2: a 10,000-layer report under 30 s).

Each allocation is tests/data/fuzz/report/ok_alloc.json (ResNet-18 on bitmod, hwsim-priced,
with energy components) repeated to N layers, every layer named uniquely. Each N runs the real
CLI in a fresh process (imports included) and reports its wall time, CPU time and peak RSS;
N = 500 is the largest allocation drawn one bar per layer (`--max-layers` default), the others
are drawn in aggregate.

    .venv/bin/python benchmarks/bench_report.py [--layers 500,1000,10000,100000]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OK_ALLOC = ROOT / "tests" / "data" / "fuzz" / "report" / "ok_alloc.json"

_RUN = """
import resource, sys, time
t0, c0 = time.perf_counter(), time.process_time()
from lowbit.cli import main
rc = main(["-q", "report", sys.argv[1], "-o", sys.argv[2]])
ru = resource.getrusage(resource.RUSAGE_SELF)
print(rc, time.perf_counter() - t0, time.process_time() - c0, ru.ru_maxrss / 1024)
"""


def long_alloc(path: Path, n: int) -> int:
    doc = json.loads(OK_ALLOC.read_text())
    base = doc["layers"]
    doc["layers"] = []
    for i in range(n):
        ly = copy.deepcopy(base[i % len(base)])
        ly["name"] = f"b{i // len(base)}.{ly['name']}"
        doc["layers"].append(ly)
    path.write_text(json.dumps(doc))
    return path.stat().st_size


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", default="500,1000,10000,100000")
    args = ap.parse_args()
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("| layers | alloc.json MB | drawn | wall s | CPU s | peak RSS MB | index.html MB |")
    print("|---:|---:|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(x) for x in args.layers.split(",")):
            src, out = Path(tmp) / f"a{n}.json", Path(tmp) / f"r{n}"
            size = long_alloc(src, n)
            r = subprocess.run([sys.executable, "-c", _RUN, str(src), str(out)], capture_output=True,
                               text=True, check=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
            rc, wall, cpu, rss = r.stdout.split()[-4:]
            assert rc == "0", r.stderr
            page = (out / "index.html").stat().st_size
            drawn = "per layer" if n <= 500 else "aggregate"
            print(f"| {n:,} | {size / 1e6:.1f} | {drawn} | {float(wall):.2f} | {float(cpu):.2f} | "
                  f"{float(rss):.0f} | {page / 1e6:.2f} |")
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
