"""A small CNN trained on scikit-learn's 8x8 digits: a real model with a real accuracy.

The zoo serves it as ``digits-cnn`` (alias ``digits``) like any other model:
`digits_workload` gives its layers and shapes without importing torch. It is also the
model lowbit holds real weights for: it trains in about a second on one CPU thread, so
the whole-model check (`kernels_ref.wholemodel`) and measured sensitivity
(`models.sensitivity`, `models.quality`) build it from scratch instead of shipping
weights. Torch loads only inside the functions that build, train or run the network
(`DigitsCNN` itself lives in `models.zoo.digits_net`).

    model, (x_test, y_test) = train_digits_cnn(seed=0)
    acc = digits_accuracy(model, x_test, y_test)      # ~0.97-0.99

Data: `sklearn.datasets.load_digits` (1797 images, 8x8, 16 grey levels), pixel
values scaled to [0, 1], split 80/20 with a seeded stratified shuffle.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np
from lowbit.kernels_ref.errors import InvalidSpecError
from lowbit.models.ir import ConvGeometry, Layer, Phase, Workload

if TYPE_CHECKING:
    import torch
    from lowbit.models.zoo.digits_net import DigitsCNN
    from torch import nn

__all__ = ["CALIBRATION_IMAGES", "NAME", "DigitsCNN", "calibrated_model", "digits_accuracy",
           "digits_workload", "load_digits_tensors", "train_digits_cnn"]

log = logging.getLogger(__name__)

#: The zoo name of the model (layer names are the `DigitsCNN` module names).
NAME = "digits-cnn"
#: Training images measured sensitivity is calibrated on (the first of the seeded split).
CALIBRATION_IMAGES = 256


def __getattr__(name: str) -> Any:
    """`DigitsCNN` is a torch class: it (and torch) load on first access."""
    if name == "DigitsCNN":
        from lowbit.models.zoo.digits_net import DigitsCNN

        return DigitsCNN
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def digits_workload(batch: int = 1) -> Workload:
    """Workload of `DigitsCNN` on 8x8 inputs, `batch` images (torch-free)."""
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise InvalidSpecError(f"model {NAME}: batch must be a positive integer, got {batch!r}")
    return Workload(name=NAME, phase=Phase.INFERENCE, layers=(
        Layer.conv2d("conv1", ConvGeometry(1, 16, 8, 8, 3, 3, pad_h=1, pad_w=1), images=batch),
        Layer.conv2d("conv2", ConvGeometry(16, 32, 8, 8, 3, 3, pad_h=1, pad_w=1), images=batch),
        Layer.linear("fc1", batch, 512, 64),
        Layer.linear("fc2", batch, 64, 10)))


def load_digits_tensors(seed: int = 0, test_fraction: float = 0.2
                        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(x_train, y_train, x_test, y_test); x is float32 [n, 1, 8, 8] in [0, 1], y int64."""
    import torch
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    x = (data.images.astype(np.float32) / 16.0)[:, None, :, :]
    y = data.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=test_fraction, random_state=seed, stratify=y)
    return (torch.from_numpy(x_tr), torch.from_numpy(y_tr), torch.from_numpy(x_te), torch.from_numpy(y_te))


def train_digits_cnn(seed: int = 0, epochs: int = 8, batch_size: int = 32
                     ) -> tuple[DigitsCNN, tuple[torch.Tensor, torch.Tensor]]:
    """Train `DigitsCNN` from a seeded init; returns (model in eval mode, (x_test, y_test)).

    Same seed -> same weights (CPU, deterministic ops). Adam, lr 3e-3, cross-entropy.
    """
    import torch
    from lowbit.models.zoo.digits_net import DigitsCNN
    from torch import nn

    x_tr, y_tr, x_te, y_te = load_digits_tensors(seed)
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = DigitsCNN()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    loss_fn = nn.CrossEntropyLoss()
    n = x_tr.shape[0]
    model.train()
    for epoch in range(epochs):
        perm = torch.randperm(n, generator=gen)
        total = 0.0
        for i in range(0, n, batch_size):
            idx = perm[i:i + batch_size]
            opt.zero_grad()
            loss = loss_fn(model(x_tr[idx]), y_tr[idx])
            loss.backward()
            opt.step()
            total += float(loss.detach()) * idx.numel()
        log.debug("digits epoch %d loss %.4f", epoch, total / n)
    model.eval()
    return model, (x_te, y_te)


def digits_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Top-1 accuracy of `model` on (x, y)."""
    import torch

    with torch.no_grad():
        return float((model(x).argmax(dim=1) == y).float().mean())


def calibrated_model(seed: int = 0) -> tuple[DigitsCNN, torch.Tensor, str]:
    """What measured sensitivity needs (`models.zoo.trained`): the network trained from `seed`,
    its calibration inputs (the first `CALIBRATION_IMAGES` training images) and the output
    metric to compare (KL of the class distribution)."""
    net, _ = train_digits_cnn(seed=seed)
    x_tr, _, _, _ = load_digits_tensors(seed=seed)
    return net, x_tr[:CALIBRATION_IMAGES], "kl"
