"""Binary tensor core presets (issue 6): datasheet values, x*y scaling through hwsim.evaluate,
one ABQ-LLM kernel ratio, and a binary CNN on the XNOR-popcount ASIC."""

from __future__ import annotations

import math

import pytest
import torch
from lowbit.hwsim.cores.base import CoreFamily
from lowbit.hwsim.evaluate import evaluate, evaluate_workload
from lowbit.hwsim.spec import list_presets, load_accelerator, load_yaml
from lowbit.kernels_ref.formats import Format
from lowbit.models import zoo
from lowbit.models.ir import Layer

torch.set_num_threads(1)

BTC = ("btc-a100-like", "btc-h100-like", "xnor-asic")


@pytest.mark.parametrize("name", BTC)
def test_presets_load_and_round_trip(name):
    assert name in list_presets()
    acc = load_accelerator(name)
    assert acc.core_family is CoreFamily.BINARY_TENSOR_CORE
    assert type(acc).from_dict(load_yaml(acc.to_yaml())) == acc


def _binary_tops(name: str) -> float:
    acc = load_accelerator(name)
    b = Format.parse("binary")
    return 2 * acc.model().peak_macs_per_cycle(b, b) * acc.num_cores * acc.freq_hz


def test_preset_values():
    a100 = load_accelerator("btc-a100-like")
    # A100 whitepaper Table 1: INT1 (binary) 4992 dense TOPS; HBM2 1555 GB/s (40GB datasheet)
    assert _binary_tops("btc-a100-like") == pytest.approx(4992e12, rel=0.01)
    assert a100.dram.bandwidth_bytes_per_cycle * a100.freq_hz == pytest.approx(1555e9, rel=0.001)
    assert a100.buffer_for("weight").size_bytes == 164 * 1024  # 164 KB shared memory per SM
    h100 = load_accelerator("btc-h100-like")
    # assumption stated in the preset: A100's per-SM binary rate, 132 SMs at 1.83 GHz:
    # 2 x 16384 x 132 x 1.83e9 = 7.916e15
    assert _binary_tops("btc-h100-like") == pytest.approx(2 * 16384 * 132 * 1.83e9, rel=1e-9)
    assert h100.dram.bandwidth_bytes_per_cycle * h100.freq_hz == pytest.approx(3.35e12, rel=0.001)
    asic = load_accelerator("xnor-asic")
    assert asic.core.logic_op == "xor" and asic.node_nm == 28
    # 64 neurons x 1024-bit XNOR window per cycle at 200 MHz (preset assumptions): 26.2 TOPS
    assert _binary_tops("xnor-asic") == pytest.approx(2 * 64 * 1024 * 2e8, rel=1e-9)


def test_cost_grows_as_x_times_y_on_compute_bound_shape():
    """M = N = K = 4096 on btc-a100-like is compute-bound (W1A1: 2 MiB weights + 2 MiB inputs
    at 1102.8 B/cycle ~ 3.8k cycles of DRAM against ~44k cycles of MMAs). The MMA work is
    x*y planes; the shift-add epilogue and the activation packing grow as x*y and y, and are
    a few per cent of the total here, hence the 2% tolerance on ratios 4 and 16."""
    acc = load_accelerator("btc-a100-like")
    layer = Layer.linear("sq", 4096, 4096, 4096)
    costs = {b: evaluate(layer, f"int{b}", acc, act_fmt=f"int{b}") for b in (1, 2, 4)}
    for c in costs.values():
        assert c.stall_cycles < 0.01 * c.cycles  # compute-bound
        assert c.mapping.split_dim == "m"  # rows split over SMs: each row packed once (row_split)
    assert costs[2].compute_cycles / costs[1].compute_cycles == pytest.approx(4.0, rel=0.02)
    assert costs[4].compute_cycles / costs[1].compute_cycles == pytest.approx(16.0, rel=0.02)
    assert costs[4].cycles / costs[1].cycles == pytest.approx(16.0, rel=0.02)


def test_abq_llm_w2a8_vs_w8a8_one_row():
    """W2A8 on btc-a100-like vs W8A8 on a100-like's INT8 tensor core, 4096x11008 weight, M = 1.
    Expected 3.996: benchmarks/bench_binary.py (RESULTS.md, issue 6 section); ABQ-LLM reports
    about 4x on 4096x11008-type shapes (FIDELITY.md, from the bytedance/ABQ-LLM kernel figure).
    Memory-bound: the ratio is the weight bytes' 8/2, less the shared input/output traffic."""
    layer = Layer.linear("mlp_up", 1, 4096, 11008)
    btc = evaluate(layer, "int2", load_accelerator("btc-a100-like"), act_fmt="int8")
    base = evaluate(layer, "int8", load_accelerator("a100-like"), act_fmt="int8")
    ratio = base.cycles / btc.cycles
    assert ratio == pytest.approx(3.996, rel=0.01)
    assert ratio == pytest.approx(4.0, rel=0.30)  # the acceptance band
    # the 2-bit weights cost 2 bits each in DRAM (+0.1% from padding N to 108 SM slices)
    w_bytes = btc.dram_bytes - (4096 + 11008)  # minus int8 input read once and output written once
    assert w_bytes * 8 / (4096 * 11008) == pytest.approx(2.0, rel=0.005)


def test_xnor_asic_runs_binary_resnet18():
    acc = load_accelerator("xnor-asic")
    wl = zoo.get("resnet18")
    cost = evaluate_workload(wl, "binary", acc, act_fmt="binary")
    assert math.isfinite(cost.total_cycles) and cost.total_cycles > 0
    assert math.isfinite(cost.total_energy_j) and cost.total_energy_j > 0
    for c in cost.layers:
        assert c.cycles > 0 and c.total_energy_j > 0
        assert c.ran_as.startswith("1 one-bit GEMMs")  # binary x binary: one plane pair
        assert 0 < c.utilization <= 1
