"""The cost path is torch-free (DESIGN.md rule 13): importing hwsim, mapper, search, the zoo and
reports, and running `lowbit simulate`, `allocate --costs` / `--sensitivity builtin|FILE`,
`sweep` with built-in quality and `report`, never imports torch.

Each check runs in a fresh interpreter; the CLI ones under `python -X importtime`, whose
stderr names every module imported, so a failure shows the chain that pulled torch in.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# Slow lane (`make test` runs it, `make test-fast` does not): each check is a fresh Python process (~0.7 s).
pytestmark = pytest.mark.slow

DATA = Path(__file__).resolve().parents[1] / "data"
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}

TINY_SPACE = """
name: tiny
formats: [int4, int8]
budgets: {latency: 0.8x}
models: [resnet-18]
hardware: [bitmod]
"""


def _imported(stderr: str) -> list[tuple[int, str]]:
    """(indent, module) per `-X importtime` line, in the order printed (children first)."""
    out = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        field = line.rsplit("|", 1)[1]
        out.append((len(field) - len(field.lstrip()), field.strip()))
    return out


def _torch_chain(stderr: str) -> str | None:
    """`torch <- parent <- ... <- top-level module` for the torch import, else None."""
    mods = _imported(stderr)
    # the package itself; its submodules are printed before it
    hits = [i for i, (_, name) in enumerate(mods) if name == "torch"] or [
        i for i, (_, name) in enumerate(mods) if name.startswith("torch.")]
    if not hits:
        return None
    depth, name = mods[hits[0]]
    chain = [name]
    for d, parent in mods[hits[0] + 1:]:
        if d < depth:
            chain.append(parent)
            depth = d
    return " <- ".join(chain)


def _lowbit(tmp_path: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "lowbit", *argv], cwd=tmp_path, env=ENV,
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def _assert_torch_free(proc: subprocess.CompletedProcess[str]) -> None:
    mods = {name for _, name in _imported(proc.stderr)}
    assert "lowbit.cli" in mods or "lowbit.__main__" in mods, "no -X importtime output to check"
    chain = _torch_chain(proc.stderr)
    assert chain is None, f"torch imported: {chain}"


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], env=ENV, capture_output=True, text=True, timeout=120, check=False)


def test_cost_path_imports_leave_torch_out() -> None:
    proc = _python("import sys\n"
                   "import lowbit.hwsim, lowbit.mapper, lowbit.search, lowbit.models.zoo, lowbit.reports\n"
                   "import lowbit.hwsim.evaluate, lowbit.hwsim.scalesim_io, lowbit.search.costs\n"
                   "import lowbit.search.ilp, lowbit.search.codesign, lowbit.models.quality\n"
                   "import lowbit.models.sensitivity, lowbit.models.importers, lowbit.kernels_ref.formats\n"
                   "import lowbit.cli\n"
                   "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_the_check_sees_torch_when_it_is_imported() -> None:
    """The same probe on the torch side (quantisers) finds torch: the check above can fail."""
    proc = _python("import sys\nimport lowbit.kernels_ref.quant\nprint('torch' in sys.modules)")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "True"
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", "import lowbit.kernels_ref.quant"],
                          env=ENV, capture_output=True, text=True, timeout=120, check=False)
    assert _torch_chain(proc.stderr) == "torch <- lowbit.kernels_ref.quant"


def test_help_and_formats_list(tmp_path: Path) -> None:
    proc = _lowbit(tmp_path, "--help")
    assert "simulate" in proc.stdout
    _assert_torch_free(proc)
    proc = _lowbit(tmp_path, "formats", "list")
    assert "int4g128" in proc.stdout
    _assert_torch_free(proc)


def test_simulate_zoo_model(tmp_path: Path) -> None:
    proc = _lowbit(tmp_path, "simulate", "--hw", "tpu-like", "--model", "resnet18", "--json")
    doc = json.loads(proc.stdout)
    assert doc["model"] == "resnet18" and doc["total"]["cycles"] > 0
    _assert_torch_free(proc)


def test_simulate_scalesim_one_layer(tmp_path: Path) -> None:
    golden = next(g for g in json.loads((DATA / "scalesim_golden.json").read_text())["layers"]
                  if g["cfg"] == "scalesim/a32x32_os.cfg" and g["layer"] == "gemm_odd")
    topo = tmp_path / "one.csv"
    topo.write_text("Layer, M, N, K,\ngemm_odd, 45, 33, 67,\n")
    proc = _lowbit(tmp_path, "simulate", "--scalesim-cfg", str(DATA / "scalesim" / "a32x32_os.cfg"),
                   "--topology", str(topo), "--gemm", "--json")
    [row] = json.loads(proc.stdout)["layers"]
    assert row["compute_cycles"] == golden["total_cycles"]
    _assert_torch_free(proc)


def test_allocate_costs_file(tmp_path: Path) -> None:
    out = tmp_path / "alloc.json"
    proc = _lowbit(tmp_path, "allocate", "--costs", str(DATA / "hawq_v3_resnet18_costs.json"),
                   "--budget", "size=0.8x", "-o", str(out))
    assert json.loads(out.read_text())["status"] == "optimal"
    _assert_torch_free(proc)


def test_allocate_builtin_sensitivity(tmp_path: Path) -> None:
    out = tmp_path / "alloc.json"
    proc = _lowbit(tmp_path, "allocate", "--hw", "bitmod", "--model", "resnet-18", "--formats", "int2,int4,int8",
                   "--sensitivity", "builtin-fit", "--latency", "0.6x", "-o", str(out))
    assert json.loads(out.read_text())["status"] == "optimal"
    _assert_torch_free(proc)


def test_allocate_sensitivity_file(tmp_path: Path) -> None:
    from lowbit.models import zoo

    names = [ly.name for ly in zoo.get("resnet18").layers if ly.weight_params > 0]
    rows = ["layer,format,value"] + [f"{n},int{b},{(i + 1) * 2.0 ** -b}" for i, n in enumerate(names)
                                     for b in (2, 4, 8)]
    sens = tmp_path / "sens.csv"
    sens.write_text("\n".join(rows) + "\n")
    out = tmp_path / "alloc.json"
    proc = _lowbit(tmp_path, "allocate", "--hw", "bitmod", "--model", "resnet18", "--formats", "int2,int4,int8",
                   "--sensitivity", str(sens), "--latency", "0.6x", "-o", str(out))
    doc = json.loads(out.read_text())
    assert doc["status"] == "optimal" and [ly["name"] for ly in doc["layers"]] == names
    _assert_torch_free(proc)


@pytest.fixture(scope="module")
def sweep_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    d = tmp_path_factory.mktemp("sweep")
    space = d / "tiny.yaml"
    space.write_text(TINY_SPACE)
    db = d / "tiny.sqlite"
    proc = _lowbit(d, "sweep", "--space", str(space), "--db", str(db), "--executor", "serial", "--quiet")
    return db, proc


def test_sweep_with_builtin_quality(sweep_db: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    db, proc = sweep_db
    assert "1 ok" in proc.stdout and db.exists()
    _assert_torch_free(proc)


def test_report(tmp_path: Path, sweep_db: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    db, _ = sweep_db
    out = tmp_path / "report"
    proc = _lowbit(tmp_path, "report", str(db), "-o", str(out))
    assert Path(proc.stdout.strip()) == out / "index.html" and (out / "index.html").is_file()
    _assert_torch_free(proc)
