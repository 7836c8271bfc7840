"""The MAC array's compute cycles equal SCALE-Sim 3.0.0's "Total Cycles" exactly.

Goldens: tests/data/scalesim_golden.json, produced by benchmarks/scalesim_golden.py running
scalesim==3.0.0 on the cfg/topology files in tests/data/scalesim/ (the same files read here).
"""

from __future__ import annotations

import io
import json
import re
import shutil
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lowbit.hwsim.cores.base import Dataflow
from lowbit.hwsim.cores.mac_array import Model, Spec
from lowbit.hwsim.scalesim_io import (
    ScaleSimLayer,
    accelerator,
    core_spec,
    read_config,
    read_topology,
    simulate_files,
    to_layer,
)
from lowbit.hwsim.spec import load_accelerator
from lowbit.kernels_ref.errors import InvalidSpecError
from lowbit.kernels_ref.formats import Format
from lowbit.models.ir import OpKind

DATA = Path(__file__).resolve().parents[1] / "data"
GOLDEN = json.loads((DATA / "scalesim_golden.json").read_text())
ENTRIES = GOLDEN["layers"]
I8 = Format.parse("int8")


def test_golden_provenance_and_coverage():
    assert GOLDEN["source"].startswith("scalesim 3.0.0")
    assert len(ENTRIES) >= 12
    cfgs = {read_config(DATA / e["cfg"]) for e in ENTRIES}
    assert {c.dataflow for c in cfgs} == {Dataflow.OUTPUT_STATIONARY, Dataflow.WEIGHT_STATIONARY,
                                         Dataflow.INPUT_STATIONARY}
    assert any(c.array_rows != c.array_cols for c in cfgs)                  # non-square arrays
    assert {e["gemm"] for e in ENTRIES} == {False, True}                      # both topology kinds
    assert any(e["scalesim_m"] == 1 for e in ENTRIES)                          # GEMV
    assert all(e["stall_cycles"] == 0 for e in ENTRIES)                        # stall-free runs
    rows = read_topology(DATA / "scalesim" / "conv_layers.csv")
    assert any(r.stride_h == 2 for r in rows) and any(r.filter_h == r.filter_w == 1 for r in rows)
    assert any(e["scalesim_m"] % 32 and e["scalesim_k"] % 32 for e in ENTRIES)  # non-divisible


@pytest.mark.parametrize("e", ENTRIES, ids=lambda e: f"{Path(e['cfg']).stem}-{e['layer']}")
def test_api_equals_scalesim(e):
    cfg = read_config(DATA / e["cfg"])
    m, k, n = e["scalesim_m"], e["scalesim_k"], e["scalesim_n"]
    spec = Spec(rows=cfg.array_rows, cols=cfg.array_cols, dataflows=(cfg.dataflow,), scalesim_mode=True)
    assert Model(spec).compute(m, k, n, I8, I8, cfg.dataflow).cycles == e["total_cycles"]


def test_files_equal_scalesim():
    by_run: dict[tuple[str, str, bool], dict[str, dict]] = {}
    for e in ENTRIES:
        key = (e["cfg"], e["topology"], e["gemm"])
        if key not in by_run:
            res = simulate_files(DATA / e["cfg"], DATA / e["topology"], gemm=e["gemm"])
            by_run[key] = {r["name"]: r for r in res}
        r = by_run[key][e["layer"]]
        assert (r["m"], r["k"], r["n"]) == (e["scalesim_m"], e["scalesim_k"], e["scalesim_n"]), e["layer"]
        assert r["compute_cycles"] == e["total_cycles"], (e["cfg"], e["layer"])
        assert r["mapping_efficiency_pct"] == pytest.approx(e["mapping_efficiency_pct"], rel=1e-12)
    for key, rows in by_run.items():   # every layer SCALE-Sim ran, none extra
        assert set(rows) == {e["layer"] for e in ENTRIES if (e["cfg"], e["topology"], e["gemm"]) == key}


def test_layers_and_accelerator_from_files():
    for e in ENTRIES[:12]:
        cfg = read_config(DATA / e["cfg"])
        rows = {r.name: r for r in read_topology(DATA / e["topology"], gemm=e["gemm"])}
        layer = to_layer(rows[e["layer"]])
        assert (layer.m, layer.k, layer.n) == (e["scalesim_m"], e["scalesim_k"], e["scalesim_n"])
        assert layer.op is (OpKind.LINEAR if e["gemm"] else OpKind.CONV2D)
        accel = accelerator(cfg)
        assert accel.core == core_spec(cfg)
        tc = accel.model().compute(layer.m, layer.k, layer.n, I8, I8, cfg.dataflow)
        assert tc.cycles == e["total_cycles"]


