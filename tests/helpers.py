"""Small helpers shared by the tests: captured events and Firehose batches."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

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
