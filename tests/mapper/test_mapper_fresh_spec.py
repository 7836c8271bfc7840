"""A new design's first layer (issue 19 item 1, `bench_mapper.py --fresh-spec`): what a fresh spec
object recomputes is either shared by value (mac_array's format plans, keyed by exactly the fields
they read: each key field changes the plan, the other fields share it) or checked more cheaply
(MappingHints' validation, bit_serial's parallelism and pads): the same values and errors as the
full computation, and the same mappings on fresh copies of every preset."""

from __future__ import annotations

import dataclasses
import importlib
import itertools
import pickle

import numpy as np
import pytest
from lowbit.hwsim.cores import CoreFamily, bit_serial, family_module, mac_array
from lowbit.hwsim.cores.base import Dataflow, MappingHints, PairMemo
from lowbit.hwsim.spec import list_presets, load_accelerator
from lowbit.kernels_ref.errors import InvalidSpecError, LowbitError
from lowbit.kernels_ref.formats import Format
from lowbit.mapper import tiling
from lowbit.models.ir import ConvGeometry, Layer, OpKind

F = Format.parse
FORMATS = [F(s) for s in ("int2", "int4", "int8", "uint4", "uint8", "int4g128", "binary", "ternary", "fp16",
                          "bf16", "fp8e4m3", "fp8e5m2", "nf4", "int16")]
PRECISIONS = ("int4", "int8", "int16", "uint8", "fp16", "bf16", "fp8e4m3", "fp8e5m2")


def _plan_or_error(model: mac_array.Model, w: Format, a: Format) -> object:
    try:
        return model._plan(w, a)
    except LowbitError as exc:
        return f"{type(exc).__name__}: {exc}"


def _reference_plan(spec: mac_array.Spec, w: Format, a: Format) -> object:
    """The plan as the pre-sharing code computed it, from the spec alone (no cache)."""
    try:
        modes = sorted(((F(p), float(r), i) for i, (p, r) in enumerate(zip(spec.precisions, spec.rates))),
                       key=lambda t: (-t[1], t[0].bits, t[2]))
        mode, rate = next(((f, r) for f, r, _ in modes if mac_array.holds(f, w) and mac_array.holds(f, a)),
                          (None, None))
        if mode is None:
            raise mac_array.UnsupportedFormatError(
                f"mac_array: no datapath mode of {list(spec.precisions)} holds weights {w} and activations {a}")
        native = [f.kind is mode.kind and f.bits == mode.bits and (
            f.kind is not mac_array.FormatKind.FP or (f.exp_bits, f.man_bits) == (mode.exp_bits, mode.man_bits))
            for f in (w, a)]
        if all(native):
            ran = ""
        else:
            have = {str(F(p)) for p in spec.precisions}
            base = mac_array._base
            lacking = [base(f) for f, nat in zip((w, a), native) if not nat and base(f) not in have]
            why = f"core lacks {', '.join(dict.fromkeys(lacking))}" if lacking else \
                f"weights and activations share one {base(mode)} mode"
            ran = f"{base(mode)} ({base(w)} weights x {base(a)} activations widened: {why})"
        p, acc = mode.bits, spec.accumulator_bits
        A, K = mac_array.Action, mac_array.ActionKind
        kind = K.MAC_FP if mode.kind is mac_array.FormatKind.FP else K.MAC_INT
        return (mode, rate, ran, (A(kind, (p, p)), A(K.REG_READ, (p,)), A(K.ADD, (acc,)), A(K.REG_READ, (acc,)),
                                  A(K.DEQUANT, (acc,))))
    except LowbitError as exc:
        return f"{type(exc).__name__}: {exc}"


def _random_mac_spec(rng: np.random.Generator) -> mac_array.Spec:
    n = int(rng.integers(1, 4))
    precisions = tuple(str(p) for p in rng.choice(PRECISIONS, size=n, replace=False))
    rates = tuple(float(rng.choice([0.25, 0.5, 1.0, 2.0, 4.0])) for _ in precisions)
    if rng.random() < 0.5:
        return mac_array.Spec(rows=int(rng.integers(2, 300)), cols=int(rng.integers(2, 300)),
                              precisions=precisions, rates=rates, accumulator_bits=int(rng.choice([16, 24, 32])))
    return mac_array.Spec(style=mac_array.CoreStyle.TENSOR_CORE, dataflows=(Dataflow.NONE,),
                          units=int(rng.integers(1, 200)), tile_m=int(rng.choice([4, 8, 16])),
                          precisions=precisions, rates=rates, accumulator_bits=int(rng.choice([16, 24, 32])))


