# Shared fixtures; sections per concern.
"""Fixtures shared by the test modules."""

from __future__ import annotations

import dataclasses
import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from workshop import config

# --- local AWS ---------------------------------------------------------------------------------
# One real local AWS (moto server + runtime, as `workshop local start` runs them) for the test
# session, on a free port with its own state folder, so a developer's own local AWS is untouched.

LOCAL_BUFFER_SECONDS = "0.5"  # short Firehose buffering keeps the pipeline tests quick


@pytest.fixture(scope="session")
def local_aws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[config.Settings]:
    from workshop.local import process
    from workshop.local.server import free_port

    saved = {k: os.environ.get(k) for k in
             ("WORKSHOP_TARGET", "WORKSHOP_LOCAL_PORT", "WORKSHOP_STATE_DIR",
              "WORKSHOP_LOCAL_BUFFER_SECONDS", "WORKSHOP_PREFIX")}
    os.environ.update({
        "WORKSHOP_TARGET": "local",
        "WORKSHOP_LOCAL_PORT": str(free_port()),
        "WORKSHOP_STATE_DIR": str(tmp_path_factory.mktemp("workshop-state")),
        "WORKSHOP_LOCAL_BUFFER_SECONDS": LOCAL_BUFFER_SECONDS,
    })
    os.environ.pop("WORKSHOP_PREFIX", None)
    config.reset()
    s = config.settings()
    process.start(s)
    try:
        yield s
    finally:
        process.stop(s)
        config.reset()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


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
