"""The house's layers, read from the imports: one-way, one seam to the local AWS, no circles.

Layers, lowest first (docs/architecture.md):
* the foundation: workshop.config, workshop.errors and workshop.records (the record formats and
  AWS's reading rules both targets share);
* workshop/local/, in three wings: aws (the local AWS process and its patches of moto), hops (the
  Pipe and Firehose carried out), athena (the local query engine);
* the core: everything else in workshop/, which reaches the local AWS through workshop.local_aws.
"""

from __future__ import annotations

import ast
import json
from functools import cache
from pathlib import Path

import pytest

from workshop import config

ROOT = config.PROJECT_ROOT
PACKAGE = ROOT / "workshop"
FOUNDATION = ("workshop.config", "workshop.errors", "workshop.records")
SEAM = "workshop.local_aws"
WINGS = ("aws", "hops", "athena")  # in the data's order; a wing imports only the ones before it


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    return {module_name(path): path for path in PACKAGE.rglob("*.py")}


def _is_type_checking(node: ast.If) -> bool:
    return isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def imported(source: str, package: str = "") -> set[str]:
    """Every workshop module a source imports, at any depth but `if TYPE_CHECKING:` blocks."""
    found: set[str] = set()
    tree = ast.parse(source)
    skip = {id(child) for node in ast.walk(tree)
            if isinstance(node, ast.If) and _is_type_checking(node)
            for child in ast.walk(node)}
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            base = node.module
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    known = modules()
    return {name for name in found if name in known and name not in (package, "workshop")}


@cache
def graph() -> dict[str, frozenset[str]]:
    return {name: frozenset(imported(path.read_text(), name)) for name, path in modules().items()}


def layer(name: str) -> str:
    if name == "workshop" or name.startswith(FOUNDATION):
        return "foundation"
    if name == "workshop.local" or name.startswith("workshop.local."):
        return "local"
    return "core"


def wing(name: str) -> str | None:
    parts = name.split(".")
    return parts[2] if len(parts) > 3 and parts[1] == "local" else None


def test_the_import_graph_has_no_circles():
    seen: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(name: str) -> None:
        seen[name] = 1
        path.append(name)
        for target in sorted(graph()[name]):
            if seen.get(target) == 1:
                circle = [*path[path.index(target):], target]
                pytest.fail("import circle: " + " -> ".join(circle))
            if target not in seen:
                visit(target)
        path.pop()
        seen[name] = 2

    for name in sorted(graph()):
        if name not in seen:
            visit(name)


def test_the_foundation_imports_only_the_foundation():
    for name, targets in graph().items():
        if layer(name) == "foundation":
            assert all(layer(t) == "foundation" for t in targets), (name, sorted(targets))


def test_the_local_aws_imports_nothing_of_the_core_but_the_foundation():
    for name, targets in graph().items():
        if layer(name) == "local":
            core = sorted(t for t in targets if layer(t) == "core")
            assert not core, f"{name} imports {core}: reach the core's data through records"


def test_each_wing_imports_only_the_wings_before_it():
    for name, targets in graph().items():
        mine = wing(name)
        if mine is None:
            continue
        later = WINGS[WINGS.index(mine) + 1:]
        assert not [t for t in targets if wing(t) in later], (name, sorted(targets))
        if mine == "athena":  # the engine reads S3 and Glue; it has nothing to do with the hops
            assert not [t for t in targets if wing(t) == "hops"], (name, sorted(targets))


def test_only_the_seam_imports_the_local_aws():
    reaching = sorted(name for name, targets in graph().items()
                      if layer(name) == "core" and any(layer(t) == "local" for t in targets))
    assert reaching == [SEAM]


def test_no_notebook_imports_the_local_aws():
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(notebook.read_text())["cells"]
        for cell in cells:
            if cell["cell_type"] == "code":
                source = "".join(cell["source"])
                lines = [line for line in source.splitlines() if not line.startswith(("%", "!"))]
                assert not any(t.startswith("workshop.local.") or t == "workshop.local"
                               for t in imported("\n".join(lines))), (notebook.name, source)


def test_the_transformer_is_deployed_alone_and_imports_nothing_of_the_workshop():
    source = (config.LAMBDA_DIR / "transformer.py").read_text()
    assert not imported(source)
    assert "import workshop" not in source and "from workshop" not in source


def test_the_graph_reader_sees_deferred_imports_and_skips_type_checking_ones():
    source = ("from typing import TYPE_CHECKING\n"
              "if TYPE_CHECKING:\n    from workshop import stack\n"
              "def f():\n    from workshop.local.aws import process\n")
    assert imported(source) == {"workshop.local.aws", "workshop.local.aws.process"}


def test_every_exception_the_workshop_defines_derives_from_workshop_error():
    import importlib
    import inspect

    from workshop.errors import WorkshopError

    outside = []
    for name in sorted(modules()):
        module = importlib.import_module(name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if (cls.__module__ == name and issubclass(cls, BaseException)
                    and not issubclass(cls, WorkshopError)):
                outside.append(f"{name}.{cls.__name__}")
    assert not outside, f"derive these from workshop.errors.WorkshopError: {outside}"
