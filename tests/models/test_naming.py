"""Zoo layer names <-> module names <-> GGUF tensor names (`lowbit.models.naming`)."""

from __future__ import annotations

import pytest
import torch
from lowbit.kernels_ref.errors import InvalidSpecError
from lowbit.models import naming, zoo

torch.set_num_threads(1)


def _weight_layers(model: str) -> list[str]:
    return [ly.name for ly in zoo.get(model).layers if ly.weight_params > 0]


@pytest.mark.slow   # 0.9-1.3 s: out of the fast lane (make test runs it)
def test_digits_names_are_module_names_both_ways() -> None:
    from lowbit.models.zoo.digits import train_digits_cnn

    net, _ = train_digits_cnn(0)
    mods = {n for n, m in net.named_modules() if hasattr(m, "weight")}
    zoo_names = _weight_layers("digits")
    assert sorted(zoo_names) == sorted(mods) == ["conv1", "conv2", "fc1", "fc2"]
    for n in zoo_names:
        assert naming.zoo_to_module("digits", n) == n
        assert naming.module_to_zoo("digits", n) == n
    with pytest.raises(InvalidSpecError, match="no architecture"):
        naming.gguf_name("digits", "fc1")


def test_minilm_every_weight_layer_maps_to_a_real_module_and_back() -> None:
    from lowbit.models.importers import load_minilm

    bert, _ = load_minilm()
    mods = dict(bert.named_modules())
    zoo_names = _weight_layers("minilm")
    assert len(zoo_names) == 3 + 6 * 6 + 1
    seen = set()
    for n in zoo_names:
        mod = naming.zoo_to_module("minilm", n)
        assert mod in mods, (n, mod)
        assert hasattr(mods[mod], "weight")
        assert naming.module_to_zoo("minilm", mod) == n
        seen.add(mod)
    linear = {n for n, m in bert.named_modules() if isinstance(m, torch.nn.Linear)}
    assert linear <= seen  # every Linear of the real model is a zoo layer
    assert naming.zoo_to_module("minilm", "layers.2.attn_score") is None
    assert naming.zoo_to_module("minilm", "layers.4.fc1") == "encoder.layer.4.intermediate.dense"
    with pytest.raises(InvalidSpecError, match="no zoo layer"):
        naming.module_to_zoo("minilm", "encoder.layer.0.attention.output.LayerNorm")


@pytest.mark.parametrize("model, arch, n", [("minilm", "BERT", 6), ("llama-2-7b", "LLAMA", 32)])
def test_gguf_names_agree_with_the_gguf_package_table(model: str, arch: str, n: int) -> None:
    gguf = pytest.importorskip("gguf")  # third-party, extra 'real'
    tmap = gguf.get_tensor_name_map(getattr(gguf.MODEL_ARCH, arch), n)
    checked = 0
    for z in _weight_layers(model):
        mod = naming.zoo_to_module(model, z)
        ours = naming.gguf_name(model, z)
        theirs = tmap.get_name(mod)
        if model == "minilm" and z == "pooler":
            assert ours is None  # llama.cpp's converter drops BERT's pooler
            continue
        assert ours == theirs, (z, mod, ours, theirs)
        checked += 1
    assert checked >= 6 * n


def test_family_without_a_rule_is_an_error() -> None:
    with pytest.raises(InvalidSpecError, match="no zoo <-> module name rule"):
        naming.zoo_to_module("opt-1.3b", "layers.0.q_proj")
