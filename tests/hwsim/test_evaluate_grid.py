"""`hwsim.evaluate.evaluate_grid` equals `hwsim.evaluate` called once per (layer, choice): the
same LayerCosts field for field, and the same first error with the same message."""

from __future__ import annotations

import pytest
from lowbit.hwsim.evaluate import _evaluate_shape, clear_cache, evaluate_grid
from lowbit.hwsim.spec import load_accelerator
from lowbit.kernels_ref.errors import LowbitError
from lowbit.models import zoo
from lowbit.models.ir import Layer, OpKind

from lowbit import hwsim


def _one_by_one(layers, pairs, accel, kv_fmt=None):  # type: ignore[no-untyped-def]
    return tuple(tuple(hwsim.evaluate(ly, w, accel, act_fmt=a, kv_fmt=kv_fmt) for w, a in pairs)
                 for ly in layers)


@pytest.mark.parametrize("preset, model, pairs, kv", [
    ("loom", "resnet-18", [("int2", None), ("int4", None), ("int8", None)], None),
    ("bitmod", "minilm-l6", [("int4", None), ("int8", "int8"), ("int6", "int4")], None),
    ("tpu-like", "minilm-l6", [("int8", None), ("int4", "int8")], "int4"),
])
def test_grid_equals_one_call_per_layer_and_choice(preset: str, model: str, pairs: list, kv: str | None) -> None:
    accel = load_accelerator(preset)
    wl = zoo.get(model, **({"seq_len": 16} if model.startswith("minilm") else {}))
    layers = list(wl.layers)  # with MATMULs (their second operand at the KV format) and repeated shapes
    clear_cache()
    want = _one_by_one(layers, pairs, accel, kv)
    assert _evaluate_shape.cache_info().hits > 0  # one by one, repeated shapes hit the cache
    clear_cache()
    got = evaluate_grid(layers, pairs, accel, kv_fmt=kv)
    assert _evaluate_shape.cache_info().hits == 0  # batched: each distinct shape asked for once
    assert got == want
    assert [[c.name for c in row] for row in got] == [[ly.name] * len(pairs) for ly in layers]
    assert any(ly.op is OpKind.MATMUL for ly in layers) == model.startswith("minilm")
    got[0][0].energy_j["x"] = 1.0  # each cost has its own energy dict: the cache is not touched
    assert "x" not in evaluate_grid(layers[:1], pairs[:1], accel, kv_fmt=kv)[0][0].energy_j
    assert len({(ly.m, ly.k, ly.n, ly.op) for ly in layers}) < len(layers)  # shapes do repeat


def test_grid_raises_the_first_error_as_one_call_would() -> None:
    accel = load_accelerator("loom")
    good = Layer.linear("fc", 4, 64, 64)
    cases = [
        ([good], [("int4", None), ("nope9", None)]),        # an unknown format name
        ([good, "not a layer"], [("int4", None)]),          # not a Layer
        ([good], [("int4", "int8"), ("int4", 3)]),           # a bad activation format
    ]
    for layers, pairs in cases:
        with pytest.raises(LowbitError) as one:
            _one_by_one(layers, pairs, accel)
        with pytest.raises(LowbitError) as grid:
            evaluate_grid(layers, pairs, accel)  # type: ignore[arg-type]
        assert (type(grid.value), str(grid.value)) == (type(one.value), str(one.value))
    assert evaluate_grid([], [("int4", None)], accel) == ()
