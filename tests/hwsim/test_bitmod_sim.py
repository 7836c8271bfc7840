"""The zoo path (`hwsim.evaluate_workload`) held to bitmod_sim's own output, per layer and model.

Goldens: tests/data/bitmod_sim/*.json, made by running bitmod_sim (abdelfattah-lab/BitMoD-HPCA-25,
commit e445a5f) here with its own test scripts (README.md there has the commands). Presets:
`bitmod*` (8-bit KV on BitMoD, `memory: {whole_layer_refetch: true}`); weight formats with
bitmod_sim's exact bits per weight (`FORMATS`). Issue 17 targets: every per-model speedup
within 10%, both means within 3%.
"""

import json
import re
from functools import cache
from pathlib import Path

import pytest
from lowbit.hwsim import evaluate, evaluate_workload
from lowbit.hwsim.spec import load_accelerator
from lowbit.kernels_ref.errors import InvalidSpecError
from lowbit.models import Layer, zoo

DATA = Path(__file__).resolve().parents[1] / "data" / "bitmod_sim"
SETUP = json.loads((DATA / "setup.json").read_text())  # models, phases, presets, format mapping
MODELS = tuple(SETUP["models"])
PHASES = tuple(SETUP["phases"])
PRESETS = SETUP["presets"]
FORMATS = SETUP["formats"]
GQA = ("yi-6b", "llama-3-8b")
_RENAME = {"attn_qk": "attn_score", "attn_v": "attn_context", "out_proj": "o_proj"}


@cache
def golden(arch: str, phase: str) -> dict:
    return json.loads((DATA / f"{arch}-{phase}.json").read_text())


def fmt(arch: str, phase: str, model: str) -> str:
    return FORMATS[arch][phase] if arch == "bitmod" else FORMATS[arch][model]


@cache
def lowbit(arch: str, phase: str, model: str):
    accel = load_accelerator(PRESETS[arch] + ("" if phase == "prefill" else "-decode"))
    return evaluate_workload(zoo.get(model, phase=phase, seq_len=256, batch=1), fmt(arch, phase, model), accel)


def our_name(peer: str) -> str:
    if peer == "lm_head":
        return peer
    m = re.search(r"layers\.(\d+)\..*?([a-z_0-9]+)$", peer)
    return f"layers.{m.group(1)}.{_RENAME.get(m.group(2), m.group(2))}"


def test_goldens_are_the_peers_headline():
    """The stored runs reproduce bitmod_sim's own headline (1.693x / 1.473x, FIDELITY.md)."""
    means = {}
    for base in ("ant", "olive"):
        means[base] = sum(sum(golden(base, ph)["models"][m]["cycles"]["total"]
                              / golden("bitmod", ph)["models"][m]["cycles"]["total"] for ph in PHASES) / 2
                          for m in MODELS) / len(MODELS)
    assert means["ant"] == pytest.approx(1.6926, abs=1e-4)
    assert means["olive"] == pytest.approx(1.4731, abs=1e-4)
    assert golden("bitmod", "prefill")["models"]["llama-2-13b"]["args"]["kv_prec"] == 8
    assert golden("ant", "prefill")["models"]["llama-2-13b"]["args"]["kv_prec"] == 16


@pytest.mark.parametrize("arch", PRESETS)
@pytest.mark.parametrize("phase", PHASES)
def test_per_layer_cycles_equal_bitmod_sim(arch: str, phase: str):
    """Every layer bitmod_sim has (all nn.Linear incl. lm_head, attn_qk/attn_v per layer):
    compute and total cycles equal, grouped-query attention included (both stack the query heads
    that share a K/V head into M: batch = kv heads, M = tokens x group)."""
    for model in MODELS:
        by = {c.name: c for c in lowbit(arch, phase, model).layers}
        rows = golden(arch, phase)["models"][model]["layers"]
        assert "lm_head" in {r[0] for r in rows}
        assert {c.name for c in by.values()} - {our_name(r[0]) for r in rows} <= {"embed_tokens",
                                                                                 "embed_positions"}
        for name, comp, dram, *_ in rows:
            c = by[our_name(name)]
            assert (c.compute_cycles, c.cycles) == (comp, max(comp, dram)), (model, name)


@pytest.mark.parametrize("arch", PRESETS)
def test_gqa_decode_attention_cycles_equal_bitmod_sim(arch: str):
    """Issue 15 item 5: attention cycles (max(compute, DRAM) over attn_score and attn_context) at
    bitmod_sim's KV width on the grouped-query models in decode; with one 1-token GEMM per query
    head they were 3.37x (Yi-6B) and 1.83x (Llama-3-8B) the peer's on BitMoD."""
    for model in GQA:
        ours = sum(c.cycles for c in lowbit(arch, "decode", model).layers
                   if c.name.endswith(("attn_score", "attn_context")))
        rows = golden(arch, "decode")["models"][model]["layers"]
        peer = sum(max(comp, dram) for name, comp, dram, *_ in rows if name.endswith(("attn_qk", "attn_v")))
        assert ours == peer, (model, ours, peer)
    if arch == "bitmod":
        yi = sum(c.cycles for c in lowbit(arch, "decode", "yi-6b").layers if "attn_" in c.name)
        assert yi == 32 * 2 * 4864  # 32 layers x (score, context), DRAM-bound: 4 kv heads x 8 queries


