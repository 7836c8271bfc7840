"""mapper.fast: the fast search finds exactly the winner of the grid search (today's search) and
of an exhaustive search over every candidate; shared results across clock / energy / DRAM."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from lowbit.hwsim.memory import LOOP_ORDERS, price_candidates
from lowbit.hwsim.spec import accelerator, list_presets, load_accelerator
from lowbit.kernels_ref.errors import InvalidSpecError, LowbitError, MappingInfeasibleError
from lowbit.kernels_ref.formats import Format
from lowbit.mapper import tiling
from lowbit.mapper.tiling import (
    Mapping,
    candidate_sizes,
    clear_cache,
    layer_gemm,
    search,
    search_grid,
)
from lowbit.models.ir import ConvGeometry, Layer, OpKind

F = Format.parse

def _outcome(fn, layer, w, a, accel, objective, **kw):
    try:
        return fn(layer, w, a, accel, objective, **kw)
    except LowbitError as exc:
        return f"{type(exc).__name__}: {exc}"


@pytest.mark.slow  # > 2 s; the slow lane (make test) runs it
@pytest.mark.parametrize("preset", list_presets())
def test_fast_equals_grid_on_presets(preset, jit, preset_cases):
    n = 0
    for accel, layer, w, a in preset_cases(preset, ("int4", "int8", "binary")):
        for objective in ("latency", "energy", "edp"):
            clear_cache()
            ref = _outcome(search_grid, layer, w, a, accel, objective)
            assert _outcome(search, layer, w, a, accel, objective) == ref, (preset, w.name, layer.name, objective)
            n += isinstance(ref, Mapping)
    assert n > 0  # every preset maps at least one of these layers


def _random_accel(rng: np.random.Generator, i: int):
    family = rng.choice(["systolic", "bitserial"]) if i % 3 else "systolic"
    if family == "systolic":
        rows, cols = (int(rng.choice([4, 8, 16, 32])) for _ in range(2))
        core = {"family": "mac_array", "style": "systolic", "rows": rows, "cols": cols,
                "dataflows": ["os", "ws", "is"], "precisions": ["int8"], "rates": [1.0]}
    else:
        core = {"family": "mac_array", "style": "systolic", "rows": 8, "cols": 16, "dataflows": ["ws"],
                "precisions": ["int8"], "rates": [1.0]}
    db = bool(rng.integers(0, 2))
    sizes = [int(2 ** rng.integers(9, 20)) for _ in range(3)]
    layout = int(rng.integers(0, 3))
    if layout == 0:
        buffers = [{"name": "wbuf", "operands": ["weight"], "size_bytes": sizes[0],
                    "bandwidth_bytes_per_cycle": float(rng.choice([8, 64, 256])), "double_buffered": db},
                   {"name": "iobuf", "operands": ["input", "output"], "size_bytes": sizes[1],
                    "bandwidth_bytes_per_cycle": float(rng.choice([8, 64, 256])), "double_buffered": db}]
    elif layout == 1:
        buffers = [{"name": "ibuf", "operands": ["input"], "size_bytes": sizes[0], "bandwidth_bytes_per_cycle": 32.0},
                   {"name": "wbuf", "operands": ["weight"], "size_bytes": sizes[1], "bandwidth_bytes_per_cycle": 32.0,
                    "banks": 4},
                   {"name": "obuf", "operands": ["output"], "size_bytes": sizes[2], "bandwidth_bytes_per_cycle": 16.0,
                    "double_buffered": db}]
    else:  # one shared buffer; the output streams from DRAM
        buffers = [{"name": "gbuf", "operands": ["input", "weight"], "size_bytes": sizes[0] * 4,
                    "bandwidth_bytes_per_cycle": 128.0, "double_buffered": db}]
    memory = {}
    if rng.integers(0, 2):
        memory["output_bits"] = 32
    if rng.integers(0, 2):
        memory["output_read_before_write"] = True
    return accelerator(name=f"rand{i}", freq_hz=1e9, node_nm=float(rng.choice([7, 28, 45])), core=core,
                       buffers=buffers, dram={"bandwidth_bytes_per_cycle": float(rng.choice([1, 4, 16, 64]))},
                       num_cores=int(rng.choice([1, 1, 4])), memory=memory)


def _random_layer(rng: np.random.Generator, i: int) -> Layer:
    kind = i % 3
    if kind == 0:
        return Layer.linear(f"l{i}", int(rng.integers(1, 3000)), int(rng.integers(1, 5000)), int(rng.integers(1, 5000)))
    if kind == 1:
        return Layer.matmul(f"mm{i}", int(rng.integers(1, 600)), int(rng.integers(1, 256)), int(rng.integers(1, 600)),
                            batch=int(rng.integers(1, 40)))
    return Layer.linear(f"l{i}", int(rng.integers(1, 200)), int(rng.integers(100, 20000)), int(rng.integers(1, 300)))


def test_fast_equals_grid_on_random_layers_and_designs(jit):
    rng = np.random.default_rng(19)
    mapped = 0
    for i in range(60):
        accel = _random_accel(rng, i)
        layer = _random_layer(rng, i)
        w = F(str(rng.choice(["int8", "int4", "int2"])))
        for objective in ("latency", "energy", "edp"):
            ref = _outcome(search_grid, layer, w, F("int8"), accel, objective)
            assert _outcome(search, layer, w, F("int8"), accel, objective) == ref, (i, layer, objective)
            mapped += isinstance(ref, Mapping)
    assert mapped > 100


def _exhaustive(layer, w, a, accel, objective):
    """Every tile triple from the unthinned candidate lists, every order and dataflow, priced one by
    one (a slow loop over tile triples): the lexicographic first by (objective, DRAM bytes,
    -volume, enumeration order)."""
    hints = accel.model().mapping_hints(layer)
    shape, active, dim = layer_gemm(layer, accel.num_cores, hints)
    dims = hints.array_dims
    dfs = accel.model().dataflows
    best = None
    for tm, tk, tn in itertools.product(*(candidate_sizes(d, dims, 10 ** 6) for d in (shape.m, shape.k, shape.n))):
        p = price_candidates(shape, w, a, accel, tm, tk, tn, np.arange(len(LOOP_ORDERS))[:, None],
                             np.arange(len(dfs))[None, :], n_cores_active=active)
        obj = {"latency": p.cycles.astype(float), "energy": p.total_energy_j,
               "edp": p.cycles * p.total_energy_j}[objective]
        for o, d in zip(*np.nonzero(p.fits)):
            key = (float(obj[o, d]), float(p.dram_bytes[o, d]), -float(tm * tk * tn))
            if best is None or key < best[0]:  # strict: the first in enumeration order wins ties
                best = (key, Mapping(int(tm), int(tk), int(tn), LOOP_ORDERS[o], dfs[d], active, dim))
    return best


@pytest.mark.slow  # > 2 s; the slow lane (make test) runs it
@pytest.mark.parametrize("case", range(8))
def test_fast_equals_exhaustive_reference(case, jit):
    rng = np.random.default_rng(100 + case)
    accel = _random_accel(rng, 3 * case + 1).with_changes(num_cores=1)
    layer = _random_layer(rng, case)
    w, a = F("int8"), F("int8")
    objective = ("latency", "energy", "edp")[case % 3]
    ref = _exhaustive(layer, w, a, accel, objective)
    if ref is None:
        with pytest.raises(MappingInfeasibleError):
            search(layer, w, a, accel, objective, max_per_dim=10 ** 6)
        return
    assert search(layer, w, a, accel, objective, max_per_dim=10 ** 6) == ref[1]
    # today's thinned candidates (max_per_dim=10) are a subset: never better than the reference
    thin = tiling.price_mapping(layer, w, a, accel, search(layer, w, a, accel, objective))
    obj = {"latency": float(thin.cycles.ravel()[0]), "energy": float(thin.total_energy_j.ravel()[0]),
           "edp": float((thin.cycles * thin.total_energy_j).ravel()[0])}[objective]
    assert obj >= ref[0][0]


def test_results_shared_across_clock_and_energy_not_dram(layers):
    clear_cache()
    base = load_accelerator("tpu-like")
    layer = layers[1]
    w = F("int8")
    m0 = search(layer, w, w, base)
    info = tiling._search_shared.cache_info()
    faster = base.with_changes(freq_hz=base.freq_hz * 2, name="tpu-2x")
    assert search(layer, w, w, faster) == m0
    assert tiling._search_shared.cache_info().hits == info.hits + 1
    # a renamed layer of the same shape is the same search
    assert search(Layer.linear("other", 2048, 4096, 4096), w, w, base) == m0
    assert tiling._search_shared.cache_info().hits == info.hits + 2
    slow_dram = base.with_changes(**{"dram.bandwidth_bytes_per_cycle": 1.0})
    m1 = search(layer, w, w, slow_dram)
    assert tiling._search_shared.cache_info().misses == info.misses + 1
    assert m1 == search_grid(layer, w, w, slow_dram)
    # energy objective: the DRAM bandwidth cannot change the winner, the DRAM energy can
    e0 = search(layer, w, w, base, "energy")
    misses = tiling._search_shared.cache_info().misses
    assert search(layer, w, w, slow_dram, "energy") == e0
    assert tiling._search_shared.cache_info().misses == misses
    pricier = base.with_changes(**{"dram.energy_j_per_byte": 1e-9})
    assert search(layer, w, w, pricier, "energy") == search_grid(layer, w, w, pricier, "energy")
    assert tiling._search_shared.cache_info().misses == misses + 1
    clear_cache()
    assert tiling._search_shared.cache_info().currsize == 0


def test_infeasible_error_names_the_layer_through_the_shared_cache():
    tiny = accelerator(
        name="tiny", freq_hz=1e9, node_nm=45,
        core={"family": "mac_array", "style": "systolic", "rows": 8, "cols": 8, "dataflows": ["os"],
              "precisions": ["int8"], "rates": [1.0]},
        buffers=[{"name": "wbuf", "operands": ["weight"], "size_bytes": 8, "bandwidth_bytes_per_cycle": 64},
                 {"name": "iobuf", "operands": ["input", "output"], "size_bytes": 2,
                  "bandwidth_bytes_per_cycle": 64}],
        dram={"bandwidth_bytes_per_cycle": 16.0})
    for name in ("first", "second"):
        with pytest.raises(MappingInfeasibleError, match=rf"layer {name}: .*wbuf needs >= 32 bytes"):
            search(Layer.linear(name, 4, 4, 4), F("int8"), F("int8"), tiny)


def test_candidate_thinning_matches_numpy_linspace(layers):
    def numpy_version(dim, dims, k):
        vals = set(candidate_sizes(dim, dims, 10 ** 6).tolist())
        arr = np.array(sorted(vals))
        if arr.size <= k:
            return arr.tolist()
        return arr[np.unique(np.rint(np.linspace(0, arr.size - 1, k)).astype(np.int64))].tolist()

    for dim, dims, k in itertools.product((1, 7, 100, 4096, 11008, 50257), ((), (8,), (12, 14), (16, 128)),
                                          (1, 2, 3, 5, 10, 17)):
        assert candidate_sizes(dim, dims, k).tolist() == numpy_version(dim, dims, k)
    with pytest.raises(InvalidSpecError, match="max_per_dim"):
        search(layers[0], F("int8"), F("int8"), load_accelerator("tpu-like"), max_per_dim=0)


def test_conv_layers_on_padded_presets_equal_grid(jit):
    # Bit Fusion presets: padded tiles, conv block m-tiles, whole-window K tiles, K segments
    for preset in ("bitfusion-eyeriss-budget", "bitfusion-stripes-budget"):
        accel = load_accelerator(preset)
        for c_in, c_out, kern, hw_, stride in ((3, 64, 7, 224, 2), (64, 128, 3, 56, 1), (256, 512, 1, 28, 2)):
            layer = Layer.conv2d("c", ConvGeometry(c_in, c_out, hw_, hw_, kern, kern, stride, stride,
                                                   kern // 2, kern // 2))
            for w in ("int2", "int4", "int8"):
                for objective in ("latency", "energy"):
                    assert _outcome(search, layer, F(w), F("int8"), accel, objective) == \
                        _outcome(search_grid, layer, F(w), F("int8"), accel, objective)


def test_unknown_memory_rule_falls_back_to_the_grid():
    import dataclasses

    from lowbit.hwsim.spec import MemoryRules
    from lowbit.mapper import fast

    assert fast.handles(MemoryRules()) and fast.handles(MemoryRules(padded_tiles=True, output_bits=32))
    extra = dataclasses.make_dataclass("Extra", [("new_rule", bool, False)], bases=(MemoryRules,), frozen=True)
    assert fast.handles(extra()) and not fast.handles(extra(new_rule=True))


def _random_rich_accel(rng: np.random.Generator, i: int):
    """A random design over every memory rule and energy override `mapper.fast` prices (or hands
    to the grid): whole-layer refetch, array padding, sram_counts, per-access buffer energies,
    a PE energy per cycle; a bit-serial core (it states its PE count) or a systolic one."""
    if i % 2:
        core = {"family": "bit_serial", "serial": str(rng.choice(["both", "weights"])), "bits_per_cycle_w": 1,
                "bits_per_cycle_a": 1, "rows": int(rng.choice([8, 16, 32])), "cols": int(rng.choice([8, 16])),
                "lanes": int(rng.choice([4, 16])), "rows_dim": "n", "cols_dim": "m", "accumulator_bits": 32,
                "dataflow": "os"}
    else:
        core = {"family": "mac_array", "style": "systolic", "rows": int(rng.choice([8, 16])),
                "cols": int(rng.choice([8, 32])), "dataflows": ["os", "ws"], "precisions": ["int8"], "rates": [1.0]}
    db = bool(rng.integers(0, 2))
    sizes = [int(2 ** rng.integers(10, 21)) for _ in range(2)]
    per_access = {"read_j_per_access": float(rng.uniform(1e-12, 1e-10)), "read_bytes_per_access": 64,
                  "write_j_per_access": float(rng.uniform(1e-12, 1e-11)), "write_bytes_per_access": 8} \
        if rng.integers(0, 2) else {}
    buffers = [{"name": "wbuf", "operands": ["weight"], "size_bytes": sizes[0], "bandwidth_bytes_per_cycle": 64.0,
                "double_buffered": db, **per_access},
               {"name": "iobuf", "operands": ["input", "output"], "size_bytes": sizes[1],
                "bandwidth_bytes_per_cycle": float(rng.choice([16, 128])), "double_buffered": db}]
    if rng.integers(0, 4) == 0:  # the input streams from DRAM (whole_layer_refetch then needs its buffer)
        buffers[1]["operands"] = ["output"]
    memory: dict = {}
    for key in ("whole_layer_refetch", "array_padding", "output_read_before_write"):
        if rng.integers(0, 2):
            memory[key] = True
    memory["sram_counts"] = str(rng.choice(["tiles", "tiles", "array_steps", "stationary_inner"]))
    energy = {"pe_cycle_j": float(rng.uniform(1e-13, 1e-12))} if rng.integers(0, 3) == 0 else {}
    return accelerator(name=f"rich{i}", freq_hz=1e9, node_nm=float(rng.choice([7, 45])), core=core, buffers=buffers,
                       dram={"bandwidth_bytes_per_cycle": float(rng.choice([2, 16, 64]))}, memory=memory,
                       energy=energy)


def test_fast_equals_grid_on_random_designs_with_every_rule(jit):
    rng = np.random.default_rng(1919)
    mapped = errors = 0
    for i in range(48):
        accel = _random_rich_accel(rng, i)
        layer = _random_layer(rng, i)
        w = F(str(rng.choice(["int8", "int4", "int2"])))
        for objective in ("latency", "energy", "edp"):
            clear_cache()
            ref = _outcome(search_grid, layer, w, F("int8"), accel, objective)
            assert _outcome(search, layer, w, F("int8"), accel, objective) == ref, (i, layer, objective, accel.memory)
            mapped += isinstance(ref, Mapping)
            errors += not isinstance(ref, Mapping)
    assert mapped > 60 and errors > 0  # most map; some hit a rule's error (pe_cycle_j on a core without PEs)


def _priced_equal(layer, w, a, accel):
    """search_priced == (search, price_mapping): the same mapping and, where it prices, the same
    floats in the same energy key order; returns whether it priced."""
    from lowbit.hwsim.evaluate import energy_table

    table = energy_table(accel)
    clear_cache()
    try:
        mapping, cost = tiling.search_priced(layer, w, a, accel, table=table)
    except LowbitError as exc:
        with pytest.raises(type(exc)):
            search(layer, w, a, accel, table=table)
        return False
    assert mapping == search(layer, w, a, accel, table=table)
    if cost is None:
        return False
    p = tiling.price_mapping(layer, w, a, accel, mapping, table)
    def one(v):
        return float(np.ravel(v)[0])

    assert cost.cycles == one(p.cycles) and cost.compute_cycles == one(p.compute_cycles)
    assert list(cost.energy_j.items()) == [(k, one(v)) for k, v in p.energy_j.items()]
    assert cost.dram_bytes == one(p.dram_bytes) and cost.sram_bytes == one(p.sram_bytes)
    assert cost.ran_as == p.ran_as
    return True


@pytest.mark.parametrize("preset", list_presets())
def test_search_priced_equals_price_mapping_on_presets(preset, jit, layers):
    accel = load_accelerator(preset)
    a = accel.act_format
    for w_name, layer in itertools.product(("int4", "int8"), layers):
        _priced_equal(layer, a if layer.op is OpKind.MATMUL else F(w_name), a, accel)


def test_search_priced_equals_price_mapping_on_random_designs(jit):
    rng = np.random.default_rng(2024)
    priced = 0
    for i in range(60):
        accel = _random_rich_accel(rng, i) if i % 2 else _random_accel(rng, i)
        layer = _random_layer(rng, i)
        priced += _priced_equal(layer, F(str(rng.choice(["int8", "int4", "int2"]))), F("int8"), accel)
    assert priced > 20


def _random_multicore_accel(rng: np.random.Generator, i: int):
    """A tensor-core style design over several cores (the mapper also tries an M split there)."""
    core = {"family": "mac_array", "style": "tensor_core", "tile_m": int(rng.choice([2, 8, 16])),
            "tile_n": int(rng.choice([4, 8, 32])), "tile_k": int(rng.choice([4, 8, 16])),
            "units": int(rng.choice([1, 4])), "dataflows": ["none"], "precisions": ["int8", "int4"],
            "rates": [1.0, 2.0], "accumulator_bits": 32}
    db = bool(rng.integers(0, 2))
    buffers = [{"name": "rf", "operands": ["output"], "size_bytes": int(2 ** rng.integers(12, 19)),
                "bandwidth_bytes_per_cycle": float(rng.choice([64, 768])), "double_buffered": db},
               {"name": "smem", "operands": ["input", "weight"], "size_bytes": int(2 ** rng.integers(12, 19)),
                "bandwidth_bytes_per_cycle": float(rng.choice([16, 128])), "double_buffered": db}]
    return accelerator(name=f"mc{i}", freq_hz=1e9, node_nm=7.0, core=core, buffers=buffers,
                       dram={"bandwidth_bytes_per_cycle": float(rng.choice([8, 64, 1024]))},
                       num_cores=int(rng.choice([2, 8, 108])))


def test_m_split_cutoff_equals_grid_on_random_multicore_designs(monkeypatch, jit):
    # the M split is priced only below the N split's best: its fewest compute cycles bound it from
    # below (a wrong bound would drop a better M split, which search_grid prices in full)
    from lowbit.mapper import fast

    calls = {"pruned": 0}
    real = fast.fast_search_split

    def counting(*args, **kw):
        out = real(*args, **kw)
        calls["pruned"] += out is not None and out[0] is None
        return out

    monkeypatch.setattr(fast, "fast_search_split", counting)
    rng = np.random.default_rng(4242)
    m_wins = n_wins = 0
    for i in range(40):
        accel = _random_multicore_accel(rng, i)
        layer = Layer.linear(f"l{i}", int(rng.integers(2, 3000)), int(rng.integers(16, 5000)),
                             int(rng.integers(1, 5000)))
        for objective in ("latency", "energy"):
            clear_cache()
            ref = _outcome(search_grid, layer, F("int8"), F("int8"), accel, objective)
            assert _outcome(search, layer, F("int8"), F("int8"), accel, objective) == ref, (i, layer, objective)
            if isinstance(ref, Mapping) and ref.cores > 1:
                m_wins += ref.split_dim == "m"
                n_wins += ref.split_dim == "n"
    assert calls["pruned"] > 5 and m_wins > 3 and n_wins > 3  # both splits win somewhere; the bound prunes


def test_dataflow_bound_equals_grid_when_dataflows_tie_or_differ(jit):
    # latency: a dataflow whose compute cycles exceed the best cycles of the fewest-compute
    # dataflow is not priced; ties between dataflows keep every tied one (enumeration order decides)
    rng = np.random.default_rng(77)
    for i in range(30):
        rows, cols = (int(rng.choice([4, 8, 16, 32])) for _ in range(2))
        accel = accelerator(
            name=f"df{i}", freq_hz=1e9, node_nm=45.0,
            core={"family": "mac_array", "style": "systolic", "rows": rows, "cols": cols,
                  "dataflows": [str(d) for d in rng.permutation(["os", "ws", "is"])],
                  "precisions": ["int8"], "rates": [1.0]},
            buffers=[{"name": "gbuf", "operands": ["input", "weight", "output"],
                      "size_bytes": int(2 ** rng.integers(10, 20)), "bandwidth_bytes_per_cycle": 64.0}],
            dram={"bandwidth_bytes_per_cycle": float(rng.choice([1, 16, 256]))})
        layer = _random_layer(rng, i)
        clear_cache()
        ref = _outcome(search_grid, layer, F("int8"), F("int8"), accel, "latency")
        assert _outcome(search, layer, F("int8"), F("int8"), accel, "latency") == ref, (i, layer)
