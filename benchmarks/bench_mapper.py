"""Time `mapper.search` per layer, cold, on every preset x the layers of a few zoo models.

Target (issue 19 item 1): <= 200 us median per layer, cold (no evaluate cache, no mapper
candidate cache carried over from another design). Cases: every preset in hwsim/presets x
the distinct layer shapes of resnet18, resnet50, llama-2-7b decode and prefill (seq 2048)
and minilm-l6 (embeddings have no mapping: left out), at one weight format per preset
(the first of int4, int8, binary that the core runs; activations at the preset's default).

The machine is shared, so the times are CPU seconds of this process (time.process_time),
per call: each layer is searched `--repeat` times and its fastest CPU time kept; the report
gives the median and p90 over layers, per preset and overall, and the load average.

    .venv/bin/python benchmarks/bench_mapper.py [--repeat 3] [--presets tpu-like,loom]

`--against DIR` times another mapper in the same process (A/B, each layer searched by both,
alternately, best of `--repeat` each, both caches cleared before every call) and counts the
layers whose mappings differ: DIR holds that mapper's package files, e.g. from
`git archive <rev> mapper | tar -x -C /tmp/ref` (DIR = /tmp/ref/mapper). It is loaded as the
package `lowbit.mapper_ref`; its relative imports resolve inside DIR. With `--fresh-spec` both
sides get the same new spec copy per call.

`--fresh-spec` gives every call a new copy of the accelerator, made outside the clock: its core
model and that model's per-format memos start empty (a new design's first layer); the core, buffer,
DRAM, energy and memory specs are the same objects. `--fresh-spec=deep` copies those too (a design
built from scratch: nothing memoised on any spec object; the formats and layers stay shared), and
also clears the bounded caches keyed by spec field values (`fresh_caches_clear`), so no derived
quantity of an equal earlier design is reused either.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from lowbit.hwsim.spec import load_accelerator
from lowbit.kernels_ref.errors import LowbitError
from lowbit.kernels_ref.formats import Format
from lowbit.mapper.tiling import clear_cache, price_mapping, search, search_grid
from lowbit.models import zoo
from lowbit.models.ir import OpKind

ROOT = Path(__file__).resolve().parents[1]
MODELS = [("resnet18", {}), ("resnet50", {}), ("llama-2-7b", {"phase": "decode", "seq_len": 2048}),
          ("llama-2-7b", {"phase": "prefill", "seq_len": 2048}), ("minilm-l6", {})]
WEIGHTS = ("int4", "int8", "binary")


def layers_of(zoo_module, embedding) -> list:
    """The distinct layer shapes of MODELS (embeddings have no mapping), from `zoo_module` (this
    tree's `models.zoo`, or an earlier tree's in bench_mapper_tree.py) and its EMBEDDING kind."""
    seen, out = set(), []
    for name, kw in MODELS:
        for layer in zoo_module.get(name, **kw).layers:
            if layer.op is embedding:
                continue
            key = replace(layer, name="_", tied_to=None)
            if key not in seen:
                seen.add(key)
                out.append(layer)
    return out


def fresh_copy(accel, mode: str):
    """A new accelerator equal to `accel`: `shallow` a new top-level spec (core, buffers, ...
    shared), `deep` every sub-spec copied too (each frozen dataclass rebuilt from its fields)."""
    if mode == "shallow":
        return dataclasses.replace(accel)
    if mode != "deep":
        raise SystemExit(f"--fresh-spec: shallow or deep, got {mode!r}")
    return dataclasses.replace(accel, core=dataclasses.replace(accel.core),
                               buffers=tuple(dataclasses.replace(b) for b in accel.buffers),
                               dram=dataclasses.replace(accel.dram), energy=dataclasses.replace(accel.energy),
                               memory=dataclasses.replace(accel.memory))


def fresh_caches_clear() -> None:
    """Clear the bounded caches keyed by spec field values (not by spec objects) that outlive
    `mapper.tiling.clear_cache`: what a design never seen before finds empty."""
    from lowbit.hwsim.cores import bit_serial, mac_array

    for mod in (mac_array, bit_serial):
        if hasattr(mod, "clear_cache"):  # (an earlier tree run with this script has none)
            mod.clear_cache()


def _cpu_us(fn, repeat: int, fresh=None) -> float:
    """Best CPU us of `repeat` calls, every mapper cache cleared before each. With `fresh` (a
    function giving a new copy of the accelerator), each call also gets a spec copy made outside
    the clock, so its core model and that model's per-format memos start empty too."""
    best = float("inf")
    for _ in range(repeat):
        clear_cache()  # cold: no shared result, candidate set or per-dataflow compute from before
        args = (fresh(),) if fresh is not None else ()  # (clears the value-keyed caches when deep)
        t0 = time.process_time()
        fn(*args)
        best = min(best, time.process_time() - t0)
    return best * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--presets", default="")
    ap.add_argument("--jit", default="on", choices=("on", "off"),
                    help="this tree's latency search: compiled (mapper.fast_jit, loaded before the clock) or numpy")
    ap.add_argument("--grid", action="store_true", help="time the reference search_grid (today's search)")
    ap.add_argument("--shared", action="store_true",
                    help="instead: per layer on a design that differs from one already searched only in clock")
    ap.add_argument("--thinning", action="store_true",
                    help="instead: how often every candidate (no max_per_dim thinning) beats max_per_dim=10")
    ap.add_argument("--fresh-spec", nargs="?", const="shallow", default="", choices=("shallow", "deep"),
                    help="each call on a new copy of the spec: core-model memos empty too (a new design's first "
                         "layer); =deep: every sub-spec copied and the value-keyed caches cleared (see the doc)")
    ap.add_argument("--fresh-gap", action="store_true",
                    help="instead: per preset, a fresh copy (--fresh-spec mode, default shallow) vs the warm spec, "
                         "alternated per layer: the median CPU us each and the gap")
    ap.add_argument("--against", default="", metavar="DIR",
                    help="instead: A/B against the mapper package in DIR (see the module doc)")
    args = ap.parse_args()
    from lowbit.mapper import fast

    fast.set_jit(args.jit)
    presets = args.presets.split(",") if args.presets else sorted(
        p.stem for p in (ROOT / "hwsim" / "presets").glob("*.yaml"))
    layers = layers_of(zoo, OpKind.EMBEDDING)
    if args.thinning:
        return _thinning(presets, layers)
    if args.shared:
        return _shared(presets, layers)
    if args.fresh_gap:
        return _fresh_gap(presets, layers, args.repeat, args.fresh_spec or "shallow")
    if args.against:
        return _against(presets, layers, Path(args.against), args.repeat, args.fresh_spec)
    fn = search_grid if args.grid else search
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
          f"{len(layers)} distinct layer shapes; CPU time (time.process_time), best of {args.repeat}"
          + (f"; fresh spec ({args.fresh_spec})" if args.fresh_spec else "") + f"; latency search jit {args.jit}")
    print("| preset | weights | layers | median us | p90 us | max us |")
    print("|---|---|---:|---:|---:|---:|")
    allt: list[float] = []
    t_start = time.process_time()
    for hw in presets:
        accel = load_accelerator(hw)
        a = accel.act_format
        times: list[float] = []
        used = ""
        for wname in WEIGHTS:
            w = Format.parse(wname)
            try:
                fn(layers[0], w, a, accel)
            except LowbitError:
                continue
            used = wname
            break
        if not used:
            print(f"| {hw} | (no format runs) | 0 | | | |")
            continue
        w = Format.parse(used)
        for layer in layers:
            aw = a if layer.op is OpKind.MATMUL else w
            try:
                if args.fresh_spec:
                    times.append(_cpu_us(lambda acc, layer=layer, aw=aw, a=a: fn(layer, aw, a, acc), args.repeat,
                                         fresh=lambda accel=accel: _fresh(accel, args.fresh_spec)))
                else:
                    times.append(_cpu_us(lambda layer=layer, aw=aw, a=a, accel=accel: fn(layer, aw, a, accel),
                                         args.repeat))
            except LowbitError:
                continue
        t = np.array(times)
        allt.extend(times)
        print(f"| {hw} | {used} | {t.size} | {np.median(t):.0f} | {np.percentile(t, 90):.0f} | {t.max():.0f} |")
    t = np.array(allt)
    print(f"| **all** | | {t.size} | **{np.median(t):.0f}** | {np.percentile(t, 90):.0f} | {t.max():.0f} |")
    print(f"total CPU {time.process_time() - t_start:.1f} s; load average at end: "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def _fresh(accel, mode: str):
    if mode == "deep":
        fresh_caches_clear()
    return fresh_copy(accel, mode)


def _load_ref(path: Path):
    """The mapper package in `path`, imported as `lowbit.mapper_ref` (its `tiling` module)."""
    spec = importlib.util.spec_from_file_location("lowbit.mapper_ref", path / "__init__.py",
                                                  submodule_search_locations=[str(path)])
    mod = importlib.util.module_from_spec(spec)
    sys.modules["lowbit.mapper_ref"] = mod
    spec.loader.exec_module(mod)
    return importlib.import_module("lowbit.mapper_ref.tiling")


def _outcome(tiling, layer, w, a, accel, repeat: int, fresh: str = "") -> tuple[float, object]:
    """(best CPU us of `repeat` cold searches, the mapping's fields or the error text); with
    `fresh`, each search on a new copy of `accel` (made outside the clock)."""
    best, out = float("inf"), None
    for _ in range(repeat):
        tiling.clear_cache()
        acc = _fresh(accel, fresh) if fresh else accel
        t0 = time.process_time()
        try:
            m = tiling.search(layer, w, a, acc)
            out = (m.tile_m, m.tile_k, m.tile_n, m.loop_order, m.dataflow, m.cores, m.split_dim)
        except LowbitError as exc:
            out = str(exc)
        best = min(best, time.process_time() - t0)
    return best * 1e6, out


def _against(presets: list[str], layers: list, path: Path, repeat: int, fresh: str = "") -> None:
    """Per preset and overall: the reference mapper's and this one's median CPU us per layer
    (same process, alternated per layer), and the layers whose mappings differ."""
    from lowbit.mapper import tiling as this

    ref = _load_ref(path)
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; against {path}"
          + (f"; fresh spec ({fresh})" if fresh else ""))
    print("| preset | layers | reference median us | this median us | this p90 us | differing |")
    print("|---|---:|---:|---:|---:|---:|")
    all_ref: list[float] = []
    all_new: list[float] = []
    differ = 0
    for hw in presets:
        accel = load_accelerator(hw)
        a = accel.act_format
        used = next((n for n in WEIGHTS if not isinstance(_outcome(this, layers[0], Format.parse(n), a, accel, 1)[1],
                                                           str)), "")
        if not used:
            continue
        w = Format.parse(used)
        t_ref, t_new, n_diff = [], [], 0
        for layer in layers:
            aw = a if layer.op is OpKind.MATMUL else w
            tr, r0 = _outcome(ref, layer, aw, a, accel, repeat, fresh)
            tn, r1 = _outcome(this, layer, aw, a, accel, repeat, fresh)
            if isinstance(r0, str) and isinstance(r1, str):
                continue  # no mapping either way (the timing run skips these too)
            n_diff += r0 != r1
            t_ref.append(tr)
            t_new.append(tn)
        differ += n_diff
        all_ref += t_ref
        all_new += t_new
        print(f"| {hw} | {len(t_new)} | {np.median(t_ref):.0f} | {np.median(t_new):.0f} | "
              f"{np.percentile(t_new, 90):.0f} | {n_diff} |")
    r, n = np.array(all_ref), np.array(all_new)
    print(f"| **all** | {n.size} | **{np.median(r):.0f}** (p90 {np.percentile(r, 90):.0f}) | "
          f"**{np.median(n):.0f}** | {np.percentile(n, 90):.0f} | {differ} |")
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def _fresh_gap(presets: list[str], layers: list, repeat: int, mode: str) -> None:
    """Per preset: median CPU us of a search on a fresh copy of the spec (`mode`) and on the warm
    spec itself, alternated per layer (best of `repeat` each, mapper caches cleared before every
    call), and their gap: what a new design's first layer costs over a known design's."""
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; fresh spec ({mode}) vs warm")
    print("| preset | layers | fresh median us | warm median us | gap us |")
    print("|---|---:|---:|---:|---:|")
    all_f: list[float] = []
    all_w: list[float] = []
    for hw in presets:
        accel = load_accelerator(hw)
        a = accel.act_format
        used = next((n for n in WEIGHTS if not isinstance(_outcome(tiling_mod(), layers[0], Format.parse(n), a,
                                                                   accel, 1)[1], str)), "")
        if not used:
            continue
        w = Format.parse(used)
        tf, tw = [], []
        for layer in layers:
            aw = a if layer.op is OpKind.MATMUL else w
            f, r0 = _outcome(tiling_mod(), layer, aw, a, accel, repeat, mode)
            k, r1 = _outcome(tiling_mod(), layer, aw, a, accel, repeat)
            if isinstance(r0, str) and isinstance(r1, str):
                continue
            assert r0 == r1, (hw, layer.name, r0, r1)  # a fresh copy maps as the spec itself
            tf.append(f)
            tw.append(k)
        all_f += tf
        all_w += tw
        print(f"| {hw} | {len(tf)} | {np.median(tf):.0f} | {np.median(tw):.0f} | {np.median(tf) - np.median(tw):.1f} |")
    print(f"| **all** | {len(all_f)} | **{np.median(all_f):.0f}** | **{np.median(all_w):.0f}** | "
          f"{np.median(all_f) - np.median(all_w):.1f} |")
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def tiling_mod():
    from lowbit.mapper import tiling

    return tiling


