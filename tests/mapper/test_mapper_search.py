"""mapper: capacity-respecting, deterministic, objective-aware search; infeasible errors; schedule."""

from __future__ import annotations

import numpy as np
import pytest
from lowbit.hwsim.memory import LOOP_ORDERS, price_candidates
from lowbit.hwsim.spec import accelerator, load_accelerator
from lowbit.kernels_ref.errors import InvalidSpecError, MappingInfeasibleError
from lowbit.kernels_ref.formats import Format
from lowbit.mapper import Mapping, layer_gemm, price_mapping, search, workload_cycles
from lowbit.mapper.tiling import candidate_sizes
from lowbit.models.ir import Layer, Phase, Workload

I8 = Format.parse("int8")


def _acc(size: int, dram_bw: float = 16.0):
    return accelerator(
        name="map-test", freq_hz=1e9, node_nm=45,
        core={"family": "mac_array", "style": "systolic", "rows": 8, "cols": 8, "dataflows": ["os", "ws", "is"],
              "precisions": ["int8"], "rates": [1.0]},
        buffers=[{"name": "wbuf", "operands": ["weight"], "size_bytes": size, "bandwidth_bytes_per_cycle": 64},
                 {"name": "iobuf", "operands": ["input", "output"], "size_bytes": size,
                  "bandwidth_bytes_per_cycle": 64}],
        dram={"bandwidth_bytes_per_cycle": dram_bw})


def test_candidates():
    c = candidate_sizes(100, (12,), 50)
    assert c[0] == 12 and c[-1] == 100 and 48 in c and 16 in c and np.all(np.diff(c) > 0)  # none below 12
    assert candidate_sizes(5, (12,)).tolist() == [5]
    assert len(candidate_sizes(4096, (12, 14), 10)) <= 10


def test_search_fits_and_is_optimal_over_its_grid():
    acc = _acc(4096)
    layer = Layer.linear("fc", 100, 300, 200)
    m = search(layer, I8, I8, acc)
    p = price_mapping(layer, I8, I8, acc, m)
    assert bool(p.fits)
    # brute force over the same grid: no feasible candidate has fewer cycles
    shape, _, _ = layer_gemm(layer)
    best = np.inf
    for tm in candidate_sizes(100, (8,), 10):
        for tk in candidate_sizes(300, (8,), 10):
            for tn in candidate_sizes(200, (8,), 10):
                q = price_candidates(shape, I8, I8, acc, tm, tk, tn, np.arange(6)[:, None], np.arange(3)[None, :])
                best = min(best, float(np.min(np.where(q.fits, q.cycles, np.inf))))
    assert float(p.cycles) == best


def test_deterministic_and_objectives():
    acc = _acc(8192, dram_bw=2.0)
    layer = Layer.linear("fc", 64, 512, 512)
    a, b = search(layer, I8, I8, acc), search(layer, I8, I8, acc)
    assert a == b
    lat = price_mapping(layer, I8, I8, acc, a)
    e_map = search(layer, I8, I8, acc, "energy")
    en = price_mapping(layer, I8, I8, acc, e_map)
    assert float(en.total_energy_j) <= float(lat.total_energy_j)
    assert float(lat.cycles) <= float(en.cycles)
    edp = price_mapping(layer, I8, I8, acc, search(layer, I8, I8, acc, "edp"))
    assert float(edp.cycles * edp.total_energy_j) <= float(lat.cycles * lat.total_energy_j)
    with pytest.raises(InvalidSpecError):
        search(layer, I8, I8, acc, "speed")


def test_infeasible_names_layer_and_buffer():
    # tiles are no narrower than the 8-wide array, so the 4x4x4 layer is one 4x4x4 tile:
    # 16 B of weight; 16 B input + 16 B int8 output (K whole: no partial sums) in iobuf;
    # x2 double-buffered: wbuf needs 32, iobuf 64 bytes
    acc = _acc(8)
    acc = acc.with_changes(**{"buffers.iobuf.size_bytes": 2})
    with pytest.raises(MappingInfeasibleError, match=r"layer tiny.*wbuf needs >= 32 bytes, iobuf needs >= 64 bytes"):
        search(Layer.linear("tiny", 4, 4, 4), I8, I8, acc)
    from lowbit import hwsim
    with pytest.raises(MappingInfeasibleError, match="layer tiny"):
        hwsim.evaluate(Layer.linear("tiny", 4, 4, 4), I8, acc)


def test_given_mapping_checked():
    acc = _acc(1024)
    layer = Layer.linear("fc", 64, 64, 64)
    with pytest.raises(MappingInfeasibleError, match="fc"):
        price_mapping(layer, I8, I8, acc, Mapping(64, 64, 64, "mkn", search(layer, I8, I8, acc).dataflow))
    with pytest.raises(InvalidSpecError):
        Mapping(0, 1, 1)
    with pytest.raises(InvalidSpecError):
        Mapping(1, 1, 1, loop_order="xyz")
    assert set(LOOP_ORDERS) == {"mkn", "mnk", "kmn", "knm", "nmk", "nkm"}


def test_split_over_cores():
    a100 = load_accelerator("a100-like")
    shape, active, dim = layer_gemm(Layer.linear("fc", 1, 4096, 4096), a100.num_cores)
    assert (shape.n, active, dim) == (38, 108, "n")
    shape, active, dim = layer_gemm(Layer.matmul("att", 128, 128, 128, batch=256), a100.num_cores)
    assert (shape.batch, active, dim) == (3, 86, "batch")


def test_schedule_sum_and_critical_path():
    layers = tuple(Layer.linear(n, 4, 4, 4) for n in "abcd")
    wl = Workload(name="diamond", phase=Phase.INFERENCE, layers=layers,
                  edges=(("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")))
    cyc = {"a": 10.0, "b": 30.0, "c": 20.0, "d": 5.0}
    assert workload_cycles(wl, cyc, 1) == 65.0
    assert workload_cycles(wl, cyc, 2) == 45.0          # a + b + d
    assert workload_cycles(wl, {**cyc, "b": 1.0, "c": 1.0}, 2) == 16.0
    assert workload_cycles(wl, {"a": 1.0, "b": 100.0, "c": 100.0, "d": 1.0}, 2) == 101.0 + 1.0