def test_shared_plan_equals_the_unshared_plan_on_random_specs() -> None:
    """Random specs x formats, the shared cache warm from the other specs: every plan (or error)
    equals the one computed from that spec alone; a new spec object of equal modes reuses it."""
    rng = np.random.default_rng(43)
    specs = [_random_mac_spec(rng) for _ in range(60)]
    mac_array.clear_cache()
    n_ok = 0
    for spec, w, a in itertools.product(specs, FORMATS, FORMATS[:6]):
        got = _plan_or_error(mac_array.Model(spec), w, a)
        assert got == _reference_plan(spec, w, a), (spec, w, a)
        n_ok += not isinstance(got, str)
    assert n_ok > 500  # the formats mostly run


@pytest.mark.parametrize("field, value", [("precisions", ("int8", "int4")), ("rates", (2.0,)),
                                          ("accumulator_bits", 24)])
def test_shared_plan_key_fields_each_change_the_plan(field: str, value: object) -> None:
    """Each field in the shared plan's key changes the plan when changed alone (so none can be
    dropped from the key); fields outside it (array, style, dataflows) leave it shared."""
    base = mac_array.Spec(precisions=("int8",), rates=(1.0,), accumulator_bits=32)
    if field == "precisions":  # int16 at rate 2 holds int4 x int8; int4 at rate 2 does not
        base = mac_array.Spec(precisions=("int8", "int16"), rates=(1.0, 2.0))
        value_spec = mac_array.Spec(precisions=value, rates=(1.0, 2.0))
    else:
        value_spec = dataclasses.replace(base, **{field: value})
    w, a = F("int4"), F("int8")
    mac_array.clear_cache()
    p0 = mac_array.Model(base)._plan(w, a)
    p1 = mac_array.Model(value_spec)._plan(w, a)
    assert p1 != p0
    assert p1 == _reference_plan(value_spec, w, a) and p0 == _reference_plan(base, w, a)
    other = dataclasses.replace(base, rows=7, cols=300, dataflows=(Dataflow.OUTPUT_STATIONARY,))
    assert mac_array.Model(other)._plan(w, a) is p0  # shared by value, not recomputed


def test_shared_plan_follows_the_formats_and_keeps_errors_unstored() -> None:
    spec = mac_array.Spec(precisions=("int8", "fp16"), rates=(1.0, 1.0))
    model = mac_array.Model(spec)
    mac_array.clear_cache()
    plans = {(str(w), str(a)): _plan_or_error(model, w, a) for w, a in itertools.product(FORMATS, FORMATS)}
    assert len({str(p) for p in plans.values()}) > 4  # w and a both in the key
    assert plans[("int4", "int8")] != plans[("fp16", "int8")] != plans[("int8", "fp16")]
    err = plans[("int16", "int8")]
    assert isinstance(err, str) and "no datapath mode" in err
    assert mac_array._shared_plan.cache_info().currsize == sum(not isinstance(p, str) for p in plans.values())
    with pytest.raises(LowbitError, match="no datapath mode"):  # raised again, not stored
        mac_array.Model(spec)._plan(F("int16"), F("int8"))


def _hints_outcome(kw: dict, full: bool) -> object:
    """MappingHints(**kw) as constructed, or (`full`) with only the full checks run."""
    try:
        if full:
            h = object.__new__(MappingHints)
            for k, v in kw.items():
                object.__setattr__(h, k, v)
            h._check()
        else:
            h = MappingHints(**kw)
        return tuple(getattr(h, f.name) for f in dataclasses.fields(h))
    except InvalidSpecError as exc:
        return f"InvalidSpecError: {exc}"


def test_mapping_hints_quick_check_equals_the_full_checks() -> None:
    """Random field values (valid and not: zero, negative, bool, float, numpy ints, unsorted or
    repeated dims, a list): accepted or refused exactly as the full checks alone do, and whatever
    the quick test passes, the full checks pass."""
    rng = np.random.default_rng(7)
    odd = [0, -1, 1, 2, 3, 32, True, False, 2.0, np.int64(4), None]

    def val(good: bool) -> object:
        return int(rng.integers(1, 300)) if good else odd[int(rng.integers(len(odd)))]

    seen = {"ok": 0, "err": 0, "plain": 0}
    for _ in range(3000):
        dims = tuple(sorted({int(x) for x in rng.integers(2, 600, size=int(rng.integers(0, 5)))}))
        if rng.random() < 0.2:
            dims = dims[::-1] + (dims[:1] if rng.random() < 0.5 else ())
        if rng.random() < 0.1:
            dims = (*dims, odd[int(rng.integers(len(odd)))])
        if rng.random() < 0.05:
            dims = list(dims)
        p = rng.random()
        kw = {"array_dims": dims, "k_segment": val(p > 0.1) if rng.random() < 0.8 else 0,
              "row_split": bool(rng.random() < 0.5) if rng.random() < 0.95 else 1,
              "min_tile_n": val(p > 0.2), "accumulator_bits": val(p > 0.3), "pad_n": val(p > 0.4),
              "pad_k_rows": val(p > 0.5), "pe_count": val(p > 0.6) if rng.random() < 0.8 else 0}
        got = _hints_outcome(kw, full=False)
        assert got == _hints_outcome(kw, full=True), kw
        seen["err" if isinstance(got, str) else "ok"] += 1
        h = object.__new__(MappingHints)
        for k, v in kw.items():
            object.__setattr__(h, k, v)
        if h._plain():
            seen["plain"] += 1
            h._check()  # raises if the quick test passed something the full checks refuse
    assert seen["ok"] > 300 and seen["err"] > 300 and seen["plain"] > 300


