"""environment.yml and pyproject.toml must list the same packages with the same bounds."""

import re
import tomllib

import yaml

from workshop.config import PROJECT_ROOT


def normalise(requirement: str) -> tuple[str, str]:
    """('moto', '>=5.2.5,<5.3') from 'moto[all,server]>=5.2.5,<5.3' (extras and spaces dropped)."""
    text = re.sub(r"\s+", "", requirement.split("#")[0])
    match = re.match(r"([A-Za-z0-9_.-]+)(\[[^\]]*\])?(.*)", text)
    assert match, requirement
    return match.group(1).lower().replace("_", "-"), match.group(3)


def pyproject_requirements() -> dict[str, str]:
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    listed = project["dependencies"] + project["optional-dependencies"]["dev"]
    return dict(normalise(r) for r in listed)


def conda_requirements() -> dict[str, str]:
    env = yaml.safe_load((PROJECT_ROOT / "environment.yml").read_text())
    found: dict[str, str] = {}
    for item in env["dependencies"]:
        entries = item["pip"] if isinstance(item, dict) else [item]
        for entry in entries:
            name, bound = normalise(entry)
            if name not in ("python", "pip"):
                found[name] = bound
    return found


def test_environment_yml_lists_exactly_the_pyproject_packages():
    assert conda_requirements() == pyproject_requirements()


def test_environment_yml_asks_for_the_python_pyproject_requires():
    env = yaml.safe_load((PROJECT_ROOT / "environment.yml").read_text())
    requires = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"][
        "requires-python"]
    assert f"python{requires}" in env["dependencies"]
