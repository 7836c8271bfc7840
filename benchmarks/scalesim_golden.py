"""Produce tests/data/scalesim_golden.json by running SCALE-Sim 3.0.0 itself.

Run with the SCALE-Sim venv (not lowbit's: scalesim needs numpy<2.4):

    python3 -m venv benchmarks/.venv-scalesim
    benchmarks/.venv-scalesim/bin/pip install "scalesim==3.0.0" "numpy<2.4"
    benchmarks/.venv-scalesim/bin/python benchmarks/scalesim_golden.py

Every cfg in tests/data/scalesim/*.cfg is run on the conv topology
(conv_layers.csv) and the GEMM topology (gemm_layers.csv, SCALE-Sim's `-i gemm`),
the very files the tests read. For each layer the JSON keeps SCALE-Sim's
COMPUTE_REPORT row ("Total Cycles", stall cycles, ...) and its own GEMM view
M (output pixels), N (filters), K (window) from `topologies.calc_spatio_temporal_params`
(the OS triple S_r, S_c, T). Not `get_transformed_mnk_dimensions`: in 3.0.0 its "M" is
ofmap pixels times filters.

    benchmarks/.venv-scalesim/bin/python benchmarks/scalesim_golden.py --stall

writes tests/data/scalesim_stall_golden.json instead: every cfg in tests/data/scalesim_stall/
(small SRAMs, USER and CALC bandwidth, os/ws/is, non-square arrays) on its conv and GEMM
topologies, keeping SCALE-Sim's COMPUTE_REPORT, BANDWIDTH_REPORT and DETAILED_ACCESS_REPORT
rows verbatim (strings, as SCALE-Sim printed them) and its in-process seconds per run.
"""

from __future__ import annotations

import contextlib
import csv
import datetime
import io
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "scalesim"
OUT = ROOT / "tests" / "data" / "scalesim_golden.json"
WORK = ROOT / "benchmarks" / "_work" / "scalesim_golden"
TOPOLOGIES = (("conv_layers.csv", False), ("gemm_layers.csv", True))


def run_scalesim(cfg: Path, topo: Path, gemm: bool, work: Path) -> tuple[list[dict], list[list[int]], float]:
    """Run SCALE-Sim on one cfg + topology; (COMPUTE_REPORT rows, its [M, N, K] per layer, seconds)."""
    from scalesim.scale_sim import scalesim

    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        sim = scalesim(save_disk_space=True, verbose=False, config=str(cfg), topology=str(topo),
                       layout=str(DATA / "layout_none.csv"), input_type_gemm=gemm)
        sim.run_scale(top_path=str(work))
    seconds = time.perf_counter() - t0
    mnk = [list(sim.topo.calc_spatio_temporal_params(df="os", layer_id=i)) for i in range(sim.topo.get_num_layers())]
    report = work / sim.config.get_run_name() / "COMPUTE_REPORT.csv"
    with report.open() as fh:
        rows = [{k.strip(): v.strip() for k, v in r.items() if k and k.strip()} for r in csv.DictReader(fh)]
    return rows, mnk, seconds


STALL_DATA = ROOT / "tests" / "data" / "scalesim_stall"
STALL_OUT = ROOT / "tests" / "data" / "scalesim_stall_golden.json"
REPORTS = ("COMPUTE_REPORT", "BANDWIDTH_REPORT", "DETAILED_ACCESS_REPORT")


def _report_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    lines = [ln for ln in path.read_text().splitlines() if ln.strip()]
    head = [h.strip() for h in lines[0].split(",") if h.strip()]
    return head, [[v.strip() for v in ln.split(",")[:-1]] for ln in lines[1:]]


