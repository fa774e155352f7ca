"""The local AWS as unkind as AWS: behaviours AWS documents that moto leaves out.

moto answers every call at once and in full, which lets code pass here that fails on a real
account. In the local AWS process, with the realistic switch on (`WORKSHOP_LOCAL_REALISTIC`,
on by default; `workshop.config`), these patches make moto behave as AWS's own pages say it
does. Each behaviour names the page it follows:

* **Empty pages before data.** Every new shard iterator, of Kinesis and of DynamoDB Streams,
  first answers EMPTY_PAGES empty `GetRecords` pages (Kinesis with `MillisBehindLatest` above 0
  while records lie ahead). "If there are no records available in the portion of the shard
  that the iterator points to, GetRecords returns an empty list. It might take multiple calls
  to get to a portion of the shard that contains records."
  https://docs.aws.amazon.com/kinesis/latest/APIReference/API_GetRecords.html and
  https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_streams_GetRecords.html
* **DynamoDB Streams shards roll over.** A stream shard closes after STREAM_SHARD_RECORDS
  records and a child shard (ParentShardId) takes the writes; a closed shard's iterator ends
  (no NextShardIterator). AWS rolls shards over by time and by partition splits ("Shards are
  ephemeral: They are created and deleted automatically, as needed"); locally a record count
  stands in for the hours, so a workshop sees it.
  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Streams.html
* **DescribeStream pages its shards**, at most SHARDS_PER_PAGE per answer, with
  `LastEvaluatedShardId` ("The only way to know when you have reached the end of the result
  set is when LastEvaluatedShardId is empty").
  https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_streams_DescribeStream.html
* **Kinesis shard limits.** Writes beyond 1,000 records or 1 MiB per second per shard fail with
  `ProvisionedThroughputExceededException` (per record in PutRecords, FailedRecordCount); more
  than 5 GetRecords calls per second per shard fail the same way.
  https://docs.aws.amazon.com/streams/latest/dev/service-sizes-and-limits.html and
  https://docs.aws.amazon.com/kinesis/latest/APIReference/API_PutRecords.html
* **BatchWriteItem leaves UnprocessedItems under a burst**: beyond the table's write throughput
  the rest of a batch comes back unprocessed. "If any requested operations fail because the
  table's provisioned throughput is exceeded or an internal processing failure occurs, the
  failed operations are returned in the UnprocessedItems response parameter."
  https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchWriteItem.html
  An on-demand table starts at ON_DEMAND_WRITE_UNITS a second: "New on-demand tables will be
  able to sustain up to 4,000 writes per second"
  (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/on-demand-capacity-mode.html);
  a provisioned one at its WriteCapacityUnits, without the burst capacity AWS gives "on a best
  effort basis" and does not guarantee
  (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/burst-adaptive-capacity.html).
* **A new pipe is CREATING, then RUNNING** (and STOPPING, then STOPPED), PIPE_STATE_SECONDS
  apart; the local runtime moves a pipe's data only while it is RUNNING.
  https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes.html

Firehose reading its Kinesis source from LATEST at creation is the local runtime's part
(workshop.local.hops.firehose). Faults AWS shows only intermittently (a pipe that "Cannot access
stream" on a brand-new table stream) are not injected at random: a test arms one with
`arm_fault`, and the next matching call fails once.
"""

from __future__ import annotations

import base64
import http.client
import json
import math
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from workshop.config import Settings
from workshop.local.aws.wire import local_endpoint

EMPTY_PAGES = 2  # empty GetRecords answers each new shard iterator gives before its records
STREAM_SHARD_RECORDS = 250  # records in a DynamoDB stream shard before it rolls over
SHARDS_PER_PAGE = 2  # shards in one DescribeStream answer of DynamoDB Streams
KINESIS_WRITE_RECORDS = 1000  # records per second per shard
KINESIS_WRITE_BYTES = 1024 * 1024  # bytes (data + partition key) per second per shard
KINESIS_READS = 5  # GetRecords calls per second per shard
ON_DEMAND_WRITE_UNITS = 4000  # write units per second of a new on-demand table (1 KB per unit)
PIPE_STATE_SECONDS = 2.0  # CREATING -> RUNNING, STOPPING -> STOPPED
FAULTS_ROUTE = "/_workshop/faults/"
FAULTS = ("pipe-create",)  # what a test may arm

ITERATOR_MARK = "|empty="  # Kinesis iterators are stateless strings: empty pages ride along
CLOSED = "workshop_closed_shards"  # attribute of a moto Table: its closed stream shards


