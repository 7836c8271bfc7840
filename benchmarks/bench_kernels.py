"""Time every registered reference kernel on a 4096x4096 weight, against torch fp32 matmul.

For each (kernel, weight format) with its first activation format (int8 where
the kernel takes it), and each activation row count M (default 16 and 512):

- kernel_s: the kernel alone (best of --repeat runs), on codes already drawn;
- verify_s: one full `kernels_ref.verify.verify_one` check at that shape (draw
  inputs, poisoned run, oracle, compare) -- the figure the < 1 s target is about;
- torch_s: torch fp32 matmul [M, 4096] @ [4096, 4096] (best of --repeat);
- ratio: kernel_s / torch_s.

    .venv/bin/python benchmarks/bench_kernels.py [--rows 16,512] [--device cpu] [--threads N]
        [--kernels dense-int,lut-tmac-g4] [--formats int4,ternary] [--all-acts] [--markdown FILE]

The target (issue 7): every format verifies a 4096x4096 weight in < 1 s on this CPU (M = 16).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import torch
from lowbit.kernels_ref.formats import Format
from lowbit.kernels_ref.registry import all_kernels
from lowbit.kernels_ref.verify import check_seed, draw_activations, draw_weight_codes, verify_one

__all__ = ["main"]


def _clock(device: str):  # type: ignore[no-untyped-def]
    """CPU time of this process on CPU (the machine is shared: wall time counts other jobs);
    wall time on CUDA (the GPU's time is not this process's CPU time)."""
    return time.perf_counter if device == "cuda" else time.process_time


def _best(fn, repeat: int, device: str) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    clock = _clock(device)
    for _ in range(repeat):
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = clock()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        best = min(best, clock() - t0)
    return best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", default="16,512")
    ap.add_argument("--size", type=int, default=4096, help="K = N of the weight")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--kernels", default=None)
    ap.add_argument("--formats", default=None)
    ap.add_argument("--no-verify-rows", default="512",
                    help="row counts for which the full verify is skipped (only the kernel is timed)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-est-s", type=float, default=60.0,
                    help="skip a (kernel, format, M) whose time, extrapolated linearly in M from a "
                         "16-row probe, exceeds this many seconds")
    ap.add_argument("--all-acts", action="store_true",
                    help="every registered activation format (every check `lowbit verify` runs), not the first")
    ap.add_argument("--markdown", default=None, help="also write the table as markdown to this file")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("no CUDA device", file=sys.stderr)
        return 2
    rows_list = [int(r) for r in args.rows.split(",")]
    skip_verify = {int(r) for r in args.no_verify_rows.split(",") if r}
    kn = set(args.kernels.split(",")) if args.kernels else None
    fm = {str(Format.parse(f)) for f in args.formats.split(",")} if args.formats else None
    k = n = args.size
    dev = args.device
    print(f"# bench_kernels: {k}x{n} weight, rows {rows_list}, device {dev}, torch {torch.__version__}, "
          f"threads {torch.get_num_threads()}, {platform.processor() or platform.machine()}; "
          f"{'wall' if dev == 'cuda' else 'CPU (process_time)'} seconds; load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    torch_s: dict[int, float] = {}
    for m in rows_list:
        a = torch.randn(m, k, device=dev)
        b = torch.randn(k, n, device=dev)
        torch_s[m] = _best(lambda a=a, b=b: a @ b, args.repeat, dev)
    # warm-up: the first 4096x4096 check in a process pays page faults and BLAS start-up
    warm = all_kernels()[0]
    verify_one(warm, Format.parse(warm.weight_formats[0]), Format.parse(warm.act_formats[0]), (16, k, n), 0, dev)
    header = "| kernel | weight | act | M | kernel_s | verify_s | torch_fp32_s | kernel/torch | verified |"
    lines = [header, "|" + "---|" * 9]
    print(header)
    print(lines[1])
    worst_verify = 0.0
    fails = 0
    for kern in all_kernels():
        if kn is not None and kern.name not in kn:
            continue
        acts = kern.act_formats if args.all_acts else ("int8" if "int8" in kern.act_formats else kern.act_formats[0],)
        for wf, act in ((wf, act) for wf in kern.weight_formats for act in acts):
            a_fmt = Format.parse(act)
            w_fmt = Format.parse(wf)
            if fm is not None and str(w_fmt) not in fm:
                continue
            probe_s: float | None = None
            for m in sorted(rows_list):
                gen = torch.Generator().manual_seed(check_seed(args.seed, kern.name, w_fmt, a_fmt, m))
                # composite formats (a kernel with its own `draw`): structured weights, as verify draws them
                w = (kern.draw(w_fmt, k, n, gen, False)[0] if kern.draw is not None
                     else draw_weight_codes(w_fmt, k, n, gen)).to(dev)
                if m > 16:
                    if probe_s is None:
                        xp = draw_activations(a_fmt, 16, k, gen).to(dev)
                        probe_s = _best(lambda f=kern.fn, x=xp, w=w, wf=w_fmt, af=a_fmt: f(x, w, wf, af), 1, dev)
                    est = probe_s * m / 16
                    if est > args.max_est_s:
                        line = (f"| {kern.name} | {w_fmt} | {a_fmt} | {m} | skipped (est. {est:.0f} s) | - | "
                                f"{torch_s[m]:.4f} | - | - |")
                        lines.append(line)
                        print(line, flush=True)
                        continue
                x = draw_activations(a_fmt, m, k, gen).to(dev)
                try:
                    ks = _best(lambda f=kern.fn, x=x, w=w, wf=w_fmt, af=a_fmt: f(x, w, wf, af), args.repeat, dev)
                except Exception as exc:  # noqa: BLE001 - report, keep benchmarking the rest
                    print(f"| {kern.name} | {w_fmt} | {a_fmt} | {m} | error: {type(exc).__name__}: {exc} |")
                    fails += 1
                    continue
                if m == 16:
                    probe_s = ks
                del x, w
                vs, ok = float("nan"), "-"
                if m not in skip_verify:
                    clock = _clock(dev)
                    t0 = clock()
                    res = verify_one(kern, w_fmt, a_fmt, (m, k, n), check_seed(args.seed, kern.name, m), dev)
                    vs = clock() - t0
                    ok = "pass" if all(r.passed for r in res) else "FAIL"
                    fails += ok == "FAIL"
                    worst_verify = max(worst_verify, vs)
                line = (f"| {kern.name} | {w_fmt} | {a_fmt} | {m} | {ks:.4f} | {vs:.3f} | {torch_s[m]:.4f} | "
                        f"{ks / torch_s[m]:.1f} | {ok} |")
                lines.append(line)
                print(line, flush=True)
    over = sum(1 for ln in lines[2:] if _verify_s(ln) > 1.0)
    summary = (f"worst verify time (M in {sorted(set(rows_list) - skip_verify)}): {worst_verify:.3f} s; "
               f"{over} of {len(lines) - 2} rows over 1 s; failures: {fails}; load average at end "
               f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(summary)
    if args.markdown:
        Path(args.markdown).write_text("\n".join(lines) + "\n\n" + summary + "\n")
    return 1 if fails else 0


def _verify_s(line: str) -> float:
    try:
        return float(line.split("|")[6])
    except (IndexError, ValueError):
        return float("nan")


if __name__ == "__main__":
    raise SystemExit(main())
