"""lowbit vs SCALE-Sim 3.0.0 on the same layers, same machine, one run.

    .venv/bin/python benchmarks/bench_scalesim.py [--quick | --golden [--ab REV] | --ab REV | --split [--ab REV]] [--reps N]

Needs benchmarks/.venv-scalesim (see benchmarks/scalesim_golden.py). For each layer a
one-layer SCALE-Sim cfg + topology is written under benchmarks/_work/bench_scalesim/;
SCALE-Sim runs in its own interpreter (its venv), timed in-process around
`scalesim.run_scale` (imports excluded, traces off: save_disk_space=True). lowbit is
timed on the same files, two ways: the core model call alone
(`Model.compute`, median of repeated calls) and the whole file path
(`hwsim.scalesim_io.simulate_files`: parse cfg + topology, build the spec, compute).
Prints per-layer cycles (SCALE-Sim "Total Cycles" vs lowbit compute_cycles) and
wall-time ratios. Targets: identical cycles, ratio >= 1000x.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

from lowbit.hwsim.cores.mac_array import Model
from lowbit.hwsim.scalesim_io import core_spec, read_config, read_topology, simulate_files
from lowbit.kernels_ref.formats import Format

SCALESIM_PY = ROOT / "benchmarks" / ".venv-scalesim" / "bin" / "python"
WORK = ROOT / "benchmarks" / "_work" / "bench_scalesim"
CFG_TEMPLATE = (ROOT / "tests" / "data" / "scalesim" / "a32x32_os.cfg").read_text()

# name, kind, row (topology CSV fields after the name), array rows, cols, dataflow
LAYERS = [
    ("resnet18_conv2_3x3", "conv", "58, 58, 3, 3, 64, 64, 1", 32, 32, "os"),
    ("resnet18_conv3_3x3_s2", "conv", "58, 58, 3, 3, 64, 128, 2", 32, 32, "ws"),
    ("resnet18_pw1x1_s2", "conv", "56, 56, 1, 1, 64, 128, 2", 32, 32, "is"),
    ("vgg_conv_16x8", "conv", "30, 30, 3, 3, 32, 48, 1", 16, 8, "ws"),
    ("bert_ffn_gemm", "gemm", "128, 768, 512", 32, 32, "os"),
    ("llama_gemv", "gemm", "1, 4096, 1024", 32, 32, "ws"),
]
QUICK = {"vgg_conv_16x8", "llama_gemv", "resnet18_pw1x1_s2"}

DRIVER = r"""
import contextlib, csv, io, json, sys, time
from scalesim.scale_sim import scalesim
cfg, topo, layout, out, gemm = sys.argv[1:6]
with contextlib.redirect_stdout(io.StringIO()):
    sim = scalesim(save_disk_space=True, verbose=False, config=cfg, topology=topo, layout=layout,
                   input_type_gemm=gemm == "1")
    t0 = time.perf_counter()
    sim.run_scale(top_path=out)
    secs = time.perf_counter() - t0
rep = out + "/" + sim.config.get_run_name() + "/COMPUTE_REPORT.csv"
row = next(csv.DictReader(open(rep)))
row = {k.strip(): v.strip() for k, v in row.items() if k and k.strip()}
print(json.dumps({"seconds": secs, "total_cycles": int(row["Total Cycles"]),
                  "stall_cycles": int(row["Stall Cycles"])}))
