"""docs/architecture.md names real things, so that it cannot rot unnoticed: every path it cites exists, every
``module.name`` it cites imports and resolves, and its module tables list every module of the package, in an order
where each imports only the modules above it, with exactly the package modules it imports."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

from tests.test_imports import import_graph

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "imagevariants"
PAGE = ROOT / "docs" / "architecture.md"
#: A script, not a module: importing it would run it.
SCRIPTS = {"imagevariants.deploy.verify_bundle"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules(with_empty: bool = False) -> dict[str, Path]:
    """The package's modules (migrations apart), by dotted name; empty package markers only if asked."""
    return {
        _module_name(path): path
        for path in sorted(PACKAGE.rglob("*.py"))
        if "migrations" not in path.parts and (with_empty or path.read_text().strip())
    }


def _cited() -> list[str]:
    """Every inline code span of the page, fenced blocks left out."""
    prose = re.sub(r"^```.*?^```", "", PAGE.read_text(), flags=re.DOTALL | re.MULTILINE)
    return re.findall(r"`([^`\n]+)`", prose)


def _rows() -> list[tuple[str, list[str]]]:
    """The module tables' rows, in order: each module's dotted name and the dotted names its imports cell lists."""
    rows = []
    for line in PAGE.read_text().splitlines():
        match = re.match(r"\| `(imagevariants/[\w/]+\.py)` \|.*\| ([^|]*) \|$", line)
        if match:
            imports = [f"imagevariants.{name}" for name in re.findall(r"`([\w.]+)`", match.group(2))]
            rows.append((_module_name(ROOT / match.group(1)), imports))
    return rows


def _resolve(reference: str) -> object | None:
    """What ``reference`` (``presets.Document.resolve``, ``deploy.aws.publish_function``: relative to the package
    or to its edge) names; None when its first part is no module of the package (a setting, a model's field)."""
    modules = _modules(with_empty=True)
    found = []
    for package in ("imagevariants", "imagevariants.edge"):
        parts = f"{package}.{reference.removeprefix('imagevariants.')}".split(".")
        if ".".join(parts[: package.count(".") + 2]) not in modules:
            continue
        cut = max(n for n in range(1, len(parts) + 1) if ".".join(parts[:n]) in modules)
        found.append((".".join(parts[:cut]), parts[cut:]))
    if not found:
        return None
    assert len(found) == 1, f"`{reference}` could name a module of the app or of the edge: qualify it"
    (module_name, attributes), *_ = found
    assert module_name not in SCRIPTS, f"`{reference}`: {module_name} is a script; cite it by its path"
    target: object = importlib.import_module(module_name)
    for attribute in attributes:
        assert hasattr(target, attribute), f"`{reference}`: {module_name} has no {'.'.join(attributes)}"
        target = getattr(target, attribute)
    return target


def test_every_path_the_page_cites_exists():
    paths = [span for span in _cited() if re.fullmatch(r"[\w./-]+(\.py|/)", span)]
    assert len(paths) > 40
    assert [path for path in paths if not (ROOT / path).exists() and not (PACKAGE / path).exists()] == []


def test_every_name_the_page_cites_exists():
    references = {
        re.sub(r"\(.*\)$", "", span)
        for span in _cited()
        if re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+(\(.*\))?", span)
    }
    resolved = [reference for reference in sorted(references) if _resolve(reference) is not None]
    for name in ("handler.lambda_handler", "handler.respond", "handler.make_variant", "pipeline.render"):
        assert name in resolved
    assert "local_edge.serve" in resolved
    assert len(resolved) > 60


def test_the_resolver_refuses_what_does_not_exist():
    assert _resolve("handler.respond") is importlib.import_module("imagevariants.edge.handler").respond
    assert _resolve("deploy.aws.publish_function") is not None
    assert _resolve("VariantPreset.format") is None  # not a module of the package: not a code reference
    for missing in ("handler.no_such_function", "presets.Document.no_such_method"):
        try:
            _resolve(missing)
        except AssertionError:
            continue
        raise AssertionError(f"{missing} resolved")


def test_the_module_tables_list_every_module_of_the_package():
    listed = [name for name, _ in _rows()]
    assert sorted(set(_modules()) - set(listed)) == []  # add a row for each new module
    assert sorted(set(listed) - set(_modules())) == []
    assert len(listed) == len(set(listed))


def test_each_module_imports_exactly_what_its_row_says_and_only_rows_above_it():
    graph = import_graph()
    rows = _rows()
    wrong = {}
    for position, (name, listed) in enumerate(rows):
        actual = sorted(graph[name] - {"imagevariants"})
        above = {other for other, _ in rows[:position]}
        if sorted(listed) != actual or not set(listed) <= above:
            wrong[name] = {"imports": actual, "listed": sorted(listed), "below": sorted(set(listed) - above)}
    assert wrong == {}
