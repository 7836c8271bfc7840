"""The file-level import graph: no cycle, and dependencies point one way (DESIGN.md):
reports -> search -> hwsim.evaluate -> mapper -> hwsim primitives -> models, kernels_ref."""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = ("hwsim", "mapper", "search", "models", "kernels_ref", "reports", "lowbit")


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts if parts[0] == "lowbit" else ["lowbit", *parts])


def _imports(path: Path, name: str, modules: set[str]) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    nodes = list(ast.walk(tree))  # lazy imports inside functions count too
    out: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{a.name}" for a in node.names] + [base]
        else:
            continue
        for t in targets:
            while t and t not in modules:
                t = t.rpartition(".")[0]
            if t and t != name:
                out.add(t)
    return out


def _graph() -> nx.DiGraph:
    files = {_module_name(p): p for f in FOLDERS for p in (ROOT / f).rglob("*.py")}
    g = nx.DiGraph()
    g.add_nodes_from(files)
    for name, path in files.items():
        for dep in _imports(path, name, set(files)):
            if not (path.name == "__init__.py" and dep.startswith(name + ".")) and \
               not (files[dep].name == "__init__.py" and name.startswith(dep + ".")):
                g.add_edge(name, dep)
    return g


def test_no_import_cycle_between_files() -> None:
    g = _graph()
    assert g.number_of_edges() > 100  # the graph is really built
    cycles = list(nx.simple_cycles(g))
    assert cycles == [], cycles[:5]


def _layer(mod: str) -> str:
    parts = mod.split(".")
    if parts[1] == "hwsim" and len(parts) > 2 and parts[2] == "evaluate":
        return "hwsim.evaluate"
    return parts[1] if len(parts) > 1 and parts[1] in FOLDERS else "lowbit"


# which packages each may import
ALLOWED = {
    "kernels_ref": {"kernels_ref"},
    "models": {"models", "kernels_ref"},
    "hwsim": {"hwsim", "models", "kernels_ref"},
    "mapper": {"mapper", "hwsim", "models", "kernels_ref"},
    "hwsim.evaluate": {"hwsim.evaluate", "hwsim", "mapper", "models", "kernels_ref"},
    "search": {"search", "hwsim.evaluate", "hwsim", "mapper", "models", "kernels_ref"},
    "reports": {"reports", "search", "hwsim.evaluate", "hwsim", "mapper", "models", "kernels_ref"},
}


def test_dependencies_point_one_way() -> None:
    g = _graph()
    bad = []
    for a, b in g.edges:
        la, lb = _layer(a), _layer(b)
        if la == "lowbit" or a == "lowbit.hwsim":  # the CLI, and hwsim's re-exporting __init__
            continue
        if lb == "lowbit" and b != "lowbit" or lb != "lowbit" and lb not in ALLOWED[la]:
            bad.append((a, b))
    assert bad == [], bad


def test_layering_check_catches_an_upward_import() -> None:
    assert "search" not in ALLOWED["mapper"] and "mapper" not in ALLOWED["hwsim"]
    assert _layer("lowbit.hwsim.evaluate") == "hwsim.evaluate" and _layer("lowbit.hwsim.spec") == "hwsim"
