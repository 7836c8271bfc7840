"""hwsim.scalesim_quick, the fast lane of the SCALE-Sim file readers, equals the full readers.

Wherever the fast lane accepts a text it must give exactly what `scalesim_io`'s full readers give
(`read_config_text`, `read_topology_text`, themselves held to configparser and to scalesim 3.0.0
by test_scalesim_plain_ini / test_scalesim_cfg_parity); everywhere else it declines and the full
reader decides. Held on every cfg and topology under tests/data and on thousands of random
mutations of them; `simulate_files`' direct cycle formula is held to `mac_array.Model.compute`.
"""

from __future__ import annotations

import configparser
import os
import random
from pathlib import Path

import pytest
from lowbit.hwsim import scalesim_quick as quick
from lowbit.hwsim.cores.base import Dataflow
from lowbit.hwsim.cores.mac_array import Model
from lowbit.hwsim.scalesim_io import (
    ScaleSimConfig,
    _PlainIni,
    core_spec,
    read_config,
    read_config_text,
    read_topology,
    read_topology_text,
    simulate_files,
)
from lowbit.kernels_ref.errors import InvalidSpecError
from lowbit.kernels_ref.formats import Format

DATA = Path(__file__).resolve().parents[1] / "data"
CFGS = sorted(DATA.rglob("*.cfg"))
GOLDEN_CFGS = sorted((DATA / "scalesim").glob("*.cfg")) + sorted((DATA / "scalesim_stall").glob("*.cfg"))
TOPOS = [(p, "gemm" in p.name) for d in ("scalesim", "scalesim_stall") for p in sorted((DATA / d).glob("*_layers.csv"))]


def _full_cfg(path: Path, text: str) -> object:
    try:
        return read_config_text(path, text)
    except InvalidSpecError as exc:
        return f"error: {exc}"


def _quick_cfg(path: Path, text: str) -> ScaleSimConfig | None:
    fields = quick.config_fields(quick.plain_sections(text))
    if fields is None:
        return None
    fields["dataflow"] = Dataflow(fields["dataflow"])
    return ScaleSimConfig(**fields, path=str(path))


def test_boolean_states_are_configparsers() -> None:
    assert quick._BOOL == dict(configparser.ConfigParser.BOOLEAN_STATES)


def test_golden_cfgs_take_the_fast_lane_and_agree() -> None:
    assert len(GOLDEN_CFGS) >= 12
    for path in GOLDEN_CFGS:
        text = path.read_text()
        fast = _quick_cfg(path, text)
        assert fast is not None, path
        assert fast == _full_cfg(path, text) == read_config(path), path


def test_every_cfg_here_agrees_or_declines() -> None:
    for path in CFGS:
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            continue
        fast = _quick_cfg(path, text)
        if fast is not None:
            assert fast == _full_cfg(path, text), path


def _sections_reference(text: str) -> dict[str, dict[str, str]] | None:
    r = _PlainIni.parse(text)
    return None if r is None else r._s

def _accepted_like_configparser(text: str) -> bool:
    """Whether the fast lane took `text`; where it did, its mapping is `_PlainIni`'s and
    configparser's."""
    got = quick.plain_sections(text)
    if got is None:
        return False
    assert got == _sections_reference(text), repr(text)
    p = configparser.ConfigParser()
    p.read_string(text)
    assert got == {s: {k: p.get(s, k) for k in p.options(s)} for s in p.sections()}, repr(text)
    return True



LINES = ["[general]", "[a]", "[ b ]", "[DEFAULT]", "[a] x", "[a]b]", "[]", "[c", "k: v", "K = v",
         "key:value:x", "k=", "  indented: 1", "\tk: 2", "# c", "  ; c", ";c", "", "   ", "\t",
         "ArrayHeight:    32", "x = 5%", "novalue", ": v", "= v", "k : v = w", "Dataflow : os",
         "k: v\r", "k: v\x0c", "k\x1c: v", "MemoryBanks: 1 ", "k: caf\u00e9", "[\u00e9]", "k:\tv\t",
         "a b c: d", "k: [x]", "[x]  ", "k#: v", "k;: v", "#[a]"]


