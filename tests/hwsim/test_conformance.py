"""Conformance suite for every core family.

The invariants live in the library (`lowbit.hwsim.cores.checks.check_core_family`); this file
runs them on every member of `CoreFamily` (a family without a module or without a
cycle-stepped simulator fails), shows that each check can fail, and keeps the per-preset
properties that are not part of the family contract: cycles non-decreasing in bit width
(strictly growing for serial operands) and a YAML round trip of every preset.
"""

from __future__ import annotations

import dataclasses
import enum
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml
from lowbit.hwsim import cores, cyclesim
from lowbit.hwsim.cores import check_registered, family_module, lut_cpu
from lowbit.hwsim.cores.base import Action, ActionKind, CoreFamily, TileCompute
from lowbit.hwsim.cores.checks import CHECKS, CoreCheckError, check_core_family
from lowbit.hwsim.spec import dump_accelerator, list_presets, load_accelerator
from lowbit.kernels_ref.errors import UnsupportedFormatError
from lowbit.kernels_ref.formats import Format

torch.set_num_threads(1)

PRESETS = [pytest.param(name, id=name) for name in list_presets()]


@pytest.mark.parametrize("family", list(CoreFamily), ids=lambda f: f.value)
def test_core_family_conforms(family):
    report = check_core_family(family)
    assert report.family is family
    assert report.specs == 1 + sum(load_accelerator(n).core_family is family for n in list_presets())
    assert set(report.cases) == set(CHECKS)
    assert all(n > 0 for n in report.cases.values()), report.cases


# ------------------------------------------------------------------ the checks can fail
def test_family_without_module_fails(monkeypatch):
    monkeypatch.delitem(cores._MODULES, CoreFamily.LUT_CPU)
    with pytest.raises(ImportError, match="lut_cpu"):
        check_registered()
    with pytest.raises(CoreCheckError, match="'protocol'.*lut_cpu.*no implementation"):
        check_core_family(CoreFamily.LUT_CPU)


def test_fake_enum_member_without_module_fails():
    extended = enum.Enum("CoreFamily", {**{f.name: f.value for f in CoreFamily}, "FAKE": "fake_core"})
    with pytest.raises(ImportError, match="fake_core"):
        check_registered(extended)
    with pytest.raises(CoreCheckError, match="'protocol'.*fake_core"):
        check_core_family(extended.FAKE)


def test_registered_module_that_does_not_import_fails(monkeypatch):
    monkeypatch.setitem(cores._MODULES, CoreFamily.LUT_CPU, "lowbit.hwsim.cores.no_such_family")
    with pytest.raises(ImportError, match="no_such_family"):
        family_module(CoreFamily.LUT_CPU)
    with pytest.raises(CoreCheckError, match="'protocol'"):
        check_core_family(CoreFamily.LUT_CPU)


def test_family_without_stepped_simulator_fails(monkeypatch):
    monkeypatch.delitem(cyclesim.STEPPED_MODULES, CoreFamily.LUT_CPU)
    with pytest.raises(CoreCheckError, match="'stepped'.*no cycle-stepped simulator"):
        check_core_family(CoreFamily.LUT_CPU)


def _patch_compute(monkeypatch: Any, fn: Any) -> None:
    orig = lut_cpu.Model.compute

    def compute(self, m, k, n, w, a, dataflow=lut_cpu.Dataflow.NONE, batch=1, k_segment=None):
        return fn(orig(self, m, k, n, w, a, dataflow, batch, k_segment), (m, k, n, w, a))

    monkeypatch.setattr(lut_cpu.Model, "compute", compute)


def test_cycles_below_peak_fail(monkeypatch):
    real = lut_cpu.Model.peak_macs_per_cycle
    monkeypatch.setattr(lut_cpu.Model, "peak_macs_per_cycle", lambda self, w, a: real(self, w, a) / 1000)
    with pytest.raises(CoreCheckError, match="'cycles_x_peak'.*< MACs"):
        check_core_family(CoreFamily.LUT_CPU)


