"""Whole-process start-up: `lowbit --help`, and `lowbit simulate --scalesim-cfg` against a whole
SCALE-Sim 3.0.0 process on the same one-layer files, for every case of SCALE-Sim's golden set.

    .venv/bin/python benchmarks/bench_startup.py [--reps N] [--json FILE]

Needs benchmarks/.venv-scalesim (see benchmarks/scalesim_golden.py). The 72 cases are the
entries of tests/data/scalesim_golden.json (6 cfgs x {8 conv layers, 4 GEMM layers}). For each,
the cfg file is used unchanged and a one-layer topology CSV is written under
benchmarks/_work/bench_startup/ (a "DP" depthwise channel becomes the 1-channel conv SCALE-Sim
itself runs for it, named without "DP"). Timed, wall clock around `subprocess.run`, whole
processes as a user starts them:

- lowbit: `lowbit simulate --scalesim-cfg CFG --topology CSV [--gemm] --json`, by the `lowbit`
  console script of two installs: this interpreter's venv (the repository's editable install,
  whose setuptools import hook costs every process some 20 ms), and a wheel install as a user
  gets it: `git archive HEAD` built with `pip wheel` and installed with `pip install --no-deps`
  into benchmarks/.venv-wheel (made here; its dependencies are this venv's site-packages,
  reached by a .pth line, so the editable hook is not loaded);
- SCALE-Sim: `python -m scalesim.scale -c CFG -t CSV -l layout_none.csv -p OUT -i conv|gemm -s N`
  with its venv's interpreter (`-s N`: no trace files, its fastest mode).

Each case runs the three processes `--reps` times, interleaved, after one untimed warm-up of
each; the median per case is reported, wall time and (from `getrusage`) CPU time, which the
other work on a shared machine disturbs less. Byte-code caches are on for every process
(PYTHONDONTWRITEBYTECODE is dropped, caches go to benchmarks/_work/pycache). Both tools' cycles are checked against the golden "Total Cycles".
Target: the lowbit process faster than SCALE-Sim's on every case.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
SCALESIM_PY = ROOT / "benchmarks" / ".venv-scalesim" / "bin" / "python"
WORK = ROOT / "benchmarks" / "_work" / "bench_startup"
LAYOUT = DATA / "scalesim" / "layout_none.csv"
LOWBIT = Path(sys.executable).parent / "lowbit"
WHEEL_VENV = ROOT / "benchmarks" / ".venv-wheel"
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
ENV.update(OMP_NUM_THREADS="1", PYTHONPYCACHEPREFIX=str(WORK / "pycache"))

CONV_HEADER = ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
               "Num Filter, Strides,")
GEMM_HEADER = "Layer, M, N, K,"


def _rows(topology: Path) -> dict[str, list[str]]:
    lines = topology.read_text().splitlines()[1:]
    return {ln.split(",")[0].strip(): [f.strip() for f in ln.split(",")[1:] if f.strip()]
            for ln in lines if ln.strip()}


def write_case(i: int, entry: dict) -> tuple[Path, Path, bool, str]:
    """(cfg, one-layer topology, gemm, layer name) of a golden entry."""
    gemm = bool(entry["gemm"])
    rows = _rows(DATA / entry["topology"])
    name = entry["layer"]
    if name in rows:
        fields = rows[name]
    else:  # "DPconv3x3Channel_2": one channel of a depthwise layer, as SCALE-Sim splits it
        base, ch = name.split("Channel_")
        fields = list(rows[base])
        fields[4] = "1"  # Channels
        name = f"{base.replace('DP', 'dw')}_ch{ch}"
    WORK.mkdir(parents=True, exist_ok=True)
    topo = WORK / f"case{i:02d}_{name}.csv"
    topo.write_text(f"{GEMM_HEADER if gemm else CONV_HEADER}\n{name}, {', '.join(fields)},\n")
    return DATA / entry["cfg"], topo, gemm, name


def make_wheel_venv() -> Path:
    """benchmarks/.venv-wheel with lowbit installed from a wheel of HEAD; its `lowbit` script."""
    build = WORK / "wheel"
    shutil.rmtree(build, ignore_errors=True)
    (build / "src").mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "HEAD"], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(build / "src")], input=archive, check=True)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(build), str(build / "src")], check=True)
    [wheel] = build.glob("lowbit-*.whl")
    if not (WHEEL_VENV / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(WHEEL_VENV)], check=True)
    site = next((WHEEL_VENV / "lib").glob("python3*/site-packages"))
    deps = [p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()]
    (site / "lowbit_bench_deps.pth").write_text("\n".join(deps) + "\n")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--upgrade",
                    "--target", str(site), "--compile", str(wheel)], check=True)
    script = WHEEL_VENV / "bin" / "lowbit"
    script.write_text(f"#!{WHEEL_VENV / 'bin' / 'python'}\nimport sys\nfrom lowbit.cli import main\n"
                      "sys.exit(main())\n")
    script.chmod(0o755)
    return script


def _timed(cmd: list[str], **kw: object) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    """(wall s, child CPU s, the process) of one whole process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=ENV, check=True, **kw)  # type: ignore[call-overload]
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), proc


def run_lowbit(lowbit: Path, cfg: Path, topo: Path, gemm: bool) -> tuple[float, float, int]:
    cmd = [str(lowbit), "simulate", "--scalesim-cfg", str(cfg), "--topology", str(topo), "--json"]
    wall, cpu, proc = _timed(cmd + (["--gemm"] if gemm else []))
    [layer] = json.loads(proc.stdout)["layers"]
    return wall, cpu, int(layer["compute_cycles"])


