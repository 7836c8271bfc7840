"""Shared conformance suite for every core family (issue 4).

Parametrised over every preset in hwsim/presets/*.yaml whose family module exists, so a
new family joins by adding its module and a preset. Each preset's core must be:

- deterministic (same inputs, same cycles and actions);
- non-negative in cycles and action counts;
- non-decreasing in cycles as an operand gets wider, over every INT width 1..16 (the
  family's serial operands strictly: bit-serial cycles grow with bits, and a serial
  operand is priced at every width 1..16);
- loadable from YAML through `hwsim.spec`, and that spec round-trips (dump, load, equal);
- equal, on small layers, to its cycle-stepped simulator (when the family has one
  registered in STEPPED below): same cycles, and outputs equal to the integer GEMM.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from lowbit.hwsim.cores import family_module
from lowbit.hwsim.cores.base import CoreFamily
from lowbit.kernels_ref.errors import InvalidSpecError, LowbitError, UnsupportedFormatError
from lowbit.kernels_ref.formats import Format, FormatKind

PRESET_DIR = Path(__file__).resolve().parents[2] / "hwsim" / "presets"


def _presets() -> list[Any]:
    out = []
    for path in sorted(PRESET_DIR.glob("*.yaml")):
        raw = yaml.safe_load(path.read_text())
        family = (raw.get("core") or {}).get("family")
        try:
            family_module(family)
        except InvalidSpecError:
            continue  # family not implemented yet: joins automatically once it is
        out.append(pytest.param(path, id=path.stem))
    return out


PRESETS = _presets()


def _load_accel(path: Path) -> Any:
    spec_mod = pytest.importorskip("lowbit.hwsim.spec")
    for name in ("load_accelerator", "load_preset", "load", "from_yaml"):
        fn = getattr(spec_mod, name, None)
        if callable(fn):
            return fn(path)
    acc = spec_mod.Accelerator
    for name in ("from_yaml", "load"):
        fn = getattr(acc, name, None)
        if callable(fn):
            return fn(path)
    pytest.fail("hwsim.spec exposes no YAML loader")


def _core_from_yaml(path: Path) -> tuple[Any, Any]:
    """(family module, core Spec) of a preset, via hwsim.spec's loader."""
    accel = _load_accel(path)
    core_spec = accel.core
    fam = yaml.safe_load(path.read_text())["core"]["family"]
    return family_module(fam), core_spec


def _model(path: Path) -> Any:
    mod, core_spec = _core_from_yaml(path)
    return mod.Model(core_spec)


def _supported(model: Any, w: str, a: str) -> bool:
    try:
        model.compute(4, 16, 4, Format.parse(w), Format.parse(a), model.dataflows[0])
    except UnsupportedFormatError:
        return False
    return True


def _format_pairs(model: Any) -> list[tuple[str, str]]:
    cands = [("int8", "int8"), ("int4", "int8"), ("int4", "int4"), ("int2", "int2"), ("int8", "fp16"),
             ("int4g128", "fp16"), ("fp16", "fp16"), ("int16", "int16"), ("binary", "binary"),
             ("int12", "int9")]
    pairs = [p for p in cands if _supported(model, *p)]
    assert pairs, "core supports none of the common format pairs"
    return pairs


SHAPES = [(1, 64, 64, 1), (17, 300, 33, 1), (256, 4096, 512, 1), (49, 576, 64, 4)]


@pytest.mark.parametrize("path", PRESETS)
def test_deterministic_and_non_negative(path):
    model = _model(path)
    for w, a in _format_pairs(model):
        for df in model.dataflows:
            for m, k, n, b in SHAPES:
                c1 = model.compute(m, k, n, Format.parse(w), Format.parse(a), df, b)
                c2 = _model(path).compute(m, k, n, Format.parse(w), Format.parse(a), df, b)
                assert c1.cycles == c2.cycles
                assert c1.actions == c2.actions
                assert c1.cycles > 0
                assert all(np.all(np.asarray(v) >= 0) for v in c1.actions.values())
        assert model.peak_macs_per_cycle(Format.parse(w), Format.parse(a)) > 0
    assert model.area_mm2(28) > 0


def _serial_operands(path: Path) -> tuple[bool, bool]:
    core = yaml.safe_load(path.read_text())["core"]
    serial = core.get("serial", "none")
    return serial in ("weights", "both"), serial in ("activations", "both")


@pytest.mark.parametrize("path", PRESETS)
def test_cycles_non_decreasing_in_bits(path):
    model = _model(path)
    df = model.dataflows[0]
    ser_w, ser_a = _serial_operands(path)
    m, k, n = 64, 512, 256
    for operand in ("w", "a"):
        prev = None
        first = last = None
        seen: dict[int, int] = {}
        for bits in range(1, 17):  # every INT width 1..16 (int9..int15 included)
            fmt = Format.parse(f"int{bits}")
            other = Format.parse("int8")
            w, a = (fmt, other) if operand == "w" else (other, fmt)
            try:
                c = model.compute(m, k, n, w, a, df).cycles
            except UnsupportedFormatError:
                continue
            if prev is not None:
                assert c >= prev, f"{operand} int{bits}: {c} < {prev}"
            prev = c
            first = c if first is None else first
            last = c
            seen[bits] = c
        serial = ser_w if operand == "w" else ser_a
        if serial and first is not None:
            assert last > first, f"serial operand {operand}: cycles must grow with bits"
        if serial:
            # a bit-serial operand is priced at every width 1..16, growing past 8 bits too
            assert sorted(seen) == list(range(1, 17)), f"serial operand {operand}: widths {sorted(seen)}"
            assert seen[16] > seen[8], f"serial operand {operand}: int16 not dearer than int8"


