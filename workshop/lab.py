"""What a learner's session needs running on this machine: the local AWS, or nothing on aws.

00_setup starts it and 99_cleanup stops it, with the same cell on both targets: on the local
target that is the moto server and the runtime (`workshop.local.aws.process`); on the aws target
nothing runs here, and the cost lies in the deployed stack, which 99_cleanup deletes.
"""

from __future__ import annotations

import time

from workshop import local_aws
from workshop.config import Settings, settings

READY_SECONDS = 15.0  # how long start() waits for a just-spawned runtime to show up


def start(s: Settings | None = None, wait: float = READY_SECONDS) -> str:
    """Start the local AWS when the target is local (idempotent); say what runs."""
    s = s or settings()
    if not s.is_local:
        return (f"Target aws (region {s.region}): nothing to start on this machine. The stack "
                "you deploy in 01 is billed until 99_cleanup deletes it.")
    status = local_aws.start(s)
    deadline = time.monotonic() + wait
    while not status.up and time.monotonic() < deadline:  # a new process needs a moment
        time.sleep(0.2)
        status = local_aws.status(s)
    return str(status)


def stop(s: Settings | None = None) -> str:
    """Stop the local AWS when the target is local; its data is gone afterwards."""
    s = s or settings()
    if not s.is_local:
        return "Target aws: nothing runs on this machine."
    return local_aws.stop(s)