def test_hwsim_evaluate_equals_scalesim():
    """The public API: hwsim.evaluate (mapping search + memory) keeps SCALE-Sim's compute cycles."""
    from lowbit import hwsim

    for e in ENTRIES:
        cfg = read_config(DATA / e["cfg"])
        row = next(r for r in read_topology(DATA / e["topology"], gemm=e["gemm"]) if r.name == e["layer"])
        cost = hwsim.evaluate(to_layer(row), "int8", accelerator(cfg), act_fmt="int8")
        assert cost.compute_cycles == e["total_cycles"], (e["cfg"], e["layer"])
        assert cost.cycles == cost.compute_cycles + cost.stall_cycles


def test_preset_equals_scalesim_32x32():
    model = load_accelerator("scalesim-32x32").model()
    checked = 0
    for e in ENTRIES:
        cfg = read_config(DATA / e["cfg"])
        if (cfg.array_rows, cfg.array_cols) == (32, 32):
            tc = model.compute(e["scalesim_m"], e["scalesim_k"], e["scalesim_n"], I8, I8, cfg.dataflow)
            assert tc.cycles == e["total_cycles"]
            checked += 1
    assert checked >= 30


def test_ceil_output_rule_and_depthwise_split():
    rows = read_topology(DATA / "scalesim" / "conv_layers.csv")
    s2 = next(r for r in rows if r.name == "conv3x3_s2")
    # SCALE-Sim: ceil((18 - 3 + 2) / 2) = 9 (PyTorch's floor rule would give 8)
    assert (s2.ofmap_h, s2.ofmap_w) == (9, 9)
    layer = to_layer(s2)
    assert layer.conv is not None and layer.conv.out_h == 9 and layer.m == 81
    dp = [r.name for r in rows if r.name.startswith("DPconv3x3")]
    assert dp == ["DPconv3x3Channel_0", "DPconv3x3Channel_1", "DPconv3x3Channel_2"]
    assert all(r.channels == 1 for r in rows if r.name.startswith("DP"))


def test_trailing_commas_optional(tmp_path):
    src = (DATA / "scalesim" / "gemm_layers.csv").read_text()
    plain = tmp_path / "gemm_plain.csv"
    plain.write_text("\n".join(line.rstrip().rstrip(",") for line in src.splitlines()) + "\n")
    with_commas = read_topology(DATA / "scalesim" / "gemm_layers.csv", gemm=True)
    assert read_topology(plain, gemm=True) == with_commas
    assert with_commas[0] == ScaleSimLayer("gemv", 1, 300, 1, 300, 1, 100, 1, 1, gemm=True, line=2)


def test_repository_default_cfg_parses():
    cfg = read_config(DATA / "scalesim" / "scale_default.cfg")
    assert (cfg.array_rows, cfg.array_cols, cfg.dataflow) == (32, 32, Dataflow.OUTPUT_STATIONARY)
    assert (cfg.ifmap_sram_kb, cfg.filter_sram_kb, cfg.ofmap_sram_kb) == (64, 64, 64)
    assert cfg.bandwidths == (10,) and not cfg.use_user_bandwidth and cfg.read_request_buffer == 512


# ------------------------------------------------------------------ bad files
def _cfg_with(tmp_path: Path, old: str, new: str) -> Path:
    text = (DATA / "scalesim" / "a16x8_ws.cfg").read_text()
    assert old in text
    p = tmp_path / "bad.cfg"
    p.write_text(text.replace(old, new))
    return p


@pytest.mark.parametrize("old, new, needle", [
    ("ArrayHeight:    16", "ArrayHeight:    sixteen", "line 5: ArrayHeight must be an integer"),
    ("ArrayWidth:     8", "ArrayWidth:     0", "line 6: ArrayWidth must be positive"),
    ("Dataflow : ws", "Dataflow : rs", "line 14: Dataflow must be os, ws or is"),
    ("ArrayWidth:     8\n", "", "missing key ArrayWidth"),
    ("InterfaceBandwidth: CALC", "InterfaceBandwidth: FAST", "InterfaceBandwidth must be USER or CALC"),
    ("SparsitySupport : false", "SparsitySupport : true", "SparsitySupport true is not supported"),
    ("[general]", "[genral]", "missing section [general]"),
    ("ArrayHeight:    16", "ArrayHeight 16", "not a valid SCALE-Sim config"),
])
def test_bad_cfg(tmp_path, old, new, needle):
    path = _cfg_with(tmp_path, old, new)
    with pytest.raises(InvalidSpecError) as exc:
        read_config(path)
    assert str(path) in str(exc.value) and needle in str(exc.value)


def test_bad_user_bandwidth(tmp_path):
    path = _cfg_with(tmp_path, "InterfaceBandwidth: CALC", "InterfaceBandwidth: USER")
    assert read_config(path).bandwidths == (10,) and read_config(path).use_user_bandwidth
    path.write_text(path.read_text().replace("Bandwidth : 10", "Bandwidth : ten"))
    with pytest.raises(InvalidSpecError, match=r"line 13: Bandwidth must be comma-separated integers"):
        read_config(path)


