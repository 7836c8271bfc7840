"""`lowbit report`: one self-contained HTML report from lowbit results.

    lowbit report RESULTS... -o DIR [--title TEXT]

Each RESULTS is a sweep store (`lowbit sweep --db FILE`, SQLite), a `lowbit pareto -o DIR`
directory (or its pareto.json; several are overlaid), or an alloc.json from
`lowbit allocate -o FILE`. DIR receives index.html (figures embedded), the figures as
PNG and every table as CSV and JSON; the path of index.html is printed.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["register"]


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("report", help="HTML report (figures, CSV/JSON) from sweep/pareto/allocate results",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("results", nargs="+", metavar="RESULTS",
                   help="sweep store (.sqlite), pareto output DIR or pareto.json, or alloc.json")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="directory for index.html and its files")
    p.add_argument("--title", default="", help="page title (default: names the inputs)")
    p.set_defaults(func=_cmd_report)


def _cmd_report(args: argparse.Namespace) -> int:
    from lowbit.reports.report import build_report

    index = build_report(args.results, args.output, title=args.title)
    sys.stdout.write(f"{index}\n")
    return 0