def test_bit_serial_parallelism_and_pads_over_every_axis_pair() -> None:
    """(P_m, P_k, P_n) and the hints' pads as the enum-keyed dict formulation gave them, for every
    rows_dim x cols_dim the spec accepts."""
    G = bit_serial.GemmDim
    for rd, cd in itertools.product(G, G):
        if rd is cd and rd is not G.K:
            continue
        spec = bit_serial.Spec(rows=5, cols=7, lanes=3, rows_dim=rd, cols_dim=cd)
        par = {G.M: 1, G.K: 3, G.N: 1}
        par[rd] *= 5
        par[cd] *= 7
        assert spec.parallelism() == (par[G.M], par[G.K], par[G.N]), (rd, cd)
        pads = {rd: 5, cd: 7}
        h = bit_serial.Model(spec).mapping_hints()
        assert (h.pad_n, h.pad_k_rows, h.min_tile_n) == (pads.get(G.N, 1), pads.get(G.K, 1), par[G.N]), (rd, cd)


def test_pair_memo_and_family_module_and_model() -> None:
    memo = PairMemo(limit=2)
    w, a = F("int4"), F("int8")
    assert memo.get(w, a) is None and len(memo) == 0
    memo.put(w, a, "x")
    assert memo.get(w, a) == "x" and memo.get(F("int4"), F("int8")) == "x" and memo.get(a, w) is None
    for fam in CoreFamily:
        assert family_module(fam) is importlib.import_module(family_module(fam).__name__)
        assert family_module(fam.value) is family_module(fam)
    with pytest.raises(InvalidSpecError, match="unknown core family"):
        family_module("no-such-family")
    acc = load_accelerator("tpu-like")
    m = acc.model()
    assert acc.model() is m and dataclasses.replace(acc).model() is not m
    back = pickle.loads(pickle.dumps(acc))
    assert back == acc and type(back.model()) is type(m)


LAYERS = [Layer.linear("fc", 196, 1152, 256), Layer.matmul("att", 128, 64, 128, batch=12),
          Layer.conv2d("conv", ConvGeometry(64, 128, 28, 28, 3, 3, pad_h=1, pad_w=1))]


def _deep_copy(acc):
    return dataclasses.replace(acc, core=dataclasses.replace(acc.core),
                               buffers=tuple(dataclasses.replace(b) for b in acc.buffers),
                               dram=dataclasses.replace(acc.dram), energy=dataclasses.replace(acc.energy),
                               memory=dataclasses.replace(acc.memory))


@pytest.mark.parametrize("preset", list_presets())
def test_fresh_spec_copies_map_as_the_original(preset: str) -> None:
    """Every preset: a search on a new spec object (top level only, or every sub-spec with the
    value-keyed caches cleared) finds the mapping (or error) of the original spec."""
    acc = load_accelerator(preset)
    a = acc.act_format
    for layer, w_name in itertools.product(LAYERS, ("int4", "int8")):
        w = a if layer.op is OpKind.MATMUL else F(w_name)
        tiling.clear_cache()
        ref = _outcome(layer, w, a, acc)
        for fresh in (dataclasses.replace(acc), _deep_copy(acc)):
            tiling.clear_cache()
            mac_array.clear_cache()
            assert _outcome(layer, w, a, fresh) == ref, (preset, layer.name, w_name)


def _outcome(layer, w, a, acc):
    try:
        return str(tiling.search(layer, w, a, acc))
    except LowbitError as exc:
        return f"{type(exc).__name__}: {exc}"


def _bs_plan(spec: bit_serial.Spec, w: Format, a: Format, cold: bool) -> object:
    """bit_serial's plan on a new model, with the shared format plans cleared first (`cold`: what
    the spec alone gives) or as the cache holds them."""
    if cold:
        bit_serial.clear_cache()
    try:
        return bit_serial.Model(spec)._plan(w, a)
    except LowbitError as exc:
        return f"{type(exc).__name__}: {exc}"


