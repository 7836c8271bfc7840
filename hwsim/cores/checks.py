"""Conformance checks for a core family, in the spirit of scikit-learn's `check_estimator`.

`check_core_family(family)` runs every invariant of the core-family contract (DESIGN.md
rules 3-5 and 14) on the family's default `Spec()` and on every shipped preset of that
family (or on the specs passed in), and raises `CoreCheckError` (an AssertionError) naming
the failed check, the spec and the case. The checks:

- `protocol`: the family has a module with `Spec` and `Model`; `Model.family` is the
  family; a `Model` satisfies `CoreModel`; `mapping_hints` returns a complete, valid,
  deterministic `MappingHints` (with and without a layer; only a conv may get a K segment);
- `formats`: every format pair of a broad catalogue either runs or raises
  `UnsupportedFormatError` (never an untyped error), `peak_macs_per_cycle` agrees, and a
  dataflow the core does not run raises `InvalidSpecError`;
- `cycles_x_peak`: compute cycles x peak MACs per cycle >= MACs, cycles > 0, actions >= 0,
  the same inputs give the same result;
- `array_equals_scalar`: numpy (broadcast) shapes give, element by element, what scalar
  shapes give (cycles and every action count; with the family's K segment too);
- `energy`: every action is priced by `hwsim.energy.EnergyTable` and has a component;
  the energy of a GEMM is positive and the components sum to the total;
- `stepped`: the family's cycle-stepped simulator (`hwsim.cyclesim.stepped_module`) takes
  small integer GEMMs; its cycles equal the fast model's and its output equals the
  family's `kernels_ref` kernel. A family without a stepped simulator fails here.

The `stepped` check imports torch (for `kernels_ref`); the others do not.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from lowbit.hwsim.cores import family_module
from lowbit.hwsim.cores.base import CoreFamily, CoreModel, Dataflow, MappingHints
from lowbit.hwsim.energy import COMPONENT, EnergyTable
from lowbit.kernels_ref.errors import InvalidSpecError, LowbitError, UnsupportedFormatError
from lowbit.kernels_ref.formats import Format, FormatKind
from lowbit.models.ir import ConvGeometry, Layer

__all__ = ["CHECKS", "CheckReport", "CoreCheckError", "check_core_family", "family_specs"]

CHECKS: tuple[str, ...] = ("protocol", "formats", "cycles_x_peak", "array_equals_scalar", "energy", "stepped")

# format pairs every family is asked about (weights, activations)
CATALOGUE: tuple[tuple[str, str], ...] = (
    ("int8", "int8"), ("int4", "int8"), ("int4", "int4"), ("int2", "int2"), ("int1", "int8"),
    ("uint4", "uint8"), ("ternary", "int8"), ("binary", "binary"), ("binary", "int8"),
    ("int12", "int9"), ("int16", "int16"), ("int16", "int8"), ("int4g128", "fp16"),
    ("int8", "fp16"), ("fp16", "fp16"), ("bf16", "bf16"), ("fp8e4m3", "fp8e4m3"), ("fp4", "fp16"),
    ("nf4", "fp16"), ("bitmod4", "fp16"), ("int4", "bf16"),
    ("i2_s", "int8"), ("dbllmg64", "int8"), ("pbllm10g64", "int8"), ("salient25g64", "int8"),
)
SHAPES: tuple[tuple[int, int, int, int], ...] = ((1, 64, 64, 1), (17, 300, 33, 1), (256, 4096, 512, 1),
                                                 (49, 576, 64, 4))
STEPPED_PAIRS: tuple[tuple[str, str], ...] = (("int4", "int8"), ("int2", "int2"), ("int8", "int4"),
                                              ("int3", "int5"), ("int12", "int9"))
STEPPED_SHAPES: tuple[tuple[int, int, int], ...] = ((5, 37, 7), (16, 64, 3), (1, 96, 40))
NODES_NM: tuple[float, ...] = (7.0, 28.0, 45.0)


class CoreCheckError(AssertionError):
    """A core family failed a conformance check; the message names the check."""


@dataclass(frozen=True)
class CheckReport:
    """What `check_core_family` ran: the family, how many specs, and cases per check."""

    family: CoreFamily
    specs: int
    cases: dict[str, int]


def _fail(check: str, family: Any, where: str, msg: str) -> CoreCheckError:
    name = getattr(family, "value", family)
    return CoreCheckError(f"check {check!r} failed for core family {name!r} ({where}): {msg}")


def family_specs(family: CoreFamily) -> list[tuple[str, Any]]:
    """(label, core Spec) of the family's default `Spec()` and of every shipped preset of it."""
    from lowbit.hwsim.spec import list_presets, load_accelerator  # spec imports this package

    out: list[tuple[str, Any]] = [("Spec()", family_module(family).Spec())]
    for name in list_presets():
        accel = load_accelerator(name)
        if accel.core_family is family:
            out.append((f"preset {name}", accel.core))
    return out


