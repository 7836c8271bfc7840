"""The HTML report renders in headless Chromium (Debian's `chromium` package) and the
screenshot is not blank; a blank page fails the same check (so the check can fail)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from lowbit.reports.sweep_report import report_from_store

_NAMES = ("chromium", "chromium-browser")


def _find() -> str | None:
    for n in _NAMES:
        p = shutil.which(n)
        if p:
            return p
    return None


def _chromium() -> str:
    """The chromium binary; installs Debian's package when missing and possible (root + apt)."""
    exe = _find()
    if exe:
        return exe
    if os.name == "posix" and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for cmd in (["apt-get", "install", "-y", "-q", "chromium"],
                    ["sh", "-c", "apt-get update -q && apt-get install -y -q chromium"]):
            try:
                subprocess.run(cmd, env=env, capture_output=True, timeout=900, check=False)
            except (OSError, subprocess.TimeoutExpired):
                continue
            exe = _find()
            if exe:
                return exe
    pytest.skip("chromium is not installed and could not be installed "
                "(`make test` installs it: apt-get install chromium)")


def _screenshot(exe: str, page: Path, png: Path, profile: Path) -> None:
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--hide-scrollbars", f"--user-data-dir={profile}", f"--screenshot={png}",
           "--window-size=1200,1600", page.resolve().as_uri()]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert png.exists(), f"chromium wrote no screenshot (rc {r.returncode}): {r.stderr[-2000:]}"


def _figure_rows(nonwhite_per_row, min_run: int = 150) -> int:
    """Longest run (>= min_run) of consecutive pixel rows that each have ink in > 2% of their
    width, else 0: text lines are ~20 px tall with blank rows between them, while an
    embedded figure (frame, axes, grid, marks) is an unbroken block of several hundred rows
    (354 rows seen for the first figure here; 15 for a blank page with a heading)."""
    best = run = 0
    for v in nonwhite_per_row:
        run = run + 1 if v > 0.02 else 0
        best = max(best, run)
    return best if best >= min_run else 0


@pytest.mark.slow
def test_report_renders_in_headless_chromium(tmp_path: Path, sweep_store, png_stats) -> None:
    exe = _chromium()
    import matplotlib.image as mpimg
    import numpy as np

    db, _ = sweep_store(models=("net-a",))
    index = report_from_store(db, tmp_path / "report")
    shot = tmp_path / "shot.png"
    _screenshot(exe, index, shot, tmp_path / "profile")
    s = png_stats(shot)
    assert (s["height"], s["width"]) == (1600, 1200)
    # Not blank: text and figures cover a good share, many colours (antialiased plots, the
    # viridis colour bar), coloured marks present, and a tall block of ink = an embedded figure.
    # Seen here: report 6.3% non-white, 2253 colours, 0.84% saturated; a blank page with one
    # heading 0.05%, 176 colours (antialiased text), 0% saturated.
    assert s["nonwhite"] > 0.03, s
    assert s["colours"] > 500, s
    assert s["saturated"] > 0.002, s
    a = mpimg.imread(shot)[..., :3]
    rows = (a.min(axis=2) < 245 / 255).mean(axis=1)
    assert _figure_rows(rows) > 0, "no figure-sized block in the screenshot"

    # The same checks on a blank page fail: the test can tell an empty render from a report.
    blank = tmp_path / "blank.html"
    blank.write_text("<!doctype html><html><body><h1>lowbit</h1></body></html>")
    shot2 = tmp_path / "blank.png"
    _screenshot(exe, blank, shot2, tmp_path / "profile2")
    b = png_stats(shot2)
    assert not (b["nonwhite"] > 0.03 or b["colours"] > 500 or b["saturated"] > 0.002), b
    rows2 = (mpimg.imread(shot2)[..., :3].min(axis=2) < 245 / 255).mean(axis=1)
    assert _figure_rows(np.asarray(rows2)) == 0
