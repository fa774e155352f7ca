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
    lambda_code,
    models,
    patches,
    realism,
    retention,
    s3bulk,
)
from workshop.local.aws.keepalive import LocalServer
from workshop.local.aws.ports import PortInUse, port_is_free

log = logging.getLogger("workshop.local.aws.server")


def start_server(port: int) -> LocalServer:
    """Start moto on 127.0.0.1:port in this process, with the local models and, unless switched
    off (WORKSHOP_LOCAL_PATCHES=off), the speed and memory patches."""
    if not port_is_free(port):
        raise PortInUse(
            f"Port {port} on 127.0.0.1 is already in use. Stop what uses it, or choose another "
            f"port: WORKSHOP_LOCAL_PORT={port + 1} workshop local start"
        )
    s = settings()
    models.register()
    if s.local_patches:
        patches.apply()
    if s.realistic:
        realism.install()  # after the patches: it wraps the methods in place
    if s.local_patches:
        changes.install()  # after the patches: it counts the writes they make
        s3bulk.install()  # the query engine's bulk read of the local S3
    lambda_code.install(port)  # GetFunction's Code.Location: the deployed zip, served here
    server = LocalServer(port, keep_alive=s.local_patches)
    server.start()
    return server


def collect_less() -> None:
    """Keep Python's cyclic garbage collector off moto's startup objects and out of bursts.

    A full collection walks every object the process holds, most of them moto's, botocore's
    and Flask's from startup, with every request thread stopped, and a burst of orders sets
    one off again and again. The startup objects live as long as the process, so they are
    frozen, and the young generation is collected every 10,000 allocations instead of 700: the
    server then spends a fraction of the CPU on collections. Garbage is collected first, so
    none is frozen and resident memory stays the same; frozen uncollected, it held more
    (measured: docs/performance.md#the-local-aws-server).
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
    if s.local_patches:  # retention trims the stream shards the patches keep count of
        retention.start(s.local_dir, retention.policy_of(s))  # forgets consumed records
    log.info("local AWS listening on 127.0.0.1:%d (%s; %s)", args.port,
             "realistic: AWS's documented limits and empty pages" if s.realistic
             else "realism off",
             "moto patched for speed and memory" if s.local_patches
             else "moto's own code: WORKSHOP_LOCAL_PATCHES=off")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.stop()
    log.info("local AWS stopped")


if __name__ == "__main__":
    main()