"""


def write_inputs(name: str, kind: str, row: str, rows: int, cols: int, df: str) -> tuple[Path, Path]:
    WORK.mkdir(parents=True, exist_ok=True)
    cfg = CFG_TEMPLATE.replace("run_name = a32x32_os", f"run_name = {name}")
    cfg = cfg.replace("ArrayHeight:    32", f"ArrayHeight:    {rows}").replace(
        "ArrayWidth:     32", f"ArrayWidth:     {cols}").replace("Dataflow : os", f"Dataflow : {df}")
    cfg_path = WORK / f"{name}.cfg"
    cfg_path.write_text(cfg)
    header = "Layer, M, N, K," if kind == "gemm" else (
        "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,")
    topo_path = WORK / f"{name}.csv"
    topo_path.write_text(f"{header}\n{name}, {row},\n")
    return cfg_path, topo_path


def time_lowbit(cfg_path: Path, topo_path: Path, gemm: bool) -> tuple[int, float, float]:
    """(compute cycles, seconds per Model.compute call, seconds per simulate_files call)."""
    cfg = read_config(cfg_path)
    layer = read_topology(topo_path, gemm=gemm)[0]
    m, k, n = layer.mnk
    model = Model(core_spec(cfg))
    i8 = Format.parse("int8")
    samples = []
    for _ in range(7):
        reps = 2000
        t0 = time.perf_counter()
        for _ in range(reps):
            cycles = model.compute(m, k, n, i8, i8, cfg.dataflow).cycles
        samples.append((time.perf_counter() - t0) / reps)
    files = []
    for _ in range(7):
        reps = 200
        t0 = time.perf_counter()
        for _ in range(reps):
            res = simulate_files(cfg_path, topo_path, gemm=gemm)
        files.append((time.perf_counter() - t0) / reps)
    assert res[0]["compute_cycles"] == cycles
    return int(cycles), statistics.median(samples), statistics.median(files)


GOLDEN_DRIVER = r"""
import contextlib, csv, io, json, sys, time
from scalesim.scale_sim import scalesim
out = []
for cfg, topo, layout, top, gemm in json.load(open(sys.argv[1])):
    with contextlib.redirect_stdout(io.StringIO()):
        sim = scalesim(save_disk_space=True, verbose=False, config=cfg, topology=topo, layout=layout,
                       input_type_gemm=gemm)
        t0, c0 = time.perf_counter(), time.process_time()
        sim.run_scale(top_path=top)
        secs, cpu = time.perf_counter() - t0, time.process_time() - c0
    rep = top + "/" + sim.config.get_run_name() + "/COMPUTE_REPORT.csv"
    row = next(csv.DictReader(open(rep)))
    row = {k.strip(): v.strip() for k, v in row.items() if k and k.strip()}
    out.append({"seconds": secs, "cpu_s": cpu, "total_cycles": int(row["Total Cycles"])})
