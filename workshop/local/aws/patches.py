"""The one module of patches to moto: faster, leaner answers to the calls made thousands of times.

Every patch is listed in PATCHES with the moto behaviour it replaces; they are only speed and
memory. `WORKSHOP_LOCAL_PATCHES=off` (workshop.config) leaves them out, with what builds on them
(workshop.local.aws.changes, s3bulk, keepalive, retention), and the test suite passes on moto's
own code (docs/architecture.md#upgrading-moto). moto 5.2.6 moved two things they touch: a Kinesis
record keeps its arrival time as a datetime (no float `created_at`), and answers carry their
status code as a `status` header; both are followed here.

In moto 5.2.5, DynamoDB Streams GetRecords is slow to build its response (its generic
shape-walking serializer walks every record); a stream record is kept as nested dicts several
times the size of its wire JSON; a Kinesis shard scans every record it ever held on each
GetRecords and copies all its keys on each put; Kinesis PutRecords spends more time in the
shape-walking serializer than storing the records; and moto lists its own package folder on
every request (measured: docs/performance.md#the-patches-to-moto). These patches, applied only
inside the local AWS process, answer the same calls with the same wire format (JSON,
epoch-second timestamps, base64 blobs), from the same backend state, in O(records returned):

* a stream record is kept as its wire JSON text, and GetRecords joins those texts;
* a stream shard counts the records trimmed from its front (workshop.local.aws.retention), so
  sequence numbers, TRIM_HORIZON and LATEST stay what they were before the trim;
* Kinesis GetRecords and PutRecords answer with json.dumps, reading only the records returned;
* BatchWriteItem and PutRecords bodies are read with json.loads instead of moto's shape-walking
  parser, which gives the same parameters (binary DynamoDB attributes still go to moto's parser);
* BatchWriteItem's answer (nothing unprocessed, capacity per table) is written with json.dumps
  instead of moto's shape-walking serializer, which costs the server CPU on every batch write;
* every fast answer carries the content type moto's serializer gives it (application/x-amz-json);
* the names of a handler class's methods, which moto lists with inspect.getmembers on every
  request to find its action, are listed once per class;
* moto's register of every model instance ever made (for its dashboard) no longer keeps items,
  stream records, Kinesis records and shard iterators alive after their backend lets them go;
* a stream record's SizeBytes is computed as moto does, without moto's unix_time (which rebuilds
  the epoch per call, a share of every batch write), and answers skip moto's regex search for an
  XML <RequestId> when they hold none.

tests/test_local_patches.py compares every patched answer with moto's own, on the wire.
"""

from __future__ import annotations

import base64
import functools
import json
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from moto import backends
from moto.core import responses as core_responses
from moto.core.responses import ActionResult, BaseResponse
from moto.dynamodb.models.dynamo_type import Item
from moto.dynamodb.models.table import StreamRecord, StreamShard
from moto.dynamodb.responses import DynamoHandler
from moto.dynamodbstreams.models import ShardIterator
from moto.dynamodbstreams.responses import DynamoDBStreamsHandler
from moto.kinesis.models import Record as KinesisRecord
from moto.kinesis.models import Shard
from moto.kinesis.responses import KinesisResponse
from moto.moto_api._internal import mock_random
from moto.utilities.aws_headers import gen_amzn_requestid_long

_original: dict[str, Any] = {}
# Held by the patched reads and writes of stream and Kinesis shard records and by retention's
# trims, so that a reader never sees a shard's records and its trimmed count out of step.
records_lock = threading.RLock()
_EPOCH = datetime(1970, 1, 1)
# The content types moto's serializers answer with (DynamoDB and its Streams; Kinesis).
# moto 5.2.6 also sends its serializer's status code as a "status" header (core/responses.py).
JSON_1_0 = {"Content-Type": "application/x-amz-json-1.0", "status": 200}
JSON_1_1 = {"Content-Type": "application/x-amz-json-1.1", "status": 200}