def stall_main() -> int:
    """Run SCALE-Sim on tests/data/scalesim_stall/*.cfg and store its three reports verbatim."""
    from importlib.metadata import version

    from scalesim.scale_sim import scalesim

    ver = version("scalesim")
    runs = []
    headers: dict[str, list[str]] = {}
    for cfg in sorted(STALL_DATA.glob("*.cfg")):
        for topo_name, gemm in TOPOLOGIES:
            work = WORK / "stall" / f"{cfg.stem}_{Path(topo_name).stem}"
            work.mkdir(parents=True, exist_ok=True)
            t0 = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):
                sim = scalesim(save_disk_space=True, verbose=False, config=str(cfg),
                               topology=str(STALL_DATA / topo_name),
                               layout=str(STALL_DATA / "layout_none.csv"), input_type_gemm=gemm)
                sim.run_scale(top_path=str(work))
            secs = time.perf_counter() - t0
            reports = {}
            for rep in REPORTS:
                headers[rep], reports[rep] = _report_rows(work / sim.config.get_run_name() / f"{rep}.csv")
            runs.append({"cfg": f"scalesim_stall/{cfg.name}", "topology": f"scalesim_stall/{topo_name}",
                         "gemm": gemm, "scalesim_seconds": round(secs, 3), "layers": sim.topo.get_num_layers(),
                         **{rep.lower(): reports[rep] for rep in REPORTS}})
            print(f"{cfg.name:16s} {topo_name:16s} {secs:7.2f} s", file=sys.stderr)
    doc = {
        "source": (f"scalesim {ver} (PyPI), run by 'benchmarks/.venv-scalesim/bin/python "
                   f"benchmarks/scalesim_golden.py --stall' on {datetime.date.today().isoformat()}; "
                   "inputs: tests/data/scalesim_stall/*.cfg x {conv_layers.csv, gemm_layers.csv (-i gemm)}; "
                   "rows of its COMPUTE_REPORT.csv, BANDWIDTH_REPORT.csv, DETAILED_ACCESS_REPORT.csv verbatim "
                   "(LayerID first)"),
        "headers": {rep.lower(): headers[rep] for rep in REPORTS},
        "runs": runs,
    }
    STALL_OUT.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {STALL_OUT} ({sum(r['layers'] for r in runs)} layer runs)", file=sys.stderr)
    return 0


def main() -> int:
    from importlib.metadata import version

    import scalesim  # noqa: F401  (fail early outside the SCALE-Sim venv)

    if "--stall" in sys.argv[1:]:
        return stall_main()

    ver = version("scalesim")
    entries = []
    total = 0.0
    for cfg in sorted(DATA.glob("*.cfg")):
        if cfg.name.startswith("scale_default"):
            continue  # the repository's default cfg lacks sections scalesim 3.0.0 requires
        for topo_name, gemm in TOPOLOGIES:
            topo = DATA / topo_name
            rows, mnk, secs = run_scalesim(cfg, topo, gemm, WORK / f"{cfg.stem}_{topo.stem}")
            total += secs
            names = [line.split(",")[0].strip() for line in topo.read_text().splitlines()[1:] if line.strip()]
            expanded: list[str] = []
            for n in names:  # SCALE-Sim's depthwise split ("DP" in the name: one layer per channel)
                if "DP" in n and not gemm:
                    row = next(r for r in topo.read_text().splitlines()[1:] if r.split(",")[0].strip() == n)
                    expanded += [f"{n}Channel_{c}" for c in range(int(row.split(",")[5]))]
                else:
                    expanded.append(n)
            assert len(rows) == len(expanded) == len(mnk), (cfg, topo, len(rows), len(expanded), len(mnk))
            for name, row, (m, n, k) in zip(expanded, rows, mnk):
                entries.append({
                    "cfg": f"scalesim/{cfg.name}",
                    "topology": f"scalesim/{topo_name}",
                    "gemm": gemm,
                    "layer": name,
                    "layer_id": int(row["LayerID"]),
                    "scalesim_m": m, "scalesim_n": n, "scalesim_k": k,
                    "total_cycles": int(row["Total Cycles"]),
                    "total_cycles_incl_prefetch": int(row["Total Cycles (incl. prefetch)"]),
                    "stall_cycles": int(row["Stall Cycles"]),
                    "mapping_efficiency_pct": float(row["Mapping Efficiency %"]),
                })
            print(f"{cfg.name:16s} {topo_name:16s} {len(rows):2d} layers {secs:7.2f} s", file=sys.stderr)
    doc = {
        "source": (f"scalesim {ver} (PyPI), run by benchmarks/scalesim_golden.py with "
                   f"benchmarks/.venv-scalesim/bin/python on {datetime.date.today().isoformat()}; "
                   "inputs: tests/data/scalesim/*.cfg x {conv_layers.csv, gemm_layers.csv (-i gemm)}; "
                   "values from its COMPUTE_REPORT.csv"),
        "scalesim_seconds_total": round(total, 2),
        "layers": entries,
    }
    OUT.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {OUT} ({len(entries)} layer runs, SCALE-Sim {total:.1f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
