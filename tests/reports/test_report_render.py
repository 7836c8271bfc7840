"""The HTML report in a real browser (headless Chromium, Debian's `chromium` package, driven
over the DevTools protocol): JavaScript on, no console errors, plotly's plots drawn, hovering a
point shows a tooltip naming that design, clicking it shows its allocation, and a screenshot
of every section is not blank (a blank area fails the same check, so the check can fail)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from lowbit.reports.report import build_report

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the folder's CDP client, browser.py
from browser import Browser

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



_SECTIONS = """Array.from(document.querySelectorAll('section.lb-model, section.lb-section'))
  .filter(function (s) { return !s.querySelector('section.lb-model'); })
  .map(function (s) { var r = s.getBoundingClientRect();
    return [s.id, r.left + scrollX, r.top + scrollY, r.width, r.height,
            s.querySelector('h2, h3') ? s.querySelector('h2, h3').textContent : '']; })"""
_POINT = """(function () {
  var p = document.querySelector('#lb-m0-pareto .scatterlayer .trace .point');
  p.scrollIntoView({block: 'center'});
  var r = p.getBoundingClientRect();
  return [r.x + r.width / 2, r.y + r.height / 2];
})()"""


def _blank(stats: dict[str, float]) -> bool:
    """A section with nothing drawn: almost no ink and few colours (a heading alone has
    ~0.5% ink and ~100 antialiasing colours; a drawn plot or table several % and hundreds)."""
    return stats["nonwhite"] < 0.02 or stats["colours"] < 150


@pytest.mark.slow
def test_report_in_headless_chromium(tmp_path: Path, report_inputs, png_stats) -> None:
    exe = _chromium()
    index = build_report(list(report_inputs()), tmp_path / "rep")
    shots = Path(os.environ.get("LOWBIT_SHOTS") or tmp_path / "shots")
    shots.mkdir(parents=True, exist_ok=True)
    b = Browser(exe, tmp_path / "profile", 1200, 1000)
    try:
        b.goto(index.resolve().as_uri())
        assert b.wait_for("document.body && document.body.getAttribute('data-lb-ready')") == "1", \
            b.eval("document.getElementById('lb-status').textContent")
        assert b.eval("typeof Plotly") == "object"
        # plotly's DOM: per model the Pareto, allocation, energy and design-space plots
        assert b.eval("document.querySelectorAll('#lb-explorer .js-plotly-plot .main-svg').length") >= 4
        assert b.eval("document.querySelectorAll('#lb-m0-pareto .scatterlayer .point').length") > 10
        assert b.eval("document.querySelectorAll('#lb-m0-energy .barlayer .point').length") > 0
        # Hover a point with the mouse: the tooltip names a design the data holds.
        ids = json.loads(b.eval("document.getElementById('lb-data').textContent"))["models"][0]["designs"]
        names = {d["id"] for d in ids}
        x, y = b.eval(_POINT)
        b.mouse("mouseMoved", x - 4, y - 4)
        b.mouse("mouseMoved", x, y)
        tip = b.wait_for("(document.querySelector('#lb-m0-pareto .hoverlayer .hovertext') || {}).textContent",
                         timeout_s=10)
        named = [n for n in names if tip.startswith(n)]
        assert named and "latency" in tip and "quality loss" in tip and "formats: int" in tip, tip
        # Click it: the selection shows that design's allocation and energy.
        b.mouse("mousePressed", x, y)
        b.mouse("mouseReleased", x, y)
        deadline = time.monotonic() + 10
        while "clicked" not in (b.eval("document.getElementById('lb-m0-sel-title').textContent") or ""):
            assert time.monotonic() < deadline, "click selected nothing"
            time.sleep(0.2)
        sel = b.eval("document.getElementById('lb-m0-sel-title').textContent")
        picked = [n for n in names if n in sel]
        assert picked, sel
        if max(named, key=len) not in sel:
            # plotly hands the click to the point nearest the mouse at click time: under load the
            # plot can re-layout between hover and click, or two designs share a spot; then the
            # tooltip shown now, at the same mouse position, must name the selected design, or the
            # two designs must sit on the same spot of the plot
            tip2 = b.eval("(document.querySelector('#lb-m0-pareto .hoverlayer .hovertext') || {})"
                          ".textContent") or ""
            by = {d["id"]: d for d in ids}
            h, o = by[max(named, key=len)], by[max(picked, key=len)]
            same_spot = all(h[k] is not None and h[k] == o[k] for k in ("latency_s", "quality"))
            assert tip2.startswith(max(picked, key=len)) or same_spot, (tip, tip2, sel)
        # Design-space view: a filter narrows the designs shown.
        before = b.eval("document.querySelector('#lb-m0-space .gtitle').textContent")
        b.eval("""(function () { var s = document.querySelector('#lb-m0-filters select');
                   s.selectedIndex = s.options.length - 1;
                   s.dispatchEvent(new Event('change', {bubbles: true})); })()""")
        time.sleep(0.5)
        after = b.eval("document.querySelector('#lb-m0-space .gtitle').textContent")
        assert before.startswith("net-a: 37 of 37") and after != before and after.endswith("of 37 designs shown")
        # Tables sort by a click on a header (numbers by value).
        order = b.eval("""(function () { var t = document.querySelector('table.lb-table');
            var ths = Array.from(t.tHead.rows[0].cells);
            var i = ths.findIndex(function (h) { return h.textContent === 'latency (s)'; });
            if (i < 0) { return null; }
            ths[i].click();
            return Array.from(t.tBodies[0].rows).map(function (r) { return Number(r.cells[i].dataset.v); }); })()""")
        assert order is None or order == sorted(order)
        # Every section on screen, none blank.
        secs = b.eval(_SECTIONS)
        assert len(secs) >= 8
        for sid, sx, sy, w, h, title in secs:
            png = b.screenshot(shots / f"{sid}.png", sx, sy, w, min(h, 2400))
            st = png_stats(png)
            assert not _blank(st), (sid, title, st)
        # The same check on an empty area fails: the test tells a blank section from a drawn one.
        b.eval("document.body.insertAdjacentHTML('beforeend', '<section id=\\'lb-empty\\' "
               "style=\\'height:400px\\'><h2>empty</h2></section>')")
        ex, ey, ew, eh = b.eval("(function () { var r = document.getElementById('lb-empty')"
                                ".getBoundingClientRect(); return [r.left + scrollX, r.top + scrollY, "
                                "r.width, r.height]; })()")
        assert _blank(png_stats(b.screenshot(shots / "empty.png", ex, ey, ew, eh)))
        assert b.errors == [], b.errors
    finally:
        b.close()
