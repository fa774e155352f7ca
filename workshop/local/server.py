"""The local AWS process: a moto server on 127.0.0.1 that also understands the whole template.

Run by `workshop local start` as `python -m workshop.local.server --port N`; it stays up until
SIGTERM. The Pipe and Firehose hops run in a sibling process (`workshop.local.runtime`), so that
one can be stopped or killed without losing the state held here.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading

from workshop.config import settings
from workshop.local import changes, fastpaths, models, retention, s3bulk
from workshop.local.keepalive import LocalServer
from workshop.local.ports import PortInUse, port_is_free

log = logging.getLogger("workshop.local.server")


def start_server(port: int) -> LocalServer:
    """Start moto on 127.0.0.1:port in this process, with the local models and fast paths."""
    if not port_is_free(port):
        raise PortInUse(
            f"Port {port} on 127.0.0.1 is already in use. Stop what uses it, or choose another "
            f"port: WORKSHOP_LOCAL_PORT={port + 1} workshop local start"
        )
    models.register()
    fastpaths.apply()
    changes.install()  # after the fast paths: it counts the writes they make
    s3bulk.install()  # the query engine's bulk read of the local S3
    server = LocalServer(port)  # moto's app, with keep-alive connections
    server.start()
    return server


def main(argv: list[str] | None = None) -> None:
    """Serve until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = start_server(args.port)
    retention.start(settings().local_dir)  # forgets records the local hops have consumed
    log.info("local AWS listening on 127.0.0.1:%d", args.port)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.stop()
    log.info("local AWS stopped")


if __name__ == "__main__":
    main()
