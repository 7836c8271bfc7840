"""SwinIR classical SR (issue 15 item 3): the zoo's network holds exactly the parameters of the
authors' network_swinir.py (tests/data/published_params.json, with the command), which round to
the published 11.8M (x2, paper) and 11.9M (x4, README)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from lowbit.models.zoo.vision import vision_module

PUBLISHED = json.loads((Path(__file__).parents[1] / "data" / "published_params.json").read_text())["models"]


@pytest.mark.parametrize("name", ["swinir-x2", "swinir-x4"])
def test_swinir_params_are_the_authors(name: str) -> None:
    torch.set_num_threads(1)
    net = vision_module(name)
    n = sum(p.numel() for p in net.parameters())
    ref = PUBLISHED[name]
    assert n == ref["params"]
    assert abs(n - ref["published"]) <= ref["published_rounded"] / 2  # 11.8M / 11.9M as printed
    # where they go: 6 RSTBs of 6 Swin layers (embed 180, window 8, 6 heads) + convs + upsampler
    body = sum(p.numel() for p in net.layers.parameters())
    per_layer = 2 * 2 * 180 + (180 * 540 + 540) + (180 * 180 + 180) + 15 * 15 * 6 + 2 * 180 * 360 + 360 + 180
    assert body == 6 * (6 * per_layer + 180 * 180 * 9 + 180)
