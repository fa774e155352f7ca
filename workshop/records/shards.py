"""Read a DynamoDB stream or a Kinesis stream to its end, as AWS documents a reader must.

A `GetRecords` page may be empty with records further on: "If there are no records available
in the portion of the shard that the iterator points to, GetRecords returns an empty list. It
might take multiple calls to get to a portion of the shard that contains records"
(https://docs.aws.amazon.com/kinesis/latest/APIReference/API_GetRecords.html, and the same for
https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_streams_GetRecords.html).
So a reader goes on until a shard is read to its end or caught up:

* a closed shard ends when `NextShardIterator` is null;
* an open Kinesis shard is caught up when `MillisBehindLatest` is 0;
* an open DynamoDB stream shard says nothing of the kind, so it counts as caught up after
  CAUGHT_UP_EMPTY_PAGES empty pages in a row.

Shards are read parents first ("applications must always process a parent shard before it
processes a child shard",
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Streams.html), across every
page of `DescribeStream` (`LastEvaluatedShardId`) or `ListShards` (`NextToken`). A Kinesis shard
takes 5 `GetRecords` calls a second, Firehose's one of them
(https://docs.aws.amazon.com/streams/latest/dev/service-sizes-and-limits.html): readers here
call at most READS_PER_SECOND times a second per Kinesis shard, and wait out a throttled call.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from botocore.exceptions import ClientError

CAUGHT_UP_EMPTY_PAGES = 10  # empty pages in a row after which an open stream shard is caught up
READS_PER_SECOND = 4  # per Kinesis shard: 5 allowed, and Firehose reads once a second
THROTTLED = {"ProvisionedThroughputExceededException", "LimitExceededException"}
THROTTLE_WAIT_SECONDS = 1.0  # AWS counts the limits per second
THROTTLE_TRIES = 10

_sleep = time.sleep  # replaced by tests that must not wait


def parents_first(shards: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The shards in an order that puts every parent before its children.

    A shard whose parent is not listed (trimmed after 24 hours) counts as a root; among shards
    of one generation the listed order is kept.
    """
    by_id = {shard["ShardId"]: shard for shard in shards}
    ordered: list[dict[str, Any]] = []
    placed: set[str] = set()

    def place(shard: dict[str, Any]) -> None:
        if shard["ShardId"] in placed:
            return
        placed.add(shard["ShardId"])
        for key in ("ParentShardId", "AdjacentParentShardId"):
            parent = by_id.get(shard.get(key, ""))
            if parent is not None:
                place(parent)
        ordered.append(shard)

    for shard in shards:
        place(shard)
    return ordered


def table_stream_shards(streams: Any, arn: str) -> list[dict[str, Any]]:
    """Every shard of a DynamoDB stream, across all pages of DescribeStream, parents first."""
    shards: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"StreamArn": arn}
    while True:
        description = streams.describe_stream(**kwargs)["StreamDescription"]
        shards += description.get("Shards", [])
        last = description.get("LastEvaluatedShardId")
        if not last:
            return parents_first(shards)
        kwargs["ExclusiveStartShardId"] = last


def kinesis_shards(kinesis: Any, stream: str) -> list[dict[str, Any]]:
    """Every shard of a Kinesis stream, across all pages of ListShards, parents first."""
    pages = kinesis.get_paginator("list_shards").paginate(StreamName=stream)
    return parents_first([shard for page in pages for shard in page.get("Shards", [])])


def _calls(call: Callable[[str], dict[str, Any]],
           per_second: float | None) -> Callable[[str], dict[str, Any]]:
    """`call`, at most `per_second` times a second (None: no limit), waiting out throttling."""
    last = [float("-inf")]
    gap = 1 / per_second if per_second else 0.0

    def paced(iterator: str) -> dict[str, Any]:
        for attempt in range(THROTTLE_TRIES):
            _sleep(max(0.0, last[0] + gap - time.monotonic()))
            last[0] = time.monotonic()
            try:
                return call(iterator)
            except ClientError as error:
                if (error.response.get("Error", {}).get("Code") not in THROTTLED
                        or attempt == THROTTLE_TRIES - 1):
                    raise
                _sleep(THROTTLE_WAIT_SECONDS)
        raise AssertionError("unreachable")

    return paced


def _read_shard(get_page: Callable[[str], dict[str, Any]], iterator: str | None,
                kinesis: bool) -> Iterator[dict[str, Any]]:
    """The records of one shard from `iterator` until its end, or until it is caught up."""
    empty = 0
    while iterator:
        page = get_page(iterator)
        records = page.get("Records", [])
        yield from records
        iterator = page.get("NextShardIterator")
        if kinesis and page.get("MillisBehindLatest") == 0:
            return  # at the tip of an open shard
        empty = 0 if records else empty + 1
        if empty >= CAUGHT_UP_EMPTY_PAGES:
            return


def read_table_stream(streams: Any, arn: str,
                      iterator_type: str = "TRIM_HORIZON") -> Iterator[dict[str, Any]]:
    """Every record of a DynamoDB stream (boto3's parsed form), shard by shard, parents first."""
    for shard in table_stream_shards(streams, arn):
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"],
                                              ShardIteratorType=iterator_type)["ShardIterator"]
        # No read rate is documented for a stream shard, only "no more than 2 processes at most
        # should be reading from the same Streams shard at the same time" (the pipe is one).
        pages = _calls(lambda it: streams.get_records(ShardIterator=it, Limit=1000), None)
        yield from _read_shard(pages, iterator, kinesis=False)


def read_kinesis(kinesis: Any, stream: str,
                 iterator_type: str = "TRIM_HORIZON") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every record of a Kinesis stream as (shard id, record), shard by shard, parents first."""
    for shard in kinesis_shards(kinesis, stream):
        shard_id = shard["ShardId"]
        iterator = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard_id,
                                              ShardIteratorType=iterator_type)["ShardIterator"]
        pages = _calls(lambda it: kinesis.get_records(ShardIterator=it, Limit=10_000),
                       READS_PER_SECOND)
        for record in _read_shard(pages, iterator, kinesis=True):
            yield shard_id, record
