"""Ports on 127.0.0.1 for the local AWS: is one free, pick one, and the error for a taken one.

Kept apart from workshop.local.aws.server, which imports moto, slow to import: `workshop local
status`, `start` and `stop` need only these, and were slow to answer when they imported the
server (measured: docs/performance.md#the-command-lines-start-up).
"""

from __future__ import annotations

import socket

from workshop.errors import WorkshopError


class PortInUse(WorkshopError, RuntimeError):
    """The port chosen for the local AWS is taken by another program."""


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when nothing listens on host:port (moto would hang forever on a taken port)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A port on 127.0.0.1 that is free right now (for tests and parallel sessions)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
