"""The local AWS process: a moto server on 127.0.0.1 that also understands the whole template.

Run by `workshop local start` as `python -m workshop.local.aws.server --port N`; it stays up until
SIGTERM. The Pipe and Firehose hops run in a sibling process (`workshop.local.hops.runtime`), so
that one can be stopped or killed without losing the state held here.
"""

from __future__ import annotations

import argparse
import gc
import logging
import signal
import threading

from workshop.config import settings
from workshop.local.aws import (
    changes,
    fastpaths,
    lambda_code,
    models,
    realism,
    retention,
    s3bulk,
)
from workshop.local.aws.keepalive import LocalServer
from workshop.local.aws.ports import PortInUse, port_is_free

log = logging.getLogger("workshop.local.aws.server")


def start_server(port: int) -> LocalServer:
    """Start moto on 127.0.0.1:port in this process, with the local models and fast paths."""
    if not port_is_free(port):
        raise PortInUse(
            f"Port {port} on 127.0.0.1 is already in use. Stop what uses it, or choose another "
            f"port: WORKSHOP_LOCAL_PORT={port + 1} workshop local start"
        )
    models.register()
    fastpaths.apply()
    if settings().realistic:
        realism.install()  # after the fast paths: it wraps their methods
    changes.install()  # after the fast paths: it counts the writes they make
    s3bulk.install()  # the query engine's bulk read of the local S3
    lambda_code.install(port)  # GetFunction's Code.Location: the deployed zip, served here
    server = LocalServer(port)  # moto's app, with keep-alive connections
    server.start()
    return server


def collect_less() -> None:
    """Keep Python's cyclic garbage collector off moto's startup objects and out of bursts.

    A full collection walks every object the process holds, ~270,000 of them moto's, botocore's
    and Flask's from startup, with every request thread stopped: ~0.3 s here, every ~10,000
    orders. During a deploy and 20,000 batch-written orders, collections took 1.51-1.65 s of
    the server's CPU; with the startup objects frozen (they live as long as the process) and
    the young generation collected every 10,000 allocations instead of 700, 0.33-0.36 s (two
    runs each, interleaved). Garbage is collected first, so none is frozen: resident memory
    stays the same (255 and 290 MB after 10,000 and 20,000 orders, against 253-254 and
    287-288); frozen uncollected, it held 21 MB more.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


def main(argv: list[str] | None = None) -> None:
    """Serve until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = start_server(args.port)
    collect_less()
    s = settings()
    retention.start(s.local_dir, retention.policy_of(s))  # forgets consumed records
    log.info("local AWS listening on 127.0.0.1:%d (%s)", args.port,
             "realistic: AWS's documented limits and empty pages" if s.realistic
             else "realism off")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.stop()
    log.info("local AWS stopped")


if __name__ == "__main__":
    main()
