"""SCALE-Sim's memory mode: lowbit (hwsim.scalesim_reports.run_files) vs scalesim 3.0.0, one run.

    .venv/bin/python benchmarks/bench_scalesim_stall.py [--quick] [--ab REV] [--warm-s S] [--calls N]

Needs benchmarks/.venv-scalesim (see benchmarks/scalesim_golden.py). For each golden cfg x
topology of tests/data/scalesim_stall/, SCALE-Sim runs in its own interpreter, timed in-process
around `run_scale` (traces off; wall and CPU time), and lowbit runs in this one (median of 5
calls after one untimed call, reading the files included; wall and CPU time; `--warm-s S
--calls N`: untimed calls for S seconds first, median of N). Prints total cycles of both (must be
equal) and the ratios per cfg x topology. Target: >= 1000x.

`--ab REV` also times the SCALE-Sim mode of git revision REV (its scalesim_streams/_fast/_read/
_rows/_jit*/_mem loaded from git beside the current ones; a module REV lacks is not loaded) against
the current one on every layer, in this process, alternated, best of 5 CPU times each, and checks
both give the same report rows. REV's numba kernels compile in a temporary folder first (not timed).
"""

from __future__ import annotations

import argparse
import importlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

from lowbit.hwsim.scalesim_io import read_config, read_topology
from lowbit.hwsim.scalesim_mem import simulate_layer
from lowbit.hwsim.scalesim_reports import run_files

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "scalesim_stall"
SCALESIM_PY = ROOT / "benchmarks" / ".venv-scalesim" / "bin" / "python"
WORK = ROOT / "benchmarks" / "_work" / "bench_scalesim_stall"
DRIVER = r"""
import contextlib, csv, io, json, sys, time
from scalesim.scale_sim import scalesim
cfg, topo, layout, out, gemm = sys.argv[1:6]
with contextlib.redirect_stdout(io.StringIO()):
    sim = scalesim(save_disk_space=True, verbose=False, config=cfg, topology=topo, layout=layout,
                   input_type_gemm=gemm == "1")
    t0, c0 = time.perf_counter(), time.process_time()
    sim.run_scale(top_path=out)
    secs, cpu = time.perf_counter() - t0, time.process_time() - c0
rows = list(csv.reader(open(out + "/" + sim.config.get_run_name() + "/COMPUTE_REPORT.csv")))[1:]
print(json.dumps({"seconds": secs, "cpu": cpu, "total_cycles": [int(r[2]) for r in rows]}))
"""
MODULES = ("scalesim_streams", "scalesim_fast", "scalesim_read", "scalesim_rows", "scalesim_jit_base",
           "scalesim_jit_user", "scalesim_jit_rows", "scalesim_jit", "scalesim_mem")


def _cases(quick: bool) -> list[tuple[Path, str, bool]]:
    out = []
    for cfg in sorted(DATA.glob("*.cfg")):
        for topo, gemm in (("conv_layers.csv", False), ("gemm_layers.csv", True)):
            if quick and (gemm or cfg.stem not in {"u8x16_os", "u16x8_ws", "u12x20_is", "c16x16_os"}):
                continue
            out.append((cfg, topo, gemm))
    return out


def _old_modules(rev: str, tmp: Path) -> ModuleType:
    """scalesim_mem of git revision `rev`, importing its own scalesim_* siblings."""
    pkg = tmp / "_ab_old"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    for name in MODULES:
        got = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:hwsim/{name}.py"],
                             check=False, capture_output=True, text=True)
        if got.returncode == 0:
            text = got.stdout
            for other in MODULES:
                text = text.replace(f"lowbit.hwsim.{other}", f"_ab_old.{other}")
                text = text.replace(f"from lowbit.hwsim import {other}", f"from _ab_old import {other}")
            (pkg / f"{name}.py").write_text(text)
    sys.path.insert(0, str(tmp))
    return importlib.import_module("_ab_old.scalesim_mem")


def _rows(rep: object) -> list[object]:
    return rep.compute_row() + rep.bandwidth_row() + rep.detail_row()  # type: ignore[attr-defined]