def check_core_family(family: CoreFamily, specs: Iterable[Any] | None = None) -> CheckReport:
    """Run every conformance check (module docstring) on `family`; CoreCheckError on the first
    failure. `specs`: core Specs to check (default: `family_specs(family)`)."""
    where = "module"
    try:
        mod = family_module(family)
    except (LowbitError, ImportError) as exc:
        raise _fail("protocol", family, where, f"no implementation module: {exc}") from None
    for attr in ("Spec", "Model"):
        if not hasattr(mod, attr):
            raise _fail("protocol", family, where, f"module {mod.__name__} has no {attr}")
    if getattr(mod.Model, "family", None) is not family:
        raise _fail("protocol", family, where, f"{mod.__name__}.Model.family is not {family}")
    labelled = family_specs(family) if specs is None else [(f"spec #{i}", s) for i, s in enumerate(specs)]
    if not labelled:
        raise _fail("protocol", family, where, "no spec to check")
    cases = dict.fromkeys(CHECKS, 0)
    for label, spec in labelled:
        model = mod.Model(spec)
        for name, fn in _CHECK_FNS.items():
            try:
                cases[name] += fn(model, spec)
            except CoreCheckError:
                raise
            except AssertionError as exc:
                raise _fail(name, family, label, str(exc)) from None
            except Exception as exc:  # noqa: BLE001 -- an untyped error from the core fails the check
                raise _fail(name, family, label, f"{type(exc).__name__}: {exc}") from None
    if not cases["stepped"]:
        raise _fail("stepped", family, "all specs", "the stepped simulator ran no case")
    return CheckReport(family=family, specs=len(labelled), cases=cases)


# ------------------------------------------------------------------------ the checks
def _check_protocol(model: Any, spec: Any) -> int:
    assert isinstance(model, CoreModel), f"{type(model).__name__} does not implement CoreModel"
    dfs = model.dataflows
    assert isinstance(dfs, tuple) and dfs and all(isinstance(d, Dataflow) for d in dfs), \
        f"dataflows must be a non-empty tuple of Dataflow, got {dfs!r}"
    linear = Layer.linear("fc", 8, 256, 128)
    conv = _conv()
    for layer in (None, linear, conv):
        hints = model.mapping_hints(layer) if layer is not None else model.mapping_hints()
        assert isinstance(hints, MappingHints), f"mapping_hints returned {type(hints).__name__}"
        for f in dataclasses.fields(MappingHints):
            assert hasattr(hints, f.name), f"mapping_hints lacks {f.name}"
        again = model.mapping_hints(layer) if layer is not None else model.mapping_hints()
        assert hints == again, "mapping_hints is not deterministic"
        if layer is not conv:
            assert hints.k_segment == 0, f"a K segment ({hints.k_segment}) for a non-conv layer"
        else:
            assert hints.k_segment == 0 or (conv.k % hints.k_segment == 0), \
                f"K segment {hints.k_segment} does not divide the conv's K {conv.k}"
    assert model.area_mm2(28.0) > 0, "area must be positive"
    return 1


def _conv() -> Layer:
    return Layer.conv2d("conv", ConvGeometry(in_channels=64, out_channels=32, in_h=14, in_w=14,
                                             kernel_h=3, kernel_w=3, pad_h=1, pad_w=1))


def _supported(model: Any) -> list[tuple[Format, Format]]:
    out = []
    for w, a in CATALOGUE:
        wf, af = Format.parse(w), Format.parse(a)
        try:
            model.compute(4, 64, 4, wf, af, model.dataflows[0])
        except UnsupportedFormatError:
            continue
        out.append((wf, af))
    return out


