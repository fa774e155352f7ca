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

from tests.helpers import moto_server
from workshop import config

# --- local AWS ---------------------------------------------------------------------------------
# One real local AWS (moto server + runtime, as `workshop local start` runs them) for the test
# session, on a free port with its own state folder, so a developer's own local AWS is untouched.

LOCAL_BUFFER_SECONDS = "0.5"  # short Firehose buffering keeps the pipeline tests quick


@pytest.fixture(scope="session")
def local_aws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[config.Settings]:
    from workshop.local import process
    from workshop.local.ports import free_port

    saved = {k: os.environ.get(k) for k in
             ("WORKSHOP_TARGET", "WORKSHOP_LOCAL_PORT", "WORKSHOP_STATE_DIR",
              "WORKSHOP_LOCAL_BUFFER_SECONDS", "WORKSHOP_PREFIX", "WORKSHOP_LOCAL_REALISTIC")}
    os.environ.update({
        "WORKSHOP_TARGET": "local",
        # As unkind as AWS (workshop.local.realism), whatever the developer's own setting.
        "WORKSHOP_LOCAL_REALISTIC": "on",
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


# --- notebooks -----------------------------------------------------------------------------------
# `pytest --nbval` runs notebooks/ after tests/ (testpaths order) against this session's local AWS
# (the local_aws fixture: a free port, its own state folder, short Firehose buffering). Kernels
# inherit os.environ when nbval starts them, at the first cell of each notebook; the participant
# prefix is fixed just before that, so resource names in the outputs match the committed ones.

NOTEBOOK_PREFIX = "learner"  # the prefix the committed notebook outputs were produced with


def _is_notebook_cell(item: pytest.Item) -> bool:
    return type(item).__module__.split(".")[0] == "nbval"


class _NotebookPrefix:
    """Sets WORKSHOP_PREFIX before the first notebook's kernel starts, not before (tests/ items
    run first and expect the default prefix)."""

    def __init__(self, s: config.Settings) -> None:
        self.s = s

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        if _is_notebook_cell(item) and os.environ.get("WORKSHOP_PREFIX") != NOTEBOOK_PREFIX:
            os.environ["WORKSHOP_PREFIX"] = NOTEBOOK_PREFIX
            config.reset()
            _reap_when_stopped(self.s)  # the processes running now, after tests/ restarted some


def _reap_when_stopped(s: config.Settings) -> None:
    """Collect the local AWS processes as soon as they exit.

    This process started them, and 99_cleanup stops them from a kernel: until their parent
    collects them they stay zombies, which the kernel's stop would wait on for its full timeout.
    """
    import contextlib
    import threading

    from workshop.local import process

    def reap(pid: int) -> None:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)

    for pid in process.status(s).running.values():
        threading.Thread(target=reap, args=(pid,), daemon=True, name=f"reap-{pid}").start()


@pytest.fixture(scope="session", autouse=True)
def notebooks_local_aws(request: pytest.FixtureRequest) -> Iterator[config.Settings | None]:
    """When the session collected notebooks, start the local AWS for them at the session's start."""
    if not any(_is_notebook_cell(item) for item in request.session.items):
        yield None
        return
    s = request.getfixturevalue("local_aws")
    saved = os.environ.get("WORKSHOP_PREFIX")
    plugin = _NotebookPrefix(s)
    request.config.pluginmanager.register(plugin, "workshop-notebook-prefix")
    try:
        yield s
    finally:
        request.config.pluginmanager.unregister(plugin)
        if saved is None:
            os.environ.pop("WORKSHOP_PREFIX", None)
        else:
            os.environ["WORKSHOP_PREFIX"] = saved