def test_plain_sections_accepts_a_subset_of_the_plain_reader_and_agrees() -> None:
    rng = random.Random(0)
    accepted = 0
    for _ in range(6000):
        text = (rng.choice(["", "[s]\n"]) + "\n".join(rng.choice(LINES) for _ in range(rng.randint(1, 9)))
                + rng.choice(["", "\n", "\n\n"]))
        accepted += _accepted_like_configparser(text)
    assert accepted > 500


VALUES = ["32", "8", "1", "0", "-1", "+4", " 7", "1_0", "007", "abc", "", "2.5", "99999999999999",
          "10, 20", "4,x", "os", "ws", "is", "OS", "rs", "USER", "CALC", "user", "True", "true", "False",
          "false", "maybe", "yes", "no", "1", "on", "off", "ellpack_block", "16384", "16385",
          str(2**40), str(2**40 + 1)]
KEYS = [("general", "run_name"), ("architecture_presets", "ArrayHeight"),
        ("architecture_presets", "ArrayWidth"), ("architecture_presets", "IfmapSramSzkB"),
        ("architecture_presets", "FilterSramSzkB"), ("architecture_presets", "OfmapSramSzkB"),
        ("architecture_presets", "IfmapOffset"), ("architecture_presets", "FilterOffset"),
        ("architecture_presets", "OfmapOffset"), ("architecture_presets", "Bandwidth"),
        ("architecture_presets", "Dataflow"), ("architecture_presets", "MemoryBanks"),
        ("architecture_presets", "ReadRequestBuffer"), ("architecture_presets", "WriteRequestBuffer"),
        ("layout", "IfmapCustomLayout"), ("layout", "FilterCustomLayout"),
        ("layout", "IfmapSRAMBankBandwidth"), ("layout", "IfmapSRAMBankNum"), ("layout", "IfmapSRAMBankPort"),
        ("layout", "FilterSRAMBankBandwidth"), ("layout", "FilterSRAMBankNum"),
        ("layout", "FilterSRAMBankPort"), ("sparsity", "SparsitySupport"),
        ("run_presets", "InterfaceBandwidth"), ("run_presets", "UseRamulatorTrace")]


def _mutate(text: str, rng: random.Random) -> str:
    lines = text.split("\n")
    for _ in range(rng.randint(1, 3)):
        section, key = rng.choice(KEYS)
        op = rng.random()
        idx = [i for i, ln in enumerate(lines) if ln.split(":")[0].split("=")[0].strip().lower() == key.lower()]
        if op < 0.15 and idx:  # drop the key
            del lines[idx[0]]
        elif op < 0.22:  # drop a whole section
            head = [i for i, ln in enumerate(lines) if ln.strip() == f"[{section}]"]
            if head:
                end = next((j for j in range(head[0] + 1, len(lines)) if lines[j].startswith("[")), len(lines))
                del lines[head[0]:end]
        else:
            new = f"{key}{rng.choice([':', ' = ', ' : ', ':   '])}{rng.choice(VALUES)}"
            if idx:
                lines[idx[0]] = new
            else:
                head = [i for i, ln in enumerate(lines) if ln.strip() == f"[{section}]"]
                if head:
                    lines.insert(head[0] + 1, new)
    return "\n".join(lines)


def test_config_fields_equal_read_config_on_random_cfgs(tmp_path: Path) -> None:
    rng = random.Random(1)
    bases = [p.read_text() for p in GOLDEN_CFGS]
    fast_n = full_ok_n = 0
    for i in range(3000):
        text = _mutate(rng.choice(bases), rng)
        path = tmp_path / f"c{i % 7}.cfg"
        full = _full_cfg(path, text)
        fast = _quick_cfg(path, text)
        if fast is not None:
            fast_n += 1
            assert fast == full, text
        full_ok_n += isinstance(full, ScaleSimConfig)
        if i % 10 == 0:  # through the file too: read_config == the full reader, value or message
            path.write_text(text)
            try:
                got: object = read_config(path)
            except InvalidSpecError as exc:
                got = f"error: {exc}"
            assert got == full, text
    assert fast_n > 500 and full_ok_n > fast_n  # both lanes exercised, the fast one never wrong


