"""Count what sits at each stage of the pipeline and name the first stage where data stops.

Used when a wait times out (the demo, the notebooks): instead of "timed out", the learner reads
"the table holds 2,000 orders, Kinesis 0 records: the pipe is not moving data", with the fix.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from workshop.config import Settings, client, settings
from workshop.reconcile import ERRORS_PREFIX, ORDERS_PREFIX, object_keys, read_lines
from workshop.stack import outputs


@dataclass(frozen=True)
class Stage:
    """One stage of the journey and how many records it holds."""

    name: str
    count: int
    stalled_hint: str  # what to check when the data stops right before this stage


def _kinesis_count(stream: str, s: Settings) -> int:
    kinesis = client("kinesis", s)
    total = 0
    for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
        iterator = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard["ShardId"],
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        while iterator:
            page = kinesis.get_records(ShardIterator=iterator, Limit=10_000)
            total += len(page["Records"])
            if not page["Records"] or page.get("MillisBehindLatest", 0) == 0:
                break
            iterator = page.get("NextShardIterator")
    return total


def census(s: Settings | None = None) -> list[Stage]:
    """How many items, records and lines each stage holds right now, in the data's order."""
    s = s or settings()
    found = outputs(s)
    bucket = found["BucketName"]
    table_items = client("dynamodb", s).scan(TableName=found["TableName"], Select="COUNT")["Count"]
    runtime = ("the local runtime: `workshop local status`, then .workshop/local/runtime.log"
               if s.is_local else "the pipe's state and its CloudWatch metrics")
    return [
        Stage("items in the table", table_items,
              "the generator: did it report orders written?"),
        Stage("records in Kinesis", _kinesis_count(found["KinesisStreamName"], s),
              f"the EventBridge Pipe: is it RUNNING? Check {runtime}"),
        Stage("lines under orders/",
              sum(1 for _ in read_lines(bucket, object_keys(bucket, ORDERS_PREFIX, s), s)),
              "Firehose: its buffer may not have flushed yet (BufferIntervalSeconds), or the "
              "transformer fails every record (look under errors/)"),
        Stage("records under errors/",
              sum(1 for _ in read_lines(bucket, object_keys(bucket, ERRORS_PREFIX, s), s)),
              "the transformer: its errorMessage in the error records says why"),
    ]


def diagnose(s: Settings | None = None) -> str:
    """A short report: the count at each stage and, when data stops, where and why."""
    stages = census(s)
    lines = [f"  {stage.name:<24} {stage.count:>8}" for stage in stages]
    flowing = stages[:3]
    for before, after in itertools.pairwise(flowing):
        if before.count and not after.count:
            lines.append(f"Data stops before '{after.name}': check {after.stalled_hint}.")
            break
    else:
        if stages[3].count and not stages[2].count:
            lines.append(f"Every record failed: check {stages[3].stalled_hint}.")
    return "\n".join(lines)