@pytest.mark.parametrize("row, gemm, needle", [
    ("c1, 9, 9, 3, 3, 5, 7, two,", False, "line 2: strides must be an integer"),
    ("c1, 9, 9, 3, 3, 5, 0, 1,", False, "line 2: num filter must be positive"),
    ("c1, 9, 9, 10, 3, 5, 7, 1,", False, "line 2: filter height 10 > ifmap height 9"),
    ("c1, 9, 9, 3, 3, 5,", False, "line 2: a conv row needs"),
    ("c1, 9, 9, 3, 3, 5, 7, 1, half,", False, "line 2: sparsity ratio"),
    ("g1, 4, 5,", True, "line 2: a GEMM row needs name, M, N, K"),
    ("g1, 4, -5, 6,", True, "line 2: N must be positive"),
])
def test_bad_topology(tmp_path, row, gemm, needle):
    p = tmp_path / "topo.csv"
    p.write_text("header,\n" + row + "\n")
    with pytest.raises(InvalidSpecError) as exc:
        read_topology(p, gemm=gemm)
    assert str(p) in str(exc.value) and needle in str(exc.value)


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(InvalidSpecError, match="not found"):
        read_config(tmp_path / "nope.cfg")
    with pytest.raises(InvalidSpecError, match="not found"):
        read_topology(tmp_path / "nope.csv")
    p = tmp_path / "only_header.csv"
    p.write_text("Layer, M, N, K,\n\n")
    with pytest.raises(InvalidSpecError, match="no layers"):
        read_topology(p, gemm=True)


# ------------------------------------------------------------------ CLI
def _cli(argv: list[str]) -> tuple[int, str, str]:
    from lowbit import cli

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = cli.main(argv)
        except SystemExit as exc:  # argparse
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


def test_cli_simulate_offers_scalesim_files():
    code, out, _ = _cli(["simulate", "--help"])
    assert code == 0 and "--scalesim-cfg" in out and "--topology" in out and "--gemm" in out


def test_cli_scalesim_files(tmp_path):
    for cfg_name, topo, gemm in (("a16x8_ws.cfg", "conv_layers.csv", False),
                                 ("a12x20_is.cfg", "gemm_layers.csv", True),
                                 ("a32x32_os.cfg", "gemm_layers.csv", True)):
        # SCALE-Sim users bring their files unchanged: copy them elsewhere first
        cfg = shutil.copy(DATA / "scalesim" / cfg_name, tmp_path / cfg_name)
        top = shutil.copy(DATA / "scalesim" / topo, tmp_path / topo)
        argv = ["simulate", "--scalesim-cfg", str(cfg), "--topology", str(top), "--json"]
        code, out, err = _cli(argv + (["--gemm"] if gemm else []))
        assert code == 0, err
        doc = json.loads(out)
        layers = doc["layers"] if isinstance(doc, dict) else doc
        got = {r["name"]: r["compute_cycles"] for r in layers}
        want = {e["layer"]: e["total_cycles"] for e in ENTRIES
                if e["cfg"] == f"scalesim/{cfg_name}" and e["topology"] == f"scalesim/{topo}"}
        assert got == want


def test_cli_bad_scalesim_file_is_one_line(tmp_path):
    bad = _cfg_with(tmp_path, "Dataflow : ws", "Dataflow : xx")
    code, _, err = _cli(["simulate", "--scalesim-cfg", str(bad), "--topology",
                           str(DATA / "scalesim" / "conv_layers.csv")])
    assert code == 2
    assert "Dataflow" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


# ------------------------------------------------------------------ fuzz: typed errors only
_CFG_TEXT = (DATA / "scalesim" / "a16x8_ws.cfg").read_text()
_TOPO_TEXT = (DATA / "scalesim" / "conv_layers.csv").read_text()


def _mutate(text: str, data) -> str:
    lines = text.splitlines()
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(lines) - 1))
        op = data.draw(st.sampled_from(["drop", "garble", "dup", "value"]))
        if op == "drop":
            lines.pop(i)
        elif op == "dup":
            lines.insert(i, lines[i])
        elif op == "garble":
            lines[i] = data.draw(st.text(alphabet=" ,:=[]%#;-0123456789abcDPx\t", max_size=40))
        else:
            head = re.split(r"([:=,])", lines[i])[0]
            lines[i] = head + data.draw(st.sampled_from([": ", ", ", "= "])) + data.draw(
                st.text(alphabet="-0123456789.e%x ,", max_size=8))
        if not lines:
            lines = [""]
    return "\n".join(lines) + "\n"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzzed_files_raise_only_typed_errors(tmp_path, data):
    cfg = tmp_path / "fuzz.cfg"
    cfg.write_text(_mutate(_CFG_TEXT, data))
    topo = tmp_path / "fuzz.csv"
    topo.write_text(_mutate(_TOPO_TEXT, data))
    for fn in (lambda: read_config(cfg), lambda: read_topology(topo),
               lambda: read_topology(topo, gemm=True), lambda: simulate_files(cfg, topo)):
        try:
            fn()
        except InvalidSpecError as exc:
            assert str(tmp_path) in str(exc)