def test_read_small_text_declines_to_the_hardened_reader(tmp_path: Path) -> None:
    for name, data in (("utf8.cfg", "k: caf\u00e9\n".encode()), ("bom.cfg", b"\xef\xbb\xbfk: v\n"),
                       ("big.cfg", b"# " + b"x" * (1 << 17) + b"\n")):
        (tmp_path / name).write_bytes(data)
        assert quick.read_small_text(tmp_path / name, "cfg") == data.decode("utf-8-sig")
    for name, data, msg in (("empty.cfg", b"  \n", "is empty"), ("nul.cfg", b"k\x00v", "NUL byte"),
                            ("latin.cfg", b"k: caf\xe9\n", "not UTF-8")):
        (tmp_path / name).write_bytes(data)
        with pytest.raises(InvalidSpecError, match=msg):
            quick.read_small_text(tmp_path / name, "cfg")
    with pytest.raises(InvalidSpecError, match="is a directory"):
        quick.read_small_text(tmp_path, "cfg")
    with pytest.raises(InvalidSpecError, match="not found"):
        quick.read_small_text(tmp_path / "missing.cfg", "cfg")


def _full_topo(path: Path, text: str, gemm: bool) -> object:
    try:
        return read_topology_text(path, text, gemm)
    except InvalidSpecError as exc:
        return f"error: {exc}"


def test_topology_fast_lane_equals_full_reader(tmp_path: Path) -> None:
    assert len(TOPOS) >= 4
    for path, gemm in TOPOS:
        text = path.read_text()
        assert quick.topology_rows(text, gemm) is not None, path
        assert read_topology(path, gemm=gemm) == read_topology_text(path, text, gemm)
    rng = random.Random(2)
    fields = ["1", "3", "7", "28", "0", "-2", "x", "", " 5", "+3", "1.0", "16777216", "16777217", "2:4"]
    names = ["conv1", "DPconv", "", "fc DP", "a,b"]
    fast_n = 0
    for i in range(1500):
        gemm = rng.random() < 0.4
        rows = []
        for _ in range(rng.randint(1, 3)):
            n = (4 if gemm else 8) + rng.choice([0, 0, 0, 0, 1, -1])
            vals = [rng.choice(names)] + [rng.choice(fields[:4]) if rng.random() < 0.95 else rng.choice(fields)
                                          for _ in range(n - 1)]
            rows.append(", ".join(vals) + rng.choice([",", ",", ", ", ""]))
        text = "header\n" + "\n".join(rows) + rng.choice(["", "\n", "\n\n"])
        path = tmp_path / f"t{i % 5}.csv"
        full = _full_topo(path, text, gemm)
        rows_fast = quick.topology_rows(text, gemm)
        if rows_fast is not None:
            fast_n += 1
        if rows_fast is not None or i % 8 == 0:  # through the file: the fast lane or the full reader
            path.write_text(text)
            try:
                got: object = read_topology(path, gemm=gemm)
            except InvalidSpecError as exc:
                got = f"error: {exc}"
            assert got == full, text
    assert fast_n > 100


def test_simulate_files_cycles_equal_the_core_model(tmp_path: Path) -> None:
    rng = random.Random(3)
    base = (DATA / "scalesim" / "a32x32_os.cfg").read_text()
    i8 = Format.parse("int8")
    for i in range(150):
        r, c, df = rng.randint(1, 40), rng.randint(1, 40), rng.choice(["os", "ws", "is"])
        text = base.replace("ArrayHeight:    32", f"ArrayHeight: {r}").replace(
            "ArrayWidth:     32", f"ArrayWidth: {c}").replace("Dataflow : os", f"Dataflow : {df}")
        cfg_path, topo = tmp_path / f"a{i}.cfg", tmp_path / f"a{i}.csv"
        cfg_path.write_text(text)
        ih, fh = rng.randint(1, 30), rng.randint(1, 5)
        topo.write_text("h\n" + f"l, {ih + fh}, {ih + fh + 1}, {fh}, {fh}, {rng.randint(1, 9)}, "
                        f"{rng.randint(1, 70)}, {rng.randint(1, 3)},\n")
        cfg = read_config(cfg_path)
        assert (cfg.array_rows, cfg.array_cols, cfg.dataflow.value) == (r, c, df)
        model = Model(core_spec(cfg))
        (row,) = simulate_files(cfg_path, topo)
        (layer,) = read_topology(topo)
        m, k, n = layer.mnk
        assert row["compute_cycles"] == model.compute(m, k, n, i8, i8, cfg.dataflow).cycles


