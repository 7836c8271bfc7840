"""A/B of `mapper.search` per layer, cold, against a whole earlier tree in one process.

`bench_mapper.py --against DIR` swaps only the mapper package: both mappers then price with
today's core models, so a change in `hwsim/cores` (issue 19 item 1 round 4: plain-int
`compute` paths) shows on neither side. This script loads the earlier revision's hwsim,
mapper, models and kernels_ref together as the package `lowbit_old` (`git archive REV`, its
`lowbit.` imports renamed) and searches every preset x zoo layer of `bench_mapper.py` with
both trees, alternately per layer, each with its own accelerator, formats and layers; both
mappers' caches are cleared before every call (`clear_cache`) and the best of `--repeat`
CPU times (time.process_time) is kept. Mappings are compared field by field.

    .venv/bin/python benchmarks/bench_mapper_tree.py --before REV [--repeat 3] [--presets a,b]
        [--fresh-spec[=deep]]

`--fresh-spec` as in `bench_mapper.py`: each call on a new copy of that tree's accelerator (made
outside the clock); `=deep` copies every sub-spec too and clears that tree's value-keyed caches
(`hwsim.cores.mac_array` / `bit_serial.clear_cache` where the tree has them).
"""

from __future__ import annotations

import argparse
import importlib
import io
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_mapper import WEIGHTS, fresh_copy, layers_of

_PKGS = ("hwsim", "mapper", "models", "kernels_ref")


def _old_tree(rev: str, into: Path) -> None:
    """`git archive rev` of the cost-path packages under into/lowbit_old, imports renamed."""
    data = subprocess.run(["git", "-C", str(ROOT), "archive", rev, *_PKGS], check=True,
                          capture_output=True).stdout
    pkg = into / "lowbit_old"
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(pkg, filter="data")
    (pkg / "__init__.py").write_text('"""An earlier tree of lowbit, for A/B timing."""\n')
    pat = re.compile(r"\blowbit\.(" + "|".join(_PKGS) + r")\b")
    for py in pkg.rglob("*.py"):
        text = py.read_text()
        new = pat.sub(r"lowbit_old.\1", text)
        if new != text:
            py.write_text(new)


def _package(name: str) -> dict[str, Any]:
    return {mod.split(".")[-1]: importlib.import_module(f"{name}.{mod}") for mod in
            ("hwsim.spec", "mapper.tiling", "kernels_ref.formats", "models.zoo", "models.ir", "kernels_ref.errors",
             "hwsim.cores.mac_array", "hwsim.cores.bit_serial")}


def _layers(p: dict[str, Any]) -> list:
    return layers_of(p["zoo"], p["ir"].OpKind.EMBEDDING)


def _outcome(p: dict[str, Any], layer: Any, w: Any, a: Any, accel: Any, repeat: int,
             fresh: str = "") -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        p["tiling"].clear_cache()
        acc = accel
        if fresh:
            for fam in ("mac_array", "bit_serial"):
                if fresh == "deep" and hasattr(p[fam], "clear_cache"):
                    p[fam].clear_cache()
            acc = fresh_copy(accel, fresh)
        t0 = time.process_time()
        try:
            m = p["tiling"].search(layer, w, a, acc)
            out = (m.tile_m, m.tile_k, m.tile_n, m.loop_order, m.dataflow.value, m.cores, m.split_dim, m.m_block)
        except p["errors"].LowbitError as exc:
            out = str(exc)
        best = min(best, time.process_time() - t0)
    return best * 1e6, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", required=True, help="git revision of the earlier tree")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--presets", default="")
    ap.add_argument("--jit", default="on", choices=("on", "off"),
                    help="this tree's latency search: compiled (mapper.fast_jit, loaded before the clock) or numpy")
    ap.add_argument("--fresh-spec", nargs="?", const="shallow", default="", choices=("shallow", "deep"))
    args = ap.parse_args()
    from lowbit.mapper import fast

    fast.set_jit(args.jit)
    tmp = Path(tempfile.mkdtemp(prefix="lowbit_old_"))
    _old_tree(args.before, tmp)
    sys.path.insert(0, str(tmp))
    pk = {"after": _package("lowbit"), "before": _package("lowbit_old")}
    lay = {k: _layers(p) for k, p in pk.items()}
    presets = args.presets.split(",") if args.presets else sorted(
        p.stem for p in (ROOT / "hwsim" / "presets").glob("*.yaml"))
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; before = {args.before}"
          + (f"; fresh spec ({args.fresh_spec})" if args.fresh_spec else "") + f"; after: latency search jit {args.jit}")
    print("| preset | layers | before median us | after median us | after p90 us | differing |")
    print("|---|---:|---:|---:|---:|---:|")
    all_b: list[float] = []
    all_a: list[float] = []
    differ = 0
    for hw in presets:
        acc = {k: p["spec"].load_accelerator(hw) for k, p in pk.items()}
        p, ac = pk["after"], acc["after"]
        used = next((n for n in WEIGHTS if not isinstance(
            _outcome(p, lay["after"][0], p["formats"].Format.parse(n), ac.act_format, ac, 1)[1], str)), "")
        if not used:
            continue
        tb, ta, nd = [], [], 0
        for i in range(len(lay["after"])):
            res = {}
            for k in ("before", "after"):
                p, accel, layer = pk[k], acc[k], lay[k][i]
                a = accel.act_format
                w = a if layer.op is p["ir"].OpKind.MATMUL else p["formats"].Format.parse(used)
                res[k] = _outcome(p, layer, w, a, accel, args.repeat, args.fresh_spec)
            if isinstance(res["before"][1], str) and isinstance(res["after"][1], str):
                continue
            nd += res["before"][1] != res["after"][1]
            tb.append(res["before"][0])
            ta.append(res["after"][0])
        differ += nd
        all_b += tb
        all_a += ta
        print(f"| {hw} | {len(ta)} | {np.median(tb):.0f} | {np.median(ta):.0f} | {np.percentile(ta, 90):.0f} | {nd} |",
              flush=True)
    b, a = np.array(all_b), np.array(all_a)
    print(f"| **all** | {a.size} | **{np.median(b):.0f}** (p90 {np.percentile(b, 90):.0f}) | **{np.median(a):.0f}** | "
          f"{np.percentile(a, 90):.0f} | {differ} |")
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
