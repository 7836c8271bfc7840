"""Fixtures shared by the hwsim tests."""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def load_bench(name: str):  # type: ignore[no-untyped-def]
    """Import `benchmarks/<name>.py` as a module (benchmarks are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "benchmarks" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


@pytest.fixture(scope="session")
def bench():  # type: ignore[no-untyped-def]
    """benchmarks/bench_lut.py (its latency model and tables are held by the LUT / T-MAC tests)."""
    return load_bench("bench_lut")