def _shared(presets: list[str], layers: list) -> None:
    """CPU us per layer on a design that differs from a searched one only in its clock."""
    times: list[float] = []
    for hw in presets:
        accel = load_accelerator(hw)
        other = accel.with_changes(freq_hz=accel.freq_hz * 1.5)
        a = accel.act_format
        for layer in layers:
            w = a if layer.op is OpKind.MATMUL else Format.parse("int8")
            clear_cache()
            try:
                search(layer, w, a, accel)
            except LowbitError:
                continue
            t0 = time.process_time()
            search(layer, w, a, other)
            times.append((time.process_time() - t0) * 1e6)
    t = np.array(times)
    print(f"shared (clock x1.5 after the base design): {t.size} layers, median {np.median(t):.1f} us, "
          f"p90 {np.percentile(t, 90):.1f} us")


def _thinning(presets: list[str], layers: list) -> None:
    """Latency of today's thinned candidates (max_per_dim=10) vs all candidates (the exhaustive
    set, searched by the exact fast search, which tests/mapper holds equal to an exhaustive loop)."""
    n = better = 0
    worst = (0.0, "")
    for hw in presets:
        accel = load_accelerator(hw)
        a = accel.act_format
        for layer in layers:
            w = a if layer.op is OpKind.MATMUL else Format.parse("int8")
            try:
                thin = price_mapping(layer, w, a, accel, search(layer, w, a, accel))
                full = price_mapping(layer, w, a, accel, search(layer, w, a, accel, max_per_dim=10 ** 6))
            except LowbitError:
                continue
            n += 1
            gain = 1.0 - float(full.cycles.ravel()[0]) / float(thin.cycles.ravel()[0])
            better += gain > 0
            worst = max(worst, (gain, f"{hw} {layer.name} {layer.m}x{layer.k}x{layer.n}"))
    print(f"{n} preset x layer cases at int8: all candidates beat max_per_dim=10 in {better}; "
          f"largest latency gain {worst[0]:.2%} ({worst[1]})")


if __name__ == "__main__":
    main()
