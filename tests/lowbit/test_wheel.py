"""The wheel installs one top-level package, `lowbit`: a user's own models.py / search.py /
reports.py beside their script never shadows ours, and no module is importable twice."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = ("hwsim", "mapper", "search", "models", "kernels_ref", "reports")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # --no-build-isolation: build with this venv's setuptools (no registry access needed).
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(out), str(ROOT)], check=True, capture_output=True, text=True)
    (whl,) = out.glob("lowbit-*.whl")
    return whl


@pytest.mark.slow
def test_wheel_top_level_is_lowbit_only(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        (top,) = [n for n in names if n.endswith("top_level.txt")]
        assert z.read(top).decode().split() == ["lowbit"]
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith((".dist-info", ".data"))}
    assert tops == {"lowbit"}
    for folder in FOLDERS:  # every folder is inside the namespace, with its data files
        assert f"lowbit/{folder}/__init__.py" in names
    assert "lowbit/hwsim/presets/bitmod.yaml" in names
    assert any(n.startswith("lowbit/models/zoo/configs/") and n.endswith(".json") for n in names)
    assert "lowbit/search/spaces/demo.yaml" in names
    assert any(n.startswith("lowbit/hwsim/rtl_src/") and n.endswith(".sv") for n in names)
    assert "lowbit/search/codesign/__init__.py" in names


@pytest.mark.slow
def test_installed_wheel_ignores_user_modules_of_the_same_names(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    with zipfile.ZipFile(wheel) as z:  # install = unpack the pure-Python wheel into site-packages
        z.extractall(site)
    # Dependencies (numpy, pyyaml, ...) from this venv, added as a plain path: its .pth files,
    # including the editable finder of the development install, are not processed.
    Path(site, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    user = tmp_path / "project"
    user.mkdir()
    for name in ("models", "search", "reports", "hwsim"):
        (user / f"{name}.py").write_text(f"WHO = 'user {name}'\n")
    script = textwrap.dedent("""
        import sys
        import lowbit.models.zoo, lowbit.search, lowbit.reports, lowbit.hwsim
        from lowbit.models import zoo
        from lowbit.hwsim.spec import load_accelerator
        import models, search, reports
        assert models.WHO == "user models" and search.WHO == "user search", (models, search)
        assert zoo.__file__.startswith(sys.argv[1]), zoo.__file__
        wl = zoo.get("resnet18")
        acc = load_accelerator("bitmod")
        dup = [m for m in sys.modules if m.split(".")[0] in
               ("mapper", "kernels_ref") or m.startswith(("models.", "hwsim.", "search."))]
        assert not dup, dup
        print(len(wl.layers), acc.core_family.value)
    """)
    r = subprocess.run([str(py), "-c", script, site], check=False, cwd=user, capture_output=True, text=True,
                       env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"})
    assert r.returncode == 0, r.stderr
    from lowbit.models import zoo

    n_layers, family = r.stdout.split()
    assert int(n_layers) == len(zoo.get("resnet18").layers) and family == "bit_serial"