def _wire(value: Any) -> Any:
    """json.dumps fallback: bytes travel as base64 text, times as epoch seconds."""
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, datetime):  # moto's times are naive UTC; AWS sends milliseconds
        delta = value - _EPOCH  # whole seconds as calendar.timegm gives them, but faster
        seconds = delta.days * 86400 + delta.seconds
        return seconds + (value.microsecond // 1000) / 1000 if value.microsecond else seconds
    raise TypeError(f"cannot put {type(value).__name__} on the wire")


# --- DynamoDB Streams -------------------------------------------------------------------------

class CompactStreamRecord:
    """A stream record kept as its wire JSON: a quarter of moto's dicts, and no re-serializing
    on each read. `to_json()` gives moto's own dict back for moto's code paths."""

    __slots__ = ("created", "sequence_number", "wire")

    def __init__(self, created: datetime, sequence_number: int, wire: str) -> None:
        self.created = created
        self.sequence_number = sequence_number
        self.wire = wire

    def to_json(self) -> dict[str, Any]:
        """The record as moto's StreamRecord.to_json() gives it (its time as a datetime)."""
        record = json.loads(self.wire)
        record["dynamodb"]["ApproximateCreationDateTime"] = self.created
        return record


def _moto_seconds(moment: datetime) -> float:
    """moto's unix_time(moment), the same float, without building the epoch on every call
    (moto's utcfromtimestamp imports and converts each time, a share of every batch write;
    measured: docs/performance.md#the-patches-to-moto)."""
    delta = moment - _EPOCH
    return (delta.days * 86400) + (delta.seconds + (delta.microseconds / 1e6))


def stream_record(table: Any, view_type: str, event_name: str, old: Any, new: Any,
                  sequence_number: int) -> CompactStreamRecord:
    """The record moto's StreamRecord builds (moto/dynamodb/models/table.py), as wire JSON.

    The images are dumped once. The head of the `dynamodb` block is written around them twice:
    as moto's dump (time as float seconds, SizeBytes 1), whose length is SizeBytes, and as the
    wire's (time in milliseconds, the real SizeBytes). Built as one dict and dumped twice, the
    records took longer (measured: docs/performance.md#the-patches-to-moto).
    tests/test_local_patches.py compares the records and their sizes with moto's own.
    """
    changed = old if old is not None else new
    images: dict[str, Any] = {"Keys": {table.hash_key_attr: changed.hash_key.to_json()}}
    if table.range_key_attr is not None:
        images["Keys"][table.range_key_attr] = changed.range_key.to_json()
    if view_type in ("NEW_IMAGE", "NEW_AND_OLD_IMAGES") and new is not None:
        images["NewImage"] = new.to_json()["Attributes"]
    if view_type in ("OLD_IMAGE", "NEW_AND_OLD_IMAGES") and old is not None:
        images["OldImage"] = old.to_json()["Attributes"]
    created = datetime.now(UTC).replace(tzinfo=None)  # moto's utcnow
    # view_type is one of four constants; json writes an int or float as its repr
    head = f'{{"StreamViewType": "{view_type}", "ApproximateCreationDateTime": '
    middle = f', "SequenceNumber": "{sequence_number}", "SizeBytes": '
    rest = ", " + json.dumps(images, default=_wire)[1:]  # '"Keys": {...}, ...}': the block's end
    size = len(head) + len(repr(_moto_seconds(created))) + len(middle) + 1 + len(rest)
    # On the wire in the order of the API's shape, as moto's serializer (and AWS) answer.
    block = (f'{{"ApproximateCreationDateTime": {_wire(created)!r}, {rest[2:-1]}, '
             f'"SequenceNumber": "{sequence_number}", "SizeBytes": {size}, '
             f'"StreamViewType": "{view_type}"}}')
    wire = (f'{{"eventID": "{mock_random.uuid4().hex}", "eventName": "{event_name}", '
            f'"eventVersion": "1.0", "eventSource": "aws:dynamodb", "awsRegion": "us-east-1", '
            f'"dynamodb": {block}}}')
    return CompactStreamRecord(created, sequence_number, wire)


def trimmed(shard: StreamShard) -> int:
    """How many records retention has removed from the front of a stream shard."""
    return getattr(shard, "trimmed", 0)


def stream_slice(shard: StreamShard, start: int, quantity: int) -> list[Any]:
    """Up to `quantity` records from sequence number `start`; a start before the oldest record
    kept (TRIM_HORIZON after a trim) begins at the oldest record kept, as on AWS."""
    with records_lock:
        index = max(0, start - shard.starting_sequence_number - trimmed(shard))
        return shard.items[index:index + quantity]


def _stream_add(self: StreamShard, old: Any, new: Any) -> None:
    """moto's StreamShard.add, numbering past trimmed records and keeping compact records."""
    view_type = self.table.stream_specification["StreamViewType"]
    event_name = "INSERT" if old is None else "REMOVE" if new is None else "MODIFY"
    with records_lock:
        sequence_number = self.starting_sequence_number + trimmed(self) + len(self.items)
        self.items.append(stream_record(
            self.table, view_type, event_name, old, new, sequence_number))
    if self.table.lambda_event_source_mappings:  # never created locally; kept as moto does it
        from moto.awslambda.utils import get_backend

        result = None
        for arn, esm in self.table.lambda_event_source_mappings.items():
            result = get_backend(self.account_id, arn.split(":")[3]).send_dynamodb_items(
                arn, self.items, esm.event_source_arn)
        if result:  # consumed: moto empties the shard; numbering goes on
            self.trimmed = trimmed(self) + len(self.items)
            self.items = []


def _stream_get(self: StreamShard, start: int, quantity: int) -> list[dict[str, Any]]:
    """moto's StreamShard.get, aware of trimmed records."""
    return [record.to_json() for record in stream_slice(self, start, quantity)]


def _iterator_init(self: ShardIterator, streams_backend: Any, stream_shard: StreamShard,
                   shard_iterator_type: str, sequence_number: int | None = None) -> None:
    """moto's ShardIterator, with LATEST past trimmed records and a creation time (for expiry)."""
    _original["iterator_init"](self, streams_backend, stream_shard, shard_iterator_type,
                               sequence_number)
    if shard_iterator_type == "LATEST":
        self.sequence_number += trimmed(stream_shard)
    self.created = time.monotonic()


# The order of the keys of a stream record in the API's shape, which moto's serializer follows.
RECORD_KEYS = ("eventID", "eventName", "eventVersion", "eventSource", "awsRegion", "dynamodb",
               "userIdentity")
BLOCK_KEYS = ("ApproximateCreationDateTime", "Keys", "NewImage", "OldImage", "SequenceNumber",
              "SizeBytes", "StreamViewType")


def _in_shape_order(record: dict[str, Any]) -> dict[str, Any]:
    """moto's record dict with its keys in the order moto's serializer writes them."""
    block = record.get("dynamodb") or {}
    ordered = {key: record[key] for key in RECORD_KEYS if key in record}
    if "dynamodb" in ordered:
        ordered["dynamodb"] = {key: block[key] for key in BLOCK_KEYS if key in block}
    return ordered


def _streams_get_records(self: DynamoDBStreamsHandler) -> tuple[str, dict[str, str]]:
    """GetRecords of DynamoDB Streams: moto's iterator logic, records joined as wire JSON."""
    limit = self._get_param("Limit") or 1000
    backend = self.backend
    iterator = backend.shard_iterators[self._get_param("ShardIterator")]
    shard = iterator.stream_shard
    records = stream_slice(shard, iterator.sequence_number, limit)
    if records:
        last = records[-1]
        last_number = (last.sequence_number if isinstance(last, CompactStreamRecord)
                       else int(last.to_json()["dynamodb"]["SequenceNumber"]))
        following = ShardIterator(backend, shard, "AFTER_SEQUENCE_NUMBER", last_number)
    else:
        following = ShardIterator(backend, shard, "AT_SEQUENCE_NUMBER", iterator.sequence_number)
    backend.shard_iterators[following.arn] = following
    texts = [record.wire if isinstance(record, CompactStreamRecord)
             else json.dumps(_in_shape_order(record.to_json()), default=_wire)
             for record in records]
    return (f'{{"NextShardIterator": {json.dumps(following.arn)}, '
            f'"Records": [{", ".join(texts)}]}}'), dict(JSON_1_0)


# --- Kinesis ----------------------------------------------------------------------------------

def _kinesis_get_records(self: KinesisResponse) -> tuple[str, dict[str, str]]:
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
            "ApproximateArrivalTimestamp": _wire(record.created_at),  # a datetime since moto 5.2.6
        } for record in records],
    }), dict(JSON_1_1)


