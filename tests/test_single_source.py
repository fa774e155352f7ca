"""One source for each fact: settings are read in config.py, the template's names in the template.

A setting read in a second place drifts from the first (a child process that misses it, a
default that differs); a prefix or a resource name typed again in Python breaks the day the
template changes it, on one target only.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from workshop import config, template

PACKAGE = config.PROJECT_ROOT / "workshop"
# Modules that touch the environment without reading a setting, and why.
ENVIRONMENT_USERS = {
    "workshop/config.py": "reads every setting",
    "workshop/local/aws/process.py": "hands its environment on to the local AWS's processes",
    "workshop/local/aws/s3bulk.py": "moto's own MOTO_ACCOUNT_ID, read as moto reads it",
}


def python_files() -> Iterator[Path]:
    yield from sorted(PACKAGE.rglob("*.py"))


def relative(path: Path) -> str:
    return path.relative_to(config.PROJECT_ROOT).as_posix()


def reads_environment(tree: ast.AST) -> list[int]:
    """Lines that read os.environ or call os.getenv."""
    return [node.lineno for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
            and node.value.id == "os" and node.attr in ("environ", "getenv")]


def string_constants(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """Every string constant but docstrings (prose may name what the template names)."""
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef,
                                       ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr)
                  and isinstance(node.body[0].value, ast.Constant)}
    for node in ast.walk(tree):
        if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                and id(node) not in docstrings):
            yield node.lineno, node.value


def _walk(value: Any) -> Iterator[Any]:
    yield value
    if isinstance(value, dict):
        for item in value.values():
            yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)


def template_facts() -> set[str]:
    """What the template names that Python could be tempted to type again: the S3 folders its
    delivery streams write, its Glue tables' names, and the name suffixes after ${Prefix}."""
    facts: set[str] = set()
    resources = template.load()["Resources"]
    for body in resources.values():
        properties = body.get("Properties") or {}
        destination = properties.get("ExtendedS3DestinationConfiguration") or {}
        for key in ("Prefix", "ErrorOutputPrefix"):
            if key in destination:
                facts.add(destination[key].split("!{")[0].split("/")[0] + "/")
        table = properties.get("TableInput") or {}
        if isinstance(table.get("Name"), str):
            facts.add(table["Name"])
        for value in _walk(properties):
            if isinstance(value, dict) and isinstance(value.get("Fn::Sub"), str):
                text = value["Fn::Sub"]
                if text.startswith("${Prefix}") and "${" not in text[len("${Prefix}"):]:
                    facts.add(text[len("${Prefix}"):])
    return {fact for fact in facts if fact.endswith("/") or len(fact) >= 8}  # "-orders" is prose


def typed_again(fact: str, text: str) -> bool:
    """A folder typed again starts a key (`"orders/"`, `"orders/datehour="`); a name is typed
    again wherever it appears. Prose such as "orders/s" or "objects under orders/" is neither."""
    return text.startswith(fact) if fact.endswith("/") else fact in text


def test_only_config_reads_the_settings_from_the_environment():
    found = {}
    for path in python_files():
        lines = reads_environment(ast.parse(path.read_text()))
        if lines and relative(path) not in ENVIRONMENT_USERS:
            found[relative(path)] = lines
    assert not found, f"read the setting in workshop/config.py instead: {found}"


def test_nothing_the_template_names_is_typed_again_in_python():
    facts = template_facts()
    assert {"orders/", "errors/", "parquet/", "-orders-to-s3", "orders_parquet"} <= facts
    found = []
    for path in python_files():
        if path.name == "template.py":
            continue
        for line, text in string_constants(ast.parse(path.read_text())):
            found += [f"{relative(path)}:{line} {fact!r}" for fact in facts
                      if typed_again(fact, text)]
    assert not found, "read these from the template (workshop.template, workshop.delivered, " \
                      f"the stack's Outputs): {found}"


def test_the_checks_see_what_they_look_for():
    source = '"""Docstring naming orders/."""\nimport os\nx = os.environ.get("A")\ny = "orders/"\n'
    tree = ast.parse(source)
    assert reads_environment(tree) == [3]
    assert sorted(string_constants(tree)) == [(3, "A"), (4, "orders/")]
    assert typed_again("orders/", "orders/datehour=") and not typed_again("orders/", "10 orders/s")
    assert typed_again("-orders-to-s3", "{prefix}-orders-to-s3")
