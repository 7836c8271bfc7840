"""A self-contained HTML report: figures embedded as base64 PNG, tables inline,
CSV/JSON written beside it."""

from __future__ import annotations

import base64
import csv
import html
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Section", "read_json", "safe_name", "write_report"]


def safe_name(text: str) -> str:
    """`text` as a file-name stem: letters, digits and -_. kept, anything else '_'."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)


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


def _table_html(rows: Sequence[Mapping[str, Any]]) -> str:
    if not rows:
        return ""
    cols = _columns(rows)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_fmt(r.get(c)))}</td>" for c in cols) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Union of the rows' keys in order of first appearance (rows may differ in columns)."""
    cols: dict[str, None] = {}
    for r in rows:
        cols.update(dict.fromkeys(r))
    return list(cols)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "" if v is None else str(v)


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
        parts.append(f'<h2 id="s{i}">{html.escape(s.title)}</h2>')
        if s.text:
            parts.append(f"<p>{html.escape(s.text)}</p>")
        for i, fig in enumerate(s.figures):
            b64 = base64.b64encode(Path(fig).read_bytes()).decode("ascii")
            cap = s.captions[i] if i < len(s.captions) and s.captions[i] else Path(fig).stem
            parts.append(f'<figure><img alt="{html.escape(Path(fig).stem)}" '
                         f'src="data:image/png;base64,{b64}">'
                         f"<figcaption>{html.escape(cap)}</figcaption></figure>")
        parts.append(_table_html(s.table))
    for name, rows in (data or {}).items():
        rows = list(rows)
        (out / f"{name}.json").write_text(json.dumps(rows, indent=1, default=str))
        if rows:
            with open(out / f"{name}.csv", "w", newline="") as fh:
                w = csv.DictWriter(fh, fieldnames=_columns(rows), restval="")
                w.writeheader()
                w.writerows(rows)
    style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
             "img{max-width:100%;border:1px solid #ddd}table{border-collapse:collapse;font-size:12px}"
             "td,th{border:1px solid #ccc;padding:2px 6px}th{background:#f3f3f3}figure{margin:1em 0}"
             "figcaption{font-size:13px;color:#444;max-width:900px}nav{font-size:13px}")
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body>{''.join(parts)}</body></html>")
    path = out / "index.html"
    path.write_text(page)
    return path
