"""The session's local AWS, shared by tests/ and notebooks/ (so `pytest notebooks/` runs alone).

One real local AWS (moto server + runtime, as `workshop local start` runs them) for the whole
session, on a free port with its own state folder, so a developer's own local AWS is untouched.
Tests ask for it as the `local_aws` fixture. Notebooks cannot ask for fixtures, and nbval starts a
notebook's kernel before any fixture of its first cell is set up, with the environment of that
moment: so the first notebook cell starts it from a hook, before its kernel starts.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator

import pytest

from workshop import config

LOCAL_BUFFER_SECONDS = "0.5"  # short Firehose buffering keeps the pipeline tests quick
NOTEBOOK_PREFIX = "learner"  # the prefix the committed notebook outputs were produced with
SESSION_VARIABLES = ("WORKSHOP_TARGET", "WORKSHOP_LOCAL_PORT", "WORKSHOP_STATE_DIR",
                     "WORKSHOP_LOCAL_BUFFER_SECONDS", "WORKSHOP_PREFIX", "WORKSHOP_LOCAL_REALISTIC")


class _SessionAWS:
    """The session's local AWS: started once, on first need; stopped when the session ends."""

    def __init__(self) -> None:
        self.settings: config.Settings | None = None
        self.saved: dict[str, str | None] = {}
        self.state_dir = ""

    def start(self) -> config.Settings:
        if self.settings is not None:
            return self.settings
        from workshop.local.aws import process
        from workshop.local.aws.ports import free_port

        self.saved = {name: os.environ.get(name) for name in SESSION_VARIABLES}
        self.state_dir = tempfile.mkdtemp(prefix="workshop-state-")
        os.environ.update({
            "WORKSHOP_TARGET": "local",
            # As unkind as AWS (workshop.local.aws.realism), whatever the developer's own setting.
            "WORKSHOP_LOCAL_REALISTIC": "on",
            "WORKSHOP_LOCAL_PORT": str(free_port()),
            "WORKSHOP_STATE_DIR": self.state_dir,
            "WORKSHOP_LOCAL_BUFFER_SECONDS": LOCAL_BUFFER_SECONDS,
        })
        os.environ.pop("WORKSHOP_PREFIX", None)
        config.reset()
        self.settings = config.settings()
        process.start(self.settings)
        return self.settings

    def stop(self, keep_state: bool = False) -> None:
        if self.settings is None:
            return
        from workshop.local.aws import process

        process.stop(self.settings)
        config.reset()
        for name, value in self.saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        if keep_state:  # the local AWS's logs, for whoever looks into the failure
            print(f"\nThe session's local AWS logs are kept in {self.state_dir}/local/")
        else:
            shutil.rmtree(self.state_dir, ignore_errors=True)
        self.settings = None


_session_aws = _SessionAWS()


@pytest.fixture(scope="session")
def local_aws() -> Iterator[config.Settings]:
    """The session's local AWS (realistic, short Firehose buffering, a free port)."""
    yield _session_aws.start()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _session_aws.stop(keep_state=exitstatus != 0)


# --- notebooks -----------------------------------------------------------------------------------
# `pytest --nbval` runs notebooks/ after tests/ (testpaths order) against the same local AWS.
# Kernels inherit os.environ when nbval starts them, at the first cell of each notebook; the
# participant prefix is fixed just before that, so resource names in the outputs match the
# committed ones (tests/ items run first and expect the default prefix).


def _is_notebook_cell(item: pytest.Item) -> bool:
    return type(item).__module__.split(".")[0] == "nbval"


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    if _is_notebook_cell(item) and os.environ.get("WORKSHOP_PREFIX") != NOTEBOOK_PREFIX:
        s = _session_aws.start()
        os.environ["WORKSHOP_PREFIX"] = NOTEBOOK_PREFIX
        config.reset()
        _reap_when_stopped(s)  # the processes running now, after tests/ restarted some


def _reap_when_stopped(s: config.Settings) -> None:
    """Collect the local AWS processes as soon as they exit.

    This process started them, and 99_cleanup stops them from a kernel: until their parent
    collects them they stay zombies, which the kernel's stop would wait on for its full timeout.
    """
    from workshop.local.aws import process

    def reap(pid: int) -> None:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)

    for pid in process.status(s).running.values():
        threading.Thread(target=reap, args=(pid,), daemon=True, name=f"reap-{pid}").start()