class Bucket:
    """A token bucket: `rate` units a second, at most `rate` held (one second's worth)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.level = rate
        self.at = time.monotonic()
        self.lock = threading.Lock()

    def take(self, amount: float = 1.0) -> bool:
        """Take `amount` if the bucket holds it; False (nothing taken) when it does not."""
        with self.lock:
            now = time.monotonic()
            self.level = min(self.rate, self.level + (now - self.at) * self.rate)
            self.at = now
            if self.level < amount:
                return False
            self.level -= amount
            return True

    def give(self, amount: float = 1.0) -> None:
        """Put back what was taken for something that did not happen after all."""
        with self.lock:
            self.level = min(self.rate, self.level + amount)


_buckets: dict[tuple[str, ...], Bucket] = {}
_buckets_lock = threading.Lock()


def bucket(rate: float, *key: str) -> Bucket:
    """The bucket of one limit of one resource, e.g. bucket(5, "reads", stream, shard)."""
    with _buckets_lock:
        found = _buckets.get(key)
        if found is None:
            found = _buckets[key] = Bucket(rate)
        return found


# --- faults armed by tests ----------------------------------------------------------------------

_armed: dict[str, list[str]] = {}
_armed_lock = threading.Lock()


def take_fault(name: str) -> str | None:
    """The message of an armed fault of this name, disarming it; None when none is armed."""
    with _armed_lock:
        messages = _armed.get(name)
        return messages.pop(0) if messages else None


def _faults_route(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    """POST /_workshop/faults/<name> with {"message": ...}: the next such call fails once."""
    name = environ.get("PATH_INFO", "")[len(FAULTS_ROUTE):]
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = json.loads(environ["wsgi.input"].read(length) or b"{}") if length else {}
    if name not in FAULTS or environ.get("REQUEST_METHOD") != "POST":
        status, answer = "404 Not Found", {"message": f"faults: {', '.join(FAULTS)} (POST)"}
    else:
        with _armed_lock:
            _armed.setdefault(name, []).append(str(body.get("message", "")))
        status, answer = "200 OK", {"armed": name}
    data = json.dumps(answer).encode()
    start_response(status, [("Content-Type", "application/json"),
                            ("Content-Length", str(len(data)))])
    return [data]


def arm_fault(s: Settings, name: str, message: str = "") -> None:
    """Make the local AWS fail the next `name` call once (a test's way to meet a rare AWS fault)."""
    host, port = local_endpoint(s, "fault switch")
    connection = http.client.HTTPConnection(host, port, timeout=10)
    try:
        connection.request("POST", f"{FAULTS_ROUTE}{name}", body=json.dumps({"message": message}),
                           headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        data = response.read()
    finally:
        connection.close()
    if response.status != 200:
        raise RuntimeError(f"the local AWS did not arm fault {name!r}: {data[:200]!r}")


# --- Kinesis ------------------------------------------------------------------------------------

def _throttled(message: str) -> Exception:
    from moto.core.exceptions import JsonRESTError

    return JsonRESTError("ProvisionedThroughputExceededException", message)


def _rate_message(shard_id: str, stream: str, account_id: str) -> str:
    return (f"Rate exceeded for shard {shard_id} in stream {stream} under account {account_id}.")


def _record_size(record: dict[str, Any]) -> int:
    data = record.get("Data", "")
    size = len(data) if isinstance(data, (bytes, bytearray)) else len(base64.b64decode(data))
    return size + len(record.get("PartitionKey", ""))


def _admit_write(stream: Any, account_id: str, record: dict[str, Any]) -> str | None:
    """The shard id when the record may be written now, None when its shard is at its limit."""
    shard = stream.get_shard_for_key(record.get("PartitionKey"), record.get("ExplicitHashKey"))
    key = (stream.stream_name, shard.shard_id)
    records = bucket(KINESIS_WRITE_RECORDS, "kinesis-records", *key)
    size = bucket(KINESIS_WRITE_BYTES, "kinesis-bytes", *key)
    if not records.take():
        return None
    if not size.take(_record_size(record)):
        records.give(1.0)  # this write did not happen after all
        return None
    return shard.shard_id


def _put_records(original: Callable[..., Any]) -> Callable[..., Any]:
    def put_records(self: Any, stream_arn: str | None, stream_name: str | None,
                    records: list[dict[str, Any]]) -> dict[str, Any]:
        stream = self.describe_stream(stream_arn=stream_arn, stream_name=stream_name)
        if len(records) > 500:
            return original(self, stream_arn, stream_name, records)  # moto's own refusal
        admitted, refused = [], {}
        for index, record in enumerate(records):
            shard_id = _admit_write(stream, self.account_id, record)
            if shard_id is None:
                target = stream.get_shard_for_key(record.get("PartitionKey"),
                                                  record.get("ExplicitHashKey")).shard_id
                refused[index] = {"ErrorCode": "ProvisionedThroughputExceededException",
                                  "ErrorMessage": _rate_message(target, stream.stream_name,
                                                                self.account_id)}
            else:
                admitted.append(record)
        answer = original(self, stream_arn, stream_name, admitted) if admitted else {
            "FailedRecordCount": 0, "Records": []}
        written = iter(answer["Records"])
        answer["Records"] = [refused[i] if i in refused else next(written)
                             for i in range(len(records))]
        answer["FailedRecordCount"] = answer.get("FailedRecordCount", 0) + len(refused)
        return answer
    return put_records


def _put_record(original: Callable[..., Any]) -> Callable[..., Any]:
    def put_record(self: Any, stream_arn: str | None, stream_name: str | None,
                   partition_key: str, explicit_hash_key: str, data: str) -> Any:
        stream = self.describe_stream(stream_arn=stream_arn, stream_name=stream_name)
        record = {"PartitionKey": partition_key, "ExplicitHashKey": explicit_hash_key,
                  "Data": data}
        if _admit_write(stream, self.account_id, record) is None:
            shard = stream.get_shard_for_key(partition_key, explicit_hash_key)
            raise _throttled(_rate_message(shard.shard_id, stream.stream_name, self.account_id))
        return original(self, stream_arn, stream_name, partition_key, explicit_hash_key, data)
    return put_record


def _marked(iterator: str, empty: int) -> str:
    return f"{iterator}{ITERATOR_MARK}{empty}" if empty > 0 else iterator


def _unmarked(iterator: str) -> tuple[str, int]:
    plain, mark, count = iterator.partition(ITERATOR_MARK)
    return plain, int(count) if mark and count.isdigit() else 0


def _kinesis_get_shard_iterator(original: Callable[..., Any]) -> Callable[..., Any]:
    def get_shard_iterator(self: Any, *args: Any, **kwargs: Any) -> str:
        return _marked(original(self, *args, **kwargs), EMPTY_PAGES)
    return get_shard_iterator


def _kinesis_get_records(original: Callable[..., Any]) -> Callable[..., Any]:
    def get_records(self: Any, stream_arn: str | None, shard_iterator: str,
                    limit: int | None) -> tuple[str, list[Any], int]:
        from moto.kinesis.utils import decompose_shard_iterator

        plain, empty = _unmarked(shard_iterator)
        stream_name, shard_id, last = decompose_shard_iterator(plain)
        if not bucket(KINESIS_READS, "kinesis-reads", stream_name, shard_id).take():
            raise _throttled(_rate_message(shard_id, stream_name, self.account_id))
        if empty <= 0:
            return original(self, stream_arn, plain, limit)
        stream = self.describe_stream(stream_arn=stream_arn, stream_name=stream_name)
        shard = stream.get_shard(shard_id)
        return _marked(plain, empty - 1), [], _behind(shard, int(last))
    return get_records


def _behind(shard: Any, last: int) -> int:
    """MillisBehindLatest of a position: 0 at the tip, above 0 while records lie ahead."""
    from workshop.local.aws.patches import _moto_seconds, records_lock

    with records_lock:
        ahead = next((record for number, record in shard.records.items() if number > last), None)
    if ahead is None:
        return 0
    return max(1, math.ceil((time.time() - _moto_seconds(ahead.created_at)) * 1000))


# --- DynamoDB Streams ----------------------------------------------------------------------------

def stream_shards(table: Any) -> list[Any]:
    """A table's stream shards, oldest first: the closed ones, then the open one."""
    shards = list(getattr(table, CLOSED, []))
    if getattr(table, "stream_shard", None) is not None:
        shards.append(table.stream_shard)
    return shards


def _new_shard_id() -> str:
    return f"shardId-{int(time.time() * 1000):020d}-{uuid.uuid4().hex[:8]}"


def roll_over(table: Any) -> None:
    """Close the table's open stream shard and open a child shard for the next records."""
    from moto.dynamodb.models.table import StreamShard

    from workshop.local.aws.patches import records_lock, trimmed

    with records_lock:
        parent = table.stream_shard
        count = trimmed(parent) + len(parent.items)
        parent.ending_sequence_number = parent.starting_sequence_number + count - 1
        child = StreamShard(parent.account_id, table)
        child.id = _new_shard_id()
        child.starting_sequence_number = parent.starting_sequence_number + count
        child.parent_shard_id = parent.id
        child.created_on = parent.created_on  # the stream's creation time, which moto reads here
        setattr(table, CLOSED, [*getattr(table, CLOSED, []), parent])
        table.stream_shard = child


def _stream_add(original: Callable[..., Any]) -> Callable[..., Any]:
    def add(self: Any, old: Any, new: Any) -> None:
        from workshop.local.aws.patches import trimmed

        original(self, old, new)
        table = self.table
        if table.stream_shard is self and trimmed(self) + len(self.items) >= STREAM_SHARD_RECORDS:
            roll_over(table)
    return add


def _shard_json(shard: Any) -> dict[str, Any]:
    numbers = {"StartingSequenceNumber": str(shard.starting_sequence_number)}
    ending = getattr(shard, "ending_sequence_number", None)
    if ending is not None:
        numbers["EndingSequenceNumber"] = str(ending)
    found: dict[str, Any] = {"ShardId": shard.id, "SequenceNumberRange": numbers}
    parent = getattr(shard, "parent_shard_id", None)
    if parent is not None:
        found["ParentShardId"] = parent
    return found


def _streams_describe(self: Any) -> tuple[str, dict[str, str]]:
    """DescribeStream with every shard, paged by Limit, ExclusiveStartShardId, SHARDS_PER_PAGE."""
    from workshop.local.aws.patches import JSON_1_0, _wire

    arn = self._get_param("StreamArn")
    table = self.backend._get_table_from_arn(arn)
    shards = stream_shards(table)
    start = self._get_param("ExclusiveStartShardId")
    ids = [shard.id for shard in shards]
    first = ids.index(start) + 1 if start in ids else 0
    size = min(int(self._get_param("Limit") or 100), 100, SHARDS_PER_PAGE)
    page = shards[first:first + size]
    description: dict[str, Any] = {
        "StreamArn": arn,
        "StreamLabel": table.latest_stream_label,
        "StreamStatus": "ENABLED" if table.latest_stream_label else "DISABLED",
        "StreamViewType": table.stream_specification["StreamViewType"],
        "CreationRequestDateTime": shards[0].created_on if shards else None,
        "TableName": table.name,
        "KeySchema": table.schema,
        "Shards": [_shard_json(shard) for shard in page],
    }
    if first + size < len(shards):
        description["LastEvaluatedShardId"] = page[-1].id
    return json.dumps({"StreamDescription": description}, default=_wire), dict(JSON_1_0)


def _streams_get_shard_iterator(self: Any, arn: str, shard_id: str, shard_iterator_type: str,
                                sequence_number: str | None = None) -> Any:
    """GetShardIterator on any of the stream's shards, open or closed; empty pages first."""
    from moto.dynamodb.exceptions import ResourceNotFoundException
    from moto.dynamodbstreams.models import ShardIterator

    table = self._get_table_from_arn(arn)
    shard = next((s for s in stream_shards(table) if s.id == shard_id), None)
    if shard is None:
        raise ResourceNotFoundException(f"Requested resource not found: Shard: {shard_id} in "
                                        f"Stream: {arn} not found")
    if shard_iterator_type == "LATEST" and hasattr(shard, "ending_sequence_number"):
        iterator = ShardIterator(self, shard, "AFTER_SEQUENCE_NUMBER",
                                 shard.ending_sequence_number)
    else:
        iterator = ShardIterator(self, shard, shard_iterator_type, sequence_number)
    iterator.empty_pages = EMPTY_PAGES
    self.shard_iterators[iterator.arn] = iterator
    return iterator


def _streams_get_records(original: Callable[..., Any]) -> Callable[..., Any]:
    def get_records(self: Any) -> Any:
        from moto.dynamodbstreams.models import ShardIterator

        from workshop.local.aws.patches import JSON_1_0

        backend = self.backend
        iterator = backend.shard_iterators.get(self._get_param("ShardIterator"))
        if iterator is None:
            return original(self)  # moto's own answer to an unknown or expired iterator
        shard = iterator.stream_shard
        ending = getattr(shard, "ending_sequence_number", None)
        if ending is not None and iterator.sequence_number > ending:
            return json.dumps({"Records": []}), dict(JSON_1_0)  # closed, read to its end
        empty = getattr(iterator, "empty_pages", 0)
        if empty <= 0:
            return original(self)
        following = ShardIterator(backend, shard, "AT_SEQUENCE_NUMBER", iterator.sequence_number)
        following.empty_pages = empty - 1
        backend.shard_iterators[following.arn] = following
        return json.dumps({"NextShardIterator": following.arn, "Records": []}), dict(JSON_1_0)
    return get_records


# --- DynamoDB ----------------------------------------------------------------------------------

def _write_units(request: dict[str, Any]) -> int:
    """Write units of one BatchWriteItem request: 1 per KB of item, rounded up (a delete 1)."""
    item = request.get("PutRequest", {}).get("Item")
    return 1 if item is None else max(1, math.ceil(len(json.dumps(item)) / 1024))


def _write_capacity(handler: Any, table: str) -> float:
    """Write units a second the table sustains: its provisioned WCU, or an on-demand table's."""
    try:
        found = handler.dynamodb_backend.get_table(table)
    except Exception:  # an unknown table: moto's own answer says so
        return ON_DEMAND_WRITE_UNITS
    if found.billing_mode == "PAY_PER_REQUEST":
        return ON_DEMAND_WRITE_UNITS
    return float(found.throughput.get("WriteCapacityUnits") or ON_DEMAND_WRITE_UNITS)


def _batch_write_item(original: Callable[..., Any]) -> Callable[..., Any]:
    def batch_write_item(self: Any) -> Any:
        requested = self.body.get("RequestItems") or {}
        admitted: dict[str, list[Any]] = {}
        unprocessed: dict[str, list[Any]] = {}
        for table, requests in requested.items():
            units = bucket(_write_capacity(self, table), "table-writes", self.current_account,
                           table)
            for request in requests:
                taken = units.take(_write_units(request))
                (admitted if taken else unprocessed).setdefault(table, []).append(request)
        if not unprocessed:
            return original(self)
        if not admitted:
            return json.dumps({"UnprocessedItems": unprocessed}), {
                "Content-Type": "application/x-amz-json-1.0"}
        self.body["RequestItems"] = admitted
        answer = original(self)
        if isinstance(answer, tuple):
            body, headers = answer[0], answer[1]
            data = json.loads(body)
            data["UnprocessedItems"] = unprocessed
            return json.dumps(data), headers
        answer.result["UnprocessedItems"] = unprocessed
        return answer
    return batch_write_item


# --- install -------------------------------------------------------------------------------------

_original: dict[str, Any] = {}


def install() -> None:
    """Apply every behaviour above (idempotent; the local AWS process only, after the fast
    paths, whose methods these wrap)."""
    from moto.dynamodb.models.table import StreamShard
    from moto.dynamodb.responses import DynamoHandler
    from moto.dynamodbstreams.models import DynamoDBStreamsBackend
    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler
    from moto.kinesis.models import KinesisBackend
    from moto.moto_api import state_manager

    from workshop.local.aws import routes

    if _original:
        return
    wrapped = [
        (KinesisBackend, "put_records", _put_records),
        (KinesisBackend, "put_record", _put_record),
        (KinesisBackend, "get_shard_iterator", _kinesis_get_shard_iterator),
        (KinesisBackend, "get_records", _kinesis_get_records),
        (StreamShard, "add", _stream_add),
        (DynamoDBStreamsHandler, "get_records", _streams_get_records),
        (DynamoHandler, "batch_write_item", _batch_write_item),
    ]
    for owner, name, wrap in wrapped:
        _original[(owner, name)] = getattr(owner, name)
        setattr(owner, name, wrap(getattr(owner, name)))
    for owner, name, replacement in [
            (DynamoDBStreamsHandler, "describe_stream", _streams_describe),
            (DynamoDBStreamsBackend, "get_shard_iterator", _streams_get_shard_iterator)]:
        _original[(owner, name)] = getattr(owner, name)
        setattr(owner, name, replacement)
    state_manager.set_transition(
        model_name="pipes::pipe",
        transition={"progression": "time", "seconds": PIPE_STATE_SECONDS})
    routes.add(FAULTS_ROUTE, _faults_route)


def remove() -> None:
    """Undo install() (for tests)."""
    from moto.moto_api import state_manager

    from workshop.local.aws import routes

    for (owner, name), method in _original.items():
        setattr(owner, name, method)
    _original.clear()
    state_manager.unset_transition("pipes::pipe")
    routes.drop(FAULTS_ROUTE)
    _buckets.clear()
