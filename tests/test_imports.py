"""Imports run one way: no cycle among the package's modules, counting every import (inside functions and under
``TYPE_CHECKING`` too), and the edge imports nothing of the app."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "imagevariants"


def _name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, root: Path, modules: set[str]) -> set[str]:
    """The package's modules that ``path`` imports anywhere in its text."""
    name = _name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            targets = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        else:
            continue
        found.update(target for target in targets if target in modules and target != name)
    return found


def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    paths = [path for path in root.rglob("*.py") if "migrations" not in path.parts]
    modules = {_name(path, root) for path in paths}
    return {_name(path, root): _imports(path, root, modules) for path in paths}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while not group or group[-1] != node:
                group.append(stack.pop())
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_detector_finds_a_cycle_through_a_type_only_import(tmp_path):
    root = tmp_path / "pkg"
    (root / "edge").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "edge" / "__init__.py").write_text("")
    (root / "edge" / "presets.py").write_text("from .pipeline import VERSION\n")
    (root / "edge" / "pipeline.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .presets import Spec\n"
    )
    (root / "edge" / "keys.py").write_text("def f():\n    from pkg.edge import presets\n")
    assert cycles(import_graph(root)) == [["pkg.edge.pipeline", "pkg.edge.presets"]]


def test_no_import_cycle_in_the_package():
    assert cycles(import_graph()) == []


def test_the_edge_imports_nothing_of_the_app():
    graph = import_graph()
    outside = {
        module: sorted(target for target in targets if not target.startswith("imagevariants.edge"))
        for module, targets in graph.items()
        if module.startswith("imagevariants.edge")
    }
    assert {module: targets for module, targets in outside.items() if targets} == {}
