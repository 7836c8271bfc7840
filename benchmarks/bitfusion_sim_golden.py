"""Run the Bit Fusion simulator itself, end to end, on configurations its published CSV lacks
(issue 17 item 2), and store the runs as goldens.

What runs is the simulator's own code (hsharma35/bitfusion at commit 0246bc4c): its benchmark
graphs built by `bitfusion/src/benchmarks/benchmarks.py` with dnnweaver2 (hsharma35/dnnweaver2 at
28c5f830), swept by its `SimulatorSweep.sweep` (`bitfusion/src/sweep/sweep.py`, what its notebook
calls through `check_pandas_or_run`: `Simulator.get_cycles` -> `get_conv_cycles` ->
`optimize_for_order` + `get_stats_fast` per layer, `get_bench_nn(bench, WRPN=True)`), and priced
by its `Simulator.get_energy_cost` (CACTI bank energies through its `CactiSweep`, which runs CACTI
for bank sizes missing from its shipped `bitfusion/sram/cacti_sweep.csv`) and its
`Stats.get_energy` / `get_energy_breakdown`.

It is Python 2.7 code; Python 2 is not installable here, so it runs under Python 3 with the
mechanical fixes of `benchmarks/peers/bitfusion_py3.patch` (print, ConfigParser -> configparser,
`raise E, msg`, `dict.iteritems`, `keys()` as a list, subprocess text output, `//` where Python 2
divided integers, namedtuple's removed `verbose=` keyword, and two unused `min()` calls over dicts
that Python 3 cannot order). `benchmarks/peers/bitfusion_batch.patch` is the one change that is
not mechanical: every benchmark graph hard-codes `batch_size = 16` (the sweep's batch argument
only labels the rows), and the patch makes that a module constant the worker sets (16 gives the
original graphs). dnnweaver2 needs no change. pandas 1.5.3 (the last with `DataFrame.append`,
which sweep.py and cacti_sweep.py call), numpy 1.26.4, graphviz 0.21, in a venv of their own.

The script checks out both repositories from the local mirrors into a temporary directory, applies
the patches, builds CACTI (HewlettPackard/cacti at 1ffd8dfb, `make`) into
`bitfusion/sram/cacti/` where `Simulator.__init__` looks for it, links `sram/cacti/sweep.cfg` to
`sram/sweep.cfg` (CactiSweep writes the cfg next to its CSV but runs CACTI in the binary's folder
with the bare file name), and runs the sweep with PYTHONHASHSEED=0 (the optimizer iterates
`set(permutations(...))`; ties between loop orders go to the first). It first reruns the five
configurations of the published CSV (tests/data/bitfusion/bitfusion_sim_per_layer.csv) and counts
the rows equal in all ten count columns, then runs the new configurations, then writes
tests/data/bitfusion/bitfusion_sim_runs.csv (per layer: the sweep's columns plus the simulator's
energy breakdown, nJ) and bitfusion_sim_runs.json (per configuration: `get_energy_cost`'s tuple,
the banks, the CACTI rows this run added, the validation counts (also CACTI built here rerun on
every row of the shipped cacti_sweep.csv), the commits). Run:

    python3 benchmarks/bitfusion_sim_golden.py --venv /tmp/bfsim/venv --work /tmp/bfsim/run

(it makes the venv with pip if missing). No lowbit import: the simulator's environment is its own.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "bitfusion"
PEERS = ROOT / "benchmarks" / "peers"
BITFUSION = (
    "/work/.mirror/hsharma35+bitfusion/repo/.git",
    "0246bc4c23564c91bbf73eeccb5c85ff65fe0d0d",
)
DNNWEAVER2 = ("/work/.mirror/hsharma35+dnnweaver2/repo", "28c5f830d4b8b6d2fbb8b1d158f0debcef3dbefb")
CACTI = ("/work/.mirror/HewlettPackard+cacti/repo", "1ffd8dfb10303d306ecd8d215320aea07651e878")
PIP = ("pandas==1.5.3", "numpy==1.26.4", "graphviz==0.21")
COUNTS = (
    "Cycles",
    "Memory wait cycles",
    "WBUF Read",
    "WBUF Write",
    "OBUF Read",
    "OBUF Write",
    "IBUF Read",
    "IBUF Write",
    "DRAM Read",
    "DRAM Write",
)
KB = 1024

# (N, M, interface bits, batch, WBUF, IBUF, OBUF bytes). The published CSV's five, to validate:
PUBLISHED = [
    (16, 32, 192, 16, 64 * KB, 32 * KB, 16 * KB),
    (16, 32, 4096, 16, 64 * KB, 32 * KB, 16 * KB),
    (16, 64, 4096, 16, 128 * KB, 64 * KB, 32 * KB),
    (16, 128, 4096, 16, 256 * KB, 128 * KB, 64 * KB),
    (16, 256, 4096, 16, 512 * KB, 256 * KB, 128 * KB),
]
# ... and the new ones: batch 1 and 4; 32x32, 16x64, 16x128 with buffers scaled with the array
# (64/32/16 KB per 512 Fusion Units, as the CSV scales them); 192- and 4096-bit interfaces; and
# 16x32 with twice the buffers. New bank sizes, which CACTI runs for: OBUF 1024 B (32x32, 16x32
# with 2x buffers), WBUF 256 B (16x32 with 2x buffers). Half the buffers (WBUF banks of 64 B) is
# not here: CACTI 7 answers "ERROR: no valid data array organizations found" for a 64 B bank and
# get_energy_cost's energies come out NaN, which also breaks the optimizer's energy tie-break.
NEW = [
    (16, 32, 192, 1, 64 * KB, 32 * KB, 16 * KB),
    (16, 32, 192, 4, 64 * KB, 32 * KB, 16 * KB),
    (16, 32, 4096, 1, 64 * KB, 32 * KB, 16 * KB),
    (16, 32, 4096, 4, 64 * KB, 32 * KB, 16 * KB),
    (32, 32, 192, 16, 128 * KB, 64 * KB, 32 * KB),
    (32, 32, 4096, 16, 128 * KB, 64 * KB, 32 * KB),
    (32, 32, 192, 4, 128 * KB, 64 * KB, 32 * KB),
    (16, 64, 192, 16, 128 * KB, 64 * KB, 32 * KB),
    (16, 64, 4096, 1, 128 * KB, 64 * KB, 32 * KB),
    (16, 128, 192, 16, 256 * KB, 128 * KB, 64 * KB),
    (16, 32, 192, 16, 128 * KB, 64 * KB, 32 * KB),
]


def config_key(cfg: tuple[int, ...]) -> str:
    n, m, bw, b, w, i, o = cfg
    return f"{n}x{m}@{bw} b{b} {w // KB}/{i // KB}/{o // KB}KB"


def _sh(*args: str, cwd: str | None = None, env: dict | None = None) -> None:
    print("+", " ".join(args), flush=True)
    subprocess.run(args, check=True, cwd=cwd, env=env)


def _archive(git_dir: str, commit: str, dest: Path, *paths: str) -> None:
    dest.mkdir(parents=True)
    tar = subprocess.run(
        ["git", "--git-dir", git_dir, "archive", commit, *paths], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=tar, check=True)


def setup(venv: Path, work: Path) -> Path:
    """Venv, checkouts, patches, CACTI. Returns the bitfusion checkout."""
    if not (venv / "bin" / "python").exists():
        _sh(sys.executable, "-m", "venv", str(venv))
        _sh(str(venv / "bin" / "pip"), "install", *PIP)
    if work.exists():
        shutil.rmtree(work)
    bf, dw, cacti = work / "bitfusion", work / "dnnweaver2", work / "cacti"
    _archive(BITFUSION[0], BITFUSION[1], bf)
    _archive(DNNWEAVER2[0], DNNWEAVER2[1], dw, "dnnweaver2")
    _archive(CACTI[0], CACTI[1], cacti)
    for patch in ("bitfusion_py3.patch", "bitfusion_batch.patch"):
        _sh("git", "apply", "--verbose", str(PEERS / patch), cwd=str(bf))
    _sh("make", "-j2", cwd=str(cacti))
    (bf / "bitfusion" / "sram" / "cacti").symlink_to(cacti)
    (cacti / "sweep.cfg").symlink_to(bf / "bitfusion" / "sram" / "sweep.cfg")
    return bf


def worker(bf: Path, out_csv: Path, configs: list[tuple[int, ...]], check_cacti: bool) -> None:
    """In the simulator's venv, cwd = its checkout (get_energy_cost reads ./results/)."""
    sys.path[:0] = [str(bf), str(bf.parent / "dnnweaver2")]
    from bitfusion.src.benchmarks import benchmarks
    from bitfusion.src.simulator.simulator import Simulator
    from bitfusion.src.sweep.sweep import SimulatorSweep

    sim = Simulator("bf_e_conf.ini", False)  # the notebook's Bit Fusion configuration
    if check_cacti:  # the CACTI built here on every row of the shipped cacti_sweep.csv
        shipped = csv.DictReader(
            (bf / "bitfusion" / "sram" / "cacti_sweep.csv").read_text().splitlines()
        )
        check = []
        for r in shipped:
            q = {
                "size (bytes)": float(r["size (bytes)"]),
                "block size (bytes)": float(r["block size (bytes)"]),
                "read-write port": int(r["read-write port"]),
                "technology (u)": float(r["technology (u)"]),
            }
            got = sim.sram_obj._run_cacti(q)
            check.append(
                {
                    **q,
                    **{
                        f"{e}_{src}": float(d[e])
                        for src, d in (("shipped", r), ("here", got))
                        for e in ("read_energy_nJ", "write_energy_nJ")
                    },
                }
            )
        out_csv.with_suffix(".cacti_check.json").write_text(json.dumps(check, indent=1))
    sweep = SimulatorSweep(str(out_csv), "bf_e_conf.ini")
    for cfg in configs:
        n, m, bw, b, w, i, o = cfg
        benchmarks.BATCH_SIZE = b  # bitfusion_batch.patch
        t0 = time.time()
        sweep.sweep(
            sim,
            list_n=[n],
            list_m=[m],
            list_bw=[bw],
            list_wbuf=[w],
            list_ibuf=[i],
            list_obuf=[o],
            list_batch=[b],
        )
        print(f"ran {config_key(cfg)} in {time.time() - t0:.1f} s", flush=True)
    # energy: the simulator's own costs and Stats for each configuration's rows
    from bitfusion.src.simulator.stats import Stats

    rows = list(csv.DictReader(out_csv.read_text().splitlines()))
    costs = {}
    for cfg in configs:
        n, m, bw, b, w, i, o = cfg
        acc = sim.accelerator
        acc.N, acc.M, acc.mem_if_width = n, m, bw
        acc.sram["wgt"], acc.sram["act"], acc.sram["out"] = w, i, o
        costs[config_key(cfg)] = sim.get_energy_cost()
        if any(math.isnan(v) for v in costs[config_key(cfg)]):
            raise SystemExit(
                f"{config_key(cfg)}: get_energy_cost has NaN (a bank CACTI could not price)"
            )
    for r in rows:
        key = config_key(
            tuple(
                int(float(r[c]))
                for c in (
                    "N",
                    "M",
                    "Bandwidth (bits/cycle)",
                    "Batch size",
                    "WBUF Size (bits)",
                    "IBUF Size (bits)",
                    "OBUF Size (bits)",
                )
            )
        )
        s = Stats()
        s.total_cycles, s.mem_stall_cycles = (
            int(float(r["Cycles"])),
            int(float(r["Memory wait cycles"])),
        )
        for ns, col in (("act", "IBUF"), ("out", "OBUF"), ("wgt", "WBUF"), ("dram", "DRAM")):
            s.reads[ns], s.writes[ns] = int(float(r[f"{col} Read"])), int(float(r[f"{col} Write"]))
        core, sram_e, _, dram = s.get_energy_breakdown(costs[key])
        r.update(
            {
                "config": key,
                "Energy core (nJ)": repr(core),
                "Energy SRAM (nJ)": repr(sram_e),
                "Energy DRAM (nJ)": repr(dram),
                "Energy total (nJ)": repr(s.get_energy(costs[key])),
            }
        )
    with open(out_csv.with_suffix(".energy.csv"), "w", newline="") as fh:
        wr = csv.DictWriter(fh, fieldnames=["config"] + [k for k in rows[0] if k != "config"])
        wr.writeheader()
        wr.writerows(rows)
    out_csv.with_suffix(".costs.json").write_text(
        json.dumps({k: dict(c._asdict()) for k, c in costs.items()}, indent=1)
    )