# ---------------------------------------------------------------- the per-call path (issue 19 item 5)
MORE_LINES = LINES + ["k = v: w", "k: v = w", "a=b=c", "k=v", "k =", "[a:b]", "[a=b]", "[x]=1", "# a: b",
                      "  # a = b", "\t; k: v", ":x=y", "=x:y", "k\t: v", "k :\t", "Key With Space : V",
                      "[s]", "[general]", "k: v", "K: w", "[ DEFAULT ]", "x[y]: z", "k;x = 1", "[a]]"]


def test_plain_sections_on_lines_with_both_separators_and_headers_with_them() -> None:
    rng = random.Random(5)
    accepted = 0
    for _ in range(8000):
        text = (rng.choice(["", "[s]\n", "\n", "# c\n"])
                + "\n".join(rng.choice(MORE_LINES) for _ in range(rng.randint(1, 12)))
                + rng.choice(["", "\n", "\n\n"]))
        accepted += _accepted_like_configparser(text)
    assert accepted > 500
    assert quick.plain_sections("[a]\nk = v: w\nx: y = z\n") == {"a": {"k": "v: w", "x": "y = z"}}
    assert quick.plain_sections("k: v\n[a]\n") is None  # a key before the first header
    assert quick.plain_sections("[a]\n  k: v\n") is None  # indented: a continuation in configparser
    assert quick.plain_sections("[a]\nk: 5%\n") is None and quick.plain_sections("[a]\nk: v\r\n") is None


def test_config_path_is_str_of_path() -> None:
    from lowbit.hwsim.scalesim_io import _path_str
    rng = random.Random(6)
    for _ in range(4000):
        s = "".join(rng.choice(["/", "/", ".", "a", "b", "..", " "]) for _ in range(rng.randint(1, 9)))
        assert _path_str(s) == str(Path(s)), repr(s)
        assert _path_str(Path(s)) == str(Path(s)), repr(s)
    assert _path_str("//a") == "//a" and _path_str("///a") == "/a" and _path_str("a/./b") == "a/b"


def test_read_config_fast_construction_is_the_dataclass_constructor(tmp_path: Path) -> None:
    import dataclasses
    assert "__post_init__" not in vars(ScaleSimConfig)  # read_config stores checked fields directly
    names = {f.name for f in dataclasses.fields(ScaleSimConfig)}
    for path in GOLDEN_CFGS:
        fields = quick.config_fields(quick.plain_sections(path.read_text()))
        assert fields is not None and set(fields) | {"path"} == names, path
        for arg in (path, str(path), str(path).replace("/", "//"), f"{path.parent}/./{path.name}"):
            got = read_config(arg)
            fields2 = dict(fields, dataflow=Dataflow(fields["dataflow"]))
            ref = ScaleSimConfig(**fields2, path=str(Path(arg)))
            assert got == ref and vars(got) == vars(ref) and hash(got) == hash(ref), arg
            assert type(got.dataflow) is Dataflow and got.path == str(Path(arg))
            assert dataclasses.replace(got, array_rows=3).array_rows == 3
            with pytest.raises(dataclasses.FrozenInstanceError):
                got.array_rows = 3  # type: ignore[misc]


def test_read_small_text_reads_no_pipe_before_the_hardened_reader(tmp_path: Path) -> None:
    text = (DATA / "scalesim" / "a32x32_os.cfg").read_text()
    import threading
    import time
    r, w = os.pipe()
    half = len(text) // 2

    def writer() -> None:  # a slow writer: one read of the pipe would see only the first half
        os.write(w, text[:half].encode())
        time.sleep(0.2)
        os.write(w, text[half:].encode())
        os.close(w)

    th = threading.Thread(target=writer)
    th.start()
    try:
        # a pipe is not read by the fast lane (short reads), so read_text gets all of it
        assert quick.read_small_text(f"/dev/fd/{r}", "cfg") == text
    finally:
        th.join()
        os.close(r)
    if os.path.exists("/dev/null"):
        with pytest.raises(InvalidSpecError, match="is empty"):
            quick.read_small_text("/dev/null", "cfg")


