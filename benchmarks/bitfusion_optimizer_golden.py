"""The Bit Fusion simulator's own optimiser on every benchmark layer, at eight configurations.

Runs hsharma35/bitfusion's `bitfusion/src/optimizer/optimizer.py` (commit 0246bc4c; its
`_optimize_for_order` and `get_stats_fast` imported unmodified) on the 61 layers of the eight
Bit Fusion benchmarks at arrays 16x32, 16x64, 16x128 and 16x256, each at the 192- and the
4096-bit memory interface, batch 16, and writes its choice per layer (tiling, loop order) and
its counts (cycles, memory wait, DRAM and buffer bits, energy) to
tests/data/bitfusion/bitfusion_optimizer_runs.csv.

How it runs the simulator (Python 3 here; the repository is Python 2.7):
- the repository's `bitfusion/` tree is taken by `git archive` from the given git directory at
  the given commit into a temporary folder; only `bitfusion/src/simulator/pipeline.py` is
  replaced by a two-class stub (its module-level Python 2 `print` statements do not parse;
  `loop_stack.py` imports its two class names, which neither optimiser function uses);
- `Simulator.get_conv_cycles` (simulator.py:406-469) is followed as written: conv_params =
  (Accelerator(N, M, 8, 2, sram, mem_if_width, 500 MHz), K, O, S, IC, OC, B, iprec, wprec,
  im2col, energy_cost), `_optimize_for_order` for each of the 120 loop orders, the fewest
  cycles then least energy kept (optimize_for_order:265-289, orders in itertools.permutations
  order: the repository iterates a Python 2 `set` of them through a Pool, an order that only
  decides exact ties of cycles and energy), then `get_stats_fast` on the winner. An FC layer is
  `get_FC_cycles` = get_conv_cycles(1, 1, 1, IC, OC, ..., B); the first conv is im2col'd
  (`get_cycles`: `im2col = True # im2col for first layer`);
- layer shapes and precisions: lowbit's transcription of its benchmarks.py
  (`lowbit.models.zoo.bitfusion_benchmarks`, WRPN variants, batch 16), checked here: every one
  of the 305 rows of tests/data/bitfusion/bitfusion_sim_per_layer.csv (the published simulator
  output) is reproduced exactly (cycles, memory wait, the ten access counts) or the script fails;
- energy costs (used only for the optimiser's energy tie-break and the stored energy): its
  `get_energy_cost` per array width, tests/data/bitfusion/bitfusion_energy.json `configs` (made
  by benchmarks/bitfusion_energy_golden.py from its CACTI sweep); a bank's cost does not depend
  on the memory interface, so the 192-bit rows take the 4096-bit row's costs of the same width
  (at 16x32 the two are the same in the json).

Run (about 5 CPU-minutes):

    .venv/bin/python benchmarks/bitfusion_optimizer_golden.py \\
        /work/.mirror/hsharma35+bitfusion/repo/.git 0246bc4c tests/data/bitfusion/bitfusion_optimizer_runs.csv
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import subprocess
import sys
import tarfile
import tempfile
from collections import namedtuple
from pathlib import Path

from lowbit.kernels_ref.formats import Format
from lowbit.models.zoo.bitfusion_benchmarks import (
    BENCHMARKS,
    bitfusion_benchmark,
    bitfusion_formats,
    first_layers,
)

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "bitfusion"
CONFIGS = [f"16x{m}@{bw}" for m in (32, 64, 128, 256) for bw in (192, 4096)]
LOOPS = ["B/b", "OW/ow", "OH/oh", "IC/ic", "OC/oc"]
PIPELINE_STUB = "class PipeStage(object):\n    pass\n\n\nclass Pipeline(object):\n    pass\n"
EnergyTuple = namedtuple("EnergyTuple", ["core_dynamic_energy", "wbuf_read_energy", "wbuf_write_energy",
                                         "ibuf_read_energy", "ibuf_write_energy", "obuf_read_energy",
                                         "obuf_write_energy"])
COLUMNS = ["config", "network", "layer", "K", "O", "S", "IC", "OC", "B", "iprec", "wprec", "im2col",
           "b", "ow", "oh", "ic", "oc", "order", "cycles", "memory_wait_cycles", "dram_read_bits",
           "dram_write_bits", "wbuf_read_bits", "wbuf_write_bits", "ibuf_read_bits", "ibuf_write_bits",
           "obuf_read_bits", "obuf_write_bits", "energy_nJ"]


def load_optimizer(git_dir: str, commit: str, into: Path):
    """The repository's optimizer module, imported from its own files at `commit`."""
    tar = subprocess.run(["git", "--git-dir", git_dir, "archive", commit, "bitfusion"], check=True,
                         capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(tar)) as tf:
        tf.extractall(into, filter="data")
    (into / "bitfusion" / "src" / "simulator" / "pipeline.py").write_text(PIPELINE_STUB)
    sys.path.insert(0, str(into))
    from bitfusion.src.optimizer import optimizer
    from bitfusion.src.simulator.accelerator import Accelerator
    return optimizer, Accelerator