def _check_formats(model: Any, spec: Any) -> int:
    n = 0
    for w, a in CATALOGUE:
        wf, af = Format.parse(w), Format.parse(a)
        outcome = []
        for call in (lambda wf=wf, af=af: model.compute(4, 64, 4, wf, af, model.dataflows[0]),
                     lambda wf=wf, af=af: model.peak_macs_per_cycle(wf, af)):
            try:
                call()
                outcome.append(True)
            except UnsupportedFormatError:
                outcome.append(False)
            except Exception as exc:  # noqa: BLE001 -- anything but a typed error fails the check
                raise AssertionError(f"{w} x {a}: untyped {type(exc).__name__}: {exc} "
                                     "(an unsupported format must raise UnsupportedFormatError)") from None
            n += 1
        assert outcome[0] == outcome[1], f"{w} x {a}: compute and peak_macs_per_cycle disagree on support"
    supported = _supported(model)
    assert supported, "the core takes none of the catalogue's format pairs"
    bogus = next((d for d in Dataflow if d not in model.dataflows), None)
    if bogus is not None:
        wf, af = supported[0]
        try:
            model.compute(4, 64, 4, wf, af, bogus)
        except InvalidSpecError:
            n += 1
        else:
            raise AssertionError(f"dataflow {bogus.value!r} (not run by this core) raised no InvalidSpecError")
    return n


def _actions_total(tc: Any) -> dict[Any, float]:
    return {k: float(np.sum(v)) for k, v in tc.actions.items()}


def _check_cycles_x_peak(model: Any, spec: Any) -> int:
    n = 0
    for wf, af in _supported(model):
        peak = model.peak_macs_per_cycle(wf, af)
        assert peak > 0, f"{wf} x {af}: peak MACs per cycle {peak} <= 0"
        for df in model.dataflows:
            for m, k, nn, b in SHAPES:
                tc = model.compute(m, k, nn, wf, af, df, b)
                cyc = int(tc.cycles)
                macs = m * k * nn * b
                assert cyc > 0, f"{wf} x {af} {df.value} {m}x{k}x{nn}x{b}: cycles {cyc} <= 0"
                assert cyc * peak * (1 + 1e-9) >= macs, \
                    f"{wf} x {af} {df.value} {m}x{k}x{nn}x{b}: cycles {cyc} x peak {peak} < MACs {macs}"
                assert all(np.all(np.asarray(v) >= 0) for v in tc.actions.values()), "negative action count"
                again = model.compute(m, k, nn, wf, af, df, b)
                assert (again.cycles, _actions_total(again)) == (tc.cycles, _actions_total(tc)), \
                    "the same inputs gave a different result"
                n += 1
    return n


def _check_array_equals_scalar(model: Any, spec: Any) -> int:
    n = 0
    seg = model.mapping_hints(_conv()).k_segment
    ms = np.array([1, 17, 49, 256])
    ks = np.array([[64], [300], [576]])
    ns = np.array([64, 33, 64, 512])
    batch = np.array([1, 1, 4, 2])
    for wf, af in _supported(model):
        for df in model.dataflows:
            for k_seg in ((None, seg) if seg else (None,)):
                kk = ks
                arr = model.compute(ms, kk, ns, wf, af, df, batch, k_segment=k_seg)
                shape = np.broadcast_shapes(ms.shape, kk.shape)
                cyc = np.broadcast_to(np.asarray(arr.cycles), shape)
                acts = {a: np.broadcast_to(np.asarray(v), shape) for a, v in arr.actions.items()}
                for idx in np.ndindex(*shape):
                    i, j = idx[1], idx[0]
                    one = model.compute(int(ms[i]), int(kk[j, 0]), int(ns[i]), wf, af, df, int(batch[i]),
                                        k_segment=k_seg)
                    where = f"{wf} x {af} {df.value} m={ms[i]} k={kk[j, 0]} n={ns[i]} batch={batch[i]}"
                    assert int(cyc[idx]) == int(one.cycles), f"{where}: array cycles {cyc[idx]} != {one.cycles}"
                    for a in set(acts) | set(one.actions):
                        va = float(acts[a][idx]) if a in acts else 0.0
                        vs = float(np.sum(one.actions.get(a, 0)))
                        assert va == vs, f"{where}: array {a} = {va} != scalar {vs}"
                    n += 1
    return n