BS = bit_serial.SerialOperands
# (field, base spec, changed value, weight, activation): the field changed alone changes the plan
BS_FIELD_CASES = [
    ("serial", {"serial": BS.ACTIVATIONS}, BS.BOTH, "int8", "int8"),
    ("bits_per_cycle_w", {"serial": BS.WEIGHTS}, 2, "int8", "int8"),
    ("bits_per_cycle_a", {"serial": BS.ACTIVATIONS}, 2, "int8", "int8"),
    ("parallel_bits_w", {"serial": BS.ACTIVATIONS}, 8, "int16", "int8"),
    ("parallel_bits_a", {"serial": BS.WEIGHTS}, 8, "int8", "int16"),
    ("fusion_brick_bits", {"serial": BS.NONE, "parallel_bits_w": 8, "parallel_bits_a": 8}, 2, "int2", "int2"),
    ("fusion_bricks", {"serial": BS.NONE, "fusion_brick_bits": 2}, 32, "int2", "int2"),
    ("float_datapath", {"serial": BS.WEIGHTS, "float_datapath": True}, False, "int4", "fp16"),  # ok, then error
    ("accumulator_bits", {}, 24, "int4", "int8"),
]


def test_bit_serial_format_plan_fields_are_the_key() -> None:
    """`FORMAT_PLAN_FIELDS` is exactly the list changed here, and each of them, changed alone
    with the other spec's plan already cached, gives that spec's own plan, not the cached one
    (so none can be dropped from the key); the array (rows, cols, lanes, axes), dataflow and
    dequant cycles are outside it and do not stop the sharing."""
    assert set(bit_serial.FORMAT_PLAN_FIELDS) == {c[0] for c in BS_FIELD_CASES}
    for field, base_kw, value, wn, an in BS_FIELD_CASES:
        base = bit_serial.Spec(**base_kw)
        changed = dataclasses.replace(base, **{field: value})
        w, a = F(wn), F(an)
        p0 = _bs_plan(base, w, a, cold=True)
        p1 = _bs_plan(changed, w, a, cold=False)  # base's plan cached
        assert p1 == _bs_plan(changed, w, a, cold=True), field
        assert p1 != p0, field
    base = bit_serial.Spec(serial=BS.BOTH)
    w, a = F("int4"), F("int8")
    p0 = _bs_plan(base, w, a, cold=True)
    other = dataclasses.replace(base, rows=3, cols=5, lanes=7, rows_dim=bit_serial.GemmDim.K,
                                cols_dim=bit_serial.GemmDim.N, dequant_cycles_per_group=2,
                                dataflow=Dataflow.WEIGHT_STATIONARY)
    p1 = _bs_plan(other, w, a, cold=False)
    assert p1[:2] == p0[:2] and p1[5:] == p0[5:] and p1[6] is p0[6]  # shared, not recomputed
    assert p1[2:5] == other.parallelism() != p0[2:5]


def test_bit_serial_shared_plan_equals_cold_on_presets_and_random_specs() -> None:
    """Every bit_serial preset's core and 40 random specs x formats, the shared plans warm from
    the other specs: each plan (or error) equals the one its spec gives with the cache cleared."""
    rng = np.random.default_rng(19)
    specs = [load_accelerator(p).core for p in list_presets()
             if load_accelerator(p).core_family is CoreFamily.BIT_SERIAL]
    for _ in range(40):
        serial = BS(rng.choice([s.value for s in BS]))
        kw = {"serial": serial, "bits_per_cycle_w": int(rng.choice([1, 2, 4])),
              "bits_per_cycle_a": int(rng.choice([1, 2])), "parallel_bits_w": int(rng.choice([4, 8, 16])),
              "parallel_bits_a": int(rng.choice([8, 16])), "rows": int(rng.integers(1, 64)),
              "cols": int(rng.integers(1, 64)), "accumulator_bits": int(rng.choice([24, 32])),
              "float_datapath": bool(rng.random() < 0.3) and serial is not BS.ACTIVATIONS
              and serial is not BS.BOTH}
        if serial is BS.NONE and rng.random() < 0.5:
            kw.update(fusion_brick_bits=2, fusion_bricks=int(rng.choice([16, 32])), float_datapath=False)
        specs.append(bit_serial.Spec(**kw))
    assert len(specs) > 50
    bit_serial.clear_cache()
    warm = {(i, str(w), str(a)): _bs_plan(s, w, a, cold=False)
            for i, s in enumerate(specs) for w, a in itertools.product(FORMATS, FORMATS[:7])}
    n_ok = 0
    for (i, wn, an), got in warm.items():
        assert got == _bs_plan(specs[i], F(wn), F(an), cold=True), (specs[i], wn, an)
        n_ok += not isinstance(got, str)
    assert n_ok > 1000