def _ints(r: dict) -> list[int]:
    return [int(float(r[c])) for c in COUNTS]


def validate(rows: list[dict]) -> dict:
    """Rows of the rerun published configurations equal to the published CSV's, count by count."""
    pub = {
        (r["N"], r["M"], r["Bandwidth (bits/cycle)"], r["Network"], r["Layer"]): r
        for r in csv.DictReader((DATA / "bitfusion_sim_per_layer.csv").read_text().splitlines())
    }
    equal, total, diff = 0, 0, []
    for r in rows:
        k = (r["N"], r["M"], r["Bandwidth (bits/cycle)"], r["Network"], r["Layer"])
        total += 1
        if _ints(r) == _ints(pub[k]):
            equal += 1
        else:
            diff.append({"row": list(k), "run": _ints(r), "published": _ints(pub[k])})
    return {
        "rows": total,
        "published_rows": len(pub),
        "rows_equal_all_10_counts": equal,
        "differing": diff,
    }


def _banks(n: int, m: int, sram: dict[str, int]) -> dict:
    # get_energy_cost's banks (simulator.py:232-245): WBUF N*M, IBUF N, OBUF M of 32-bit words
    return {
        ns: {
            "banks": banks,
            "bank_bytes": sram[ns] // banks,
            "word_bits": 32,
            "read_write_port": port,
        }
        for ns, banks, port in (("wgt", n * m, 0), ("act", n, 0), ("out", m, 1))
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--venv", default="/tmp/bfsim/venv")
    ap.add_argument("--work", default="/tmp/bfsim/run")
    ap.add_argument("--worker", nargs=2, metavar=("CHECKOUT", "CSV"), help=argparse.SUPPRESS)
    ap.add_argument("--configs", help=argparse.SUPPRESS)
    ap.add_argument("--check-cacti", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(
            Path(args.worker[0]),
            Path(args.worker[1]),
            [tuple(c) for c in json.loads(args.configs)],
            args.check_cacti,
        )
        return
    work = Path(args.work)
    bf = setup(Path(args.venv), work)
    env = dict(os.environ, PYTHONHASHSEED="0")
    timings = {}
    for name, cfgs in (("published", PUBLISHED), ("new", NEW)):
        t0 = time.time()
        _sh(
            str(Path(args.venv) / "bin" / "python"),
            str(Path(__file__).resolve()),
            "--worker",
            str(bf),
            str(work / f"{name}.csv"),
            "--configs",
            json.dumps(cfgs),
            *(["--check-cacti"] if name == "published" else []),
            cwd=str(bf),
            env=env,
        )
        timings[name] = round(time.time() - t0, 1)
    pub_rows = list(csv.DictReader((work / "published.energy.csv").read_text().splitlines()))
    val = validate(pub_rows)
    print(
        f"published configurations rerun: {val['rows_equal_all_10_counts']} of {val['rows']} rows "
        "equal "
        f"in all ten count columns (published CSV: {val['published_rows']} rows)"
    )
    # get_energy_cost on the published configurations vs bitfusion_energy.json (its formulas
    # re-implemented from the CSVs, benchmarks/bitfusion_energy_golden.py)
    pub_costs = json.loads((work / "published.costs.json").read_text())
    ref = json.loads((DATA / "bitfusion_energy.json").read_text())["configs"]
    cost_check = {}
    for cfg in PUBLISHED:
        k = config_key(cfg)
        r = ref[f"{cfg[0]}x{cfg[1]}@{cfg[2]}"]["energy_cost_nJ"]
        cost_check[k] = max(abs(pub_costs[k][f] / r[f] - 1) for f in r)
    print("get_energy_cost vs bitfusion_energy.json, max relative difference:", cost_check)
    new_rows = list(csv.DictReader((work / "new.energy.csv").read_text().splitlines()))
    fields = ["config"] + [k for k in new_rows[0] if k != "config"]
    with open(DATA / "bitfusion_sim_runs.csv", "w", newline="") as fh:
        wr = csv.DictWriter(fh, fieldnames=fields)
        wr.writeheader()
        wr.writerows(new_rows)
    shipped = list(
        csv.DictReader(
            (work / "bitfusion" / "bitfusion" / "sram" / "cacti_sweep.csv").read_text().splitlines()
        )
    )
    orig = subprocess.run(
        [
            "git",
            "--git-dir",
            BITFUSION[0],
            "show",
            f"{BITFUSION[1]}:bitfusion/sram/cacti_sweep.csv",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    n_orig = len(list(csv.DictReader(orig.splitlines())))
    keep = (
        "size (bytes)",
        "block size (bytes)",
        "read-write port",
        "technology (u)",
        "read_energy_nJ",
        "write_energy_nJ",
        "leak_power_mW",
        "access_time_ns",
    )
    added = [{k: r[k] for k in keep} for r in shipped[n_orig:]]
    new_costs = json.loads((work / "new.costs.json").read_text())
    cacti_check = json.loads((work / "published.cacti_check.json").read_text())
    # equal to the shipped digits (its CSV went through pandas floats: 0.009981700000000001)
    same = sum(
        all(
            math.isclose(c[f"{e}_here"], c[f"{e}_shipped"], rel_tol=1e-12)
            for e in ("read_energy_nJ", "write_energy_nJ")
        )
        for c in cacti_check
    )
    print(
        f"CACTI built here on the shipped cacti_sweep.csv rows: {same} of {len(cacti_check)} equal"
    )
    doc = {
        "_source": (
            "Bit Fusion simulator run here end to end (hsharma35/bitfusion 0246bc4c with "
            "dnnweaver2 "
            "28c5f830, Python 3 via benchmarks/peers/bitfusion_py3.patch + bitfusion_batch.patch, "
            "CACTI HewlettPackard/cacti 1ffd8dfb built here): SimulatorSweep.sweep per "
            "configuration, "
            "energy by its Simulator.get_energy_cost and Stats.get_energy_breakdown. Made by "
            "benchmarks/bitfusion_sim_golden.py (command in its docstring and in SOURCE.md)."
        ),
        "commits": {"bitfusion": BITFUSION[1], "dnnweaver2": DNNWEAVER2[1], "cacti": CACTI[1]},
        "environment": {"python": "3.11", "pip": list(PIP), "PYTHONHASHSEED": "0"},
        "configs": {
            config_key(c): {
                "N": c[0],
                "M": c[1],
                "interface_bits": c[2],
                "batch": c[3],
                "sram_bytes": {"wgt": c[4], "act": c[5], "out": c[6]},
                "banks": _banks(c[0], c[1], {"wgt": c[4], "act": c[5], "out": c[6]}),
                "energy_cost_nJ": new_costs[config_key(c)],
            }
            for c in NEW
        },
        "cacti_rows_added_by_this_run": added,
        "validation": {
            **val,
            "energy_cost_vs_bitfusion_energy_json_max_rel": cost_check,
            "cacti_shipped_rows_equal": same,
            "cacti_shipped_rows": len(cacti_check),
            "cacti_check": cacti_check,
        },
        "wall_s": timings,
    }
    (DATA / "bitfusion_sim_runs.json").write_text(json.dumps(doc, indent=1) + "\n")
    print(
        f"wrote {DATA / 'bitfusion_sim_runs.csv'} ({len(new_rows)} rows) and "
        "bitfusion_sim_runs.json"
    )


if __name__ == "__main__":
    main()
