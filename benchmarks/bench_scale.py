"""Scale (issue 19 item 6, issue 20 item 2): 100,000-layer costs files through `lowbit allocate`,
10,000-layer workloads through `hwsim.evaluate_workload`. CPU seconds and peak memory.

    .venv/bin/python benchmarks/bench_scale.py [--layers 100000] [--wl-layers 10000]
        [--presets tpu-like,bitmod] [--skip-allocate] [--skip-workload]

[1] Costs files (seeded, written to a temporary directory), each solved by `lowbit allocate
    --costs FILE --method ilp|greedy -o alloc.json` in a child process; CPU = user + sys of
    that child (HiGHS runs in process), peak RSS from `os.wait4`:
    - ``random``: 2 choices (int4, int8) per layer, size = params x bits / 8 MiB, latency ~
      params x (1, 1.6) x U(0.8, 1.2), sensitivity ~ lognormal x params x 4^-bits; budgets
      size 0.7x, latency 0.8x (the shape of the fuzz campaign's c_100k.json);
    - ``tiled-hawq``: HAWQ-V3's 19 ResNet-18 layers (tests/data/fuzz/costs/ok_hawq.json)
      repeated to the layer count (size, bops, latency; budgets size 0.7x, latency 0.8x):
      thousands of identical groups, the degenerate case.
    The solve alone (`search.ilp.solve` / `search.baselines.greedy` on the loaded table) is
    timed in process too.
[2] Workloads of `--wl-layers` layers, in a child process each; CPU = `time.process_time` of
    the call, peak memory = peak RSS of the child minus its RSS before the call, and
    tracemalloc's peak over the call in a second run:
    - ``llama-tiled``: LLaMA-2-7B prefill (seq 512) layers repeated and renamed to the count
      (repeated shapes: the mapping cache is hit);
    - ``distinct``: seeded LINEAR layers of distinct shapes (tokens 1..4096, features
      64..8192): every layer a cold mapping search.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
HAWQ = ROOT / "tests" / "data" / "fuzz" / "costs" / "ok_hawq.json"


def random_costs(L: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    params = rng.integers(10_000, 5_000_000, L).astype(float)
    bits = np.array([4, 8])
    sens = (rng.lognormal(0, 1, L) * params * 1e-6)[:, None] * np.exp2(-2.0 * bits)[None, :]
    size = params[:, None] * bits[None, :] / 8 / 2**20
    lat = (params * 1e-6)[:, None] * np.array([1.0, 1.6])[None, :] * rng.uniform(0.8, 1.2, (L, 2))
    return {"layers": [f"layer{i}" for i in range(L)], "choices": ["int4", "int8"],
            "sensitivity": sens.round(9).tolist(),
            "costs": {"size": size.round(6).tolist(), "latency": lat.round(6).tolist()},
            "budgets": {"size": "0.7x", "latency": "0.8x"}}


def tiled_hawq(L: int) -> dict:
    d = json.loads(HAWQ.read_text())
    n = len(d["layers"])
    rep = -(-L // n)
    return {"layers": [f"r{r}.{x}" for r in range(rep) for x in d["layers"]][:L], "choices": d["choices"],
            "sensitivity": (d["sensitivity"] * rep)[:L],
            "costs": {k: (v * rep)[:L] for k, v in d["costs"].items()},
            "budgets": {"size": "0.7x", "latency": "0.8x"}}


def _cli(args: list[str]) -> dict:
    """`lowbit ARGS` in a child, timed with wait4 (Popen's own wait would reap it first)."""
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # the child: quiet stderr, then become `python -m lowbit ...`
        os.environ["HF_HUB_OFFLINE"] = "1"
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.execv(sys.executable, [sys.executable, "-m", "lowbit", *args])
    _, status, ru = os.wait4(pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"lowbit {' '.join(args)} exited {os.waitstatus_to_exitcode(status)}")
    return {"wall_s": wall, "cpu_s": ru.ru_utime + ru.ru_stime, "peak_rss_mb": ru.ru_maxrss / 1024}


def _solve_only(path: str, method: str) -> dict:
    code = ("import json,sys,time\n"
            "from lowbit.search.costs import CostTable\n"
            "from lowbit.search import baselines\n"
            "from lowbit.search.ilp import solve\n"
            "t=time.process_time(); tab=CostTable.from_json(sys.argv[1]); t1=time.process_time()\n"
            "a=solve(tab) if sys.argv[2]=='ilp' else baselines.greedy(tab); t2=time.process_time()\n"
            "print(json.dumps({'load_cpu_s':t1-t,'solve_cpu_s':t2-t1,'status':a.status,"
            "'objective':a.objective}))\n")
    r = subprocess.run([sys.executable, "-c", code, path, method], capture_output=True, text=True,
                       cwd=ROOT, check=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


def bench_allocate(L: int) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind, make in (("random", lambda: random_costs(L)), ("tiled-hawq", lambda: tiled_hawq(L))):
            path = Path(tmp) / f"{kind}.json"
            path.write_text(json.dumps(make()))
            for method in ("ilp", "greedy"):
                out = Path(tmp) / "alloc.json"
                cli = _cli(["allocate", "--costs", str(path), "--method", method, "-o", str(out)])
                doc = json.loads(out.read_text())
                inner = _solve_only(str(path), method)
                row = {"file": kind, "layers": L, "bytes": path.stat().st_size, "method": method,
                       "status": doc["status"], "objective": doc["objective"], **cli, **inner}
                rows.append(row)
                print(f"[1] {kind} {L} layers ({path.stat().st_size / 1e6:.1f} MB) --method {method}: "
                      f"status {row['status']}, objective {row['objective']:.6f}; CLI {cli['cpu_s']:.2f} s CPU "
                      f"({cli['wall_s']:.2f} s wall), peak RSS {cli['peak_rss_mb']:.0f} MB; in process: load "
                      f"{inner['load_cpu_s']:.2f} s, solve {inner['solve_cpu_s']:.2f} s CPU", flush=True)
    return rows


_WL_CODE = r"""
import json, resource, sys, time, tracemalloc
import numpy as np
from lowbit import hwsim
from lowbit.hwsim.spec import load_accelerator
from lowbit.models import zoo
from lowbit.models.ir import Layer, Workload
kind, n, preset, trace = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4] == "1"
if kind == "llama-tiled":
    base = zoo.get("llama-2-7b", phase="prefill", seq_len=512)
    lays = list(base.layers)
    reps = -(-n // len(lays))
    from dataclasses import replace
    layers = [replace(l, name=f"r{r}.{l.name}", tied_to=None if l.tied_to is None else f"r{r}.{l.tied_to}")
              for r in range(reps) for l in lays][:n]
    wl = Workload(name="llama-tiled", phase=base.phase, layers=tuple(layers))
else:
    rng = np.random.default_rng(0)
    seen, layers = set(), []
    while len(layers) < n:
        t, k, o = int(rng.integers(1, 4097)), int(rng.integers(64, 8193)), int(rng.integers(64, 8193))
        if (t, k, o) in seen:
            continue
        seen.add((t, k, o))
        layers.append(Layer.linear(f"l{len(layers)}", t, k, o))
    wl = Workload(name="distinct", phase=zoo.get("llama-2-7b", phase="prefill", seq_len=8).phase,
                  layers=tuple(layers))
accel = load_accelerator(preset)
hwsim.evaluate(Layer.linear("warm", 8, 64, 64), "int8", accel)  # imports and first-call set-up
rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
if trace:
    tracemalloc.start()
t = time.process_time(); w0 = time.perf_counter()
wc = hwsim.evaluate_workload(wl, "int8", accel)
cpu, wall = time.process_time() - t, time.perf_counter() - w0
peak_tm = tracemalloc.get_traced_memory()[1] if trace else None
rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"layers": len(wl.layers), "cpu_s": cpu, "wall_s": wall, "rss_before_mb": rss0 / 1024,
                  "peak_rss_mb": rss1 / 1024, "tracemalloc_peak_mb": None if peak_tm is None else peak_tm / 2**20,
                  "cycles": float(wc.total_cycles)}))
"""


def bench_workload(n: int, presets: list[str]) -> list[dict]:
    rows = []
    for kind in ("llama-tiled", "distinct"):
        for preset in presets:
            r = {}
            for trace in ("0", "1"):
                p = subprocess.run([sys.executable, "-c", _WL_CODE, kind, str(n), preset, trace],
                                   check=False, capture_output=True, text=True, cwd=ROOT,
                                   env={**os.environ, "HF_HUB_OFFLINE": "1"})
                if p.returncode != 0:
                    raise SystemExit(f"workload {kind} on {preset} failed: {p.stderr[-2000:]}")
                got = json.loads(p.stdout.strip().splitlines()[-1])
                if trace == "0":
                    r = got
                else:
                    r["tracemalloc_peak_mb"] = got["tracemalloc_peak_mb"]
                    r["cpu_s_traced"] = got["cpu_s"]
            r.update(kind=kind, preset=preset)
            rows.append(r)
            print(f"[2] {kind} {r['layers']} layers on {preset}: evaluate_workload {r['cpu_s']:.2f} s CPU "
                  f"({r['wall_s']:.2f} s wall, {1e6 * r['cpu_s'] / r['layers']:.0f} us per layer); peak RSS "
                  f"{r['peak_rss_mb']:.0f} MB (+{r['peak_rss_mb'] - r['rss_before_mb']:.0f} MB over the call), "
                  f"tracemalloc peak {r['tracemalloc_peak_mb']:.0f} MB", flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", type=int, default=100_000, help="layers in the costs files")
    ap.add_argument("--wl-layers", type=int, default=10_000, help="layers in the workloads")
    ap.add_argument("--presets", default="tpu-like,bitmod")
    ap.add_argument("--skip-allocate", action="store_true")
    ap.add_argument("--skip-workload", action="store_true")
    args = ap.parse_args()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    if not args.skip_allocate:
        bench_allocate(args.layers)
    if not args.skip_workload:
        bench_workload(args.wl_layers, [s for s in args.presets.split(",") if s])
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
