"""Local retention: the local AWS forgets stream and Kinesis records the local hops have consumed.

AWS keeps DynamoDB stream and Kinesis records for 24 hours; moto keeps every one in memory for as
long as it runs, so the server grows with every order; with this retention and
workshop.local.aws.patches most of what it holds is the table's own items
(measured: docs/performance.md#the-local-aws-server). In the local AWS process a sweeper thread
removes, every SWEEP_SECONDS, the records that

* every hop reading them has checkpointed: a pipe for its table's stream, a delivery stream for
  its Kinesis stream. Hops checkpoint only after the next stage holds the records (Kinesis
  accepted them, the S3 object is written), so no record a hop still needs is ever removed; and
* are older than WORKSHOP_LOCAL_RETENTION_SECONDS (default 3600: an hour of workshop), or are
  beyond the newest WORKSHOP_LOCAL_RETENTION_RECORDS consumed records of their shard (default
  20,000, which bounds memory at any write rate).

So TRIM_HORIZON readers (notebook 03 via workshop.streams, `workshop doctor`) still see the recent
records, from the oldest one kept, as on AWS after 24 hours. A stream that no hop reads, or whose
hop has not checkpointed yet, is never trimmed. Sequence numbers never change: a stream shard
counts what it trimmed (see workshop.local.aws.patches), and the newest record of a Kinesis shard
is always kept because moto numbers the next record after it. `WORKSHOP_LOCAL_RETENTION_SECONDS=off`
keeps everything, as moto does. DynamoDB Streams shard iterators expire after 15 minutes, as on
AWS (moto keeps every one it ever handed out, a new one per GetRecords).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from moto.dynamodb.models import dynamodb_backends
from moto.dynamodbstreams.models import dynamodbstreams_backends
from moto.firehose.models import firehose_backends
from moto.kinesis.models import kinesis_backends
from moto.pipes.models import pipes_backends

from workshop.config import Settings
from workshop.local.aws.checkpoint import hop_checkpoint
from workshop.local.aws.patches import records_lock, trimmed
from workshop.local.aws.realism import CLOSED, stream_shards

log = logging.getLogger("workshop.local.aws.retention")
SWEEP_SECONDS = 1.0
ITERATOR_SECONDS = 900.0  # AWS: a shard iterator expires 15 minutes after it is returned


@dataclass(frozen=True)
class Policy:
    """How long consumed records are kept: both limits apply; None keeps everything."""

    seconds: float | None
    records: int

    @property
    def keeps_everything(self) -> bool:
        """True when retention is switched off."""
        return self.seconds is None


def policy_of(s: Settings) -> Policy:
    """The retention policy of the settings (WORKSHOP_LOCAL_RETENTION_SECONDS and _RECORDS)."""
    return Policy(seconds=s.retention_seconds, records=s.retention_records)


def _epoch(moment: datetime) -> float:
    return moment.replace(tzinfo=UTC).timestamp()  # moto's times are naive UTC


def _created(record: Any) -> float:
    created = getattr(record, "created", None)
    if created is None:  # one of moto's own StreamRecords
        created = record.record["dynamodb"]["ApproximateCreationDateTime"]
    return _epoch(created)


def _cut(consumed: int, ages: Iterator[float], policy: Policy) -> int:
    """How many of the `consumed` oldest records go: beyond the count, then by age."""
    cut = max(0, consumed - policy.records)
    for index, age in enumerate(ages):
        if index < cut:
            continue
        if index >= consumed or policy.seconds is None or age <= policy.seconds:
            break
        cut = index + 1
    return cut


def trim_stream_shard(shard: Any, consumed_upto: int, policy: Policy,
                      now: float | None = None) -> int:
    """Remove a stream shard's records up to sequence number `consumed_upto` that the policy
    lets go; return how many went."""
    if policy.keeps_everything:
        return 0
    now = time.time() if now is None else now
    with records_lock:
        items = shard.items
        first = shard.starting_sequence_number + trimmed(shard)
        consumed = max(0, min(len(items), consumed_upto - first + 1))
        cut = _cut(consumed, (now - _created(item) for item in items), policy)
        if cut:
            del items[:cut]
            shard.trimmed = trimmed(shard) + cut
    return cut


def trim_kinesis_shard(shard: Any, consumed_upto: int, policy: Policy,
                       now: float | None = None) -> int:
    """Remove a Kinesis shard's records up to sequence number `consumed_upto` that the policy
    lets go, always keeping the newest record; return how many went."""
    if policy.keeps_everything:
        return 0
    now = time.time() if now is None else now
    with records_lock:
        records = shard.records
        numbers = list(records)[:-1]  # the newest record stays: moto numbers the next after it
        consumed = sum(1 for number in numbers if number <= consumed_upto)
        ages = (now - _epoch(records[number].created_at) for number in numbers)
        cut = _cut(consumed, ages, policy)
        for number in numbers[:cut]:
            del records[number]
    return cut


def _backends(backend_dict: Any) -> Iterator[tuple[str, str, Any]]:
    for account_id, regions in list(backend_dict.items()):
        for region, backend in list(regions.items()):
            yield account_id, region, backend


def _min_positions(readers: list[dict[str, str]], shard_id: str) -> int | None:
    """The position every reader has passed on a shard, or None when one has not started."""
    positions = [reader.get(shard_id) for reader in readers]
    if not positions or any(position is None for position in positions):
        return None
    return min(int(position) for position in positions)  # type: ignore[arg-type]


def sweep(local_dir: Path, policy: Policy, now: float | None = None) -> dict[str, int]:
    """Trim every stream and Kinesis stream a local hop reads; return records removed per
    stream ARN."""
    removed: dict[str, int] = {}
    readers: dict[str, list[dict[str, str]]] = {}
    for _, _, backend in _backends(pipes_backends):
        for pipe in list(backend.pipes.values()):
            positions = hop_checkpoint(local_dir, "pipe", pipe.name).positions
            readers.setdefault(pipe.source, []).append(positions)
    for _, _, backend in _backends(firehose_backends):
        for hose in list(backend.delivery_streams.values()):
            arn = (hose.source or {}).get("KinesisStreamARN")
            if arn:
                positions = hop_checkpoint(local_dir, "firehose", hose.delivery_stream_name)
                readers.setdefault(arn, []).append(positions.positions)
    for arn, hops in readers.items():
        removed[arn] = _trim_source(arn, hops, policy, now)
    return {arn: count for arn, count in removed.items() if count}


def _trim_source(arn: str, hops: list[dict[str, str]], policy: Policy, now: float | None) -> int:
    parts = arn.split(":", 5)
    if len(parts) < 6:
        return 0
    service, region, account_id, resource = parts[2], parts[3], parts[4], parts[5]
    count = 0
    if service == "dynamodb" and "/stream/" in resource:
        table = dynamodb_backends[account_id][region].tables.get(resource.split("/")[1])
        if table is not None:
            count += _trim_stream(table, hops, policy, now)
    elif service == "kinesis":
        stream = kinesis_backends[account_id][region].streams.get(resource.split("/")[-1])
        for shard_id, shard in list(getattr(stream, "shards", {}).items()):
            upto = _min_positions(hops, shard_id)
            if upto is not None:
                count += trim_kinesis_shard(shard, upto, policy, now)
    return count


def _trim_stream(table: Any, hops: list[dict[str, str]], policy: Policy,
                 now: float | None) -> int:
    """Trim a table stream's shards, newest first, keeping policy.records consumed records in
    the whole stream; forget closed shards every hop has read to their end and nothing holds."""
    count = 0
    budget = policy.records
    shards = stream_shards(table)
    for shard in reversed(shards):
        upto = _min_positions(hops, shard.id)
        if upto is None:
            budget -= len(shard.items)  # unread records are kept, and count as kept
            continue
        first = shard.starting_sequence_number + trimmed(shard)
        consumed = max(0, min(len(shard.items), upto - first + 1))
        count += trim_stream_shard(shard, upto, Policy(policy.seconds, max(0, budget)), now)
        budget -= consumed
    ended = {shard.id for shard in shards[:-1]
             if not shard.items and (upto := _min_positions(hops, shard.id)) is not None
             and upto >= shard.ending_sequence_number}
    if ended:
        with records_lock:
            setattr(table, CLOSED, [s for s in getattr(table, CLOSED, []) if s.id not in ended])
    return count


def expire_iterators(max_age: float = ITERATOR_SECONDS) -> int:
    """Forget DynamoDB Streams shard iterators older than max_age; return how many."""
    expired = 0
    now = time.monotonic()
    for _, _, backend in _backends(dynamodbstreams_backends):
        iterators = backend.shard_iterators
        for arn, iterator in list(iterators.items()):
            if now - getattr(iterator, "created", now) > max_age:
                iterators.pop(arn, None)
                expired += 1
    return expired


def start(local_dir: Path, policy: Policy) -> threading.Thread:
    """Run the sweeper in a daemon thread of the local AWS process."""

    def run() -> None:
        while True:
            time.sleep(SWEEP_SECONDS)
            try:
                removed = sweep(local_dir, policy)
                expire_iterators()
            except Exception:  # the server must keep serving; say what went wrong
                log.exception("local retention: a sweep failed")
                continue
            for arn, count in removed.items():
                log.debug("local retention: %d consumed records dropped from %s", count, arn)

    if policy.keeps_everything:
        log.info("local retention off: every stream and Kinesis record is kept")
    else:
        log.info("local retention: consumed records kept %.0f s, at most %d per shard",
                 policy.seconds, policy.records)
    thread = threading.Thread(target=run, name="local-retention", daemon=True)
    thread.start()
    return thread
