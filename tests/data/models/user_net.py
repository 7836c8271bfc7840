"""A user's own torch module, for `--model tests/data/models/user_net.py:make`."""

import torch
from torch import nn


class UserNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3, padding=1)
        self.fc = nn.Linear(8 * 8 * 8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.conv(x)).flatten(1))


def make():
    """(module, input shape): lowbit traces it on a random input of that shape."""
    return UserNet(), (2, 1, 8, 8)
