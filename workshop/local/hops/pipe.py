"""The EventBridge Pipe hop, carried out locally: DynamoDB stream records into Kinesis.

moto accepts a pipe but moves no data. This hop reads every shard of the pipe's source stream
from where it left off and writes each stream record into the target Kinesis stream exactly as
EventBridge Pipes does: one bare DynamoDB Streams record per Kinesis record, no wrapper, with
the partition key taken from the pipe's JSON path (`$.dynamodb.Keys.orderid.S`), shard by shard,
parents before children, retrying the records Kinesis refuses at its per-shard limits.
Positions are checkpointed after Kinesis accepted the records, so a restart loses nothing.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from typing import Any

from workshop.config import Settings, client
from workshop.errors import WorkshopError
from workshop.local.aws.checkpoint import Checkpoint
from workshop.local.aws.wire import WireClient
from workshop.records.shards import CAUGHT_UP_EMPTY_PAGES, table_stream_shards

log = logging.getLogger("workshop.local.hops.pipe")
PUT_RECORDS_MAX = 500  # Kinesis PutRecords limit per call
GET_RECORDS_MAX = 1000  # DynamoDB Streams GetRecords limit per call
SHARDS_SECONDS = 5.0  # how often the stream's shard list is described again


class PipeConfigError(WorkshopError, ValueError):
    """The pipe's settings are not something the local runtime (or AWS) can carry out."""


def partition_key(record: dict[str, Any], path: str) -> str:
    """Evaluate a Pipes partition key: a `$.a.b` JSON path into the record, or a constant."""
    if not path.startswith("$"):
        return path  # a plain word is a constant: every record goes to one shard
    value: Any = record
    for part in path.removeprefix("$").strip(".").split("."):
        if not isinstance(value, dict) or part not in value:
            raise PipeConfigError(f"partition key path {path} finds nothing at {part!r}")
        value = value[part]
    if isinstance(value, (dict, list)):
        raise PipeConfigError(f"partition key path {path} points at an object, not a value")
    return str(value)