def _check_energy(model: Any, spec: Any) -> int:
    n = 0
    for wf, af in _supported(model):
        tc = model.compute(17, 300, 33, wf, af, model.dataflows[0], 2)
        for node in NODES_NM:
            table = EnergyTable.for_node(node)
            for act in tc.actions:
                assert act.kind in COMPONENT, f"action {act} has no energy component"
                price = table.price(act)
                assert price > 0, f"action {act} priced {price} J at {node} nm"
            parts = table.breakdown(tc.actions)
            total = float(np.sum(table.price_all(tc.actions)))
            assert total > 0, f"{wf} x {af}: a GEMM costs {total} J at {node} nm"
            assert abs(sum(float(np.sum(v)) for v in parts.values()) - total) <= 1e-9 * total, \
                "energy components do not sum to the total"
            n += 1
    return n


def _codes(rng: np.random.Generator, fmt: Format, shape: tuple[int, ...]) -> np.ndarray:
    if fmt.kind is FormatKind.BINARY:
        return np.where(rng.integers(0, 2, shape) > 0, 1, -1)
    return rng.integers(fmt.qmin, fmt.qmax + 1, shape)


def _reference(family: CoreFamily, spec: Any) -> Callable[[Any, Any, Format, Format], Any]:
    """The family's `kernels_ref` kernel, fn(x, w, w_fmt, a_fmt) on torch integer codes."""
    from lowbit.kernels_ref import binary, bitserial, dense, lut

    if family is CoreFamily.MAC_ARRAY:
        return dense.dense_int
    if family is CoreFamily.BIT_SERIAL:
        serial = {"weights": bitserial.Serial.WEIGHTS, "activations": bitserial.Serial.ACTS,
                  "both": bitserial.Serial.BOTH}.get(spec.serial.value, bitserial.Serial.WEIGHTS)

        def run(x: Any, w: Any, wf: Format, af: Format) -> Any:
            (wb, ws), (ab, as_) = bitserial.operand_bits(wf), bitserial.operand_bits(af)
            return bitserial.bitserial_matmul(x, w, a_bits=ab, a_signed=as_, w_bits=wb, w_signed=ws,
                                              serial=serial)
        return run
    if family is CoreFamily.LUT_TENSOR_CORE:
        return lambda x, w, wf, af: lut.lut_matmul(x, w, wf, g=spec.tile_k)
    if family is CoreFamily.LUT_CPU:
        return lambda x, w, wf, af: lut.lut_matmul(x, w, wf, g=spec.g)
    if family is CoreFamily.BINARY_TENSOR_CORE:
        return lambda x, w, wf, af: binary.wxay_gemm(x, w, af, wf)
    raise AssertionError(f"no kernels_ref kernel is named for family {family.value!r}")


def _check_stepped(model: Any, spec: Any) -> int:
    import torch
    from lowbit.hwsim.cyclesim import stepped_module
    from lowbit.kernels_ref import dense

    family = model.family
    try:
        sim = stepped_module(family)
    except LowbitError as exc:
        raise AssertionError(str(exc)) from None
    ref = _reference(family, spec)
    rng = np.random.default_rng(5)
    n = 0
    for w_s, a_s in STEPPED_PAIRS:
        wf, af = Format.parse(w_s), Format.parse(a_s)
        for m, k, nn in STEPPED_SHAPES:
            try:
                fast = int(model.compute(m, k, nn, wf, af, model.dataflows[0]).cycles)
            except UnsupportedFormatError:
                break
            x, w = _codes(rng, af, (m, k)), _codes(rng, wf, (k, nn))
            try:
                res = sim.simulate(x, w, wf, af, spec)
            except LowbitError as exc:
                raise AssertionError(f"stepped simulator rejected {w_s} x {a_s} (the fast model takes it): "
                                     f"{exc}") from None
            where = f"{w_s} x {a_s} {m}x{k}x{nn}"
            assert int(res.cycles) == fast, f"{where}: stepped cycles {res.cycles} != fast model's {fast}"
            try:
                want = ref(torch.as_tensor(x), torch.as_tensor(w), wf, af)
            except UnsupportedFormatError:  # the family kernel does not take it: the exact GEMM
                want = dense.dense_int(torch.as_tensor(x), torch.as_tensor(w), wf, af)
            np.testing.assert_array_equal(np.asarray(res.output), want.numpy(),
                                          err_msg=f"{where}: stepped output != kernels_ref")
            n += 1
    return n


_CHECK_FNS: dict[str, Callable[[Any, Any], int]] = {
    "protocol": _check_protocol,
    "formats": _check_formats,
    "cycles_x_peak": _check_cycles_x_peak,
    "array_equals_scalar": _check_array_equals_scalar,
    "energy": _check_energy,
    "stepped": _check_stepped,
}
