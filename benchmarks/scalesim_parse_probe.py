"""How scalesim 3.0.0 itself treats the cfg/topology variants where lowbit's reader once differed.

Run from the repository root with the SCALE-Sim venv:

    benchmarks/.venv-scalesim/bin/python benchmarks/scalesim_parse_probe.py > tests/data/scalesim_stall/parse_probe.txt

Each case edits tests/data/scalesim/a16x8_ws.cfg (or the topology) and prints RUNS with the
COMPUTE_REPORT row, or FAILS with the exception SCALE-Sim raised.
"""

import contextlib
import io
import os
import sys
from pathlib import Path

from scalesim.scale_sim import scalesim

base = Path("tests/data/scalesim/a16x8_ws.cfg").read_text()
gemmt = "Layer, M, N, K,\ng1, 8, 9, 10,\n"
cases = {
 "df_OS": (base.replace("Dataflow : ws", "Dataflow : OS"), gemmt, True),
 "df_WS": (base.replace("Dataflow : ws", "Dataflow : WS"), gemmt, True),
 "df_rs": (base.replace("Dataflow : ws", "Dataflow : rs"), gemmt, True),
 "banks_two": (base.replace("MemoryBanks:   1", "MemoryBanks:   two"), gemmt, True),
 "pct_runname": (base.replace("run_name = a16x8_ws", "run_name = a16x8%ws"), gemmt, True),
 "pct_banks": (base.replace("MemoryBanks:   1", "MemoryBanks:   1%"), gemmt, True),
 "layout_maybe": (base.replace("IfmapCustomLayout: False", "IfmapCustomLayout: maybe"), gemmt, True),
 "layout_yes": (base.replace("IfmapCustomLayout: False", "IfmapCustomLayout: yes"), gemmt, True),
 "layout_1": (base.replace("IfmapCustomLayout: False", "IfmapCustomLayout: 1"), gemmt, True),
 "layout_no": (base.replace("IfmapCustomLayout: False", "IfmapCustomLayout: no"), gemmt, True),
 "bw_FAST": (base.replace("InterfaceBandwidth: CALC", "InterfaceBandwidth: FAST"), gemmt, True),
 "no_rrb": (base.replace("ReadRequestBuffer: 512\n", ""), gemmt, True),
 "no_layout_key": (base.replace("IfmapSRAMBankNum: 10\n", ""), gemmt, True),
 "gemm_extra_nocomma": (base, "Layer, M, N, K,\ng1, 8, 9, 10, x\n", True),
 "gemm_extra_comma": (base, "Layer, M, N, K,\ng1, 8, 9, 10, x,\n", True),
 "gemm_extra_sparse": (base, "Layer, M, N, K,\ng1, 8, 9, 10, 1:1, x,\n", True),
 "gemm_nocomma": (base, "Layer, M, N, K,\ng1, 8, 9, 10\n", True),
 "empty_name": (base, "Layer, M, N, K,\n, 8, 9, 10,\n", True),
 "conv_empty_name": (base, "h,\n, 9, 9, 3, 3, 2, 4, 1,\n", False),
 "user_bw_bank_indivisible": (base.replace("InterfaceBandwidth: CALC", "InterfaceBandwidth: USER").replace("IfmapSRAMBankBandwidth: 10", "IfmapSRAMBankBandwidth: 7"), gemmt, True),
 "user_bw_ten": (base.replace("InterfaceBandwidth: CALC", "InterfaceBandwidth: USER").replace("Bandwidth : 10", "Bandwidth : ten"), gemmt, True),
 "calc_bw_ten": (base.replace("Bandwidth : 10", "Bandwidth : ten"), gemmt, True),
 "sparsity_TRUE": (base.replace("SparsitySupport : false", "SparsitySupport : TRUE"), gemmt, True),
 "ramulator_true": (base.replace("UseRamulatorTrace: False", "UseRamulatorTrace: true"), gemmt, True),
 "height_plus": (base.replace("ArrayHeight:    16", "ArrayHeight:    +16"), gemmt, True),
}
which = sys.argv[1:] or list(cases)
for name in which:
    cfg, topo, gemm = cases[name]
    d = f"benchmarks/_work/scalesim_parse/{name}"; os.makedirs(d, exist_ok=True)
    Path(f"{d}/c.cfg").write_text(cfg)
    Path(f"{d}/t.csv").write_text(topo)
    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf):
            sim = scalesim(save_disk_space=True, verbose=False, config=f"{d}/c.cfg", topology=f"{d}/t.csv",
                           layout="tests/data/scalesim/layout_none.csv", input_type_gemm=gemm)
            sim.run_scale(top_path=d)
        rep = Path(f"{d}/{sim.config.get_run_name()}/COMPUTE_REPORT.csv").read_text().splitlines()[1]
        warn = [l for l in buf.getvalue().splitlines() if "WARN" in l or "ERROR" in l or "layout" in l.lower()]
        print(f"{name:28s} RUNS df={sim.config.df!r} {rep}  {warn[:2]}")
    except BaseException as e:  # noqa: BLE001  (record whatever SCALE-Sim raises)
        print(f"{name:28s} FAILS {type(e).__name__}: {str(e)[:100]}")
