"""Produce tests/data/bitmod_sim/*.json by running bitmod_sim (BitMoD-HPCA-25) itself.

Runs in bitmod_sim's own venv, from bitmod_sim's folder (its scripts read
`./model_shape_config/*.pickle` and run `mem/cacti/cacti`); the exact commands are in
tests/data/bitmod_sim/README.md. Each of the peer's test scripts (`test_baseline.py`,
`test_ant.py`, `test_olive.py`, `test_bitmod.py`) is run unmodified with `runpy`, once per
phase (`--is_generation` or not). The only addition is a recorder around
`Accelerator.calc_cycle`: after the peer computes a model's cycles it keeps the peer's own
per-layer dicts (`_layer_cycle_compute`, `_layer_cycle_dram`, `_layer_mem_refetch`,
`_w/_i/_o_mem_required`) and the CACTI-derived SRAM costs. The script's printed
`Latency: [...]` and `Energy: [[on-chip, total], ...]` lines are parsed from its stdout, and
the energy components are the peer's own `calc_*_energy()` values.

    cd benchmarks/_work/bitmod/bitmod_sim && ../venv/bin/python ../../../bitmod_sim_golden.py OUT_DIR
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import io
import json
import runpy
import sys
from pathlib import Path

SCRIPTS = {"fp16": "test_baseline.py", "ant": "test_ant.py", "olive": "test_olive.py",
           "bitmod": "test_bitmod.py"}
MODEL_NAMES = {"facebook/opt-1.3b": "opt-1.3b", "microsoft/phi-2": "phi-2", "01-ai/Yi-6B": "yi-6b",
               "meta-llama/Llama-2-7b-hf": "llama-2-7b", "meta-llama/Llama-2-13b-hf": "llama-2-13b",
               "meta-llama/Meta-Llama-3-8B": "llama-3-8b"}


def _record(acc) -> dict:
    names = acc.layer_name_list
    layers = [[n, int(acc._layer_cycle_compute[n]), int(acc._layer_cycle_dram[n]),
               *[int(x) for x in acc._layer_mem_refetch[n]],
               float(acc._w_mem_required[n]), float(acc._i_mem_required[n]), float(acc._o_mem_required[n])]
              for n in names]
    comp = sum(r[1] for r in layers)
    total = sum(max(r[1], r[2]) for r in layers)
    return {
        "args": {"i_prec": acc.i_prec, "kv_prec": acc.kv_prec, "w_prec": acc.w_prec,
                 "batch_size": acc.batch_size, "is_bit_serial": bool(acc.is_bit_serial),
                 "pe_dp_size": acc.pe_dp_size, "pe_array_dim": [acc.pe_array_dim["h"], acc.pe_array_dim["w"]],
                 "pe_energy_pj_with_pr_scaling": float(acc.pe_energy), "pe_latency": dict(acc.pe_latency)},
        "cycles": {"compute": comp, "total": total},
        "energy_uj": {"compute": acc.calc_compute_energy() / 1e6, "sram_rd": acc.calc_sram_rd_energy() / 1e6,
                      "sram_wr": acc.calc_sram_wr_energy() / 1e6, "dram": acc.calc_dram_energy() / 1e6},
        "sram": {k: {"r_cost_pj": float(m.r_cost), "w_cost_pj": float(m.w_cost), "w_cost_min_pj": float(m.w_cost_min),
                     "w_bw_min_bits": float(m.w_bw_min), "rw_bw_bits": float(m.rw_bw), "area_mm2": float(m.area),
                     "size_bits": float(m.size)}
                 for k, m in (("weight", acc.w_sram), ("input", acc.i_sram))},
        "dram": {"rw_bw_bits": float(acc.dram.rw_bw), "r_cost_pj": float(acc.dram.r_cost),
                 "w_cost_pj": float(acc.dram.w_cost)},
        "layer_columns": ["name", "compute_cycles", "dram_cycles", "fetch_w", "fetch_i", "w_bytes", "i_bytes",
                          "o_bytes"],
        "layers": layers,
    }


def run(script: str, generation: bool, extra: list[str]) -> dict:
    import accelerator

    seen: list[dict] = []
    orig = accelerator.Accelerator.calc_cycle

    def calc_cycle(self):
        out = orig(self)
        seen.append(self)
        return out

    accelerator.Accelerator.calc_cycle = calc_cycle
    argv = [script, *(["--is_generation"] if generation else []), *extra]
    buf = io.StringIO()
    old = sys.argv
    try:
        sys.argv = argv
        with contextlib.redirect_stdout(buf):
            runpy.run_path(script, run_name="__main__")
    finally:
        sys.argv = old
        accelerator.Accelerator.calc_cycle = orig
    text = buf.getvalue()
    lat = next(ast.literal_eval(ln.split(":", 1)[1]) for ln in text.splitlines() if ln.startswith("Latency:"))
    en = next(ast.literal_eval(ln.split(":", 1)[1]) for ln in text.splitlines() if ln.startswith("Energy:"))
    models = {}
    # calc_compute_energy() calls calc_cycle() again only when cycle_compute is unset; each model's
    # first recorded call is the script's own
    firsts = list(dict.fromkeys(seen))
    for i, acc in enumerate(firsts):
        rec = _record(acc)
        name = MODEL_NAMES[acc.model_name]
        rec["printed"] = {"latency_cycles": lat[i], "energy_uj_onchip_total": en[i]}
        if rec["cycles"]["total"] != lat[i]:
            raise SystemExit(f"{script} {name}: recorded total {rec['cycles']['total']} != printed {lat[i]}")
        models[name] = rec
    return {"script": script, "argv": argv[1:], "models": models}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(Path.cwd()))
    runs = [(arch, ph, []) for arch in SCRIPTS for ph in ("prefill", "decode")]
    runs += [("bitmod-lossless", ph, ["--is_lossless"]) for ph in ("prefill", "decode")]
    for arch, phase, extra in runs:
        script = SCRIPTS[arch.split("-")[0]]
        res = run(script, phase == "decode", extra)
        res["phase"] = phase
        path = args.out / f"{arch}-{phase}.json"
        path.write_text(json.dumps(res, separators=(",", ":")) + "\n")
        tot = {m: r["cycles"]["total"] for m, r in res["models"].items()}
        print(f"{arch} {phase}: {tot}", file=sys.stderr)


if __name__ == "__main__":
    main()