def run_scalesim(cfg: Path, topo: Path, gemm: bool, out: Path) -> tuple[float, float, int]:
    cmd = [str(SCALESIM_PY), "-m", "scalesim.scale", "-c", str(cfg), "-t", str(topo), "-l", str(LAYOUT),
           "-p", str(out), "-i", "gemm" if gemm else "conv", "-s", "N"]
    wall, cpu, _ = _timed(cmd, cwd=WORK)
    [report] = out.glob("*/COMPUTE_REPORT.csv")
    with report.open() as fh:
        [row] = [{k.strip(): v.strip() for k, v in r.items() if k and k.strip()} for r in csv.DictReader(fh)]
    return wall, cpu, int(row["Total Cycles"])


def time_help(lowbit: Path, reps: int) -> list[float]:
    out = [_timed([str(lowbit), "--help"])[0] for _ in range(reps + 1)]
    return out[1:]  # the first run warms the page cache and writes the byte-code caches


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3, help="timed runs per case and tool (default 3)")
    ap.add_argument("--json", type=Path, help="also write the per-case figures here")
    ap.add_argument("--limit", type=int, default=None, help="only the first N cases (a quick check)")
    args = ap.parse_args()
    if not SCALESIM_PY.exists():
        print(f"missing {SCALESIM_PY}: create the SCALE-Sim venv first (see benchmarks/scalesim_golden.py)",
              file=sys.stderr)
        return 2
    if not LOWBIT.exists():
        print(f"missing {LOWBIT}: install lowbit into this venv (pip install -e .)", file=sys.stderr)
        return 2
    print(f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f} at start", flush=True)
    installs = {"editable": LOWBIT, "wheel": make_wheel_venv()}
    helps = {}
    for kind, lowbit in installs.items():
        h = helps[kind] = time_help(lowbit, max(args.reps, 10))
        print(f"lowbit --help ({kind}): median {statistics.median(h) * 1e3:.0f} ms, min {min(h) * 1e3:.0f} ms, "
              f"max {max(h) * 1e3:.0f} ms over {len(h)} runs", flush=True)

    golden = json.loads((DATA / "scalesim_golden.json").read_text())["layers"][:args.limit]
    results = []
    print(f"\n{'#':>2s} {'cfg':10s} {'layer':14s} {'cycles':>6s} {'same':>4s} | wall s: {'SCALE-Sim':>9s} "
          f"{'editable':>8s} {'wheel':>6s} | CPU s: {'SCALE-Sim':>9s} {'editable':>8s} {'wheel':>6s}")
    for i, entry in enumerate(golden):
        cfg, topo, gemm, name = write_case(i, entry)
        out = WORK / f"out{i:02d}"
        for lowbit in installs.values():  # warm-up, untimed
            run_lowbit(lowbit, cfg, topo, gemm)
        run_scalesim(cfg, topo, gemm, out)
        wall: dict[str, list[float]] = {k: [] for k in ("scalesim", *installs)}
        cpu: dict[str, list[float]] = {k: [] for k in wall}
        cycles = set()
        for _ in range(args.reps):
            for kind, lowbit in installs.items():
                w, c, cyc = run_lowbit(lowbit, cfg, topo, gemm)
                wall[kind].append(w)
                cpu[kind].append(c)
                cycles.add(("lowbit", cyc))
            w, c, cyc = run_scalesim(cfg, topo, gemm, out)
            wall["scalesim"].append(w)
            cpu["scalesim"].append(c)
            cycles.add(("scalesim", cyc))
        same = {c for _, c in cycles} == {entry["total_cycles"]}
        r = {"case": i, "cfg": entry["cfg"], "topology": entry["topology"], "layer": entry["layer"],
             "golden_cycles": entry["total_cycles"], "identical": same,
             "wall_s": {k: statistics.median(v) for k, v in wall.items()},
             "cpu_s": {k: statistics.median(v) for k, v in cpu.items()}, "wall_runs_s": wall, "cpu_runs_s": cpu}
        results.append(r)
        ws, cs = r["wall_s"], r["cpu_s"]
        print(f"{i:2d} {Path(entry['cfg']).stem:10s} {name:14s} {entry['total_cycles']:6d} "
              f"{'yes' if same else 'NO':>4s} |         {ws['scalesim']:9.3f} {ws['editable']:8.3f} "
              f"{ws['wheel']:6.3f} |        {cs['scalesim']:9.3f} {cs['editable']:8.3f} {cs['wheel']:6.3f}",
              flush=True)

    ident = sum(r["identical"] for r in results)
    print(f"\ncycles identical to the golden (both tools) on {ident}/{len(results)} cases")
    for what in ("wall_s", "cpu_s"):
        for kind in installs:
            ratios = [r[what]["scalesim"] / r[what][kind] for r in results]
            faster = sum(x > 1.0 for x in ratios)
            print(f"{what[:-2]:4s} {kind:8s}: lowbit faster than SCALE-Sim on {faster}/{len(results)} cases; "
                  f"ratio SCALE-Sim/lowbit median {statistics.median(ratios):.2f}x, worst {min(ratios):.2f}x, "
                  f"best {max(ratios):.2f}x; medians lowbit "
                  f"{statistics.median(r[what][kind] for r in results) * 1e3:.0f} ms, SCALE-Sim "
                  f"{statistics.median(r[what]['scalesim'] for r in results) * 1e3:.0f} ms")
    print(f"load average {os.getloadavg()[0]:.2f} at end")
    if args.json:
        args.json.write_text(json.dumps({"help_s": helps, "cases": results}, indent=1) + "\n")
    return 0 if ident == len(results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