def test_array_inputs_differing_from_scalar_fail(monkeypatch):
    def bump(tc, args):
        if np.ndim(args[0]):
            return TileCompute(cycles=np.asarray(tc.cycles) + 1, actions=tc.actions, ran_as=tc.ran_as)
        return tc
    _patch_compute(monkeypatch, bump)
    with pytest.raises(CoreCheckError, match="'array_equals_scalar'"):
        check_core_family(CoreFamily.LUT_CPU)


def test_unpriceable_action_fails(monkeypatch):
    def odd(tc, args):
        return TileCompute(cycles=tc.cycles, actions={**tc.actions, Action(ActionKind.ADD, (0,)): 1},
                           ran_as=tc.ran_as)
    _patch_compute(monkeypatch, odd)
    with pytest.raises(CoreCheckError, match="'energy'.*positive width"):
        check_core_family(CoreFamily.LUT_CPU)


def test_untyped_format_error_fails(monkeypatch):
    def untyped(tc, args):
        if args[4].kind.value == "fp":
            raise KeyError("fp")
        return tc
    _patch_compute(monkeypatch, untyped)
    with pytest.raises(CoreCheckError, match="'formats'.*untyped KeyError"):
        check_core_family(CoreFamily.LUT_CPU)


def test_fast_model_off_by_one_from_stepped_fails(monkeypatch):
    _patch_compute(monkeypatch, lambda tc, args: dataclasses.replace(tc, cycles=tc.cycles + 1))
    with pytest.raises(CoreCheckError, match="'stepped'.*stepped cycles"):
        check_core_family(CoreFamily.LUT_CPU)


def test_stepped_output_wrong_fails(monkeypatch):
    from lowbit.hwsim.cyclesim import lut_cpu as sim

    orig = sim.simulate
    monkeypatch.setattr(sim, "simulate", lambda *a, **k: dataclasses.replace(
        orig(*a, **k), output=orig(*a, **k).output + 1))
    with pytest.raises(CoreCheckError, match="(?s)'stepped'.*stepped output != kernels_ref"):
        check_core_family(CoreFamily.LUT_CPU)


def test_bad_mapping_hints_fail(monkeypatch):
    real = lut_cpu.Model.mapping_hints
    monkeypatch.setattr(lut_cpu.Model, "mapping_hints",
                        lambda self, layer=None: dataclasses.replace(real(self, layer), k_segment=7))
    with pytest.raises(CoreCheckError, match="'protocol'.*K segment"):
        check_core_family(CoreFamily.LUT_CPU)


# ------------------------------------------------------------------ per-preset properties
def _model(name: str) -> Any:
    accel = load_accelerator(name)
    return family_module(accel.core_family).Model(accel.core)


def _serial_operands(name: str) -> tuple[bool, bool]:
    accel = load_accelerator(name)
    serial = accel.to_dict()["core"].get("serial", "none")
    return serial in ("weights", "both"), serial in ("activations", "both")


@pytest.mark.parametrize("name", PRESETS)
def test_cycles_non_decreasing_in_bits(name):
    model = _model(name)
    df = model.dataflows[0]
    ser_w, ser_a = _serial_operands(name)
    m, k, n = 64, 512, 256
    priced = 0
    for operand in ("w", "a"):
        prev = None
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
            seen[bits] = c
        priced += len(seen)
        if ser_w if operand == "w" else ser_a:
            # a bit-serial operand is priced at every width 1..16, growing with bits, past 8 too
            assert sorted(seen) == list(range(1, 17)), f"serial operand {operand}: widths {sorted(seen)}"
            assert seen[16] > seen[8] > seen[1], f"serial operand {operand}: cycles do not grow with bits"
    assert priced > 0


@pytest.mark.parametrize("name", PRESETS)
def test_yaml_round_trip(name):
    accel = load_accelerator(name)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{name}.yaml"
        path.write_text(dump_accelerator(accel))
        again = load_accelerator(path)
    assert again == accel
    assert yaml.safe_load(dump_accelerator(again)) == accel.to_dict()
