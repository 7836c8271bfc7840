"""Synthetic sweep stores in the schema `lowbit sweep` writes (see reports/sweep_report.py).

Costs come from a toy closed form (not hwsim): a layer's latency is MACs x weight bits /
(rows x freq) on "bitser" designs and MACs x bits / (4 x units x 64 x freq) on "lutc"
designs; every number is derived from the point, so the rows are deterministic. "lutc"
rows also carry a peak per format (its latency is linear in the weight bits, like a bit-serial
core's: the peak grows as the width shrinks); "bitser" rows only the one peak_macs_per_s.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from lowbit.search.store import ResultStore

LAYERS = ("conv1", "conv2", "conv3", "conv4", "fc1", "fc2")
MACS = np.array([1.2e8, 2.4e8, 2.4e8, 1.2e8, 4.0e6, 1.0e6])
WEIGHTS = np.array([1.7e3, 3.7e4, 7.4e4, 1.5e5, 4.0e6, 1.0e6])
SENS = {2: 4.0, 4: 0.25, 8: 0.001}  # loss per unit layer weight at each weight width
LAYER_W = np.array([8.0, 1.0, 1.0, 1.0, 0.5, 4.0])


def _costs(bits: np.ndarray, base: str, params: dict[str, Any]) -> dict[str, np.ndarray]:
    f = params["freq_hz"]
    par = params["core.rows"] if base == "bitser" else 256 * params["core.units"]
    compute = MACS * bits / (par * f)
    dram = WEIGHTS * bits / 8 + 2e5
    mem_s = dram / (16 * f)
    lat = np.maximum(compute, mem_s)
    return {"latency": lat, "dram": dram,
            "energy": {"mac": MACS * bits * 1e-13, "sram": MACS * 2e-13, "dram": dram * 2e-11,
                       "leakage": lat * par * 1e-5}}


def _result(model: str, base: str, params: dict[str, Any], bits: np.ndarray) -> dict[str, Any]:
    c = _costs(bits, base, params)
    par = params["core.rows"] if base == "bitser" else 256 * params["core.units"]
    fmts = [f"int{int(b)}" for b in bits]
    uniform = {}
    for b in (4, 8):
        u = _costs(np.full(len(LAYERS), b), base, params)
        uniform[f"int{b}"] = {"latency_s": float(u["latency"].sum()),
                              "energy_j": float(sum(v.sum() for v in u["energy"].values())),
                              "quality": float((LAYER_W * SENS[b]).sum()),
                              "memory_bytes": float((WEIGHTS * b / 8).sum())}
    return {"status": "ok", "hardware": f"{base}-{params['freq_hz']:g}",
            "family": "bit_serial" if base == "bitser" else "lut_tensor_core",
            "freq_hz": params["freq_hz"], "cycles": float(c["latency"].sum() * params["freq_hz"]),
            "latency_s": float(c["latency"].sum()),
            "energy_j": float(sum(v.sum() for v in c["energy"].values())),
            "area_mm2": par * (0.02 if base == "bitser" else 0.005),
            "quality": float(sum(LAYER_W[i] * SENS[int(b)] for i, b in enumerate(bits))),
            "memory_bytes": float((WEIGHTS * bits / 8).sum()), "layers": list(LAYERS),
            "choices": fmts, "bits": [int(b) for b in bits], "layer_latency_s": list(c["latency"]),
            "layer_energy_j": {k: list(v) for k, v in c["energy"].items()},
            "layer_macs": list(MACS), "layer_dram_bytes": list(c["dram"]),
            "peak_macs_per_s": float(par * params["freq_hz"] / 8),
            "dram_bytes_per_s": float(16 * params["freq_hz"]), "uniform": uniform,
            **({"peak_macs_per_s_by_format": {f"int{b}": par * params["freq_hz"] / b for b in (2, 4, 8)}}
               if base == "lutc" else {})}


def fill_store(path: Path, models: tuple[str, ...] = ("net-a", "net-b"),
               bad: bool = True) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """Write a sweep store: per model 2 bases x 6 designs x a few allocations; returns the rows."""
    space = {"bitser": {"core.rows": [16, 64, 256], "freq_hz": [5e8, 1e9]},
             "lutc": {"core.units": [1, 4, 16], "freq_hz": [5e8, 1e9]}}
    allocs = [np.array(a) for a in ([8, 4, 4, 4, 4, 8], [8, 2, 4, 4, 2, 8], [8, 8, 8, 8, 8, 8])]
    rows = []
    n = 0
    for model, (base, sp) in itertools.product(models, space.items()):
        for vals in itertools.product(*sp.values()):
            for bits in allocs:
                n += 1
                params = dict(zip(sp, vals))
                point = {"design": f"d{n:05d}", "base": base, "params": params, "model": model}
                rows.append((f"{model}|d{n:05d}", point, _result(model, base, params, bits)))
    if bad:
        rows.append(("net-a|d90001", {"design": "d90001", "base": "bitser", "model": "net-a",
                                      "params": {"core.rows": 4, "freq_hz": 5e8}},
                     {"status": "infeasible", "message": "latency <= 1e-4 s unreachable (min 3e-4 s)",
                      "minimum": {"latency_s": 3e-4}}))
        rows.append(("net-a|d90002", {"design": "d90002", "base": "bitser", "model": "net-a",
                                      "params": {"core.rows": 2, "freq_hz": 5e8}},
                     {"status": "infeasible", "message": "latency <= 1e-4 s unreachable (min 6e-4 s)",
                      "minimum": {"latency_s": 6e-4}}))
        rows.append(("net-b|d90003", {"design": "d90003", "base": "lutc", "model": "net-b",
                                      "params": {"core.units": 0, "freq_hz": 5e8}},
                     {"status": "invalid", "message": "core.units: must be a positive integer, got 0"}))
    with ResultStore(path) as st:
        st.set_meta([("space", space), ("space_name", "toy"), ("models", list(models)),
                     ("formats", ["int2", "int4", "int8"]), ("budgets", {"latency": "0.6x"}),
                     ("objective", "sensitivity")])
        for k, p, r in rows:
            st.put(k, "toy", p, r)
    return rows


@pytest.fixture
def sweep_store(tmp_path: Path) -> Callable[..., tuple[Path, list[Any]]]:
    def make(name: str = "sweep.sqlite", **kw: Any) -> tuple[Path, list[Any]]:
        p = tmp_path / name
        return p, fill_store(p, **kw)
    return make


def drawn_stats(png: Path) -> dict[str, float]:
    """Share of non-white pixels, number of distinct colours, share of saturated pixels."""
    import matplotlib.image as mpimg

    a = mpimg.imread(png)[..., :3]
    if a.dtype != np.uint8:
        a = np.round(a * 255).astype(np.uint8)
    px = a.reshape(-1, 3).astype(np.int32)
    nonwhite = float((px.min(1) < 245).mean())
    colours = len(np.unique(px[:, 0] * 65536 + px[:, 1] * 256 + px[:, 2]))
    saturated = float(((px.max(1) - px.min(1)) > 60).mean())
    return {"nonwhite": nonwhite, "colours": colours, "saturated": saturated,
            "height": a.shape[0], "width": a.shape[1]}


@pytest.fixture
def png_stats() -> Callable[[Path], dict[str, float]]:
    return drawn_stats


def preset_store(db: Path, sweep_store: Callable[..., Any]) -> list[Any]:
    """The toy store plus one single-design base (a preset: no params) for net-a."""
    db_path, rows = sweep_store(db.name, models=("net-a",))
    _k, _p, r = next(x for x in rows if x[1]["base"] == "bitser" and x[2]["status"] == "ok")
    r = {**r, "hardware": "bitmod"}
    with ResultStore(db_path) as st:
        st.put("net-a|p0", "toy", {"design": "b9:", "base": "bitmod", "params": {}, "model": "net-a"}, r)
    return [*rows, ("net-a|p0", {"design": "b9:", "base": "bitmod", "params": {}, "model": "net-a"}, r)]


def pareto_doc(path: Path) -> Path:
    """A pareto.json for net-a on bitmod: 4 ILP points over latency budgets + 2 uniform."""
    layers = ["conv1", "conv2", "conv3", "conv4", "fc1", "fc2"]
    pts = []
    for i, (lat, q) in enumerate([(1e-4, 9.0), (1.5e-4, 4.0), (2e-4, 1.5), (3e-4, 0.2)]):
        pts.append({"kind": "ilp", "budget": lat, "status": "optimal", "objective": q, "dominated": False,
                    "totals": {"sensitivity": q, "latency_s": lat, "energy_j": 1e-3 * (1 + i),
                               "memory_bytes": 4e6 + i * 1e6},
                    "choices": ["int8"] + ["int4"] * (4 - i) + ["int8"] * i + ["int8"]})
    for fmt, lat, q in (("int4", 1.2e-4, 5.0), ("int8", 3.1e-4, 0.01)):
        pts.append({"kind": f"uniform:{fmt}", "budget": None, "status": "feasible", "objective": q,
                    "totals": {"sensitivity": q, "latency_s": lat, "energy_j": 2e-3, "memory_bytes": 5e6}})
    path.mkdir(parents=True, exist_ok=True)
    (path / "pareto.json").write_text(json.dumps({"model": "net-a", "hardware": "bitmod", "swept": "latency_s",
                                                  "objective": "sensitivity", "layers": layers,
                                                  "points": pts}))
    return path


@pytest.fixture
def report_inputs(tmp_path: Path, sweep_store) -> Callable[[], tuple[Path, Path]]:
    """(sweep store with a preset row for net-a, pareto dir for net-a on bitmod)."""
    def make() -> tuple[Path, Path]:
        preset_store(tmp_path / "s.sqlite", sweep_store)
        return tmp_path / "s.sqlite", pareto_doc(tmp_path / "p")
    return make


@pytest.fixture
def pareto_input(tmp_path: Path) -> Path:
    return pareto_doc(tmp_path / "p")
