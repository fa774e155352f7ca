"""The conventions of a public workshop repository: the README's two commands are what CI, the
GitHub workflow and a Codespace run, and nothing drifts apart."""

from __future__ import annotations

import json
import re
import tomllib

import yaml

from workshop.config import PROJECT_ROOT


def readme_commands() -> list[str]:
    """The commands of the README's first code block (the first screen), comments dropped."""
    block = re.search(r"```bash\n(.*?)```", (PROJECT_ROOT / "README.md").read_text(), re.DOTALL)
    assert block, "the README has no bash block"
    return [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.strip()]


def python_floor() -> tuple[int, int]:
    requires = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"][
        "requires-python"]
    major, minor = re.fullmatch(r">=(\d+)\.(\d+)", requires).groups()
    return int(major), int(minor)


def test_the_readme_gives_exactly_two_commands_demo_then_test():
    assert readme_commands() == ["make demo", "make test"]


def test_ci_runs_the_readme_test_command_and_nothing_clever_besides():
    script = (PROJECT_ROOT / ".ci" / "run").read_text()
    commands = [line for line in script.splitlines()
                if line.strip() and not line.startswith(("#", "set ", "cd "))]
    assert commands == [readme_commands()[1]]


def test_the_github_workflow_runs_the_readme_test_command_on_a_supported_python():
    workflow = yaml.safe_load((PROJECT_ROOT / ".github" / "workflows" / "ci.yml").read_text())
    [job] = workflow["jobs"].values()
    runs = [step["run"] for step in job["steps"] if "run" in step]
    assert runs == [readme_commands()[1]]
    [python] = [step["with"]["python-version"] for step in job["steps"]
                if step.get("uses", "").startswith("actions/setup-python")]
    assert tuple(int(n) for n in python.split(".")) >= python_floor()
    assert job["timeout-minutes"] <= 90


def test_a_codespace_sets_up_the_venv_and_forwards_jupyterlab():
    container = json.loads((PROJECT_ROOT / ".devcontainer" / "devcontainer.json").read_text())
    version = re.search(r"python:(\d+)\.(\d+)", container["image"]).groups()
    assert tuple(int(n) for n in version) >= python_floor()
    assert container["postCreateCommand"] == "make venv"
    lab_port = re.search(r"^LAB_PORT \?= (\d+)", (PROJECT_ROOT / "Makefile").read_text(),
                         re.MULTILINE).group(1)
    assert int(lab_port) in container["forwardPorts"]
    assert "--ServerApp.port=$(LAB_PORT)" in (PROJECT_ROOT / "Makefile").read_text()
