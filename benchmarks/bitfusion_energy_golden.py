"""The Bit Fusion simulator's energy for each row of its per-layer output (issue 17 item 6).

Its energy is a function of the access counts it reports: `Stats.get_energy_breakdown`
(hsharma35/bitfusion commit 0246bc4c, bitfusion/src/simulator/stats.py:83-101) prices
(cycles - memory wait) x the array's dynamic energy per cycle, buffer bits read and written at
per-bit energies, and DRAM bits at 15e-3 nJ (its `dram_cost` default). The per-bit and per-cycle
costs come from `Simulator.get_energy_cost` (simulator.py:218-339): banks N*M (WBUF), N (IBUF),
M (OBUF) of pmax*pmax/pmin = 32-bit words (OBUF 32), each bank priced by the CACTI sweep it
ships (bitfusion/sram/cacti_sweep.csv, 45 nm) per access / word bits; the array from
results/systolic_array_synth.csv (no 16xM row: the 4x4 row's dynamic power x N*M/16 over its
frequency, simulator.py:311-319).

This script runs the simulator's own `Stats` class (stats.py, taken from the repository and
imported unmodified: it is Python 2 and 3 compatible) on the counts of
tests/data/bitfusion/bitfusion_sim_per_layer.csv, with the energy costs computed by the
formulas of `get_energy_cost` from the repository's two CSVs (that method itself needs
Python 2.7, ConfigParser, pandas and dnnweaver2 to construct a Simulator). Run:

    git --git-dir /work/.mirror/hsharma35+bitfusion/repo/.git show HEAD:bitfusion/src/simulator/stats.py > /tmp/bfpeer/bf_stats.py
    git --git-dir ... show HEAD:bitfusion/sram/cacti_sweep.csv > /tmp/bfpeer/cacti_sweep.csv
    git --git-dir ... show HEAD:results/systolic_array_synth.csv > /tmp/bfpeer/synth.csv
    .venv/bin/python benchmarks/bitfusion_energy_golden.py /tmp/bfpeer tests/data/bitfusion/bitfusion_energy.json
"""

from __future__ import annotations

import csv
import importlib.util
import json
import sys
from collections import namedtuple
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CSV = ROOT / "tests" / "data" / "bitfusion" / "bitfusion_sim_per_layer.csv"
PMAX, PMIN, TECH_U = 8, 2, 0.045

# energy.py's EnergyTuple fields (energy.py:3-11; its `verbose=False` keyword is Python 2 only)
EnergyTuple = namedtuple("EnergyTuple", ["core_dynamic_energy", "wbuf_read_energy", "wbuf_write_energy",
                                         "ibuf_read_energy", "ibuf_write_energy", "obuf_read_energy",
                                         "obuf_write_energy"])


def _cacti(rows: list[dict], size_bytes: float, block_bytes: float, rw_port: int) -> dict:
    hit = [r for r in rows if float(r["size (bytes)"]) == size_bytes and float(r["block size (bytes)"]) == block_bytes
           and int(r["read-write port"]) == rw_port and float(r["technology (u)"]) == TECH_U]
    if len(hit) != 1:
        raise SystemExit(f"cacti_sweep.csv has {len(hit)} rows for {size_bytes} B / {block_bytes} B / port {rw_port}")
    return hit[0]