def _kinesis_put_records(self: KinesisResponse) -> tuple[str, dict[str, str]]:
    """PutRecords of Kinesis: moto's backend stores the records, json.dumps answers."""
    return json.dumps(self.kinesis_backend.put_records(
        self._get_param("StreamARN"), self._get_param("StreamName"),
        self._get_param("Records"))), dict(JSON_1_1)


def _shard_get_records(self: Shard, last_sequence_id: str,
                       limit: int | None) -> tuple[list[Any], int, int]:
    """Shard records after last_sequence_id, reading only what is returned.

    moto numbers a shard's records 1, 2, 3, ... with no gaps, so record n+1 follows record n;
    retention only removes records from the front, so a read before the oldest record kept
    starts there. Anything else falls back to moto's own scan.
    """
    last = int(last_sequence_id)
    count = limit or 10_000
    with records_lock:
        start = max(last + 1, _first_key(self))
        results = []
        for number in range(start, start + count):
            record = self.records.get(number)
            if record is None:
                break
            results.append(record)
        if not results and self.records and next(reversed(self.records)) > last:
            return _original["shard_get_records"](self, last_sequence_id, limit)
        newest = self.records[next(reversed(self.records))] if self.records else None
    behind = (int((newest.created_at - results[-1].created_at).total_seconds() * 1000)
              if results else 0)
    return results, (results[-1].sequence_number if results else last), behind