@pytest.mark.parametrize("path", PRESETS)
def test_yaml_round_trip(path):
    spec_mod = pytest.importorskip("lowbit.hwsim.spec")
    accel = _load_accel(path)
    dump = next((getattr(accel, n) for n in ("to_yaml", "to_dict", "dump") if callable(getattr(accel, n, None))),
                None)
    if dump is None:
        dump_fn = next((getattr(spec_mod, n) for n in ("dump_accelerator", "to_yaml", "dump", "to_dict")
                        if callable(getattr(spec_mod, n, None))), None)
        assert dump_fn is not None, "hwsim.spec has no way to write a spec back out"
        text = dump_fn(accel)
    else:
        text = dump()
    if not isinstance(text, str):
        text = yaml.safe_dump(text)
    tmp = Path(pytest.importorskip("tempfile").mkdtemp()) / path.name
    tmp.write_text(text)
    again = _load_accel(tmp)
    assert again == accel


# ------------------------------------------------------------------ fast == stepped
def _codes(rng: np.random.Generator, fmt: Format, shape: tuple[int, ...]) -> np.ndarray:
    if fmt.kind is FormatKind.BINARY:
        return np.where(rng.integers(0, 2, shape) > 0, 1, -1)
    return rng.integers(fmt.qmin, fmt.qmax + 1, shape)


def _run_bit_serial(core_spec: Any, x: np.ndarray, w: np.ndarray, wf: Format, af: Format) -> tuple[Any, int]:
    sim = importlib.import_module("lowbit.hwsim.cyclesim.bit_serial")
    r = sim.simulate(x, w, wf, af, core_spec)
    return r.output, r.cycles


def _run_binary(core_spec: Any, x: np.ndarray, w: np.ndarray, wf: Format, af: Format) -> tuple[Any, int]:
    sim = importlib.import_module("lowbit.hwsim.cyclesim.binary")
    r = sim.simulate(x, w, wf, af, core_spec)
    return r.output, r.cycles


def _run_lut(core_spec: Any, x: np.ndarray, w: np.ndarray, wf: Format, af: Format) -> tuple[Any, int]:
    sim = importlib.import_module("lowbit.hwsim.cyclesim.lut")
    r = sim.simulate(x, w, wf, af, core_spec)
    return r.output, r.cycles


def _run_systolic(core_spec: Any, x: np.ndarray, w: np.ndarray, wf: Format, af: Format) -> tuple[Any, int]:
    sim = importlib.import_module("lowbit.hwsim.cyclesim.systolic")
    r = sim.simulate(x, w, wf, af, core_spec)  # the spec's first dataflow, as the fast side uses
    return r.output, r.cycles


# family -> runner(core spec, x codes, w codes, w fmt, a fmt) -> (output, cycles)
STEPPED: dict[CoreFamily, Callable[..., tuple[Any, int]]] = {
    CoreFamily.BIT_SERIAL: _run_bit_serial,
    CoreFamily.BINARY_TENSOR_CORE: _run_binary,
    CoreFamily.LUT_TENSOR_CORE: _run_lut,
    CoreFamily.MAC_ARRAY: _run_systolic,
}


@pytest.mark.parametrize("path", PRESETS)
def test_fast_model_equals_cycle_stepped(path):
    mod, core_spec = _core_from_yaml(path)
    runner = STEPPED.get(mod.Model.family)
    if runner is None:
        pytest.skip(f"no cycle-stepped simulator registered for {mod.Model.family.value}")
    model = mod.Model(core_spec)
    rng = np.random.default_rng(5)
    ran = 0
    for wf_s, af_s in (("int4", "int8"), ("int2", "int2"), ("int8", "int4"), ("int3", "int5"),
                       ("int12", "int9")):
        wf, af = Format.parse(wf_s), Format.parse(af_s)
        for m, k, n in ((5, 37, 7), (16, 64, 3)):
            try:
                fast = model.compute(m, k, n, wf, af, model.dataflows[0]).cycles
            except UnsupportedFormatError:
                continue
            x, w = _codes(rng, af, (m, k)), _codes(rng, wf, (k, n))
            try:
                out, cycles = runner(core_spec, x, w, wf, af)
            except LowbitError as exc:  # e.g. the stepped array supports fewer formats
                pytest.fail(f"stepped simulator rejected {wf_s} x {af_s}: {exc}")
            np.testing.assert_array_equal(np.asarray(out), x @ w)
            assert cycles == fast
            ran += 1
    if not ran:
        pytest.skip("core takes none of the integer format pairs the stepped check uses")
