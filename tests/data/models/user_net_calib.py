"""A user's own torch module with calibration data, for `--sensitivity measured/hessian`:
`--model tests/data/models/user_net_calib.py:make` (the factory contract of
`lowbit.models.workload_io`: module, example input, calibration inputs and targets)."""

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
    """(module, example, calibration): fixed seed, so the weights and data are the same every run."""
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    net = UserNet()
    x = torch.randn(16, 1, 8, 8, generator=g)
    y = torch.randint(0, 10, (16,), generator=g)
    return net, x[:2], {"inputs": x, "targets": y}


def make_inputs_only():
    """(module, example, calibration inputs): no targets, so measured uses the output MSE."""
    net, example, calib = make()
    return net, example, calib["inputs"]
