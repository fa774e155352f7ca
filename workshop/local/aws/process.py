"""Start, stop and report the local AWS: the moto server and the runtime that moves the data.

Both run as detached background processes, so notebook kernels, a terminal generator and the
tests share one local AWS. Their pid files, logs and a small `local.json` live under the
project-local state folder (`.workshop/local/` by default).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from workshop.config import LOCAL_HOST, Settings, local_environment, settings
from workshop.errors import WorkshopError
from workshop.local.aws.checkpoint import CHECKPOINTS
from workshop.local.aws.ports import PortInUse, port_is_free

PROCESSES = ("server", "runtime")  # the server first: the runtime needs it
MODULES = {"server": "workshop.local.aws.server", "runtime": "workshop.local.hops.runtime"}
SERVER_MALLOC_ARENAS = 2


class LocalAWSError(WorkshopError, RuntimeError):
    """The local AWS could not be started, reached or stopped."""


@dataclass(frozen=True)
class Status:
    """What runs of the local AWS, where, and since when."""

    running: dict[str, int]  # process name -> pid
    port: int | None
    started_at: str | None
    region: str = "us-east-1"

    @property
    def up(self) -> bool:
        """True when both the server and the runtime run."""
        return set(self.running) == set(PROCESSES)

    @property
    def endpoint(self) -> str | None:
        """The URL any AWS SDK or the AWS CLI can be pointed at, while the server runs."""
        return f"http://{LOCAL_HOST}:{self.port}" if self.port else None

    def __str__(self) -> str:
        if not self.running:
            return "local AWS is not running (start it with `workshop local start`)"
        parts = ", ".join(f"{name} pid {pid}" for name, pid in self.running.items())
        missing = [name for name in PROCESSES if name not in self.running]
        text = f"local AWS on {self.endpoint} since {self.started_at} ({parts})"
        if missing:
            return text + f"; NOT running: {', '.join(missing)} (see {', '.join(missing)}.log)"
        return (f"{text}\nAny AWS SDK or the AWS CLI can use it, with dummy credentials, e.g.\n"
                f"  AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing aws --endpoint-url "
                f"{self.endpoint} --region {self.region} dynamodb list-tables")


def _pid_file(s: Settings, name: str) -> Path:
    return s.local_dir / f"{name}.pid"


def _is_ours(pid: int, name: str) -> bool:
    """True when pid is alive and is the workshop's own process of that name (a zombie, which a
    killed process can leave, has no command line: it is not)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True  # no /proc (macOS): trust the pid file
    return MODULES[name] in cmdline


def _read_pid(s: Settings, name: str) -> int | None:
    try:
        pid = int(_pid_file(s, name).read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _is_ours(pid, name) else None


def status(s: Settings | None = None) -> Status:
    """Which local AWS processes run, on which port, and since when."""
    s = s or settings()
    running = {name: pid for name in PROCESSES if (pid := _read_pid(s, name)) is not None}
    info: dict[str, object] = {}
    with contextlib.suppress(OSError, ValueError):
        info = json.loads((s.local_dir / "local.json").read_text())
    port = info.get("port") if running else None
    return Status(running, port if isinstance(port, int) else None,
                  str(info.get("started_at")) if running else None, s.region)


def wait_until_ready(s: Settings, timeout: float = 30.0) -> None:
    """Block until the moto server answers on its port."""
    url = f"{s.endpoint_url}/moto-api/"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    raise LocalAWSError(
        f"The local AWS did not answer on {s.endpoint_url} within {timeout:.0f} s; "
        f"see {s.local_dir / 'server.log'}"
    )


def _spawn(s: Settings, name: str, args: list[str]) -> int:
    log = open(s.local_dir / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child
    env = {**os.environ, **local_environment(s)}
    if name == "server":
        # glibc gives threads malloc arenas of their own; the server's request threads then
        # fragment memory, which two arenas hold down
        # (measured: docs/performance.md#the-local-aws-server). Other C libraries ignore the
        # variable.
        env.setdefault("MALLOC_ARENA_MAX", str(SERVER_MALLOC_ARENAS))
    proc = subprocess.Popen(
        [sys.executable, "-m", MODULES[name], *args],
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True, env=env,
    )
    log.close()
    _pid_file(s, name).write_text(str(proc.pid))
    return proc.pid


def start(s: Settings | None = None) -> Status:
    """Start the local AWS in the background; do nothing for the parts already running."""
    s = s or settings()
    if not s.is_local:
        raise LocalAWSError("The local AWS is for the local target; WORKSHOP_TARGET is aws.")
    s.local_dir.mkdir(parents=True, exist_ok=True)
    current = status(s)
    if "server" not in current.running:
        if not port_is_free(s.local_port):
            raise PortInUse(
                f"Port {s.local_port} on 127.0.0.1 is already in use by another program. Stop it, "
                f"or choose another port: WORKSHOP_LOCAL_PORT={s.local_port + 1} "
                "workshop local start"
            )
        # A new server holds no data, so positions checkpointed for an old one are meaningless.
        shutil.rmtree(s.local_dir / CHECKPOINTS, ignore_errors=True)
        _spawn(s, "server", ["--port", str(s.local_port)])
        (s.local_dir / "local.json").write_text(json.dumps({
            "port": s.local_port,
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }))
        wait_until_ready(s)
    elif current.port != s.local_port:
        raise LocalAWSError(
            f"The local AWS already runs on port {current.port}, not {s.local_port}: use "
            f"WORKSHOP_LOCAL_PORT={current.port}, or `workshop local stop` first."
        )
    if "runtime" not in current.running:
        _until_started(_spawn(s, "runtime", []), "runtime")
    return status(s)


def _until_started(pid: int, name: str, timeout: float = 5.0) -> None:
    """Wait until the new process runs the workshop's module (until then it shows the command
    of the process that forked it, and status() would not count it), or has ended."""
    deadline = time.monotonic() + timeout
    while not _is_ours(pid, name) and not _gone(pid) and time.monotonic() < deadline:
        time.sleep(0.01)


def _gone(pid: int) -> bool:
    """True when pid has exited (a zombie child of this process is reaped and counts as gone)."""
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return True
    except ChildProcessError:
        pass  # not our child: the CLI that started it has exited
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    """True when pid has exited and only waits for a parent other than us to collect it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False  # no /proc (macOS): kill(pid, 0) above is all we can know
    return stat.rpartition(")")[2].split()[0] == "Z"


def _terminate(pid: int, timeout: float) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _gone(pid):
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    while not _gone(pid) and time.monotonic() < deadline + 5:
        time.sleep(0.05)


def stop_process(name: str, s: Settings | None = None, timeout: float = 10.0) -> bool:
    """Stop one of the workshop's own local processes; False when it was not running."""
    s = s or settings()
    pid = _read_pid(s, name)
    _pid_file(s, name).unlink(missing_ok=True)
    if pid is None:
        return False
    _terminate(pid, timeout)
    return True


def stop(s: Settings | None = None) -> str:
    """Stop the runtime, then the server, and say which; processes the workshop did not start
    are left alone. Everything the local AWS held is gone afterwards."""
    s = s or settings()
    before = status(s)
    for name in reversed(PROCESSES):
        stop_process(name, s)
    if not before.running:
        return str(before)
    pids = ", ".join(f"{name} pid {pid}" for name, pid in before.running.items())
    return f"stopped the local AWS ({pids}); what it held is gone"