def _first_key(self: Shard) -> int:
    return next(iter(self.records)) if self.records else 0


def _last_key(self: Shard) -> int:
    return next(reversed(self.records)) if self.records else 0


class _Untracked(list):  # type: ignore[type-arg]
    """A model class's `instances_tracked` register that keeps nothing.

    moto appends every model instance it ever makes to its class's register (for its web
    dashboard, which the workshop does not use), so every item version, stream record, Kinesis
    record and shard iterator stayed in memory for good, trimmed or replaced or not, and the
    server grew with every order (measured: docs/performance.md#the-patches-to-moto)."""

    def append(self, _instance: Any) -> None:
        """Forget the instance: its backend holds it for as long as it is needed."""


UNTRACKED = (Item, StreamRecord, ShardIterator, KinesisRecord)


# --- DynamoDB ---------------------------------------------------------------------------------

# The answer's keys, in the order of its shape (as moto's serializer writes them).
BATCH_WRITE_ANSWER = ("UnprocessedItems", "ItemCollectionMetrics", "ConsumedCapacity")


def _batch_write_item(self: DynamoHandler) -> Any:
    """BatchWriteItem: moto's own checks and writes, its answer with json.dumps.

    moto answers with plain data (no unprocessed items, one capacity entry per table), which
    its serializer walks shape by shape, a visible share of a burst's request handling
    (profiled: docs/performance.md#the-patches-to-moto); anything else (say, unprocessed items
    in a later moto) is left to that serializer.
    """
    answer = _original["DynamoHandler.batch_write_item"](self)
    data = answer.result if isinstance(answer, ActionResult) else None
    if (not isinstance(data, dict) or set(data) != set(BATCH_WRITE_ANSWER)
            or data["UnprocessedItems"] or data["ItemCollectionMetrics"]):
        return answer
    return json.dumps({key: data[key] for key in BATCH_WRITE_ANSWER}), dict(JSON_1_0)


# --- request parsing --------------------------------------------------------------------------

def _dynamodb_parse(self: DynamoHandler, request: Any) -> None:
    """BatchWriteItem parameters with json.loads: moto's shape-walking parser gives the same
    dicts, more slowly for every item (measured: docs/performance.md#the-patches-to-moto),
    except for binary attributes, which it decodes: a body with a B or BS attribute goes to
    moto's parser."""
    body = request.data
    if (self._get_action() == "BatchWriteItem" and b'"B"' not in body
            and b'"BS"' not in body):
        self.params = json.loads(body)
        return
    _original["DynamoHandler.parse_parameters"](self, request)


def _kinesis_parse(self: KinesisResponse, request: Any) -> None:
    """PutRecords parameters with json.loads, Data decoded from base64 as moto's parser does."""
    if self._get_action() != "PutRecords":
        _original["KinesisResponse.parse_parameters"](self, request)
        return
    params = json.loads(request.data)
    for record in params.get("Records", []):
        record["Data"] = base64.b64decode(record["Data"])
    self.params = params


def _enrich_response(headers: dict[str, Any], body: Any) -> tuple[dict[str, Any], Any]:
    """moto's BaseResponse._enrich_response, which regex-scans every answer for an XML
    <RequestId> to fill in, even a large GetRecords JSON, a share of the server's time
    (measured: docs/performance.md#the-patches-to-moto): a text without "<RequestId>" cannot
    match, so only the request id header is set for it."""
    if isinstance(body, str) and "<RequestId>" not in body:
        if "status" in headers:
            headers["status"] = str(headers["status"])
        gen_amzn_requestid_long(headers)
        return headers, body
    return _original["BaseResponse._enrich_response"].__func__(headers, body)