print(json.dumps(out))
"""


def golden_files() -> tuple[list[list[object]], list[tuple[Path, Path, dict[str, object]]]]:
    """Every layer of the 72-case golden set (tests/data/scalesim_golden.json) written as its own
    one-layer cfg + topology: (SCALE-Sim jobs, (cfg, topology, golden row) per layer). A depthwise
    channel layer is written as the 1-channel conv row SCALE-Sim splits it into."""
    gold = json.loads((ROOT / "tests" / "data" / "scalesim_golden.json").read_text())["layers"]
    data = ROOT / "tests" / "data"
    work = WORK / "golden"
    work.mkdir(parents=True, exist_ok=True)
    layout = str(data / "scalesim" / "layout_none.csv")
    jobs, files = [], []
    for i, g in enumerate(gold):
        lines = (data / g["topology"]).read_text().splitlines()
        name = g["layer"]
        base = name.split("Channel_")[0]
        row = next(ln for ln in lines[1:] if ln.split(",")[0].strip() == base)
        if "Channel_" in name:  # SCALE-Sim's split of a 'DP' row: one 1-channel conv per channel
            f = [x.strip() for x in row.split(",")]
            row = ", ".join([f"dw{i}", *f[1:5], "1", *f[6:8]]) + ","
        cfg_text = (data / g["cfg"]).read_text().replace(
            "run_name = ", f"run_name = g{i}_", 1)
        cfg_path, topo_path = work / f"g{i}.cfg", work / f"g{i}.csv"
        cfg_path.write_text(cfg_text)
        topo_path.write_text(lines[0] + "\n" + row + "\n")
        jobs.append([str(cfg_path), str(topo_path), layout, str(work / f"out{i}"), g["gemm"]])
        files.append((cfg_path, topo_path, g))
    return jobs, files


def _cpu_per_call(fn: Any, cfg_path: Path, topo_path: Path, gemm: bool, reps: int) -> float:
    c0 = time.process_time()
    for _ in range(reps):
        fn(cfg_path, topo_path, gemm=gemm)
    return (time.process_time() - c0) / reps


def golden(reps: int, old_rev: str | None = None) -> int:
    """The golden set's one-layer files (`golden_files`): SCALE-Sim runs them all in one process
    (CPU time around each `run_scale`), lowbit's `simulate_files` parses and simulates each (CPU
    time, median of 5 batches of `reps` calls). With `old_rev`, `simulate_files` at that revision
    (`load_old`) is timed too, its batches alternating with today's, and both ratios printed."""
    old = load_old(old_rev) if old_rev else None
    jobs, files = golden_files()
    work = WORK / "golden"
    (work / "jobs.json").write_text(json.dumps(jobs))
    proc = subprocess.run([str(SCALESIM_PY), "-c", GOLDEN_DRIVER, str(work / "jobs.json")],
                          capture_output=True, text=True, check=True)
    ss = json.loads(proc.stdout.strip().splitlines()[-1])
    ratios, times, same = [], [], 0
    old_ratios, old_times = [], []
    extra = f" {old_rev} CPU us | {old_rev} ratio |" if old else ""
    print(f"| # | cfg | layer | cycles (SCALE-Sim = lowbit) | SCALE-Sim CPU s |{extra} lowbit files CPU us | ratio |")
    print("|---:|---|---|---:|---:|" + ("---:|---:|" if old else "") + "---:|---:|")
    for i, ((cfg_path, topo_path, g), s) in enumerate(zip(files, ss, strict=True)):
        res = simulate_files(cfg_path, topo_path, gemm=g["gemm"])
        assert len(res) == 1
        ok = res[0]["compute_cycles"] == s["total_cycles"] == g["total_cycles"]
        if old is not None:
            ok = ok and old.simulate_files(cfg_path, topo_path, gemm=g["gemm"]) == res
        same += ok
        batches, old_batches = [], []
        for rnd in range(5):
            if old is not None and rnd % 2 == 0:
                old_batches.append(_cpu_per_call(old.simulate_files, cfg_path, topo_path, g["gemm"], reps))
            batches.append(_cpu_per_call(simulate_files, cfg_path, topo_path, g["gemm"], reps))
            if old is not None and rnd % 2 == 1:
                old_batches.append(_cpu_per_call(old.simulate_files, cfg_path, topo_path, g["gemm"], reps))
        t = statistics.median(batches)
        times.append(t)
        ratios.append(s["cpu_s"] / t)
        cols = ""
        if old is not None:
            to = statistics.median(old_batches)
            old_times.append(to)
            old_ratios.append(s["cpu_s"] / to)
            cols = f" {to * 1e6:.1f} | {old_ratios[-1]:.0f}x |"
        print(f"| {i} | {Path(g['cfg']).stem} | {g['layer']} | {s['total_cycles']}{'' if ok else ' (DIFFERS)'} | "
              f"{s['cpu_s']:.4f} |{cols} {t * 1e6:.1f} | {ratios[-1]:.0f}x |", flush=True)
    print(f"\ncycles identical on {same}/{len(files)}" + (f" (and {old_rev}'s results equal today's)" if old else ""))
    for label, rs, ts in ([(old_rev, old_ratios, old_times)] if old else []) + [("lowbit", ratios, times)]:
        below = sum(r < 1000 for r in rs)
        print(f"{label}: ratio SCALE-Sim CPU / lowbit CPU: median {statistics.median(rs):.0f}x, min {min(rs):.0f}x; "
              f">= 1000x on {len(rs) - below}, below 1000x on {below} of {len(rs)} layers (target >= 1000x on "
              f"every layer); lowbit per call CPU median {statistics.median(ts) * 1e6:.1f} us (min "
              f"{min(ts) * 1e6:.1f}, max {max(ts) * 1e6:.1f})")
    print(f"load average {os.getloadavg()[0]:.2f}")
    return 0 if same == len(files) else 1


def load_old(rev: str) -> Any:
    """`hwsim.scalesim_io` as it was at `rev`, with its `scalesim_quick` / `scalesim_ini`, as the
    package `_scalesim_ab_old` (a temporary folder on sys.path; everything else is today's)."""
    tmp = Path(tempfile.mkdtemp(prefix="bench_scalesim_ab_"))
    pkg = tmp / "_scalesim_ab_old"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    for mod in ("scalesim_io", "scalesim_quick", "scalesim_ini"):
        src = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:hwsim/{mod}.py"], capture_output=True,
                             text=True, check=True).stdout
        for dep in ("scalesim_quick", "scalesim_ini"):
            src = src.replace(f"lowbit.hwsim.{dep}", f"_scalesim_ab_old.{dep}")
        (pkg / f"{mod}.py").write_text(src)
    sys.path.insert(0, str(tmp))
    return importlib.import_module("_scalesim_ab_old.scalesim_io")


