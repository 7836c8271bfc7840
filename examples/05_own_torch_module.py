"""Your own torch module, end to end.

`make()` below is a factory in the form every `--model` accepts as
`examples/05_own_torch_module.py:make`: it returns the module and an input shape. The
script resolves itself with `resolve_model` (the same as `from_torch(module, example)`),
writes the traced workload in lowbit's workload schema (OUT/workload.yaml, readable back by
any `--model`), prices it at int8 and int4 weights on two presets, and writes
OUT/costs.csv (per layer and design: latency in seconds, energy in joules, mapping).

    python examples/05_own_torch_module.py --out /tmp/ex5
    lowbit simulate --hw tpu-like --model examples/05_own_torch_module.py:make
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import torch
import yaml
from torch import nn


class TinyConvNet(nn.Module):
    """A small CNN: two convs (one depthwise), pooling, a classifier."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 32, 3, stride=2, padding=1)
        self.dw = nn.Conv2d(32, 32, 3, padding=1, groups=32)
        self.pw = nn.Conv2d(32, 64, 1)
        self.head = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.stem(x))
        x = torch.relu(self.pw(torch.relu(self.dw(x))))
        return self.head(x.mean(dim=(2, 3)))


def make() -> tuple[nn.Module, tuple[int, ...]]:
    """(module, input shape): lowbit traces the module on a random input of this shape."""
    torch.manual_seed(0)
    return TinyConvNet().eval(), (1, 3, 64, 64)


def main() -> None:
    from lowbit.hwsim import evaluate_workload
    from lowbit.hwsim.spec import load_accelerator
    from lowbit.models.workload_io import resolve_model, workload_to_dict

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="examples-out/05_own_torch_module", help="output directory")
    out = Path(ap.parse_args().out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)

    wl = resolve_model(f"{Path(__file__).resolve()}:make")
    (out / "workload.yaml").write_text(yaml.safe_dump(workload_to_dict(wl), sort_keys=False),
                                       encoding="utf-8")
    print(f"{wl.name}: {len(wl.layers)} layers, {sum(ly.macs for ly in wl.layers):,} MACs")
    rows = []
    for hw in ("tpu-like", "bitmod"):
        accel = load_accelerator(hw)
        for fmt in ("int8", "int4"):
            cost = evaluate_workload(wl, fmt, accel, act_fmt="int8")
            print(f"  {hw:10s} {fmt}: {cost.latency_s * 1e6:8.2f} us  {cost.total_energy_j * 1e6:8.2f} uJ")
            for ly in cost.layers:
                rows.append({"design": hw, "weights": fmt, "layer": ly.name,
                             "latency_s": ly.latency_s, "energy_j": ly.total_energy_j,
                             "mapping": str(ly.mapping)})
    with open(out / "costs.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    print(f"wrote {out / 'workload.yaml'} and {out / 'costs.csv'}")


if __name__ == "__main__":
    main()
