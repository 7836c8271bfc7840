"""mapper.fast_jit: the compiled latency search gives the numpy search's mapping and cost, float
for float, on every preset, on the Bit Fusion rules it takes as factors (conv halo, array
padding), and hands what it cannot decide (a non-finite value) back to numpy; the process-wide
mode (auto / on / off) and a sweep worker's switch to it."""

from __future__ import annotations

import gc
import itertools

import numpy as np
import pytest
from lowbit.hwsim.spec import accelerator, list_presets, load_accelerator
from lowbit.kernels_ref.errors import InvalidSpecError, LowbitError
from lowbit.kernels_ref.formats import Format
from lowbit.mapper import fast, fast_jit, fast_parts, tiling
from lowbit.mapper.tiling import clear_cache, search_grid
from lowbit.models.ir import ConvGeometry, Layer

F = Format.parse

@pytest.fixture
def kernel_runs(monkeypatch):
    """Counts of the kernel's results by status (OK / NO_FIT / FALLBACK) while a test runs."""
    seen = {fast_jit.OK: 0, fast_jit.NO_FIT: 0, fast_jit.FALLBACK: 0}
    real = fast_jit.latency_kernel

    def counting(*args):
        real(*args)
        seen[int(args[-1][0])] += 1

    monkeypatch.setattr(fast_jit, "latency_kernel", counting)
    before = fast._JIT["mode"]
    yield seen
    fast._JIT["mode"] = before


def _priced(layer, w, a, accel, mode):
    fast.set_jit(mode)
    clear_cache()
    try:
        return tiling.search_priced(layer, w, a, accel)
    except LowbitError as exc:
        return f"{type(exc).__name__}: {exc}"


def _same(layer, w, a, accel):
    """search_priced with the kernel == without it (mapping, cycles, energy by component in the
    same key order, bytes, ran_as; or the same error)."""
    ref = _priced(layer, w, a, accel, "off")
    got = _priced(layer, w, a, accel, "on")
    assert got == ref, (accel.name, layer.name, w.name)
    if not isinstance(ref, str) and ref[1] is not None:
        assert list(got[1].energy_j) == list(ref[1].energy_j)
    return not isinstance(ref, str)


@pytest.mark.parametrize("preset", list_presets())
def test_compiled_equals_numpy_on_presets(preset, kernel_runs, preset_cases):
    mapped = 0
    for accel, layer, w, a in preset_cases(preset, ("int4", "int8", "binary")):
        mapped += _same(layer, w, a, accel)
    rules = accel.memory
    if not rules.padded_tiles and not rules.whole_layer_refetch:  # the kernel's scope: it decided
        assert kernel_runs[fast_jit.OK] > 0 and kernel_runs[fast_jit.FALLBACK] == 0
    else:
        assert sum(kernel_runs.values()) == 0
    assert mapped > 0


def test_compiled_equals_numpy_and_grid_with_conv_halo_and_array_padding(kernel_runs, monkeypatch, layers):
    # Bit Fusion's rules without its padded tiles and block promotion: the halo (per m-tile factor) and the padding to
    # the array (per k / n factor) enter the kernel; both must be in play and agree with the grid
    halo_calls = []  # the kernel's per-m-tile halo factors, computed for its arguments
    real = fast_parts.halo_scale
    monkeypatch.setattr(fast_parts, "halo_scale", lambda *a: halo_calls.append(1) or real(*a))
    n = 0
    for preset in ("bitfusion-stripes-budget", "bitfusion-eyeriss-budget"):
        base = load_accelerator(preset)
        assert base.memory.conv_input_halo and base.memory.array_padding
        for bw, batch in ((16.0, 1), (1024.0, 4)):
            accel = base.with_changes(**{"memory.padded_tiles": False, "memory.block_promotion": False,
                                        "dram.bandwidth_bytes_per_cycle": bw})
            for layer, w in itertools.product(layers[:3] + [
                    Layer.conv2d("c3", ConvGeometry(64, 128, 28, 28, 3, 3, pad_h=1, pad_w=1), images=batch),
                    Layer.conv2d("c5", ConvGeometry(32, 48, 27, 27, 5, 5, pad_h=2, pad_w=2), images=batch)],
                    (F("int2"), F("int8"))):
                n += _same(layer, w, F("int8"), accel)
                fast.set_jit("on")
                clear_cache()
                assert tiling.search(layer, w, F("int8"), accel) == search_grid(layer, w, F("int8"), accel)
    assert n >= 30 and halo_calls and kernel_runs[fast_jit.OK] > 60