def layer_params(bench: str, layer) -> tuple:
    """(K, O, S, IC, OC, B, iprec, wprec, im2col) as `Simulator.get_cycles` reads them."""
    w, a = (Format.parse(s).bits for s in bitfusion_formats(bench)[layer.name])
    if layer.conv is None:  # get_FC_cycles: get_conv_cycles(1, 1, 1, Ni, No, iprec, wprec, batch_size)
        return 1, 1, 1, layer.k, layer.n, layer.m * layer.batch, a, w, False
    g = layer.conv
    return (g.kernel_h, g.out_h, g.stride_h, g.in_channels, g.out_channels, layer.images, a, w,
            layer.name in first_layers(bench))


def run_layer(opt, accel_cls, key: str, energy: dict, params: tuple) -> tuple[dict, tuple, object]:
    n_m, bw = key.split("@")
    n, m = (int(v) for v in n_m.split("x"))
    sram = json.loads((DATA / "bitfusion_energy.json").read_text())["configs"][f"{n_m}@4096"]["sram_bytes"]
    acc = accel_cls(n, m, 8, 2, dict(sram), int(bw), 500e6)
    cost = EnergyTuple(**energy)
    conv_params = (acc, *params, cost)
    best = None
    for order in itertools.permutations(LOOPS):
        tiling, order_type, cycles, e = opt._optimize_for_order(conv_params, order)
        if best is None or best[2] > cycles or (best[2] == cycles and best[3] > e):
            best = (tiling, order_type, cycles, e)
    stats = opt.get_stats_fast(conv_params, best[0], best[1])
    return best[0], best[1], (stats, stats.get_energy(cost))


def main(git_dir: str, commit: str, out: str) -> None:
    costs = {k: v["energy_cost_nJ"] for k, v in json.loads((DATA / "bitfusion_energy.json").read_text())
             ["configs"].items()}
    peer = {}
    with open(DATA / "bitfusion_sim_per_layer.csv", newline="") as fh:
        for r in csv.DictReader(fh):
            peer[(f"{r['N']}x{r['M']}@{r['Bandwidth (bits/cycle)']}", r["Network"], r["Layer"].rsplit("/", 1)[0])] = r
    rows, checked = [], 0
    with tempfile.TemporaryDirectory() as tmp:
        opt, accel_cls = load_optimizer(git_dir, commit, Path(tmp))
        for key in CONFIGS:
            energy = costs[f"{key.split('@')[0]}@4096"]
            for bench in BENCHMARKS:
                for layer in bitfusion_benchmark(bench).layers:
                    p = layer_params(bench, layer)
                    tiling, order, (st, e) = run_layer(opt, accel_cls, key, energy, p)
                    row = {"config": key, "network": bench, "layer": layer.name,
                           **dict(zip(COLUMNS[3:12], [*p[:8], int(p[8])])),
                           "b": tiling["B/b"][1], "ow": tiling["OW/ow"][1], "oh": tiling["OH/oh"][1],
                           "ic": tiling["IC/ic"][1], "oc": tiling["OC/oc"][1], "order": ",".join(order),
                           "cycles": st.total_cycles, "memory_wait_cycles": st.mem_stall_cycles,
                           "dram_read_bits": st.reads["dram"], "dram_write_bits": st.writes["dram"],
                           "wbuf_read_bits": st.reads["wgt"], "wbuf_write_bits": st.writes["wgt"],
                           "ibuf_read_bits": st.reads["act"], "ibuf_write_bits": st.writes["act"],
                           "obuf_read_bits": st.reads["out"], "obuf_write_bits": st.writes["out"],
                           "energy_nJ": repr(float(e))}
                    ref = peer.get((key, bench, layer.name))
                    if ref is not None:  # the published output, reproduced exactly
                        got = [st.total_cycles, st.mem_stall_cycles, st.reads["wgt"], st.writes["wgt"],
                               st.reads["out"], st.writes["out"], st.reads["act"], st.writes["act"],
                               st.reads["dram"], st.writes["dram"]]
                        want = [int(ref[c]) for c in ("Cycles", "Memory wait cycles", "WBUF Read", "WBUF Write",
                                                      "OBUF Read", "OBUF Write", "IBUF Read", "IBUF Write",
                                                      "DRAM Read", "DRAM Write")]
                        if got != want:
                            raise SystemExit(f"{key} {bench} {layer.name}: {got} != the CSV's {want}")
                        checked += 1
                    rows.append(row)
            print(f"{key}: {sum(r['config'] == key for r in rows)} layers", file=sys.stderr)
    with open(out, "w", newline="") as fh:
        wr = csv.DictWriter(fh, fieldnames=COLUMNS)
        wr.writeheader()
        wr.writerows(rows)
    print(f"wrote {len(rows)} rows to {out}; {checked} rows equal bitfusion_sim_per_layer.csv", file=sys.stderr)


if __name__ == "__main__":
    main(*sys.argv[1:4])
