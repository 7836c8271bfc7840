"""A small CNN trained on scikit-learn's 8x8 digits: a real model with a real accuracy.

Used by the whole-model check (`kernels_ref.wholemodel`) and by measured
sensitivity (`models.sensitivity`): it trains in about a second on one CPU
thread, so tests can build it from scratch instead of shipping weights.

    model, (x_test, y_test) = train_digits_cnn(seed=0)
    acc = digits_accuracy(model, x_test, y_test)      # ~0.97-0.99

Data: `sklearn.datasets.load_digits` (1797 images, 8x8, 16 grey levels), pixel
values scaled to [0, 1], split 80/20 with a seeded stratified shuffle.
"""

from __future__ import annotations

import logging

import numpy as np
import torch
from torch import nn

__all__ = ["DigitsCNN", "digits_accuracy", "load_digits_tensors", "train_digits_cnn"]

log = logging.getLogger(__name__)


class DigitsCNN(nn.Module):
    """conv3x3(1->16) relu conv3x3(16->32) relu maxpool2 fc(512->64) relu fc(64->10)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, kernel_size=3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(32 * 4 * 4, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.conv1(x))
        x = self.pool(torch.relu(self.conv2(x)))
        x = torch.relu(self.fc1(x.flatten(1)))
        return self.fc2(x)


def load_digits_tensors(seed: int = 0, test_fraction: float = 0.2
                        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(x_train, y_train, x_test, y_test); x is float32 [n, 1, 8, 8] in [0, 1], y int64."""
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


@torch.no_grad()
def digits_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Top-1 accuracy of `model` on (x, y)."""
    return float((model(x).argmax(dim=1) == y).float().mean())