def ab(rev: str, reps: int) -> int:
    """simulate_files at `rev` vs now on the 72 golden one-layer files, CPU time, in one process:
    per layer 5 rounds of (`reps` old calls, `reps` new calls), the order alternating per round;
    the median of each side. Results must be equal."""
    old = load_old(rev)
    _, files = golden_files()
    rows, same = [], 0
    print(f"| # | layer | {rev} CPU us | now CPU us | speed-up |")
    print("|---:|---|---:|---:|---:|")
    for i, (cfg_path, topo_path, g) in enumerate(files):
        same += old.simulate_files(cfg_path, topo_path, gemm=g["gemm"]) == simulate_files(
            cfg_path, topo_path, gemm=g["gemm"])
        t: dict[str, list[float]] = {"old": [], "new": []}
        for rnd in range(5):
            for side in (("old", "new") if rnd % 2 == 0 else ("new", "old")):
                fn = old.simulate_files if side == "old" else simulate_files
                c0 = time.process_time()
                for _ in range(reps):
                    fn(cfg_path, topo_path, gemm=g["gemm"])
                t[side].append((time.process_time() - c0) / reps)
        to, tn = statistics.median(t["old"]), statistics.median(t["new"])
        rows.append((to, tn))
        print(f"| {i} | {g['layer']} | {to * 1e6:.1f} | {tn * 1e6:.1f} | {to / tn:.2f}x |", flush=True)
    olds, news = [r[0] for r in rows], [r[1] for r in rows]
    print(f"\nresults equal on {same}/{len(files)}; per call CPU: {rev} median {statistics.median(olds) * 1e6:.1f} us "
          f"(min {min(olds) * 1e6:.1f}, max {max(olds) * 1e6:.1f}), now median {statistics.median(news) * 1e6:.1f} us "
          f"(min {min(news) * 1e6:.1f}, max {max(news) * 1e6:.1f}); speed-up median "
          f"{statistics.median(o / n for o, n in rows):.2f}x; load average {os.getloadavg()[0]:.2f}")
    return 0 if same == len(files) else 1


