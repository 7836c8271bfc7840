"""hwsim.evaluate / evaluate_workload: bandwidth scaling, breakdown sums, formats, caching, output."""

from __future__ import annotations

import csv
import io
import json

import pytest
from lowbit.hwsim.spec import load_accelerator
from lowbit.kernels_ref.errors import InvalidSpecError, UnsupportedFormatError
from lowbit.models.ir import Layer, Phase, Workload

from lowbit import hwsim


def test_llama_decode_gemv_halving_bandwidth_doubles_latency():
    # LLaMA-2-7B decode: down_proj GEMV, M=1, K=11008, N=4096 (and a 4096 x 4096 projection)
    # (memory-bound on these; on tpu-like the weight-stationary fold's 2R + C + M - 2 cycles make an
    # M=1 GEMV about as long in compute as in DRAM time, so it is not a memory-bound case there)
    for name in ("a100-like", "scalesim-32x32"):
        acc = load_accelerator(name)
        half = acc.with_changes(**{"dram.bandwidth_bytes_per_cycle": acc.dram.bandwidth_bytes_per_cycle / 2})
        for layer in (Layer.linear("down_proj", 1, 11008, 4096), Layer.linear("q_proj", 1, 4096, 4096)):
            full = hwsim.evaluate(layer, "int8", acc)
            slow = hwsim.evaluate(layer, "int8", half)
            assert full.stall_cycles > 0  # memory-bound: latency is the DRAM time
            assert full.cycles == pytest.approx(full.dram_bytes / acc.dram.bandwidth_bytes_per_cycle, rel=0.02)
            assert slow.cycles / full.cycles == pytest.approx(2.0, rel=0.02)
            assert slow.dram_bytes == pytest.approx(layer.k * layer.n, rel=0.01)  # weights read once


def test_ample_bandwidth_zero_stall():
    tpu = load_accelerator("tpu-like").with_changes(**{"dram.bandwidth_bytes_per_cycle": 1e9,
                                                       "buffers.weight_fifo.bandwidth_bytes_per_cycle": 1e9,
                                                       "buffers.unified_buffer.bandwidth_bytes_per_cycle": 1e9})
    for layer in (Layer.linear("fc", 512, 1024, 1024), Layer.linear("gemv", 1, 4096, 4096)):
        c = hwsim.evaluate(layer, "int8", tpu)
        assert c.stall_cycles == 0 and c.cycles == c.compute_cycles > 0


def test_totals_equal_sum_of_breakdown_and_int4_cheaper():
    acc = load_accelerator("a100-like")
    layer = Layer.linear("fc", 128, 4096, 4096)
    c8 = hwsim.evaluate(layer, "int8", acc, act_fmt="int8")
    c4 = hwsim.evaluate(layer, "int4", acc, act_fmt="int4")
    c16 = hwsim.evaluate(layer, "fp16", acc, act_fmt="fp16")
    for c in (c8, c4, c16):
        assert c.total_energy_j == pytest.approx(sum(c.energy_j.values()))
        assert {"mac", "sram", "dram", "leakage"} <= set(c.energy_j)
        assert 0 < c.utilization <= 1
        assert c.cycles == c.compute_cycles + c.stall_cycles
    assert c4.energy_j["mac"] < c8.energy_j["mac"] < c16.energy_j["mac"]
    assert c4.dram_bytes < c8.dram_bytes < c16.dram_bytes
    assert c4.compute_cycles < c8.compute_cycles < c16.compute_cycles  # int4 4x, int8 2x rate
    assert c8.latency_s == pytest.approx(c8.cycles / 1.41e9)


def test_widening_is_reported():
    h100 = load_accelerator("h100-like")  # Hopper has no int4 tensor-core mode
    c = hwsim.evaluate(Layer.linear("fc", 64, 1024, 1024), "int4", h100, act_fmt="int4")
    assert "widened" in c.ran_as and "lacks int4" in c.ran_as


