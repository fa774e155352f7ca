"""The Firehose hop, carried out locally: Kinesis -> transformer Lambda -> S3.

moto stores a delivery stream but never reads Kinesis nor calls its Lambda. This hop does what
Firehose does with a Kinesis source, an S3 destination and a Lambda processor, honouring the
stream's own settings as deployed from the template:

* reads every shard from its checkpoint, or, new, from where the stream was when the delivery
  stream was created (Firehose starts at LATEST), once a second per shard, as Firehose does
  (https://docs.aws.amazon.com/firehose/latest/dev/writing-with-kinesis-streams.html);
* buffers by the processor's and the destination's buffering hints
  (`WORKSHOP_LOCAL_BUFFER_SECONDS` may shorten the intervals for demos and tests);
* calls the processor's handler from `lambda/` in-process with a genuine Firehose event;
* enforces the response contract (one entry per recordId, a valid result, decodable data); a
  failed invocation is retried `NumberOfRetries` times, then its records go to the error output;
* writes Ok data under the Prefix evaluated at arrival time (UTC) with Firehose's object names,
  ProcessingFailed records to the ErrorOutputPrefix in Firehose's error-record format with their
  raw data, and nothing for Dropped records;
* checkpoints the Kinesis positions only after the objects are written.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from workshop.config import Settings, client
from workshop.errors import InvalidValue, WorkshopError
from workshop.local.aws.checkpoint import Checkpoint
from workshop.local.aws.wire import WireClient, WireError
from workshop.local.hops import conversion
from workshop.local.hops.functions import FunctionError, FunctionTimedOut, LocalFunction
from workshop.records.formats import (
    Buffered,
    Buffering,
    evaluate_prefix,
    processor_parameters,
    transformation_event,
)

log = logging.getLogger("workshop.local.hops.firehose")
MB = 1024 * 1024
LAMBDA_PAYLOAD_LIMIT = 6 * MB  # request and response limit of a synchronous Lambda invocation
RESULTS = {"Ok", "Dropped", "ProcessingFailed"}
SHARDS_SECONDS = 5.0  # how often the source stream's shards are listed again
FIREHOSE_READ_SECONDS = 1.0  # Firehose reads each shard once a second (realistic mode)


@dataclass
class Outcome:
    """What one poll produced: records read from Kinesis, objects written, records per result."""

    keys: list[str] = field(default_factory=list)
    delivered: int = 0
    failed: int = 0
    dropped: int = 0
    read: int = 0


# errorCode and errorMessage of Firehose's error output, as real error records carry them.
FUNCTION_ERROR = ("Lambda.FunctionError",
                  "The Lambda function was successfully invoked but it returned an error result.")
TIMED_OUT = ("Lambda.FunctionTimedOut", "The Lambda function invocation timed out. Increase the "
             "Timeout setting in the Lambda function.")
NOT_THE_STATUS_MODEL = ("Lambda.JsonProcessingException",
                        "There was an error parsing returned records from the Lambda function. "
                        "Ensure that the returned records follow the status model required by "
                        "Firehose.")
MISSING_RECORD_ID = ("Lambda.MissingRecordId", "One or more record Ids were not returned. Ensure "
                     "that the Lambda function returns all received record Ids.")
DUPLICATED_RECORD_ID = ("Lambda.DuplicatedRecordId", "One or more record Ids were returned more "
                        "than once. Ensure that the Lambda function returns each received record "
                        "Id once.")


class InvalidResponse(WorkshopError, ValueError):
    """The transformer's answer breaks Firehose's contract; the whole invocation fails."""

    def __init__(self, detail: str, error: tuple[str, str] = FUNCTION_ERROR) -> None:
        super().__init__(detail)
        self.code, self.message = error


def validate_response(response: Any, record_ids: list[str]) -> list[dict[str, Any]]:
    """Check a transformer response against its request; return its entries by input order.

    A broken contract fails the whole invocation with the errorCode Firehose gives it: a
    response that is not the status model, a recordId missing or unknown, one returned twice
    (https://docs.aws.amazon.com/firehose/latest/dev/data-transformation-status-model.html).
    """
    if not isinstance(response, dict) or not isinstance(response.get("records"), list):
        raise InvalidResponse("response is not an object with a 'records' list",
                              NOT_THE_STATUS_MODEL)
    by_id: dict[str, dict[str, Any]] = {}
    known = set(record_ids)  # a list would make this check quadratic in the batch size
    for entry in response["records"]:
        record_id = entry.get("recordId") if isinstance(entry, dict) else None
        if not isinstance(record_id, str) or record_id not in known:
            raise InvalidResponse(f"response has an unknown recordId {record_id!r}",
                                  MISSING_RECORD_ID)
        if record_id in by_id:
            raise InvalidResponse(f"response repeats recordId {record_id!r}",
                                  DUPLICATED_RECORD_ID)
        if entry.get("result") not in RESULTS:
            raise InvalidResponse(f"record {record_id} has result {entry.get('result')!r}")
        if entry["result"] == "Ok":
            try:
                base64.b64decode(entry.get("data", ""), validate=True)
            except (binascii.Error, TypeError, ValueError):
                raise InvalidResponse(f"record {record_id} has data that is not base64") from None
        by_id[record_id] = entry
    missing = [rid for rid in record_ids if rid not in by_id]
    if missing:
        raise InvalidResponse(f"response is missing {len(missing)} recordId(s), e.g. {missing[0]}",
                              MISSING_RECORD_ID)
    return [by_id[rid] for rid in record_ids]


class FirehoseHop:
    """Delivers one delivery stream's Kinesis records to S3 through its Lambda processor."""

    def __init__(self, description: dict[str, Any], s: Settings, checkpoint: Checkpoint) -> None:
        self.name = description["DeliveryStreamName"]
        self.arn = description["DeliveryStreamARN"]
        self.version = description.get("VersionId", "1")
        source = description.get("Source", {}).get("KinesisStreamSourceDescription", {})
        self.source_arn = source.get("KinesisStreamARN")
        if not self.source_arn:
            raise InvalidValue(f"delivery stream {self.name} has no Kinesis source")
        # moto's shard iterators lose the stream when it is named by ARN: name it by name.
        self.source_name = self.source_arn.split("/")[-1]
        destination = description["Destinations"][0]["ExtendedS3DestinationDescription"]
        self.bucket = destination["BucketARN"].split(":::")[-1]
        self.prefix = destination.get("Prefix", "")
        self.error_prefix = destination.get("ErrorOutputPrefix", "")
        buffering = Buffering.of(destination)
        override = s.local_buffer_seconds
        self.s3_interval = override if override is not None else buffering.s3_interval
        self.s3_size = buffering.s3_size_mb * MB
        self.processor = self._processor(destination, buffering, override)
        self.extension = destination.get("FileExtension", "")
        glue = client("glue", s)
        self.converter = conversion.Converter.from_destination(
            destination, s.region, lambda database, table: glue.get_table(
                DatabaseName=database, Name=table)["Table"]["StorageDescriptor"]["Columns"])
        self.kinesis = client("kinesis", s)
        self.kinesis_wire = WireClient(s, "kinesis")
        self.s3 = client("s3", s)
        self.lambda_client = client("lambda", s)
        self.checkpoint = checkpoint
        self.region = s.region
        self.iterators: dict[str, str | None] = {}
        self._shards: tuple[float, list[str]] | None = None  # (when listed, shard ids)
        realistic = s.realistic
        # When it was created: where it starts reading (realistic), else TRIM_HORIZON.
        self.created = description.get("CreateTimestamp") if realistic else None
        # "calls the Kinesis Streams GetRecords operation once per second for each shard"
        self.read_gap = FIREHOSE_READ_SECONDS if realistic else 0.0
        self.read_at: dict[str, float] = {}  # shard id -> when it was last read (monotonic)
        self.buffer: list[Buffered] = []
        self.buffer_bytes = 0
        self.totals = Outcome()
        self.function = LocalFunction(self.processor["arn"], s) if self.processor else None
        self.identity: tuple[str, str] = ("", "")  # set by the runtime: what it was made from

    @staticmethod
    def _processor(destination: dict[str, Any], buffering: Buffering,
                   override: float | None) -> dict[str, Any] | None:
        params = processor_parameters(destination)
        if params is None:
            return None
        return {
            "arn": params["LambdaArn"],
            "retries": int(params.get("NumberOfRetries", 3)),
            "size": (buffering.processor_size_mb or 0.0) * MB,
            "interval": override if override is not None else buffering.processor_interval,
        }

    # --- reading Kinesis -------------------------------------------------------------------

    def _iterator(self, shard_id: str) -> str | None:
        if shard_id not in self.iterators:
            last = self.checkpoint.get(shard_id)
            kwargs: dict[str, Any] = {"StreamName": self.source_name, "ShardId": shard_id}
            if last is not None:
                kwargs.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                              StartingSequenceNumber=last)
            elif self.created is not None:
                # "Amazon Data Firehose starts reading data from the LATEST position of your
                # Kinesis stream" when it is created: nothing written before is delivered.
                kwargs.update(ShardIteratorType="AT_TIMESTAMP", Timestamp=self.created)
            else:
                kwargs["ShardIteratorType"] = "TRIM_HORIZON"
            self.iterators[shard_id] = self.kinesis.get_shard_iterator(**kwargs)["ShardIterator"]
        return self.iterators[shard_id]

    def seconds_until_readable(self, now: float | None = None) -> float:
        """Seconds until a shard may be read again (Firehose reads each once a second)."""
        if not self.read_gap or not self.read_at:
            return 0.0
        now = time.monotonic() if now is None else now
        return max(0.0, min(self.read_at.values(), default=now) + self.read_gap - now)

    def read(self) -> int:
        """Pull what Kinesis holds now into the buffer; return how many records came in."""
        if self._shards is None or time.monotonic() - self._shards[0] > SHARDS_SECONDS:
            pages = self.kinesis.get_paginator("list_shards").paginate(
                StreamName=self.source_name)
            shards = [shard["ShardId"] for page in pages for shard in page["Shards"]]
            self._shards = (time.monotonic(), shards)
        count = 0
        for shard_id in self._shards[1]:
            now = time.monotonic()
            if now - self.read_at.get(shard_id, float("-inf")) < self.read_gap:
                continue
            iterator = self._iterator(shard_id)
            if iterator is None:
                continue
            self.read_at[shard_id] = now
            try:
                response = self.kinesis_wire.call(
                    "GetRecords", {"ShardIterator": iterator, "Limit": 10000})
            except WireError as error:
                if error.code != "ProvisionedThroughputExceededException":
                    raise
                log.info("%s: %s is at its read limit; reading it again later", self.name,
                         shard_id)
                continue
            for record in response.get("Records", []):
                data = base64.b64decode(record["Data"])
                self.buffer.append(Buffered(
                    shard_id, record["SequenceNumber"], record["PartitionKey"], data,
                    int(record["ApproximateArrivalTimestamp"] * 1000)))
                self.buffer_bytes += len(data)
                count += 1
            self.iterators[shard_id] = response.get("NextShardIterator")
        return count

    # --- flushing --------------------------------------------------------------------------

    def due(self, now: float | None = None) -> bool:
        """True when the buffer must be flushed: full, or its oldest record waited long enough."""
        return self.seconds_until_due(now) == 0.0

    def seconds_until_due(self, now: float | None = None) -> float | None:
        """Seconds until the buffer must be flushed (0 when it must be now); None when empty."""
        if not self.buffer:
            return None
        now = time.time() if now is None else now
        age = now - self.buffer[0].arrival_ms / 1000
        interval = self.s3_interval
        size = self.s3_size
        if self.processor is not None:
            interval = min(interval, self.processor["interval"])
            size = min(size, self.processor["size"])
        return 0.0 if self.buffer_bytes >= size else max(0.0, interval - age)

    def poll(self) -> Outcome:
        """Read Kinesis, and flush the buffer when it is due."""
        read = self.read()
        outcome = self.flush() if self.due() else Outcome()
        outcome.read = read
        return outcome

    def flush(self) -> Outcome:
        """Transform, convert (if configured) and deliver everything buffered, then checkpoint
        past it."""
        batch, self.buffer, self.buffer_bytes = self.buffer, [], 0
        if not batch:
            return Outcome()
        outcome = Outcome()
        ok: list[tuple[Buffered, bytes]] = []
        errors: list[dict[str, Any]] = []
        for chunk in self._chunks(batch):
            self._transform(chunk, ok, errors, outcome)
        when = datetime.fromtimestamp(batch[0].arrival_ms / 1000, UTC)
        if self.converter is not None and ok:
            self._convert(ok, when, outcome)
        elif ok:
            body = b"".join(data for _, data in ok)
            outcome.keys.append(self._put(evaluate_prefix(self.prefix, when), body))
        if errors:
            key_prefix = evaluate_prefix(self.error_prefix, when, "processing-failed")
            outcome.keys.append(self._put(key_prefix, _json_lines(errors), extension=""))
        last: dict[str, str] = {}
        for item in batch:
            last[item.shard_id] = item.sequence_number
        self.checkpoint.save(last)
        self.totals.delivered += outcome.delivered
        self.totals.failed += outcome.failed
        self.totals.dropped += outcome.dropped
        self.totals.keys.extend(outcome.keys)
        return outcome

    def _convert(self, ok: list[tuple[Buffered, bytes]], when: datetime,
                 outcome: Outcome) -> None:
        """Write the transformed records as one Parquet object; those that do not fit the
        table's columns go to the error output as format-conversion-failed."""
        assert self.converter is not None
        body, failed = self.converter.convert(ok)
        if body is not None:
            outcome.keys.append(self._put(evaluate_prefix(self.prefix, when), body))
        if failed:
            records = [self.converter.error_record(item.arrival_ms, data, item.sequence_number,
                                                   why) for item, data, why in failed]
            key_prefix = evaluate_prefix(self.error_prefix, when, conversion.ERROR_OUTPUT_TYPE)
            outcome.keys.append(self._put(key_prefix, _json_lines(records), extension=""))
            outcome.delivered -= len(failed)
            outcome.failed += len(failed)

    def _chunks(self, batch: list[Buffered]) -> list[list[Buffered]]:
        """Split the buffer into invocations within the processor buffer and Lambda's 6 MB."""
        if self.processor is None:
            return [batch]
        limit = min(self.processor["size"], LAMBDA_PAYLOAD_LIMIT * 0.7)  # base64 grows by 4/3
        chunks: list[list[Buffered]] = [[]]
        size = 0
        for item in batch:
            if chunks[-1] and size + len(item.data) > limit:
                chunks.append([])
                size = 0
            chunks[-1].append(item)
            size += len(item.data)
        return chunks

    def _transform(self, chunk: list[Buffered], ok: list[tuple[Buffered, bytes]],
                   errors: list[dict[str, Any]], outcome: Outcome) -> None:
        if self.processor is None:
            ok.extend((item, item.data) for item in chunk)
            outcome.delivered += len(chunk)
            return
        event, record_ids = transformation_event(chunk, self.arn, self.source_arn, self.region)
        attempts = 0
        code, reason = FUNCTION_ERROR
        while attempts <= self.processor["retries"]:
            attempts += 1
            event["invocationId"] = str(uuid.uuid4())  # each attempt is an invocation of its own
            try:
                entries = validate_response(self.invoke(event), record_ids)
            except InvalidResponse as error:
                (code, reason), detail = (error.code, error.message), str(error)
            except FunctionTimedOut as error:
                (code, reason), detail = TIMED_OUT, str(error)
            except FunctionError as error:
                (code, reason), detail = FUNCTION_ERROR, str(error)
            else:
                self._collect(chunk, entries, attempts, ok, errors, outcome)
                return
            log.warning("%s: invocation %d of %d failed with %s: %s (`workshop logs` shows the "
                        "function's own log)", self.name, attempts, self.processor["retries"] + 1,
                        code, detail)
        for item in chunk:
            errors.append(self._error_record(item, attempts, code, reason))
        outcome.failed += len(chunk)

    def _collect(self, chunk: list[Buffered], entries: list[dict[str, Any]], attempts: int,
                 ok: list[tuple[Buffered, bytes]], errors: list[dict[str, Any]],
                 outcome: Outcome) -> None:
        for item, entry in zip(chunk, entries, strict=True):
            if entry["result"] == "Ok":
                ok.append((item, base64.b64decode(entry["data"])))
                outcome.delivered += 1
            elif entry["result"] == "ProcessingFailed":
                errors.append(self._error_record(
                    item, attempts, "Lambda.ProcessingFailedStatus",
                    "The Lambda function marked this record ProcessingFailed"))
                outcome.failed += 1
            else:
                outcome.dropped += 1  # Dropped: deliberately not wanted, goes nowhere

    def _error_record(self, item: Buffered, attempts: int, code: str,
                      message: str) -> dict[str, Any]:
        """A record of the error output, in Firehose's format, carrying the raw data."""
        return {
            "attemptsMade": attempts,
            "arrivalTimestamp": item.arrival_ms,
            "errorCode": code,
            "errorMessage": message,
            "attemptEndingTimestamp": int(time.time() * 1000),
            "rawData": base64.b64encode(item.data).decode("ascii"),
            "lambdaArn": self.processor["arn"] if self.processor else None,
        }

    def close(self) -> None:
        """End the processor's execution environment (a worker process)."""
        if self.function is not None:
            self.function.close()

    def invoke(self, event: dict[str, Any]) -> Any:
        """Invoke the processor's deployed code with a transformation event (workshop.local.
        functions); its latest deployment is picked up first."""
        assert self.function is not None
        self.function.refresh()
        return self.function.invoke(event)

    def _put(self, key_prefix: str, body: bytes, extension: str | None = None) -> str:
        """Write an object named as Firehose names it: <stream>-<version>-<time>-<uuid>, and
        the destination's FileExtension for delivered data."""
        now = datetime.now(UTC)
        key = (f"{key_prefix}{self.name}-{self.version}-{now:%Y-%m-%d-%H-%M-%S}-"
               f"{uuid.uuid4()}{self.extension if extension is None else extension}")
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body)
        return key


def _json_lines(records: list[dict[str, Any]]) -> bytes:
    """Error records as Firehose writes them: one compact JSON object a line."""
    return "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records).encode()