def _random_design(rng, i):
    rows, cols = (int(rng.choice([4, 8, 16, 32, 128])) for _ in range(2))
    sizes = [int(2 ** rng.integers(8, 22)) for _ in range(3)]
    db = bool(rng.integers(0, 2))
    layouts = [
        [{"name": "wbuf", "operands": ["weight"], "size_bytes": sizes[0], "bandwidth_bytes_per_cycle": 32.0,
          "double_buffered": db},
         {"name": "iobuf", "operands": ["input", "output"], "size_bytes": sizes[1],
          "bandwidth_bytes_per_cycle": float(rng.choice([4, 64])), "double_buffered": db}],
        [{"name": "ibuf", "operands": ["output", "input"], "size_bytes": sizes[0], "bandwidth_bytes_per_cycle": 8.0},
         {"name": "wbuf", "operands": ["weight", "input"], "size_bytes": sizes[1], "bandwidth_bytes_per_cycle": 16.0},
         {"name": "obuf", "operands": ["output"], "size_bytes": sizes[2], "bandwidth_bytes_per_cycle": 2.0}],
        [{"name": "gbuf", "operands": ["weight", "output", "input"], "size_bytes": sizes[2] * 8,
          "bandwidth_bytes_per_cycle": 256.0, "double_buffered": db}],
        [{"name": "wbuf", "operands": ["weight"], "size_bytes": sizes[0], "bandwidth_bytes_per_cycle": 64.0}],
    ]
    memory = {k: True for k in ("output_read_before_write", "array_padding") if rng.integers(0, 2)}
    if rng.integers(0, 2):
        memory["output_bits"] = 32
    core = {"family": "mac_array", "style": "systolic", "rows": rows, "cols": cols,
            "dataflows": [str(d) for d in rng.permutation(["os", "ws", "is"])[:int(rng.integers(1, 4))]],
            "precisions": ["int8"], "rates": [1.0]} if i % 2 else \
        {"family": "bit_serial", "serial": str(rng.choice(["both", "weights"])), "bits_per_cycle_w": 1,
         "bits_per_cycle_a": 1, "rows": rows, "cols": min(cols, 16), "lanes": int(rng.choice([1, 4, 16])),
         "rows_dim": "n", "cols_dim": "m", "accumulator_bits": 32, "dataflow": "os"}
    return accelerator(name=f"j{i}", freq_hz=1e9, node_nm=float(rng.choice([7, 45])), core=core,
                       buffers=layouts[i % len(layouts)], memory=memory, num_cores=int(rng.choice([1, 1, 2, 8])),
                       dram={"bandwidth_bytes_per_cycle": float(rng.choice([0.5, 4, 64, 4096]))})


def test_compiled_equals_numpy_on_random_designs(kernel_runs):
    # every buffer layout shape (an operand listed twice, a streamed operand, one shared buffer),
    # 1-3 dataflows in any order, multi-core splits, output bits, read-before-write
    rng = np.random.default_rng(7)
    mapped = 0
    for i in range(160):
        accel = _random_design(rng, i)
        k = i % 4
        layer = (Layer.linear(f"l{i}", int(rng.integers(1, 4000)), int(rng.integers(1, 6000)),
                              int(rng.integers(1, 6000))) if k < 2 else
                 Layer.matmul(f"m{i}", int(rng.integers(1, 600)), int(rng.integers(1, 256)),
                              int(rng.integers(1, 600)), batch=int(rng.integers(1, 40))) if k == 2 else
                 Layer.conv2d(f"c{i}", ConvGeometry(int(rng.integers(1, 128)), int(rng.integers(1, 128)), 28, 28,
                                                    3, 3, pad_h=1, pad_w=1)))
        mapped += _same(layer, F(str(rng.choice(["int8", "int4", "int2"]))), F("int8"), accel)
    assert mapped > 100 and kernel_runs[fast_jit.OK] > 120 and kernel_runs[fast_jit.NO_FIT] > 0


def test_non_finite_values_go_back_to_numpy(kernel_runs, layers):
    # a DRAM bandwidth of 1e-300 bytes/cycle makes the DRAM time of some tiles overflow to inf:
    # the kernel hands such a layer to the numpy path, whose result (and any error) stands
    accel = load_accelerator("loom").with_changes(**{"dram.bandwidth_bytes_per_cycle": 1e-300})
    for layer in layers[:3]:
        with np.errstate(all="ignore"):
            _same(layer, F("int4"), F("int8"), accel)
    assert kernel_runs[fast_jit.FALLBACK] >= 1


