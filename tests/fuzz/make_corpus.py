"""Write the hand-made nasty inputs of tests/data/fuzz/ (run once; the files are committed).

    .venv/bin/python tests/fuzz/make_corpus.py

Each file is tests/data/fuzz/<kind>/<bad|ok>_<what>.<ext>: `bad_` must end in a clean one-line
error naming the file, `ok_` in a valid run. The seeds they mutate are the shipped presets,
tests/data/scalesim/, tests/data/hawq_v3_resnet18_costs.json and the seed_* files beside this
script. Every case the outside fuzz campaign of issue 20 listed is here.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "data" / "fuzz"
HERE = Path(__file__).resolve().parent

BOMB = ("a: &a [x,x,x,x,x,x,x,x,x,x]\n" + "".join(
    f"{n}: &{n} [{','.join(['*' + p] * 10)}]\n" for p, n in zip("abcdefg", "bcdefgh")))
DEEP = "x: " + "[" * 1000 + "]" * 1000 + "\n"
DEEP_MAP = "".join("  " * i + f"k{i}:\n" for i in range(300)) + "  " * 300 + "v: 1\n"
BIG_INT = "1" + "0" * 400


def w(kind: str, name: str, data: str | bytes) -> None:
    p = OUT / kind / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)


def encodings(kind: str, text: str, ext: str) -> None:
    w(kind, f"bad_utf16.{ext}", text.encode("utf-16"))
    w(kind, f"bad_utf16_nobom.{ext}", text.encode("utf-16-le"))
    w(kind, f"bad_latin1.{ext}", (text.replace('"', '"caf\xe9', 1) if ext == "json" else
                                  text.replace("\n", " # caf\xe9\n", 1)).encode("latin-1"))
    w(kind, f"bad_nul.{ext}", text[:20].encode() + b"\x00" + text[20:].encode())
    w(kind, f"bad_whitespace.{ext}", "   \n\t\n  \n")
    w(kind, f"bad_empty.{ext}", "")
    w(kind, f"bad_truncated.{ext}", text[: len(text) // 2])


def specs() -> None:
    tm = (ROOT / "hwsim/presets/tmac-avx2.yaml").read_text()
    lm = (ROOT / "hwsim/presets/loom.yaml").read_text()
    w("spec", "ok_loom.yaml", lm)
    for name, old, new in [
        ("tmac_add_ops_nan", "add_ops: 1.0", "add_ops: .nan"),
        ("tmac_accumulator_1e300", "accumulator_bits: 16", "accumulator_bits: 1e300"),
        ("tmac_lookups_neg", "lookups_per_cycle: 1", "lookups_per_cycle: -1"),
    ]:
        w("spec", f"bad_{name}.yaml", tm.replace(old, new))
    for name, old, new in [
        ("loom_rows_1e12", "rows: 128 ", "rows: 1000000000000 "),
        ("loom_rows_big_int", "rows: 128 ", f"rows: {BIG_INT} "),
        ("loom_rows_bool", "rows: 128 ", "rows: true "),
        ("loom_rows_str", "rows: 128 ", "rows: many "),
        ("loom_accumulator_1e300", "accumulator_bits: 32", "accumulator_bits: 1e300"),
        ("loom_freq_inf", "freq_hz: 1.0e9", "freq_hz: .inf"),
        ("loom_freq_neg", "freq_hz: 1.0e9", "freq_hz: -1.0e9"),
        ("loom_bw_zero", "bandwidth_bytes_per_cycle: 64,", "bandwidth_bytes_per_cycle: 0,"),
        ("loom_size_1e30", "size_bytes: 2097152,", "size_bytes: 1.0e30,"),
        ("loom_unknown_key", "node_nm: 65", "node_nm: 65\nnode_mn: 65"),
        ("loom_dup_core", "num_cores: 1", "num_cores: 1\ncore: {family: bit_serial}"),
        ("loom_dup_key", "node_nm: 65", "node_nm: 65\nnode_nm: 28"),
        ("loom_python_tag", "name: loom", "name: !!python/object/apply:os.system ['echo pwned']"),
    ]:
        w("spec", f"bad_{name}.yaml", lm.replace(old, new, 1))
    w("spec", "bad_bomb.yaml", BOMB)
    w("spec", "bad_deep.yaml", DEEP)
    w("spec", "bad_deep_map.yaml", DEEP_MAP)
    w("spec", "bad_list_top.yaml", "- 1\n- 2\n")
    w("spec", "bad_long_string.yaml", "name: " + "x" * 200_000 + "\n")
    encodings("spec", lm, "yaml")


def cfgs() -> None:
    cfg = (ROOT / "tests/data/scalesim/a32x32_os.cfg").read_text()
    w("cfg", "ok_a32x32_os.cfg", cfg)
    for name, old, new in [
        ("array_height_1e12", "ArrayHeight:    32", "ArrayHeight: 1000000000000"),
        ("array_height_big_int", "ArrayHeight:    32", f"ArrayHeight: {BIG_INT}"),
        ("array_height_zero", "ArrayHeight:    32", "ArrayHeight: 0"),
        ("sram_negative", "IfmapSramSzkB:   64", "IfmapSramSzkB: -64"),
        ("dataflow_misspelt_key", "Dataflow :", "Dataflw :"),
        ("dataflow_bad_value", "Dataflow : os", "Dataflow : xs"),
        ("no_section", "[architecture_presets]", "[architecture]"),
    ]:
        w("cfg", f"bad_{name}.cfg", cfg.replace(old, new))
    user = cfg.replace("InterfaceBandwidth: CALC", "InterfaceBandwidth: USER")
    for name, bw in (("negative", "-3"), ("fraction", "2.5"), ("nan", "nan"), ("big", "1" + "0" * 40)):
        w("cfg", f"bad_user_bandwidth_{name}.cfg", user.replace("Bandwidth : 10", f"Bandwidth : {bw}"))
        # CALC mode: SCALE-Sim 3.0.0 never reads Bandwidth, and neither do we (see scalesim_io)
        w("cfg", f"any_calc_bandwidth_{name}.cfg", cfg.replace("Bandwidth : 10", f"Bandwidth : {bw}"))
    w("cfg", "bad_array_height_16385.cfg", cfg.replace("ArrayHeight:    32", "ArrayHeight: 16385"))
    # keys SCALE-Sim 3.0.0 never reads; it runs them, and so do we (hwsim/scalesim_io.py)
    w("cfg", "any_memorybank_misspelt.cfg", cfg.replace("MemoryBanks", "MemoryBank"))
    w("cfg", "any_sparsity_misspelt.cfg", cfg.replace("SparsitySupport", "SparsitySuport"))
    encodings("cfg", cfg, "cfg")


def topologies() -> None:
    top = (ROOT / "tests/data/scalesim/conv_layers.csv").read_text()
    head = top.splitlines()[0]
    w("topology", "ok_conv_layers.csv", top)
    for name, row in [
        ("extra_columns", "conv, 15, 15, 3, 3, 3, 20, 1, 7, 9,"),
        ("big_int_channels", f"c, 15, 15, 3, 3, {BIG_INT}, 20, 1,"),
        ("negative_channels", "c, 15, 15, 3, 3, -3, 20, 1,"),
        ("fraction", "c, 15.5, 15, 3, 3, 3, 20, 1,"),
        ("filter_bigger_than_ifmap", "c, 3, 3, 7, 7, 3, 20, 1,"),
        ("stride_zero", "c, 15, 15, 3, 3, 3, 20, 0,"),
        ("too_few_columns", "c, 15, 15, 3,"),
        ("dw_channels_1e6", "dw, 15, 15, 3, 3, 1000000, 1, 1,"),
        ("dw_channels_1e8", "dw, 15, 15, 3, 3, 100000000, 1, 1,"),
        ("dp_channels_1e6", "convDP, 15, 15, 3, 3, 1000000, 1, 1,"),
        ("ifmap_1e9", "c, 1000000000, 1000000000, 3, 3, 3, 20, 1,"),
    ]:
        w("topology", f"bad_{name}.csv", f"{head}\n{row}\n")
    w("topology", "bad_header_only.csv", head + "\n")
    encodings("topology", top, "csv")


def costs() -> None:
    c = json.loads((ROOT / "tests/data/hawq_v3_resnet18_costs.json").read_text())
    w("costs", "ok_hawq.json", json.dumps(c))
    neg = copy.deepcopy(c)
    neg["sensitivity"][0][0] = -0.25  # a loss delta may be negative: valid
    w("costs", "ok_negative_sensitivity.json", json.dumps(neg))

    def bad(name: str, edit) -> None:
        d = copy.deepcopy(c)
        edit(d)
        w("costs", f"bad_{name}.json", json.dumps(d))

    bad("empty_layer_name", lambda d: d["layers"].__setitem__(0, ""))
    bad("blank_layer_name", lambda d: d["layers"].__setitem__(0, "   "))
    bad("negative_latency", lambda d: d["costs"]["latency"][0].__setitem__(0, -984.0))
    bad("bool_layer", lambda d: d["layers"].__setitem__(0, True))
    bad("null_cost", lambda d: d["costs"]["latency"][0].__setitem__(0, None))
    bad("ragged", lambda d: d["costs"]["latency"][0].append(1.0))
    bad("unknown_key", lambda d: d.__setitem__("layer", []))
    bad("dup_layers", lambda d: d["layers"].__setitem__(1, d["layers"][0]))
    bad("tie_out_of_range", lambda d: d["ties"].append([0, 99999]))
    bad("budget_bad_unit", lambda d: d.__setitem__("budgets", {"latency": "5KiB"}))
    bad("budget_unknown_metric", lambda d: d.__setitem__("budgets", {"latncy": 3}))
    text = json.dumps(c)
    w("costs", "bad_int_400_digits.json", text.replace("0.46242320718", BIG_INT, 1))
    w("costs", "bad_nan.json", text.replace("0.46242320718", "NaN", 1))
    w("costs", "bad_1e400.json", text.replace("0.46242320718", "1e400", 1))
    w("costs", "bad_dup_key.json", text.replace('"model":', '"choices": [], "model":', 1))
    w("costs", "bad_deep.json", "[" * 10_000 + "]" * 10_000)
    encodings("costs", text, "json")


def sensitivities() -> None:
    s = (HERE / "seed_sens.csv").read_text()
    w("sensitivity", "ok_resnet18.csv", s)
    lines = s.splitlines()
    w("sensitivity", "ok_negative.csv", "\n".join(lines[:1] + [lines[1].replace("0.5", "-0.5")] + lines[2:]) + "\n")
    w("sensitivity", "bad_big_int.csv", s.replace("0.5", BIG_INT, 1))
    w("sensitivity", "bad_nan.csv", s.replace("0.5", "nan", 1))
    w("sensitivity", "bad_inf.csv", s.replace("0.5", "inf", 1))
    w("sensitivity", "bad_text_value.csv", s.replace("0.5", "high", 1))
    w("sensitivity", "bad_header.csv", s.replace("layer,format,value", "layer,fmt,value", 1))
    w("sensitivity", "bad_extra_column.csv", s.replace("layer,format,value", "layer,format,value,x", 1))
    w("sensitivity", "bad_missing_format.csv", "\n".join(ln for ln in lines if ",int4," not in ln) + "\n")
    w("sensitivity", "bad_dup_row.csv", s + lines[1] + "\n")
    w("sensitivity", "bad_json_nan.json", '{"layers": ["conv1"], "formats": ["int4"], "values": [[NaN]]}')
    encodings("sensitivity", s, "csv")


def spaces() -> None:
    sp = (HERE / "seed_space.yaml").read_text()
    w("space", "ok_small.yaml", sp)
    for name, old, new in [
        ("rows_range_100000", "core.rows: [64, 128]", "core.rows: {range: [1, 100000], step: 1}"),
        ("rows_range_no_step", "core.rows: [64, 128]", "core.rows: {range: [1, 100000]}"),
        ("freq_num_1e9", "core.rows: [64, 128]", "freq_hz: {range: [6.0e8, 1.0e9], num: 1000000000}"),
        ("grid_too_big", "core.rows: [64, 128]",
         ("core.rows: {range: [8, 1000], step: 1}\n      core.cols: {range: [8, 1000], step: 1}\n"
          "      core.lanes: {range: [8, 1000], step: 1}")),
        ("format_typo", "formats: [int4, int8]", "formats: [int4, imt8]"),
        ("budget_typo", "budgets: {latency: 0.8x}", "budgets: {latncy: 0.8x}"),
        ("budget_bad_unit", "budgets: {latency: 0.8x}", "budgets: {latency: 5KiB}"),
        ("seed_negative", "strategy: grid", "strategy: grid\nseed: -1"),
        ("seed_huge", "strategy: grid", "strategy: grid\nseed: 1000000000000000000000"),
        ("param_bad_value", "core.rows: [64, 128]", "core.rows: [64, -128]"),
        ("param_unknown", "core.rows: [64, 128]", "core.rowz: [64, 128]"),
        ("model_bool", "models: [resnet-18]", "models: [true]"),
        ("model_unknown", "models: [resnet-18]", "models: [resnet-1800]"),
        ("dup_key", "strategy: grid", "strategy: grid\nstrategy: random"),
        ("unknown_top_key", "strategy: grid", "strategy: grid\nstratgy: grid"),
    ]:
        w("space", f"bad_{name}.yaml", sp.replace(old, new, 1))
    w("space", "bad_bomb.yaml", BOMB)
    w("space", "bad_deep.yaml", DEEP)
    w("space", "bad_bomb_in_params.yaml", BOMB + sp.replace("core.rows: [64, 128]", "core.rows: *h"))
    encodings("space", sp, "yaml")


def allocations() -> None:
    """`verify --model digits --allocation FILE`: layer name or pattern -> format."""
    ok = "conv1: int8\n'*': int4\n"
    w("allocation", "ok_digits.yaml", ok)
    w("allocation", "bad_bomb.yaml", BOMB)
    w("allocation", "bad_deep.yaml", DEEP)
    w("allocation", "bad_bool_format.yaml", "conv1: true\n")
    w("allocation", "bad_format_typo.yaml", "conv1: imt4\n")
    w("allocation", "bad_group_50_digits.yaml", "conv1: int4g" + "9" * 50 + "\n")
    w("allocation", "bad_list.yaml", "- conv1\n- int4\n")
    w("allocation", "bad_dup_key.yaml", "conv1: int4\nconv1: int8\n")
    encodings("allocation", ok, "yaml")
    (OUT / "allocation" / "bad_truncated.yaml").unlink()
    w("allocation", "any_truncated.yaml", ok[: len(ok) // 2])


def report_inputs() -> None:
    a = json.loads((HERE / "seed_alloc.json").read_text())
    w("report", "ok_alloc.json", json.dumps(a))

    def bad(name: str, edit) -> None:
        d = copy.deepcopy(a)
        edit(d)
        w("report", f"bad_{name}.json", json.dumps(d))

    bad("nan_layer_name", lambda d: d["layers"][0].__setitem__("name", float("nan")))
    bad("negative_latency", lambda d: d["layers"][0].__setitem__("latency_cycles", -5.0))
    bad("negative_cost", lambda d: d["layers"][0]["costs"].__setitem__("latency", -5.0))
    bad("bool_model", lambda d: d.__setitem__("model", True))
    bad("layers_not_list", lambda d: d.__setitem__("layers", {"a": 1}))
    bad("format_not_string", lambda d: d["layers"][0].__setitem__("format", 4))
    w("report", "bad_not_json.json", "{not json")
    encodings("report", json.dumps(a), "json")


if __name__ == "__main__":
    for f in (specs, cfgs, topologies, costs, sensitivities, spaces, allocations, report_inputs):
        f()
    print(sum(1 for _ in OUT.rglob("*.*")), "files under", OUT)
