"""`lowbit report`: one self-contained HTML report from lowbit results.

    lowbit report RESULTS... -o DIR [--title TEXT] [--format png,svg,pdf] [--open | --serve]

Each RESULTS is a sweep store (`lowbit sweep --db FILE`, SQLite), a `lowbit pareto -o DIR`
directory (or its pareto.json; grouped per model and overlaid), or an alloc.json from
`lowbit allocate -o FILE`. DIR receives index.html (the interactive explorer, with plotly.js
embedded so it works offline, then the static figures and sortable tables), the figures as
PNG (and SVG/PDF with --format) and every table as CSV and JSON; the path of index.html is
printed. --open prints its file:// URL (and opens it when a desktop session is there);
--serve serves DIR on 127.0.0.1 until Ctrl-C.

An allocation of more than --max-layers layers (default 500) is reported in aggregate: its
figures show at most 100 runs of consecutive layers, the page's table one row per format, and
every layer is in the CSV/JSON beside index.html; a warning on stderr says so. A 10,000-layer
alloc.json then renders in seconds.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from lowbit.argtypes import bounded_int

__all__ = ["register"]


PER_LAYER_LIMIT = 500  # = lowbit.reports.report.PER_LAYER_LIMIT (matplotlib loads only to run)
LAYERS_MAX = 10**6


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("report", help="HTML report (figures, CSV/JSON) from sweep/pareto/allocate results",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("results", nargs="+", metavar="RESULTS",
                   help="sweep store (.sqlite), pareto output DIR or pareto.json, or alloc.json")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="directory for index.html and its files")
    p.add_argument("--title", default="", help="page title (default: names the inputs)")
    p.add_argument("--format", default="png", metavar="LIST",
                   help="static figure formats, comma-separated from png,svg,pdf (default png; "
                        "the page embeds the PNG)")
    p.add_argument("--max-layers", type=bounded_int(1, LAYERS_MAX, "--max-layers"),
                   default=PER_LAYER_LIMIT, metavar="N",
                   help=f"per-layer figures and table up to N layers (default {PER_LAYER_LIMIT}); "
                        "a longer allocation is drawn in runs of layers, every layer in its CSV")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--open", action="store_true",
                   help="print the report's file:// URL and open it in a browser when a desktop session is there")
    g.add_argument("--serve", action="store_true", help="serve DIR on http://127.0.0.1:PORT/ until Ctrl-C")
    p.add_argument("--port", type=int, default=8000, help="port for --serve (default 8000; 0 = any free port)")
    p.set_defaults(func=_cmd_report)


def _has_desktop() -> bool:
    return sys.platform in ("darwin", "win32") or bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _cmd_report(args: argparse.Namespace) -> int:
    from lowbit.reports.report import build_report

    formats = ["png", *(f for f in args.format.split(",") if f.strip())]
    index = build_report(args.results, args.output, title=args.title, formats=formats,
                         max_layers=args.max_layers)
    sys.stdout.write(f"{index}\n")
    if args.open:
        url = index.resolve().as_uri()
        sys.stdout.write(f"{url}\n")
        sys.stdout.flush()
        if _has_desktop():
            import webbrowser

            webbrowser.open(url)
    if args.serve:
        from lowbit.reports.serve import report_server

        server = report_server(index.parent, args.port)
        sys.stdout.write(f"serving http://127.0.0.1:{server.server_address[1]}/index.html (Ctrl-C stops)\n")
        sys.stdout.flush()
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
    return 0