def split(reps: int, old_rev: str | None = None, layer: int = 17) -> int:
    """Where one `simulate_files` call's CPU time goes, on golden layer `layer` (default 17: a
    16x8 ws depthwise channel, one of the smallest SCALE-Sim layers): each piece timed alone,
    median of 7 batches of `reps`; 'build' is read_config minus its three pieces (the
    ScaleSimConfig and its path), 'price' is simulate_files minus read_config and the topology
    read and rows (ScaleSimLayers where built, the fold formula, the result dicts). Each piece's
    figure is its fastest of 7 batches (the batches of all pieces interleaved), since a shared
    machine only ever adds time to a batch."""
    _, files = golden_files()
    cfg_path, topo_path, g = files[layer]
    mods = [("now", importlib.import_module("lowbit.hwsim.scalesim_io"))]
    if old_rev:
        mods.insert(0, (old_rev, load_old(old_rev)))
    print(f"golden layer {layer} ({g['cfg']}, {g['layer']}); CPU us per call, fastest of 7 x {reps}")
    for label, io in mods:
        q = sys.modules[io.__name__.rsplit(".", 1)[0] + ".scalesim_quick"]
        text, ttext = q.read_small_text(cfg_path, "cfg"), q.read_small_text(topo_path, "topology")
        sec = q.plain_sections(text)
        pieces = (("read cfg", q.read_small_text, (cfg_path, "cfg")),
                  ("cfg lines", q.plain_sections, (text,)),
                  ("cfg keys/checks", q.config_fields, (sec,)),
                  ("read_config", io.read_config, (cfg_path,)),
                  ("read topology", q.read_small_text, (topo_path, "topology")),
                  ("topology rows", q.topology_rows, (ttext, g["gemm"])),
                  ("simulate_files", io.simulate_files, (cfg_path, topo_path, g["gemm"])))
        batches: dict[str, list[float]] = {name: [] for name, _, _ in pieces}
        for _ in range(7):  # rounds over all pieces, so that a change of load hits them alike
            for name, fn, args in pieces:
                c0 = time.process_time()
                for _ in range(reps):
                    fn(*args)
                batches[name].append((time.process_time() - c0) / reps * 1e6)
        t = {name: min(b) for name, b in batches.items()}  # the least disturbed batch
        t["build"] = t["read_config"] - t["read cfg"] - t["cfg lines"] - t["cfg keys/checks"]
        t["price"] = t["simulate_files"] - t["read_config"] - t["read topology"] - t["topology rows"]
        print(f"{label}: " + ", ".join(f"{k} {t[k]:.1f}" for k in (
            "read cfg", "cfg lines", "cfg keys/checks", "build", "read topology", "topology rows", "price",
            "simulate_files")))
    print(f"load average {os.getloadavg()[0]:.2f}")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="only the three smallest layers")
    ap.add_argument("--golden", action="store_true",
                    help="every layer of the 72-case golden set, one-layer files each (issue 19 item 5)")
    ap.add_argument("--reps", type=int, default=200, help="--golden: lowbit calls per timing batch")
    ap.add_argument("--json", type=Path, help="also write the per-layer figures here")
    ap.add_argument("--ab", metavar="REV",
                    help="lowbit's simulate_files at git revision REV (hwsim/scalesim_io, _quick, _ini "
                         "loaded from git) vs the working tree, alternated in one process, on the golden "
                         "one-layer files; alone: no SCALE-Sim run; with --golden: both ratios to SCALE-Sim")
    ap.add_argument("--split", action="store_true",
                    help="no SCALE-Sim: one simulate_files call's CPU time piece by piece (with --ab: also REV's)")
    args = ap.parse_args()
    if args.split:
        return split(args.reps * 10, args.ab)
    if args.ab and not args.golden:
        return ab(args.ab, args.reps)
    if not SCALESIM_PY.exists():
        print(f"missing {SCALESIM_PY}: create the SCALE-Sim venv first (see benchmarks/scalesim_golden.py)",
              file=sys.stderr)
        return 2
    if args.golden:
        return golden(args.reps, args.ab)
    layout = ROOT / "tests" / "data" / "scalesim" / "layout_none.csv"
    results = []
    print(f"{'layer':24s} {'array':>6s} {'df':>3s} {'scalesim cyc':>12s} {'lowbit cyc':>11s} {'same':>5s} "
          f"{'scalesim s':>10s} {'compute us':>10s} {'ratio':>10s} {'files us':>9s} {'ratio':>9s}")
    for name, kind, row, r, c, df in LAYERS:
        if args.quick and name not in QUICK:
            continue
        cfg_path, topo_path = write_inputs(name, kind, row, r, c, df)
        proc = subprocess.run([str(SCALESIM_PY), "-c", DRIVER, str(cfg_path), str(topo_path), str(layout),
                               str(WORK / f"out_{name}"), "1" if kind == "gemm" else "0"],
                              capture_output=True, text=True, check=True)
        ss = json.loads(proc.stdout.strip().splitlines()[-1])
        cycles, t_compute, t_files = time_lowbit(cfg_path, topo_path, kind == "gemm")
        res = {"layer": name, "array": f"{r}x{c}", "dataflow": df, "scalesim_cycles": ss["total_cycles"],
               "scalesim_stall_cycles": ss["stall_cycles"], "lowbit_cycles": cycles,
               "identical": cycles == ss["total_cycles"], "scalesim_s": ss["seconds"],
               "lowbit_compute_s": t_compute, "lowbit_files_s": t_files,
               "ratio_compute": ss["seconds"] / t_compute, "ratio_files": ss["seconds"] / t_files}
        results.append(res)
        print(f"{name:24s} {res['array']:>6s} {df:>3s} {ss['total_cycles']:12d} {cycles:11d} "
              f"{'yes' if res['identical'] else 'NO':>5s} {ss['seconds']:10.2f} {t_compute * 1e6:10.1f} "
              f"{res['ratio_compute']:9.0f}x {t_files * 1e6:9.1f} {res['ratio_files']:8.0f}x", flush=True)
    ident = sum(r["identical"] for r in results)
    print(f"\ncycles identical on {ident}/{len(results)} layers; wall-time ratio (SCALE-Sim / lowbit): "
          f"Model.compute min {min(r['ratio_compute'] for r in results):.0f}x, "
          f"simulate_files min {min(r['ratio_files'] for r in results):.0f}x")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    return 0 if ident == len(results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