def test_auto_mode_switches_once_numpy_searches_took_jit_after_s(kernel_runs, monkeypatch, layers):
    # the first search runs on numpy and is timed; once the total passes JIT_AFTER_S the kernel runs
    monkeypatch.setattr(fast, "JIT_AFTER_S", 1e-9)
    monkeypatch.setitem(fast._JIT, "mode", "auto")
    monkeypatch.setitem(fast._JIT, "numpy_s", 0.0)
    accel = load_accelerator("loom")
    results = []
    for _ in range(5):
        clear_cache()
        results.append(tiling.search_priced(layers[2], F("int4"), F("int8"), accel))
    assert kernel_runs[fast_jit.OK] == 4 and fast._JIT["numpy_s"] > 0.0
    assert all(r == results[0] for r in results)
    # searches the kernel cannot do (the energy objective) are not counted
    monkeypatch.setitem(fast._JIT, "numpy_s", 0.0)
    tiling.search(layers[2], F("int4"), F("int8"), accel, "energy")
    assert fast._JIT["numpy_s"] == 0.0


def test_a_kernel_that_cannot_compile_here_leaves_numpy_with_one_warning(monkeypatch, caplog, layers):
    def broken() -> None:
        raise RuntimeError("cannot cache function 'latency_kernel': no locator available")

    monkeypatch.setattr(fast_jit, "warm", broken)
    monkeypatch.setitem(fast._JIT, "kernel", None)
    monkeypatch.setitem(fast._JIT, "mode", "auto")
    ref = _priced(layers[2], F("int4"), F("int8"), load_accelerator("loom"), "off")
    with caplog.at_level("WARNING", logger="lowbit.mapper.fast"):
        got = _priced(layers[2], F("int4"), F("int8"), load_accelerator("loom"), "on")
    assert got == ref
    assert [r.getMessage() for r in caplog.records] == [
        ("mapper: compiled latency search unavailable (RuntimeError: cannot cache function 'latency_kernel': "
         "no locator available); using numpy")]
    assert fast._JIT["kernel"] is False


def test_set_jit_rejects_an_unknown_mode():
    with pytest.raises(InvalidSpecError, match="jit mode must be auto, on or off, got 'fast'"):
        fast.set_jit("fast")


@pytest.fixture
def fake_gc(monkeypatch):
    """gc.freeze / unfreeze / get_freeze_count replaced by a counter (the interpreter's own
    count also moves as frozen objects die, and a real freeze would last past the test)."""
    state = {"frozen": 0, "freezes": 0}

    def freeze():
        state["frozen"], state["freezes"] = 1000, state["freezes"] + 1

    monkeypatch.setattr(gc, "freeze", freeze)
    monkeypatch.setattr(gc, "unfreeze", lambda: state.update(frozen=0))
    monkeypatch.setattr(gc, "get_freeze_count", lambda: state["frozen"])
    return state


def test_a_sweep_worker_turns_the_kernel_on_and_freezes_what_it_started_with(monkeypatch, fake_gc):
    import multiprocessing

    from lowbit.search.codesign import worker

    monkeypatch.setattr(worker, "_SETTLED", [])
    monkeypatch.setitem(fast._JIT, "mode", "auto")
    worker.evaluate_group(([], {}, {}))  # the process a user runs: the kernel, no freeze
    assert fast._JIT["mode"] == "on" and fake_gc["freezes"] == 0
    monkeypatch.setattr(worker, "_SETTLED", [])
    monkeypatch.setattr(multiprocessing, "parent_process", lambda: object())  # a pool's worker
    worker.evaluate_group(([], {}, {}))
    assert fake_gc == {"frozen": 1000, "freezes": 1}
    worker.evaluate_group(([], {}, {}))  # once per process
    assert fake_gc["freezes"] == 1
    monkeypatch.setattr(worker, "_SETTLED", [])
    monkeypatch.setitem(fast._JIT, "mode", "off")
    worker.evaluate_group(([], {}, {}))  # a mode set before is kept; a freeze already there too
    assert fast._JIT["mode"] == "off" and fake_gc["freezes"] == 1


def test_a_sweep_in_the_users_process_freezes_only_while_it_runs(fake_gc):
    from lowbit.search.codesign import worker

    with worker.sweep_gc():
        assert fake_gc == {"frozen": 1000, "freezes": 1}
    assert fake_gc["frozen"] == 0
    gc.freeze()  # someone else's freeze is left alone
    with worker.sweep_gc():
        pass
    assert fake_gc == {"frozen": 1000, "freezes": 2}


def test_warm_compiles_the_kernel_and_finds_its_winner():
    fast_jit.warm()  # raises unless the kernel finds the winner of its warm-up grid
