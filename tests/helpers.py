"""Small helpers shared by the tests: captured events, Firehose batches, moto servers."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3

EVENTS = Path(__file__).parent / "events"


def load_event(name: str) -> Any:
    """Load a captured event from tests/events (name with or without .json)."""
    path = EVENTS / (name if name.endswith(".json") else f"{name}.json")
    return json.loads(path.read_text(encoding="utf-8"))


def firehose_event(*payloads: Any) -> dict[str, Any]:
    """Wrap stream records (or raw str/bytes payloads) in a Firehose transformation event."""
    event = load_event("firehose_pipe_insert")
    template = event["records"][0]
    records = []
    for number, payload in enumerate(payloads):
        if isinstance(payload, str):
            payload = payload.encode("utf-8")
        elif not isinstance(payload, bytes):
            payload = json.dumps(payload).encode("utf-8")
        data = base64.b64encode(payload).decode("ascii")
        records.append(dict(template, recordId=f"record-{number:04d}", data=data))
    event["records"] = records
    return event


@contextmanager
def moto_server() -> Iterator[int]:
    """A bare moto server of its own on a free port of 127.0.0.1, for the block: its port."""
    from moto.server import ThreadedMotoServer

    from workshop.local.aws.ports import free_port

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield port
    finally:
        server.stop()


def clients(endpoint: str, *names: str) -> list[Any]:
    """Plain boto3 clients of the named services at a moto endpoint, with dummy credentials."""
    kw = {"endpoint_url": endpoint, "region_name": "us-east-1", "aws_access_key_id": "t",
          "aws_secret_access_key": "t"}
    return [boto3.client(name, **kw) for name in names]
