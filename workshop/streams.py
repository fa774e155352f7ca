"""Read the pipeline's records where they travel: the table's stream and the Kinesis stream.

Reading a DynamoDB stream or a Kinesis stream from TRIM_HORIZON consumes nothing (both keep
their records for 24 h), so the notebooks can look at exactly what the Pipe and Firehose see
without disturbing them. Both are read as AWS documents a reader must (workshop.records.shards):
past empty pages, across every shard, parents first. Records are wrapped in small read-only
accessors, one property per AWS field, so the notebooks never repeat nested dictionary lookups.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from itertools import islice
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from workshop.config import Settings, client
from workshop.records.formats import Buffered, to_wire, transformation_event
from workshop.records.shards import read_kinesis, read_table_stream
from workshop.stack import outputs


class EventName(StrEnum):
    """What happened to the item."""

    INSERT = "INSERT"
    MODIFY = "MODIFY"
    REMOVE = "REMOVE"


_deserializer = TypeDeserializer()


def plain(image: dict[str, Any] | None) -> dict[str, Any]:
    """A DynamoDB-typed image ({"price": {"N": "429.99"}}) as plain Python values."""
    return {key: _deserializer.deserialize(value) for key, value in (image or {}).items()}


@dataclass(frozen=True)
class StreamRecord:
    """One DynamoDB Streams record, as the Pipe puts it into Kinesis."""

    raw: dict[str, Any]

    @property
    def event_name(self) -> EventName:
        """INSERT, MODIFY or REMOVE."""
        return EventName(self.raw["eventName"])

    @property
    def keys(self) -> dict[str, Any]:
        """The item's key attributes, DynamoDB-typed."""
        return self.raw["dynamodb"]["Keys"]

    @property
    def new_image(self) -> dict[str, Any] | None:
        """The item after the change (absent for REMOVE)."""
        return self.raw["dynamodb"].get("NewImage")

    @property
    def old_image(self) -> dict[str, Any] | None:
        """The item before the change (absent for INSERT)."""
        return self.raw["dynamodb"].get("OldImage")

    @property
    def sequence_number(self) -> str:
        """The record's position in its shard: increasing per item."""
        return self.raw["dynamodb"]["SequenceNumber"]

    @property
    def approximate_creation(self) -> Any:
        """When the change happened, in epoch seconds."""
        return self.raw["dynamodb"]["ApproximateCreationDateTime"]

    @property
    def orderid(self) -> str:
        """The order's id, from the keys."""
        return self.keys["orderid"]["S"]


@dataclass(frozen=True)
class KinesisRecord:
    """One Kinesis record: base64 data on the wire, a stream record once decoded."""

    shard_id: str
    sequence_number: str
    partition_key: str
    data: bytes
    arrival: datetime

    @property
    def base64_data(self) -> str:
        """The data as Firehose hands it to the transformer."""
        return base64.b64encode(self.data).decode("ascii")

    def decoded(self) -> StreamRecord:
        """The DynamoDB Streams record the Pipe wrapped in this Kinesis record."""
        return StreamRecord(json.loads(self.data))


def table_stream_records(limit: int = 100, s: Settings | None = None) -> list[StreamRecord]:
    """The first `limit` records of the table's stream, oldest first, in their wire form.

    Read across every shard, parents first, past empty pages (workshop.records.shards).
    """
    streams = client("dynamodbstreams", s)
    records = read_table_stream(streams, outputs(s)["TableStreamArn"])
    return [StreamRecord(to_wire(record)) for record in islice(records, limit)]


def kinesis_records(limit: int = 100, s: Settings | None = None) -> list[KinesisRecord]:
    """The first `limit` records of the Kinesis stream, oldest first, shard by shard."""
    found = read_kinesis(client("kinesis", s), outputs(s)["KinesisStreamName"])
    return [KinesisRecord(shard_id, r["SequenceNumber"], r["PartitionKey"], r["Data"],
                          r["ApproximateArrivalTimestamp"])
            for shard_id, r in islice(found, limit)]


def firehose_event(records: list[KinesisRecord], s: Settings | None = None) -> dict[str, Any]:
    """A genuine Firehose transformation event around Kinesis records, as Firehose builds it."""
    found = outputs(s)
    chunk = [Buffered(r.shard_id, r.sequence_number, r.partition_key, r.data,
                      int(r.arrival.timestamp() * 1000)) for r in records]
    event, _ = transformation_event(chunk, found["DeliveryStreamArn"], found["KinesisStreamArn"],
                                    found["Region"])
    return event


def iter_by_event(records: list[StreamRecord]) -> Iterator[tuple[EventName, StreamRecord]]:
    """The first record of each kind (INSERT, MODIFY, REMOVE) found, in that order."""
    for kind in EventName:
        for record in records:
            if record.event_name is kind:
                yield kind, record
                break