def ab(rev: str, quick: bool) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        old = _old_modules(rev, Path(tmp))
        print(f"\nA/B in one process, CPU ms per layer (best of 5, alternated): {rev[:10]} vs working tree")
        print(f"{'cfg':12s} {'layer':11s} {'old ms':>8s} {'new ms':>8s} {'speed-up':>8s} same")
        tot_old = tot_new = 0.0
        same_all = True
        for cfg_path, topo, gemm in _cases(quick):
            cfg = read_config(cfg_path)
            for layer in read_topology(DATA / topo, gemm=gemm):
                to, tn = [], []
                for _ in range(5):
                    c0 = time.process_time()
                    ro = old.simulate_layer(layer, cfg)
                    c1 = time.process_time()
                    rn = simulate_layer(layer, cfg)
                    c2 = time.process_time()
                    to.append(c1 - c0)
                    tn.append(c2 - c1)
                same = _rows(ro) == _rows(rn)
                same_all &= same
                tot_old += min(to)
                tot_new += min(tn)
                print(f"{cfg_path.stem:12s} {layer.name:11s} {min(to) * 1e3:8.2f} {min(tn) * 1e3:8.2f} "
                      f"{min(to) / min(tn):7.1f}x {'yes' if same else 'NO'}", flush=True)
        print(f"all layers: {tot_old * 1e3:.1f} ms -> {tot_new * 1e3:.1f} ms ({tot_old / tot_new:.1f}x); "
              f"same reports: {same_all}")
    return 0 if same_all else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="conv topology of four cfgs only")
    ap.add_argument("--ab", metavar="REV", help="also A/B the stall mode of git revision REV")
    ap.add_argument("--warm-s", type=float, default=0.0,
                    help="untimed calls for this many seconds before lowbit's timed ones (default 0: one call)")
    ap.add_argument("--calls", type=int, default=5, help="timed lowbit calls, median taken (default 5)")
    args = ap.parse_args()
    if not SCALESIM_PY.exists():
        print(f"missing {SCALESIM_PY}", file=sys.stderr)
        return 2
    wall, cpu, same = [], [], True
    print(f"{'cfg':12s} {'topology':16s} {'layers':>6s} {'SS wall s':>9s} {'SS cpu s':>8s} {'ours wall ms':>12s} "
          f"{'ours cpu ms':>11s} {'ratio wall':>10s} {'ratio cpu':>9s} same")
    for cfg, topo, gemm in _cases(args.quick):
        WORK.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run([str(SCALESIM_PY), "-c", DRIVER, str(cfg), str(DATA / topo),
                               str(DATA / "layout_none.csv"), str(WORK / f"{cfg.stem}_{topo}"),
                               "1" if gemm else "0"], capture_output=True, text=True, check=True)
        ss = json.loads(proc.stdout.strip().splitlines()[-1])
        tw, tc = [], []
        # untimed: numba's import and cache load (first case), then --warm-s seconds of calls (a
        # sub-millisecond call straight after SCALE-Sim's process or an idle spell runs up to
        # 1.7x slower on this shared VM; SCALE-Sim's own run lasts 0.3-3 s)
        w0 = time.perf_counter()
        run_files(cfg, DATA / topo, gemm=gemm)
        while time.perf_counter() - w0 < args.warm_s:
            run_files(cfg, DATA / topo, gemm=gemm)
        for _ in range(args.calls):
            t0, c0 = time.perf_counter(), time.process_time()
            run = run_files(cfg, DATA / topo, gemm=gemm)
            tw.append(time.perf_counter() - t0)
            tc.append(time.process_time() - c0)
        ow, oc = statistics.median(tw), statistics.median(tc)
        ok = [r.total_cycles for r in run.reports] == ss["total_cycles"]
        same &= ok
        wall.append(ss["seconds"] / ow)
        cpu.append(ss["cpu"] / oc)
        print(f"{cfg.stem:12s} {topo:16s} {len(run.reports):6d} {ss['seconds']:9.2f} {ss['cpu']:8.2f} {ow * 1e3:12.2f} "
              f"{oc * 1e3:11.2f} {wall[-1]:9.0f}x {cpu[-1]:8.0f}x {'yes' if ok else 'NO'}", flush=True)
    print(f"\nratio SCALE-Sim / lowbit, wall: min {min(wall):.0f}x, median {statistics.median(wall):.0f}x; "
          f"CPU: min {min(cpu):.0f}x, median {statistics.median(cpu):.0f}x; total cycles identical: {same}")
    rc = 0 if same else 1
    if args.ab:
        rc |= ab(args.ab, args.quick)
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
