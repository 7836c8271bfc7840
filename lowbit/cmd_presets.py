"""`lowbit presets`: the shipped accelerator presets.

    lowbit presets list [--json]     name, family, array, peak MACs/cycle, clock, node, source
    lowbit presets show NAME|FILE    the resolved spec as YAML (every default filled in)
"""

from __future__ import annotations

import argparse
import json
import sys

__all__ = ["register"]


def _source(name: str) -> str:
    """The preset's first comment line: where its numbers come from."""
    from lowbit.hwsim.spec import PRESET_DIR

    for line in (PRESET_DIR / f"{name}.yaml").read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            return line.lstrip("# ").strip()
    return ""


def _rows() -> list[dict[str, object]]:
    from lowbit.hwsim.spec import list_presets, load_accelerator
    from lowbit.kernels_ref.formats import Format

    int8 = Format.parse("int8")
    out = []
    for name in list_presets():
        acc = load_accelerator(name)
        model = acc.model()
        dims = model.mapping_hints().array_dims
        try:
            peak = model.peak_macs_per_cycle(int8, int8) * acc.num_cores
        except Exception:  # noqa: BLE001 - a core without int8 (binary-only) has no int8 peak
            peak = None
        out.append({"name": name, "family": acc.core_family.value,
                    "array": "x".join(map(str, dims)) or "-", "cores": acc.num_cores,
                    "peak_int8_macs_per_cycle": peak, "freq_hz": acc.freq_hz,
                    "node_nm": acc.node_nm, "area_mm2": acc.area_mm2(), "source": _source(name)})
    return out


def _list(args: argparse.Namespace) -> int:
    from lowbit.tables import eng, table

    rows = _rows()
    if args.json:
        sys.stdout.write(json.dumps(rows, indent=1) + "\n")
        return 0
    cells = [(str(r["name"]), str(r["family"]), str(r["array"]), str(r["cores"]),
              "-" if r["peak_int8_macs_per_cycle"] is None else f"{r['peak_int8_macs_per_cycle']:,.0f}",
              eng(float(r["freq_hz"]), "Hz"), f"{r['node_nm']:g} nm", f"{r['area_mm2']:.3g}",
              str(r["source"])[:70]) for r in rows]
    sys.stdout.write(table(cells, ("preset", "family", "array extents", "cores", "int8 MACs/cycle",
                                   "clock", "node", "area mm2", "source (first line of the YAML)"),
                           right={3, 4, 7}) + "\n")
    return 0


def _show(args: argparse.Namespace) -> int:
    from lowbit.hwsim.spec import load_accelerator

    sys.stdout.write(load_accelerator(args.name).to_yaml())
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("presets", help="accelerator presets: list, show")
    sub = p.add_subparsers(dest="presets_command", metavar="SUBCOMMAND")
    pl = sub.add_parser("list", help="every preset with its family, array, clock and source")
    pl.add_argument("--json", action="store_true", help="print a JSON list")
    pl.set_defaults(func=_list)
    ps = sub.add_parser("show", help="the resolved spec of a preset or YAML file")
    ps.add_argument("name", help="preset name or path to a spec YAML")
    ps.set_defaults(func=_show)

    def _help(_args: argparse.Namespace) -> int:
        p.print_help()
        return 2

    p.set_defaults(func=_help)