def _cached_module_list(listing: Any) -> Any:
    """moto lists its own package folder on every request, a cost paid each time
    (measured: docs/performance.md#the-patches-to-moto): once is enough, the folder does not
    change while the server runs."""
    modules = tuple(listing())
    return lambda: iter(modules)


@dataclass(frozen=True)
class Patch:
    """One replacement of moto's code: where, what replaces it, and the moto behaviour replaced."""

    owner: Any  # the class or module holding the attribute
    name: str
    replacement: Any
    replaces: str  # what moto's own code does there, which this patch does faster or leaner


PATCHES: list[Patch] = [
    Patch(DynamoDBStreamsHandler, "get_records", _streams_get_records,
          "DynamoDB Streams GetRecords: serializes each record with the shape-walking serializer"),
    Patch(StreamShard, "add", _stream_add,
          "a stream record kept as nested dicts, built with unix_time per call"),
    Patch(StreamShard, "get", _stream_get,
          "reads a stream shard's records by index, unaware of records trimmed by retention"),
    Patch(ShardIterator, "__init__", _iterator_init,
          "a stream iterator's TRIM_HORIZON and LATEST, unaware of records trimmed by retention"),
    Patch(KinesisResponse, "get_records", _kinesis_get_records,
          "Kinesis GetRecords: scans every record the shard ever held, shape-walking serializer"),
    Patch(KinesisResponse, "put_records", _kinesis_put_records,
          "Kinesis PutRecords: answered through the shape-walking serializer"),
    Patch(DynamoHandler, "parse_parameters", _dynamodb_parse,
          "BatchWriteItem's body read by the shape-walking parser"),
    Patch(DynamoHandler, "batch_write_item", _batch_write_item,
          "BatchWriteItem's answer written by the shape-walking serializer"),
    Patch(KinesisResponse, "parse_parameters", _kinesis_parse,
          "PutRecords' body read by the shape-walking parser"),
    Patch(Shard, "get_records", _shard_get_records,
          "a Kinesis shard's records found by scanning all of them from the first"),
    Patch(Shard, "get_min_sequence_number", _first_key,
          "the oldest sequence number of a shard found by copying all its keys"),
    Patch(Shard, "get_max_sequence_number", _last_key,
          "the newest sequence number of a shard found by copying all its keys"),
    Patch(backends, "list_of_moto_modules", None,
          "moto lists its own package folder on every request"),
    Patch(core_responses, "method_names_from_class", None,
          "a handler's method names listed with inspect.getmembers on every request"),
    Patch(BaseResponse, "_enrich_response", None,
          "every answer searched with a regex for an XML <RequestId>, JSON ones too"),
    *[Patch(model, "instances_tracked", None,
            f"moto's register of every {model.__name__} ever made, kept alive for its dashboard")
      for model in (Item, StreamRecord, ShardIterator, KinesisRecord)],
]


def _replacement(patch: Patch, original: Any) -> Any:
    """What replaces the original: the patch's own function, or one built from the original."""
    if patch.replacement is not None:
        return patch.replacement
    if patch.name == "list_of_moto_modules":
        return _cached_module_list(original)
    if patch.name == "method_names_from_class":
        return functools.cache(original)
    if patch.name == "_enrich_response":
        return staticmethod(_enrich_response)
    return _Untracked()  # instances_tracked


def _original_of(patch: Patch) -> Any:
    """The attribute as moto defines it (a class's own staticmethod kept as one)."""
    if isinstance(patch.owner, type) and patch.name in vars(patch.owner):
        return vars(patch.owner)[patch.name]
    return getattr(patch.owner, patch.name)


def _key(patch: Patch) -> str:
    return f"{getattr(patch.owner, '__name__', patch.owner)}.{patch.name}"


def apply() -> None:
    """Install every patch (idempotent); call once in the local AWS process."""
    if _original:
        return
    _original["iterator_init"] = ShardIterator.__init__
    _original["shard_get_records"] = Shard.get_records
    for patch in PATCHES:
        original = _original_of(patch)
        _original[_key(patch)] = original
        setattr(patch.owner, patch.name, _replacement(patch, original))


def remove() -> None:
    """Restore moto's own code (the tests compare both)."""
    if not _original:
        return
    for patch in PATCHES:
        setattr(patch.owner, patch.name, _original[_key(patch)])
    _original.clear()
