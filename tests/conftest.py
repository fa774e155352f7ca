# Shared fixtures; sections per concern.
"""Fixtures shared by the test modules."""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers import moto_server
from workshop import config

# --- local AWS ---------------------------------------------------------------------------------
# `local_aws` (the session's local AWS) lives in the project's root conftest.py, shared with the
# notebooks; these helpers build on it.


def unique_prefix() -> str:
    """A participant prefix of its own, so tests sharing the local AWS never see each other."""
    return "t" + uuid.uuid4().hex[:10]


@pytest.fixture
def fresh_stack(local_aws: config.Settings) -> Iterator[tuple[config.Settings, dict[str, str]]]:
    """The real template deployed under a new prefix; torn down afterwards."""
    from workshop import stack

    s = dataclasses.replace(local_aws, prefix=unique_prefix())
    found = stack.deploy(s=s)
    yield s, found
    stack.teardown(s)


def wait_for(condition: Callable[[], object], timeout: float = 30.0,
             what: str = "condition") -> object:
    """Poll until condition() is truthy; fail with what was awaited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


@pytest.fixture
def project_root() -> Path:
    return config.PROJECT_ROOT


# --- generator and query -------------------------------------------------------------------------
# A bare moto server (no stack, no runtime) for the generator and query tests: they create the
# DynamoDB table, Glue tables and S3 objects they need, each under names of their own.


@pytest.fixture(scope="session")
def moto_port() -> Iterator[int]:
    """A moto server on a free port of 127.0.0.1 for the whole session."""
    with moto_server() as port:
        yield port


@pytest.fixture(scope="module")
def moto_local(moto_port: int, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[config.Settings]:
    """The local target pointed at the bare moto server, with a state folder of the module's own.

    Module-scoped because making boto3 clients costs ~0.2 s each; tests stay apart by using
    resource names of their own.
    """
    config.reset()
    s = config.configure(target="local", local_port=moto_port,
                         state_dir=tmp_path_factory.mktemp("state"))
    yield s
    config.reset()


# --- the learner's own code -------------------------------------------------------------------


@pytest.fixture
def own_lambda(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """Write a copy of the transformer that `stack.deploy` zips instead of lambda/'s."""
    from workshop import stack

    folder = tmp_path / "lambda"
    folder.mkdir()
    monkeypatch.setattr(stack, "LAMBDA_DIR", folder)

    def write(source: str) -> None:
        (folder / "transformer.py").write_text(source)

    write((config.LAMBDA_DIR / "transformer.py").read_text())
    return write