class PipeHop:
    """Moves one pipe's stream records into its Kinesis target."""

    def __init__(self, pipe: dict[str, Any], s: Settings, checkpoints: Checkpoint) -> None:
        self.name = pipe["Name"]
        self.arn = pipe["Arn"]
        self.source = pipe["Source"]
        self.target = pipe["Target"]
        source_params = (pipe.get("SourceParameters") or {}).get("DynamoDBStreamParameters") or {}
        target_params = (pipe.get("TargetParameters") or {}).get("KinesisStreamParameters") or {}
        if ":dynamodb:" not in self.source or ":kinesis:" not in self.target:
            raise PipeConfigError(
                f"pipe {self.name}: the local runtime moves DynamoDB streams into Kinesis only"
            )
        if "PartitionKey" not in target_params:
            raise PipeConfigError(f"pipe {self.name} has no Kinesis PartitionKey")
        self.partition_key_path = target_params["PartitionKey"]
        self.target_name = self.target.split("/")[-1]  # moto resolves streams best by name
        self.starting_position = source_params.get("StartingPosition", "TRIM_HORIZON")
        self.batch_size = min(int(source_params.get("BatchSize", 100)), PUT_RECORDS_MAX)
        self.streams = client("dynamodbstreams", s)
        self.streams_wire = WireClient(s, "dynamodbstreams")
        self.kinesis_wire = WireClient(s, "kinesis")
        self.checkpoint = checkpoints
        self.region = s.region
        self.iterators: dict[str, str | None] = {}
        self._shards: tuple[float, list[dict[str, Any]]] | None = None
        self._initial: set[str] | None = None  # the shards there when the pipe started
        self.finished: set[str] = set()  # closed shards read to their end
        self.empty_pages: dict[str, int] = {}  # shard id -> empty pages in a row
        self.identity: tuple[str, str] = ("", "")  # set by the runtime: what it was made from
        self.moved = 0

    def _iterator(self, shard_id: str) -> str | None:
        if shard_id not in self.iterators:
            last = self.checkpoint.get(shard_id)
            kwargs: dict[str, Any] = {"StreamArn": self.source, "ShardId": shard_id}
            if last is not None:
                kwargs.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=last)
            elif shard_id in self._initial:
                kwargs["ShardIteratorType"] = self.starting_position
            else:  # a child shard opened since the pipe started: read from its first record
                kwargs["ShardIteratorType"] = "TRIM_HORIZON"
            self.iterators[shard_id] = self.streams.get_shard_iterator(**kwargs)["ShardIterator"]
        return self.iterators[shard_id]

    def _shard_list(self) -> list[dict[str, Any]]:
        """The stream's shards, parents first, described again every SHARDS_SECONDS (not on
        every poll), across every page of DescribeStream."""
        if self._shards is None or time.monotonic() - self._shards[0] > SHARDS_SECONDS:
            shards = table_stream_shards(self.streams, self.source)
            if self._initial is None:
                self._initial = {shard["ShardId"] for shard in shards}
            self._shards = (time.monotonic(), shards)
        return self._shards[1]

    def poll(self) -> int:
        """Move what the stream holds now; return how many records went to Kinesis.

        A child shard is read only once its parent is read to its end, so each item's changes
        reach Kinesis in the order they happened, as Pipes keeps them; a parent that ends in
        this poll lets its children be read in the same poll.
        """
        moved = 0
        progressed = True
        while progressed:
            progressed = False
            shards = self._shard_list()
            listed = {shard["ShardId"] for shard in shards}
            for shard in shards:
                shard_id, parent = shard["ShardId"], shard.get("ParentShardId")
                if shard_id in self.finished or (parent in listed and parent not in self.finished):
                    continue
                moved += self._poll_shard(shard_id)
                if shard_id in self.finished:
                    self._shards = None  # a shard closed: its children are to be described now
                    progressed = True
        self.moved += moved
        return moved

    def _poll_shard(self, shard_id: str) -> int:
        """One GetRecords on a shard; the records moved (the shard is finished at its end)."""
        iterator = self._iterator(shard_id)
        if iterator is None:
            self.finished.add(shard_id)  # a closed shard, read to its end
            return 0
        response = self.streams_wire.call("GetRecords",
                                          {"ShardIterator": iterator, "Limit": GET_RECORDS_MAX})
        records = response.get("Records", [])
        if records:
            self._deliver(records)
            self.checkpoint.save({shard_id: records[-1]["dynamodb"]["SequenceNumber"]})
        self.empty_pages[shard_id] = 0 if records else self.empty_pages.get(shard_id, 0) + 1
        self.iterators[shard_id] = response.get("NextShardIterator")
        if self.iterators[shard_id] is None:
            self.finished.add(shard_id)
        return len(records)

    @property
    def catching_up(self) -> bool:
        """Is a shard's iterator still short of the stream's tip, as far as the hop can tell?

        DynamoDB Streams says nothing like MillisBehindLatest: a shard counts as caught up after
        CAUGHT_UP_EMPTY_PAGES empty pages in a row, as workshop.records.shards reads it, and until
        then the hop polls again soon instead of waiting for the next write.
        """
        return any(count < CAUGHT_UP_EMPTY_PAGES for shard_id, count in self.empty_pages.items()
                   if shard_id not in self.finished)

    def _deliver(self, records: list[dict[str, Any]]) -> None:
        entries = []
        for record in records:  # already the stream's JSON: it goes on as it came
            record["awsRegion"] = self.region  # moto writes us-east-1 whatever the region
            record.setdefault("eventSourceARN", self.source)
            data = json.dumps(record, separators=(",", ":")).encode()
            entries.append({
                "Data": base64.b64encode(data).decode("ascii"),
                "PartitionKey": partition_key(record, self.partition_key_path),
            })
        for start in range(0, len(entries), self.batch_size):
            self._put(entries[start:start + self.batch_size])

    def _put(self, entries: list[dict[str, Any]]) -> None:
        """PutRecords, retrying the rejected entries (in their order) with backoff."""
        delay = 0.05
        while entries:
            response = self.kinesis_wire.call(
                "PutRecords", {"StreamName": self.target_name, "Records": entries})
            if not response.get("FailedRecordCount"):
                return
            rejected = [entry for entry, result in zip(entries, response["Records"], strict=True)
                        if "ErrorCode" in result]
            log.warning("pipe %s: Kinesis rejected %d records, retrying", self.name, len(rejected))
            # Back off while nothing gets through; a shard's limits refill every second.
            delay = 0.05 if len(rejected) < len(entries) else min(delay * 2, 1.0)
            entries = rejected
            time.sleep(delay)