def test_matmul_uses_activation_format_and_embedding_costs_bytes():
    acc = load_accelerator("tpu-like")
    mm = Layer.matmul("attn", 128, 128, 128, batch=4)
    a = hwsim.evaluate(mm, "int4", acc, act_fmt="int8")
    b = hwsim.evaluate(mm, "int8", acc, act_fmt="int8")
    assert a.cycles == b.cycles and a.energy_j == b.energy_j
    emb = Layer.embedding("emb", 16, 32000, 4096)
    e = hwsim.evaluate(emb, "int8", acc)
    assert e.compute_cycles == 0 and e.dram_bytes == 16 * 4096 * 2
    assert e.cycles == int(-(-e.dram_bytes // acc.dram.bandwidth_bytes_per_cycle))


def test_cache_by_shape_and_names_kept():
    acc = load_accelerator("scalesim-32x32")
    x = hwsim.evaluate(Layer.linear("a", 64, 256, 256), "int8", acc)
    y = hwsim.evaluate(Layer.linear("b", 64, 256, 256), "int8", acc)
    assert (x.name, y.name) == ("a", "b") and x.cycles == y.cycles and x.mapping == y.mapping


def _branchy() -> Workload:
    layers = (Layer.linear("in", 64, 256, 256), Layer.linear("left", 64, 256, 256),
              Layer.linear("right", 64, 256, 256), Layer.linear("out", 64, 256, 256))
    edges = (("in", "left"), ("in", "right"), ("left", "out"), ("right", "out"))
    return Workload(name="branchy", phase=Phase.INFERENCE, layers=layers, edges=edges)


def test_workload_totals_csv_json_and_formats_dict():
    acc = load_accelerator("scalesim-32x32")
    wl = _branchy()
    res = hwsim.evaluate_workload(wl, {"in": "int8", "left": "int4", "right": "int8", "out": "int8"}, acc)
    assert res.total_cycles == sum(c.cycles for c in res.layers)
    assert res.total_energy_j == pytest.approx(sum(res.energy_breakdown_j.values()))
    d = json.loads(res.to_json())
    assert set(d) == {"hardware", "model", "freq_hz", "layers", "total"}
    assert set(d["layers"][0]) == {"name", "cycles", "compute_cycles", "stall_cycles", "utilization", "energy_j",
                                   "dram_bytes", "sram_bytes", "mapping", "ran_as"}  # as in --csv
    assert set(d["total"]) == {"cycles", "energy_j", "latency_s"}
    rows = list(csv.DictReader(io.StringIO(res.to_csv())))
    assert [r["name"] for r in rows] == ["in", "left", "right", "out"]
    assert int(rows[0]["cycles"]) == res.layers[0].cycles
    with pytest.raises(InvalidSpecError, match="left"):
        hwsim.evaluate_workload(wl, {"in": "int8"}, acc)


def test_multicore_critical_path():
    acc = load_accelerator("scalesim-32x32").with_changes(num_cores=2)
    wl = _branchy()
    per_layer = hwsim.evaluate_workload(wl, "int8", acc, split_layers=False)
    c = {x.name: x.cycles for x in per_layer.layers}
    assert per_layer.total_cycles == c["in"] + max(c["left"], c["right"]) + c["out"]
    assert per_layer.total_cycles < sum(c.values())


def test_bad_arguments_typed():
    acc = load_accelerator("tpu-like")
    layer = Layer.linear("fc", 4, 64, 64)
    with pytest.raises(InvalidSpecError):
        hwsim.evaluate(layer, "int8", acc, objective="speed")
    with pytest.raises(InvalidSpecError):
        hwsim.evaluate(layer, 8, acc)  # type: ignore[arg-type]
    with pytest.raises(UnsupportedFormatError, match="int99"):
        hwsim.evaluate(layer, "int99", acc)  # not a format
    with pytest.raises(UnsupportedFormatError, match="nf4"):
        hwsim.evaluate(layer, "nf4", acc)  # a format, but tpu-like's int8/int16 datapath cannot hold it


def test_api_compute_cycles_equal_scalesim_golden():
    """hwsim.evaluate on SCALE-Sim's own cfg/topology files: compute_cycles == scalesim 3.0.0's
    "Total Cycles" (tests/data/scalesim_golden.json, produced by benchmarks/scalesim_golden.py)."""
    from pathlib import Path

    from lowbit.hwsim import scalesim_io

    data = Path(__file__).resolve().parents[1] / "data"
    golden = json.loads((data / "scalesim_golden.json").read_text())["layers"]
    checked = 0
    for cfg_name in sorted({g["cfg"] for g in golden}):
        accel = scalesim_io.accelerator(scalesim_io.read_config(data / cfg_name))
        for topo, gemm in (("scalesim/conv_layers.csv", False), ("scalesim/gemm_layers.csv", True)):
            rows = {r.name: r for r in scalesim_io.read_topology(data / topo, gemm=gemm)}
            for g in golden:
                if g["cfg"] != cfg_name or g["topology"] != topo or g["layer"] not in rows:
                    continue
                layer = scalesim_io.to_layer(rows[g["layer"]])
                c = hwsim.evaluate(layer, "int8", accel, act_fmt="int8")
                assert c.compute_cycles == g["total_cycles"], (cfg_name, g["layer"])
                checked += 1
    assert checked >= 12