def energy_cost(n: int, m: int, sram_bytes: dict[str, int], cacti: list[dict], synth: list[dict]) -> tuple:
    """`Simulator.get_energy_cost` (simulator.py:218-339) for an N x M array; costs in nJ."""
    word = PMAX * PMAX / PMIN                      # wbuf_bits = ibuf_bits (simulator.py:235-236)
    costs, meta = [], {}
    for name, banks, bits, port in (("wgt", n * m, word, 0), ("act", n, word, 0), ("out", m, 32, 1)):
        size = sram_bytes[name] * 8
        words = -(-size // int(banks * bits))      # ceil_a_by_b(size, bank * bits)
        bank_bytes = words * bits / 8.0
        assert bank_bytes * 8 * banks == size
        row = _cacti(cacti, bank_bytes, bits / 8.0, port)
        rd, wr = float(row["read_energy_nJ"]) / bits, float(row["write_energy_nJ"]) / bits
        costs += [rd, wr]
        meta[name] = {"banks": banks, "bank_bytes": bank_bytes, "word_bits": bits, "read_write_port": port,
                      "read_energy_nJ_per_access": float(row["read_energy_nJ"]),
                      "write_energy_nJ_per_access": float(row["write_energy_nJ"])}
    core = [r for r in synth if (int(r["N"]), int(r["M"]), int(r["Max Precision (bits)"]),
                                 int(r["Min Precision (bits)"])) == (n, m, PMAX, PMIN)]
    scale = 1.0
    if not core:  # simulator.py:311-319: the 4x4 array scaled by N*M/16
        core = [r for r in synth if (int(r["N"]), int(r["M"]), int(r["Max Precision (bits)"]),
                                     int(r["Min Precision (bits)"])) == (4, 4, PMAX, PMIN)]
        scale = n * m / 16.0
    assert len(core) == 1
    core_dyn = float(core[0]["Dynamic Power (nW)"]) * scale / float(core[0]["Frequency"])
    meta["core"] = {"dynamic_power_nW": float(core[0]["Dynamic Power (nW)"]) * scale,
                    "frequency_hz": float(core[0]["Frequency"]), "nJ_per_cycle": core_dyn,
                    "synth_row": f"{core[0]['N']}x{core[0]['M']} x {scale:g}"}
    wr, ww, ir, iw, orr, ow = costs
    return EnergyTuple(core_dyn, wr, ww, ir, iw, orr, ow), meta


def main(peer_dir: str, out: str) -> None:
    spec = importlib.util.spec_from_file_location("bf_stats", Path(peer_dir) / "bf_stats.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # the simulator's stats.py, unmodified
    cacti = list(csv.DictReader(Path(peer_dir, "cacti_sweep.csv").read_text().splitlines()))
    synth = list(csv.DictReader(Path(peer_dir, "synth.csv").read_text().splitlines()))
    configs: dict[str, dict] = {}
    layers = []
    for r in csv.DictReader(CSV.read_text().splitlines()):
        n, m, bw = int(r["N"]), int(r["M"]), int(r["Bandwidth (bits/cycle)"])
        # the CSV's "... Size (bits)" columns hold bytes (FIDELITY.md)
        sram = {"wgt": int(r["WBUF Size (bits)"]), "act": int(r["IBUF Size (bits)"]), "out": int(r["OBUF Size (bits)"])}
        key = f"{n}x{m}@{bw}"
        cost, meta = energy_cost(n, m, sram, cacti, synth)
        configs[key] = {"energy_cost_nJ": cost._asdict(), "detail": meta, "sram_bytes": sram}
        st = mod.get_energy_from_results(r, cost)  # stats.py get_energy_from_results (total, nJ)
        s = mod.Stats()
        s.total_cycles, s.mem_stall_cycles = int(r["Cycles"]), int(r["Memory wait cycles"])
        for ns, col in (("act", "IBUF"), ("out", "OBUF"), ("wgt", "WBUF"), ("dram", "DRAM")):
            s.reads[ns], s.writes[ns] = int(r[f"{col} Read"]), int(r[f"{col} Write"])
        core, sram_e, _, dram = s.get_energy_breakdown(cost)
        assert abs(core + sram_e + dram - st) <= 1e-9 * st
        layers.append({"config": key, "network": r["Network"], "layer": r["Layer"].rsplit("/", 1)[0],
                       "total_nJ": st, "core_nJ": core, "sram_nJ": sram_e, "dram_nJ": dram})
    doc = {"_source": "Bit Fusion simulator (hsharma35/bitfusion, commit 0246bc4c): its stats.py "
                      "get_energy_from_results / get_energy_breakdown on its own per-layer counts "
                      "(bitfusion_sim_per_layer.csv), energy costs by simulator.py get_energy_cost's formulas "
                      "from its cacti_sweep.csv and results/systolic_array_synth.csv; made by "
                      "benchmarks/bitfusion_energy_golden.py (its docstring has the commands). nJ.",
           "configs": configs, "layers": layers}
    Path(out).write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {out}: {len(layers)} layers, {len(configs)} configs")


if __name__ == "__main__":
    main(*sys.argv[1:3])