@pytest.mark.parametrize("arch", PRESETS)
@pytest.mark.parametrize("phase", PHASES)
def test_total_cycles_within_1p1_percent(arch: str, phase: str):
    for model in MODELS:
        peer = golden(arch, phase)["models"][model]["cycles"]["total"]
        assert lowbit(arch, phase, model).total_cycles == pytest.approx(peer, rel=0.011), model
        # measured: within 0.05% (the embedding lookups, which bitmod_sim has no layer for)
        assert lowbit(arch, phase, model).total_cycles == pytest.approx(peer, rel=5e-4), model


def test_speedups_per_model_and_means():
    ours, peer = {"ant": [], "olive": []}, {"ant": [], "olive": []}
    for base in ("ant", "olive"):
        for model in MODELS:
            for ph in PHASES:
                lo = lowbit(base, ph, model).total_cycles / lowbit("bitmod", ph, model).total_cycles
                pe = (golden(base, ph)["models"][model]["cycles"]["total"]
                      / golden("bitmod", ph)["models"][model]["cycles"]["total"])
                assert lo == pytest.approx(pe, rel=0.10), (base, model, ph)  # issue 17 target
                assert lo == pytest.approx(pe, rel=5e-4), (base, model, ph)  # measured (worst -0.02%)
                ours[base].append(lo)
                peer[base].append(pe)
        mean_o, mean_p = sum(ours[base]) / len(ours[base]), sum(peer[base]) / len(peer[base])
        assert mean_o == pytest.approx(mean_p, rel=0.03)
        assert mean_o == pytest.approx(mean_p, rel=1e-4)  # measured: -0.004% / -0.003%


# ------------------------------------------------------------------ KV format and the rule by hand
def test_kv_format_prices_the_second_operand():
    acc = load_accelerator("bitmod-decode")
    score = Layer.matmul("s", 1, 128, 256, 32)  # one token, 32 heads, 256 keys
    c8 = evaluate(score, "int4", acc)  # the preset's 8-bit KV (the weight format is ignored)
    c16 = evaluate(score, "int4", acc, kv_fmt="fp16")
    c4 = evaluate(score, "int4", acc, kv_fmt="int4")
    k_bytes = 32 * 128 * 256
    q_out = 32 * 128 * 2 + 32 * 256 * 2
    assert (c16.dram_bytes, c8.dram_bytes, c4.dram_bytes) == (2 * k_bytes + q_out, k_bytes + q_out,
                                                              k_bytes / 2 + q_out)
    # PE latency from the KV width, 2 bits a cycle: 8, 4, 2 cycles per tile
    assert (c16.compute_cycles, c8.compute_cycles, c4.compute_cycles) == (32 * 32 * 4 * 8, 32 * 32 * 4 * 4,
                                                                          32 * 32 * 4 * 2)


def test_default_kv_is_the_activation_format_without_a_preset_value():
    acc = load_accelerator("bitmod-ant")
    assert acc.default_kv_format is None and acc.kv_format == acc.act_format
    layer = Layer.matmul("s", 256, 128, 256, 32)
    assert evaluate(layer, "int4", acc) == evaluate(layer, "int4", acc, kv_fmt="fp16")
    assert evaluate(layer, "int4", acc).dram_bytes > evaluate(layer, "int4", acc, kv_fmt="int8").dram_bytes


def test_kv_format_spec_key_round_trips_and_is_checked():
    acc = load_accelerator("bitmod")
    assert acc.to_dict()["default_kv_format"] == "int8"
    assert type(acc).from_dict(acc.to_dict()) == acc
    assert "default_kv_format" not in load_accelerator("bitmod-ant").to_dict()
    with pytest.raises(InvalidSpecError, match="default_kv_format"):
        acc.with_changes(default_kv_format="int99")


def test_whole_layer_refetch_by_hand():
    """bitmod_sim's rule on one prefill GEMM: int8 weights 16 MiB and fp16 inputs 2 MiB, both over
    their 512 KiB buffers: weights 4 times (ceil(2 MiB / 512 KiB)) = 64 + 2 MiB beats inputs 32
    times (ceil(16 MiB / 512 KiB)) = 64 + 16 MiB, so the weights are re-read."""
    acc = load_accelerator("bitmod")
    layer = Layer.linear("l", 256, 4096, 4096)
    c = evaluate(layer, "int8", acc)
    w, i, o = 4096 * 4096, 256 * 4096 * 2, 256 * 4096 * 2
    assert c.dram_bytes == 4 * w + i + o
    compute = 4096 // 4 * 4096 // 32 * 256 // 32 * 4  # dp 4, 32 rows, 32 token columns, PE latency 4
    assert c.compute_cycles == compute and c.cycles == max(compute, (4 * w + i + o) // 32)
    off = acc.with_changes(**{"memory.whole_layer_refetch": False})
    assert evaluate(layer, "int8", off).dram_bytes != c.dram_bytes  # lowbit's own tiling: other bytes


def test_workload_knows_its_kv_cache():
    wl = zoo.get("llama-2-7b", phase="decode", seq_len=8192)
    assert wl.kv_cache_bytes(16) == 32 * 8192 * 2 * 4096 * 2  # 4 GiB per sequence at fp16 (issue 15)
    assert wl.kv_cache_bytes(8, batch=2) == wl.kv_cache_bytes(16)
    gqa = zoo.get("llama-3-8b", phase="decode", seq_len=256)
    assert dict(gqa.meta)["kv_elems_per_token_layer"] == 2 * 8 * 128
    assert zoo.get("resnet-18").kv_cache_bytes(16) == 0.0
