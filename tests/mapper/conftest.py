"""Shared fixtures of the mapper tests."""

from __future__ import annotations

import pytest
from lowbit.mapper import fast


@pytest.fixture(params=["off", "on"])
def jit(request):
    """The mapper's latency search on numpy ("off") and through the compiled kernel ("on",
    `mapper.fast_jit`), each from its first search; the mode the process had is put back."""
    before = fast._JIT["mode"]
    fast.set_jit(request.param)
    yield request.param
    fast._JIT["mode"] = before
