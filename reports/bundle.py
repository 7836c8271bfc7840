"""A self-contained HTML report: figures embedded as base64 PNG (SVG/PDF copies linked when
written), tables inline (sortable and filterable, units in the headers, values in engineering
notation), an optional interactive section (`Section.html`), CSV/JSON written beside it."""

from __future__ import annotations

import base64
import csv
import html
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from lowbit.reports.units import cell, column

__all__ = ["Section", "read_json", "safe_name", "static_text", "write_report"]


def safe_name(text: str) -> str:
    """`text` as a file-name stem: letters, digits and -_. kept, anything else '_'."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)


def static_text(name: str) -> str:
    """A file shipped in lowbit.reports/static (the page's scripts and style)."""
    return resources.files("lowbit.reports").joinpath("static", name).read_text(encoding="utf-8")


def read_json(path: str | Path) -> Any:
    """A result file's JSON; one-line InvalidSpecError naming the file when it is not JSON."""
    from lowbit.kernels_ref.loaders import load_json, read_text

    p = Path(path)
    return load_json(read_text(p, "report input"), f"report: {p}")


@dataclass
class Section:
    title: str
    text: str = ""
    figures: list[Path] = field(default_factory=list)
    table: Sequence[Mapping[str, Any]] = ()
    captions: list[str] = field(default_factory=list)  # one per figure; the file stem if missing
    html: str = ""  # a trusted fragment made by lowbit (the interactive explorer), placed first


def _td(key: str, v: Any) -> str:
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        raw = f"{v!r}" if isinstance(v, int) or math.isfinite(v) else ""
        return f'<td class="n" data-v="{raw}">{html.escape(cell(key, v))}</td>'
    return f"<td>{html.escape(cell(key, v))}</td>"


def _table_html(rows: Sequence[Mapping[str, Any]]) -> str:
    """Column names carry their SI unit (`units.column`): 'latency_s' -> 'latency (s)' with
    cells like '1.43 ms'; the raw value sorts (data-v)."""
    if not rows:
        return ""
    cols = _columns(rows)
    head = "".join(f'<th data-key="{html.escape(str(c))}">{html.escape(column(str(c)).label)}</th>'
                   for c in cols)
    body = "".join("<tr>" + "".join(_td(str(c), r.get(c)) for c in cols) + "</tr>" for r in rows)
    return f'<div class="lb-tablebox"><table class="lb-table"><thead><tr>{head}</tr></thead>' \
           f"<tbody>{body}</tbody></table></div>"


def _columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Union of the rows' keys in order of first appearance (rows may differ in columns)."""
    cols: dict[str, None] = {}
    for r in rows:
        cols.update(dict.fromkeys(r))
    return list(cols)


def write_report(out_dir: str | Path, title: str, sections: Sequence[Section],
                 data: Mapping[str, Sequence[Mapping[str, Any]]] | None = None) -> Path:
    """Write `index.html` (figures embedded) and one CSV + one JSON per data table."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    parts = [f"<h1>{html.escape(title)}</h1>"]
    if len(sections) > 3:
        parts.append("<nav><ul>" + "".join(f'<li><a href="#s{i}">{html.escape(s.title)}</a></li>'
                                           for i, s in enumerate(sections)) + "</ul></nav>")
    for i, s in enumerate(sections):
        parts.append(f'<section class="lb-section" id="s{i}"><h2>{html.escape(s.title)}</h2>')
        if s.text:
            parts.append(f"<p>{html.escape(s.text)}</p>")
        parts.append(s.html)
        for j, fig in enumerate(s.figures):
            b64 = base64.b64encode(Path(fig).read_bytes()).decode("ascii")
            cap = s.captions[j] if j < len(s.captions) and s.captions[j] else Path(fig).stem
            also = [f'<a href="{html.escape(Path(fig).with_suffix(ext).name)}">{ext[1:].upper()}</a>'
                    for ext in (".svg", ".pdf") if Path(fig).with_suffix(ext).exists()]
            parts.append(f'<figure><img alt="{html.escape(Path(fig).stem)}" '
                         f'src="data:image/png;base64,{b64}">'
                         f"<figcaption>{html.escape(cap)}"
                         + (f" (also as {' · '.join(also)})" if also else "")
                         + "</figcaption></figure>")
        parts.append(_table_html(s.table))
        parts.append("</section>")
    for name, rows in (data or {}).items():
        rows = list(rows)
        (out / f"{name}.json").write_text(json.dumps(rows, indent=1, default=str))
        if rows:
            with open(out / f"{name}.csv", "w", newline="") as fh:
                w = csv.DictWriter(fh, fieldnames=_columns(rows), restval="")
                w.writeheader()
                w.writerows(rows)
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{static_text('report.css')}</style></head><body>{''.join(parts)}"
            f"<script>{static_text('tables.js')}</script></body></html>")
    path = out / "index.html"
    path.write_text(page)
    return path
