"""Faster moto answers for the calls the local runtime makes thousands of times.

Measured on moto 5.2.5 here: DynamoDB Streams GetRecords spends ~2.3 s building the response for
1,000 records (its generic shape-walking serializer); a Kinesis shard scans every record it ever
held on each GetRecords and copies all its keys on each put; and moto lists its own package folder
on every request (~2 ms). That capped the local pipeline at ~250 orders/s. These patches, applied
only inside the local AWS process, answer the same calls with the same wire format (JSON,
epoch-second timestamps, base64 blobs), from the same backend state, in O(records returned).
tests/test_local_fastpaths.py compares every patched answer with moto's own.
"""

from __future__ import annotations

import base64
import calendar
import json
import math
from datetime import datetime
from typing import Any

from moto import backends
from moto.dynamodbstreams.responses import DynamoDBStreamsHandler
from moto.kinesis.models import Shard
from moto.kinesis.responses import KinesisResponse

_original: dict[str, Any] = {}


def _wire(value: Any) -> Any:
    """json.dumps fallback: bytes travel as base64 text, times as epoch seconds."""
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, datetime):  # moto's times are naive UTC; AWS sends milliseconds
        seconds = calendar.timegm(value.timetuple())
        return seconds + (value.microsecond // 1000) / 1000 if value.microsecond else seconds
    raise TypeError(f"cannot put {type(value).__name__} on the wire")


def _streams_get_records(self: DynamoDBStreamsHandler) -> str:
    """GetRecords of DynamoDB Streams, serialized with json.dumps instead of the shape walker."""
    limit = self._get_param("Limit") or 1000
    result = self.backend.get_records(self._get_param("ShardIterator"), limit)
    return json.dumps(
        {"NextShardIterator": result["NextShardIterator"], "Records": result["Records"]},
        default=_wire)


def _kinesis_get_records(self: KinesisResponse) -> str:
    """GetRecords of Kinesis, serialized with json.dumps (Data stays base64, as on the wire)."""
    next_iterator, records, behind = self.kinesis_backend.get_records(
        self._get_param("StreamARN"), self._get_param("ShardIterator"), self._get_param("Limit"))
    return json.dumps({
        "NextShardIterator": next_iterator,
        "MillisBehindLatest": behind,
        "Records": [{
            "Data": record.data if isinstance(record.data, str)
            else base64.b64encode(record.data).decode("ascii"),
            "PartitionKey": record.partition_key,
            "SequenceNumber": str(record.sequence_number),
            # milliseconds, as AWS sends them
            "ApproximateArrivalTimestamp": math.floor(record.created_at * 1000) / 1000,
        } for record in records],
    })


def _shard_get_records(self: Shard, last_sequence_id: str,
                       limit: int | None) -> tuple[list[Any], int, int]:
    """Shard records after last_sequence_id, reading only what is returned.

    moto numbers a shard's records 1, 2, 3, ... with no gaps, so record n+1 follows record n;
    anything else falls back to moto's own scan.
    """
    last = int(last_sequence_id)
    count = limit or 10_000
    results = []
    for number in range(last + 1, last + 1 + count):
        record = self.records.get(number)
        if record is None:
            break
        results.append(record)
    if not results and self.records and next(reversed(self.records)) > last:
        return _original["shard_get_records"](self, last_sequence_id, limit)
    newest = self.records[next(reversed(self.records))] if self.records else None
    behind = int((newest.created_at - results[-1].created_at) * 1000) if results else 0
    return results, (results[-1].sequence_number if results else last), behind


def _first_key(self: Shard) -> int:
    return next(iter(self.records)) if self.records else 0


def _last_key(self: Shard) -> int:
    return next(reversed(self.records)) if self.records else 0


def _cached_module_list(listing: Any) -> Any:
    """moto lists its own package folder on every request (~2 ms each, measured): once is
    enough, the folder does not change while the server runs."""
    modules = tuple(listing())
    return lambda: iter(modules)


def apply() -> None:
    """Install the patches (idempotent); call once in the local AWS process."""
    if _original:
        return
    _original["modules"] = backends.list_of_moto_modules
    backends.list_of_moto_modules = _cached_module_list(backends.list_of_moto_modules)
    _original["streams_get_records"] = DynamoDBStreamsHandler.get_records
    _original["kinesis_get_records"] = KinesisResponse.get_records
    _original["shard_get_records"] = Shard.get_records
    _original["min"] = Shard.get_min_sequence_number
    _original["max"] = Shard.get_max_sequence_number
    DynamoDBStreamsHandler.get_records = _streams_get_records
    KinesisResponse.get_records = _kinesis_get_records
    Shard.get_records = _shard_get_records
    Shard.get_min_sequence_number = _first_key
    Shard.get_max_sequence_number = _last_key


def remove() -> None:
    """Restore moto's own methods (the tests compare both)."""
    if not _original:
        return
    backends.list_of_moto_modules = _original.pop("modules")
    DynamoDBStreamsHandler.get_records = _original.pop("streams_get_records")
    KinesisResponse.get_records = _original.pop("kinesis_get_records")
    Shard.get_records = _original.pop("shard_get_records")
    Shard.get_min_sequence_number = _original.pop("min")
    Shard.get_max_sequence_number = _original.pop("max")