def _simulate_reference(cfg_path: Path, topo: Path, gemm: bool) -> list[dict[str, object]]:
    """simulate_files as it was before the tuple path: every row through read_topology."""
    from lowbit.hwsim.cores.mac_array import systolic_folds
    cfg = read_config(cfg_path)
    r, c, df = cfg.array_rows, cfg.array_cols, cfg.dataflow
    ir, ic = {Dataflow.OUTPUT_STATIONARY: (0, 2), Dataflow.WEIGHT_STATIONARY: (1, 2),
              Dataflow.INPUT_STATIONARY: (1, 0)}[df]
    out = []
    for row in read_topology(topo, gemm=gemm):
        mnk = row.mnk
        m, k, n = mnk
        folds, per_fold = systolic_folds(m, k, n, r, c, df)
        out.append({"name": row.name, "compute_cycles": max(folds * per_fold - 1, 0),
                    "mapping_efficiency_pct": 100.0 * mnk[ir] * mnk[ic] / (folds * r * c),
                    "m": m, "k": k, "n": n, "ofmap_h": row.ofmap_h, "ofmap_w": row.ofmap_w,
                    "macs": m * k * n, "dataflow": df.value, "array_rows": r, "array_cols": c})
    return out


def test_simulate_files_equals_the_layer_path_on_random_topologies(tmp_path: Path) -> None:
    rng = random.Random(7)
    base = (DATA / "scalesim" / "a32x32_os.cfg").read_text()
    fast_n = 0
    for i in range(200):
        gemm = rng.random() < 0.3
        r, c, df = rng.randint(1, 40), rng.randint(1, 40), rng.choice(["os", "ws", "is"])
        cfg_path, topo = tmp_path / f"a{i % 5}.cfg", tmp_path / f"a{i % 5}.csv"
        cfg_path.write_text(base.replace("ArrayHeight:    32", f"ArrayHeight: {r}").replace(
            "ArrayWidth:     32", f"ArrayWidth: {c}").replace("Dataflow : os", f"Dataflow : {df}"))
        rows = []
        for j in range(rng.randint(1, 4)):
            name = rng.choice(["l", "DPconv", "fc DP", "x"]) + str(j)
            tail = rng.choice([",", ",", ", 2:4,"])  # a sparsity column takes the full reader
            if gemm:
                rows.append(f"{name}, {rng.randint(1, 300)}, {rng.randint(1, 300)}, {rng.randint(1, 300)}{tail}")
            else:
                fh, fw, st = rng.randint(1, 5), rng.randint(1, 5), rng.randint(1, 4)
                rows.append(f"{name}, {fh + rng.randint(0, 40)}, {fw + rng.randint(0, 40)}, {fh}, {fw}, "
                            f"{rng.randint(1, 12)}, {rng.randint(1, 70)}, {st}{tail}")
        topo.write_text("header\n" + "\n".join(rows) + "\n")
        fast_n += quick.topology_rows(topo.read_text(), gemm) is not None
        got = simulate_files(cfg_path, topo, gemm=gemm)
        assert got == _simulate_reference(cfg_path, topo, gemm), topo.read_text()
        assert [list(d) for d in got] == [list(d) for d in _simulate_reference(cfg_path, topo, gemm)]
    assert 60 < fast_n < 200


def test_topology_fields_int_reads_equal_the_full_reader(tmp_path: Path) -> None:
    odd = ["+3", "1_0", " 007", "\u0663", "\u00a07", "7\u3000", "0", "-1", "3.0", "1__0", "", "x",
           "16777216", "16777217", "\x0b4", "4\x0c"]
    rng = random.Random(8)
    accepted = 0
    for i in range(300):
        gemm = rng.random() < 0.3
        vals = [rng.choice(odd) if rng.random() < 0.3 else str(rng.randint(1, 9)) for _ in range(3 if gemm else 7)]
        if not gemm:  # a filter that fits its ifmap unless an odd value says otherwise
            vals[0], vals[1] = vals[0] if rng.random() < 0.3 else "40", vals[1] if rng.random() < 0.3 else "40"
        text = "header\n" + ", ".join(["l"] + vals) + ",\n"
        path = tmp_path / f"t{i % 3}.csv"
        path.write_text(text)
        full = _full_topo(path, text, gemm)
        accepted += quick.topology_rows(text, gemm) is not None
        try:
            got: object = read_topology(path, gemm=gemm)
        except InvalidSpecError as exc:
            got = f"error: {exc}"
        assert got == full, repr(text)
    assert accepted > 100
