"""Derive the T-MAC presets' per-lookup kernel cost from T-MAC's own kernel source.

    .venv/bin/python benchmarks/tmac_kernel_mca.py [--tmac GIT_DIR] [--x86-cpu CPU] [--write]

T-MAC's LUT GEMV micro-kernel, `tbl_g4_int8_float_update_impl` in microsoft/T-MAC
`python/t_mac/intrins/tbl.cc` (read with `git show` from a clone, GIT_DIR, at COMMIT below), is
compiled with clang 19 -O3 (Debian `clang-19`; T-MAC builds its kernels with clang) for the
template arguments of T-MAC's own tuned kernels (`deploy/tuned/aarch64-*/kernels.cc`: K 16,
ActK 16, no fast aggregation; zero points for Llama-2-7B W2 and W4, one scale for BitNet-3B).
Its inner loop (one iteration: K 16-byte weight-index loads, their lookups, the int16 adders and
the fp epilogue that folds the K groups into the output) is then measured two ways:

- x86, `-march=icelake-client`: `llvm-mca-19 -mcpu=icelake-client` (LLVM's Ice Lake scheduling
  model, Debian `llvm-19`) gives the loop's steady-state cycles per iteration; divided by the
  `vpshufb` per iteration (each a 32-byte lookup) it is cycles per lookup instruction, what
  `lut_cpu`'s `cycles_per_lookup` holds (tmac-avx2: one Ice Lake core).
- aarch64, `-mcpu=apple-m2`: the vector instructions per `tbl` (16-byte lookup) in the loop. LLVM
  has no Apple M2 (Avalanche) scheduling model (`apple-m2` gets Cyclone's), so no cycles are
  derived for it; the count is what tmac-m2-neon's op-count fields are checked against.

`--x86-cpu` measures the x86 build for another CPU of LLVM's (`-march`/`-mcpu` names, e.g.
`znver4`, `alderlake`, `skylake`): the cycles per lookup to put in your own spec's
`core.cycles_per_lookup`. GIT_DIR is a clone's git directory (`git clone
https://github.com/microsoft/T-MAC` then `--tmac T-MAC/.git`).

`--write` (default CPUs only) stores the result in tests/data/lut_tmac/kernel_mca.json (what
tests/hwsim/test_tmac_core.py holds the presets to). Needs clang-19, llvm-mca-19 and, for the
aarch64 build, Debian `libc6-dev-arm64-cross libstdc++-12-dev-arm64-cross` (headers only).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "data" / "lut_tmac" / "kernel_mca.json"
COMMIT = "7042f8f73330bd083bc1e4bc5ccb3f88a4904aee"
SOURCE = "python/t_mac/intrins/tbl.cc"
CLANG, MCA = "clang++-19", "llvm-mca-19"
# template <has_scale, K, Bits, ActK, FastAggregation, ZeroPoint, OneScale>, as T-MAC's tuned
# kernels instantiate it (deploy/tuned/aarch64-<model>/kernels.cc, tbl_g4_int8_float_update_s*)
VARIANTS = {
    "bitnet-3b": "true, 16, 2, 16, false, false, true",
    "llama-2-7b-w2": "true, 16, 2, 16, false, true, false",
    "llama-2-7b-w4": "true, 16, 4, 16, false, true, false",
}
SIG = "(int32_t, float_type*, int8_t*, uint8_t*, float_type*, float_type*, float_type*)"
_MEM = re.compile(r"^(ld|st)[0-9a-z]*$")  # aarch64 loads and stores: not vector-pipe ops


def _loop(asm: str, back_edge: str) -> list[str]:
    """The instructions of the function's one innermost loop: from clang's 'Inner Loop Header'
    label to the branch back to it (directives and comments dropped)."""
    lines = asm.splitlines()
    start = next(i for i, ln in enumerate(lines) if "Inner Loop Header" in ln)
    label = lines[start].split(":")[0]
    body = []
    for ln in lines[start + 1:]:
        ins = ln.split("//")[0].split("#")[0].strip()
        if not ins or ins.startswith("."):
            continue
        body.append(ins)
        if re.match(back_edge, ins) and ins.endswith(label):
            return body
    raise SystemExit(f"no back edge to {label} in the compiled kernel")


def _compile(src_dir: Path, variant: str, target: list[str]) -> str:
    drv = src_dir / "drv.cc"
    drv.write_text(f'#include "tbl.cc"\ntemplate int32_t tbl_g4_int8_float_update_impl<{variant}>{SIG};\n')
    out = src_dir / "drv.s"
    subprocess.run([CLANG, "-O3", "-std=c++17", *target, "-S", "-o", str(out), str(drv)], check=True)
    return out.read_text()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tmac", default="/work/.mirror/microsoft+T-MAC/repo",
                    help="a clone of microsoft/T-MAC (its git directory) holding COMMIT")
    ap.add_argument("--x86-cpu", default="icelake-client", help="LLVM CPU name for the x86 build and llvm-mca")
    ap.add_argument("--write", action="store_true", help=f"store the result in {OUT.name}")
    args = ap.parse_args()
    if args.write and args.x86_cpu != "icelake-client":
        ap.error("--write stores the tmac-avx2 derivation: icelake-client only")
    cpu = args.x86_cpu
    text = subprocess.run(["git", "--git-dir", args.tmac, "show", f"{COMMIT}:{SOURCE}"],
                          capture_output=True, text=True, check=True).stdout
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        (d / "tbl.cc").write_text(text)
        for name, variant in VARIANTS.items():
            x86 = _loop(_compile(d, variant, [f"-march={cpu}"]), r"j[a-z]+\s")
            (d / "loop.s").write_text("\n".join(x86) + "\n")
            mca = subprocess.run([MCA, "-mtriple=x86_64", f"-mcpu={cpu}", "-iterations=1000",
                                  str(d / "loop.s")], capture_output=True, text=True, check=True).stdout
            cycles = int(re.search(r"Total Cycles:\s+(\d+)", mca).group(1)) / 1000
            shuf = sum(ins.split()[0] == "vpshufb" for ins in x86)
            arm = _loop(_compile(d, variant, ["--target=aarch64-linux-gnu", "-mcpu=apple-m2"]), r"b\.[a-z]+\s")
            ops = [op for op, *args in map(str.split, arm)
                   if args and args[0].startswith("v") and not _MEM.match(op)]
            tbl = ops.count("tbl")
            unpack = ops.count("ushr") + ops.count("and")
            rows[name] = {
                "template_args": variant,
                "x86_icelake": {"loop_instructions": len(x86), "vpshufb_per_iteration": shuf,
                                "mca_cycles_per_iteration": cycles,
                                "cycles_per_lookup": round(cycles / shuf, 4)},
                "aarch64_apple_m2": {"tbl_per_iteration": tbl, "vector_ops_per_iteration": len(ops),
                                     "vector_ops_per_tbl": round(len(ops) / tbl, 4),
                                     "unpack_ops_per_tbl": round(unpack / tbl, 4),
                                     "other_ops_per_tbl": round((len(ops) - tbl - unpack) / tbl, 4),
                                     "op_counts": {op: ops.count(op) for op in sorted(set(ops))}},
            }
            r = rows[name]
            print(f"{name} <{variant}>: {cpu} {cycles:.2f} cycles / {shuf} vpshufb = "
                  f"{r['x86_icelake']['cycles_per_lookup']:.3f} cycles per lookup; apple-m2 "
                  f"{len(ops)} vector ops / {tbl} tbl = {r['aarch64_apple_m2']['vector_ops_per_tbl']:.3f}", flush=True)
    if args.write:
        versions = {tool: subprocess.run([tool, "--version"], capture_output=True, text=True,
                                         check=True).stdout.splitlines()[0] for tool in (CLANG, MCA)}
        OUT.write_text(json.dumps({
            "_source": "benchmarks/tmac_kernel_mca.py --write (this file's command): microsoft/T-MAC "
                       f"{SOURCE} at {COMMIT}, compiled with clang 19 -O3; x86 cycles from llvm-mca's "
                       "icelake-client model, aarch64 vector-instruction counts",
            "tmac_commit": COMMIT, "tools": versions, "kernels": rows}, indent=1) + "\n")
        print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
