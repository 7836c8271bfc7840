"""hwsim.spec: presets load and round-trip; malformed specs raise InvalidSpecError naming key and file."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import yaml
from lowbit.hwsim.cores.base import CoreFamily, Dataflow
from lowbit.hwsim.spec import (
    Accelerator,
    Operand,
    accelerator,
    list_presets,
    load_accelerator,
    load_yaml,
)
from lowbit.kernels_ref.errors import InvalidSpecError

BASE = {
    "name": "t", "freq_hz": 1.0e9, "node_nm": 45, "num_cores": 1, "default_act_format": "int8",
    "core": {"family": "mac_array", "style": "systolic", "rows": 4, "cols": 4, "dataflows": ["os", "ws"],
             "precisions": ["int8"], "rates": [1.0]},
    "buffers": [{"name": "buf", "operands": ["input", "weight", "output"], "size_bytes": 4096,
                 "bandwidth_bytes_per_cycle": 16, "banks": 1, "double_buffered": True}],
    "dram": {"bandwidth_bytes_per_cycle": 8, "energy_j_per_byte": None},
}


def _write(tmp_path: Path, data: object, name: str = "spec.yaml") -> Path:
    p = tmp_path / name
    p.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return p


def test_issue_presets_exist_and_round_trip(tmp_path):
    names = list_presets()
    for need in ("tpu-like", "eyeriss-like", "a100-like", "h100-like", "scalesim-32x32"):
        assert need in names
    for name in ("tpu-like", "eyeriss-like", "a100-like", "h100-like"):
        acc = load_accelerator(name)
        again = load_accelerator(_write(tmp_path, acc.to_dict(), f"{name}.yaml"))
        assert again == acc
        assert Accelerator.from_dict(load_yaml(acc.to_yaml())) == acc


def test_preset_values_from_datasheets():
    tpu = load_accelerator("tpu-like")
    assert (tpu.core.rows, tpu.core.cols) == (128, 128)
    assert tpu.buffer_for("input").size_bytes == 24 * 2**20  # TPUv1 24 MiB unified buffer
    a100 = load_accelerator("a100-like")
    # 312 dense FP16 TFLOPS = 2 x peak MACs/cycle x 108 SMs x 1.41 GHz (A100 whitepaper)
    from lowbit.kernels_ref.formats import Format
    fp16, i8 = Format.parse("fp16"), Format.parse("int8")
    peak = a100.model().peak_macs_per_cycle(fp16, fp16) * a100.num_cores * 2 * a100.freq_hz
    assert peak == pytest.approx(312e12, rel=0.01)
    assert a100.model().peak_macs_per_cycle(i8, i8) * 108 * 2 * 1.41e9 == pytest.approx(624e12, rel=0.01)
    h100 = load_accelerator("h100-like")
    assert h100.model().peak_macs_per_cycle(fp16, fp16) * 132 * 2 * h100.freq_hz == pytest.approx(989.4e12, rel=0.01)
    assert h100.dram.bandwidth_bytes_per_cycle * h100.freq_hz == pytest.approx(3.35e12, rel=0.01)
    ey = load_accelerator("eyeriss-like")
    assert ey.core.rows * ey.core.cols == 168 and ey.buffer_for(Operand.INPUT).size_bytes == 108 * 1024


def test_kwargs_and_with_changes():
    acc = accelerator(**BASE)
    assert acc.core_family is CoreFamily.MAC_ARRAY and acc.core.dataflows == (Dataflow.OUTPUT_STATIONARY,
                                                                               Dataflow.WEIGHT_STATIONARY)
    b = acc.with_changes(**{"core.rows": 8, "dram.bandwidth_bytes_per_cycle": 4, "buffers.buf.size_bytes": 8192})
    assert (b.core.rows, b.dram.bandwidth_bytes_per_cycle, b.buffers[0].size_bytes) == (8, 4.0, 8192)
    assert acc.core.rows == 4  # frozen original unchanged
    with pytest.raises(InvalidSpecError, match="rows"):
        acc.with_changes(**{"core.rows": 0})
    with pytest.raises(InvalidSpecError, match="nosuch"):
        acc.with_changes(**{"core.nosuch": 1})


@pytest.mark.parametrize("mutate, key", [
    (lambda d: d.update(bogus=1), "bogus"),
    (lambda d: d["core"].update(wings=2), "core.wings"),
    (lambda d: d["buffers"][0].update(colour="red"), "colour"),
    (lambda d: d.pop("freq_hz"), "freq_hz"),
    (lambda d: d["buffers"][0].pop("size_bytes"), "size_bytes"),
    (lambda d: d["buffers"][0].update(size_bytes=0), "size_bytes"),
    (lambda d: d["buffers"][0].update(size_bytes=-5), "size_bytes"),
    (lambda d: d["dram"].update(bandwidth_bytes_per_cycle=0), "bandwidth_bytes_per_cycle"),
    (lambda d: d.update(freq_hz="fast"), "freq_hz"),
    (lambda d: d["core"].update(rows="four"), "core.rows"),
    (lambda d: d["core"].update(rows=0), "rows"),
    (lambda d: d["buffers"][0].update(double_buffered="yes"), "double_buffered"),
    (lambda d: d["core"].update(family="quantum"), "core.family"),
    (lambda d: d["core"].update(dataflows=["diagonal"]), "core.dataflows"),
    (lambda d: d["buffers"][0].update(operands=["bias"]), "operands"),
    (lambda d: d.update(num_cores=0), "num_cores"),
    (lambda d: d.update(default_act_format="int99x"), "default_act_format"),
])
def test_bad_spec_names_key_and_file(tmp_path, mutate, key):
    import copy
    d = copy.deepcopy(BASE)
    mutate(d)
    path = _write(tmp_path, d)
    with pytest.raises(InvalidSpecError) as exc:
        load_accelerator(path)
    msg = str(exc.value)
    assert key in msg and str(path) in msg


@pytest.mark.parametrize("text, what", [("- a\n- b\n", "mapping"), ("just a string", "mapping"),
                                        ("name: [unclosed\n", "YAML syntax"), ("", "mapping")])
def test_non_mapping_and_syntax_errors(tmp_path, text, what):
    path = _write(tmp_path, text)
    with pytest.raises(InvalidSpecError, match=what) as exc:
        load_accelerator(path)
    assert str(path) in str(exc.value)


def test_unknown_preset_and_missing_file():
    with pytest.raises(InvalidSpecError, match="not a preset"):
        load_accelerator("no-such-preset")
    with pytest.raises(InvalidSpecError, match="no such"):
        load_accelerator("/nonexistent/dir/x.yaml")


def test_yaml12_floats():
    assert load_yaml("a: 1.0e9\nb: 1e3\nc: 5\n") == {"a": 1.0e9, "b": 1000.0, "c": 5}


def test_accelerator_hash_is_kept_once_and_not_pickled():
    a, b = load_accelerator("loom"), load_accelerator("loom")
    assert a is not b and a == b and hash(a) == hash(b)
    assert a.__dict__["_hash"] == hash(tuple(getattr(a, f) for f in a.__dataclass_fields__))
    c = a.with_changes(freq_hz=5e8)
    assert c != a and hash(c) != hash(a)
    d = pickle.loads(pickle.dumps(a))  # another process has other string hashes: recomputed there
    assert "_hash" not in d.__dict__ and d == a and hash(d) == hash(a)
    assert {a: 1}[d] == 1
