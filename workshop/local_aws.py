"""The one seam between the workshop and its local AWS: all the core asks of the local target.

The core modules (the CLI, lab, checks, demo, doctor, logs, athena) work on either target through
AWS's own APIs; what only the local target has (processes to start, the query engine behind
Athena's SQL, the hops' positions, the local Lambda's log file) they ask for here, and nowhere
else. workshop/local/ imports nothing of the core but config, errors and records, so the layers
stay one-way (tests/test_architecture.py). Imports are deferred: the CLI's answer must not wait
for moto or DuckDB to load.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from workshop.config import Settings, settings

if TYPE_CHECKING:
    from workshop.local.athena.engine import LocalAthena
    from workshop.local.aws.checkpoint import Checkpoint
    from workshop.local.aws.process import Status


def status(s: Settings | None = None) -> Status:
    """Which local AWS processes run, on which port, and since when."""
    from workshop.local.aws import process

    return process.status(s or settings())


def start(s: Settings | None = None) -> Status:
    """Start the local AWS (moto server and runtime) in the background, or leave it running."""
    from workshop.local.aws import process

    return process.start(s or settings())


def stop(s: Settings | None = None) -> str:
    """Stop the local AWS and say what was stopped; everything it held is gone afterwards."""
    from workshop.local.aws import process

    return process.stop(s or settings())


def query_engine(database: str, s: Settings) -> LocalAthena:
    """A new local Athena (DuckDB behind Athena's SQL) over one Glue database."""
    from workshop.local.athena.engine import LocalAthena

    return LocalAthena(database, s)


def hop_position(s: Settings, kind: str, name: str) -> Checkpoint:
    """The runtime's checkpoint of one hop: `kind` "pipe" or "firehose", and its resource name."""
    from workshop.local.aws.checkpoint import hop_checkpoint

    return hop_checkpoint(s.local_dir, kind, name)


def function_log(s: Settings, function_name: str) -> Path:
    """The file the local Lambda writes a function's log to (its CloudWatch log group on AWS)."""
    from workshop.local.hops.functions import log_path

    return log_path(s, function_name)
