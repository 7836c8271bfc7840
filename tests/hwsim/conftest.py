"""Fixtures shared by the hwsim tests.

No test here imports benchmarks/ (issue 17 item 4): the LUT / T-MAC tests hold
`hwsim.evaluate_workload` and the core models, with their reference figures in tests/data/."""

import pytest


@pytest.fixture
def stall_rows():
    """`stall_rows(layer, cfg, **kw)`: the SCALE-Sim stall mode's three report rows for one layer
    (`simulate_layer(layer, cfg, **kw)`), or "error: <message>" where it raises InvalidSpecError,
    so the kernel, the numpy path and the reference compare in one `==`."""
    from lowbit.hwsim.scalesim_mem import simulate_layer
    from lowbit.kernels_ref.errors import InvalidSpecError

    def rows(layer, cfg, **kw):
        try:
            rep = simulate_layer(layer, cfg, **kw)
        except InvalidSpecError as exc:
            return f"error: {exc}"
        return rep.compute_row() + rep.bandwidth_row() + rep.detail_row()

    return rows
