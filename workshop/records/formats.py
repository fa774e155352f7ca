"""The record formats both targets share: as AWS hands records from one hop to the next.

The local hops write records in these formats, and the notebooks and the doctor read the records
of either target through them: a DynamoDB stream record as it travels on the wire (what the Pipe
puts into Kinesis), the event Firehose sends its Lambda processor, Firehose's S3 prefix
expressions, and the transformer's handler imported as Lambda imports it.
"""

from __future__ import annotations

import base64
import importlib.util
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

from workshop.config import LAMBDA_DIR
from workshop.errors import InvalidValue, WorkshopError


class HandlerNotFound(WorkshopError, FileNotFoundError):
    """A Lambda handler setting names a file that lambda/ does not hold."""


def iso_utc(when: datetime | None = None) -> str:
    """A time (default: now) in UTC as ISO 8601 with microseconds and a Z, as the generator
    writes `placed_at` and the queries compare it: 2026-11-28T12:34:56.123456Z."""
    moment = datetime.now(UTC) if when is None else when.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def to_wire(value: Any) -> Any:
    """Undo boto3's parsing, giving the record as the stream's JSON (base64 bytes, epoch time)."""
    if isinstance(value, dict):
        return {key: to_wire(item) for key, item in value.items()}
    if isinstance(value, list):
        return [to_wire(item) for item in value]
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, datetime):
        seconds = value.timestamp()
        return int(seconds) if seconds == int(seconds) else seconds
    return value


@dataclass
class Buffered:
    """One Kinesis record waiting in the delivery stream's buffer."""

    shard_id: str
    sequence_number: str
    partition_key: str
    data: bytes
    arrival_ms: int


def transformation_event(chunk: list[Buffered], delivery_stream_arn: str, source_arn: str,
                         region: str) -> tuple[dict[str, Any], list[str]]:
    """A genuine Firehose transformation event for Kinesis records, and its recordIds."""
    record_ids = [f"{item.sequence_number}{index:07d}" for index, item in enumerate(chunk)]
    records = [{
        "recordId": record_id,
        "approximateArrivalTimestamp": item.arrival_ms,
        "data": base64.b64encode(item.data).decode("ascii"),
        "kinesisRecordMetadata": {
            "sequenceNumber": item.sequence_number,
            "subsequenceNumber": 0,
            "partitionKey": item.partition_key,
            "shardId": item.shard_id,
            "approximateArrivalTimestamp": item.arrival_ms,
        },
    } for record_id, item in zip(record_ids, chunk, strict=True)]
    event = {
        "invocationId": str(uuid.uuid4()),
        "deliveryStreamArn": delivery_stream_arn,
        "sourceKinesisStreamArn": source_arn,
        "region": region,
        "records": records,
    }
    return event, record_ids


def evaluate_prefix(prefix: str, when: datetime, error_output_type: str | None = None) -> str:
    """Evaluate Firehose's `!{timestamp:...}` and `!{firehose:...}` namespaces in a prefix."""
    java_to_strftime = {"yyyy": "%Y", "MM": "%m", "dd": "%d", "HH": "%H", "mm": "%M", "ss": "%S"}

    def substitute(match: re.Match[str]) -> str:
        namespace, _, expression = match.group(1).partition(":")
        if namespace == "timestamp":
            pattern = re.sub(r"yyyy|MM|dd|HH|mm|ss", lambda m: java_to_strftime[m.group()],
                             expression)
            return when.strftime(pattern)
        if namespace == "firehose" and expression == "error-output-type":
            if error_output_type is None:
                raise InvalidValue(
                    "!{firehose:error-output-type} is only valid in ErrorOutputPrefix")
            return error_output_type
        if namespace == "firehose" and expression == "random-string":
            return uuid.uuid4().hex[:11]
        raise InvalidValue(f"unsupported Firehose prefix expression !{{{match.group(1)}}}")

    return re.sub(r"!\{([^}]+)\}", substitute, prefix)


def load_handler(handler: str) -> Callable[[dict[str, Any], Any], Any]:
    """Import `module.function` from the project's lambda/ folder, as Lambda would."""
    module_name, _, function_name = handler.rpartition(".")
    path = LAMBDA_DIR / f"{module_name}.py"
    spec = importlib.util.spec_from_file_location(f"local_lambda_{module_name}", path)
    if spec is None or spec.loader is None or not path.exists():
        raise HandlerNotFound(f"Lambda handler {handler}: no file {path}; the handler setting "
                              "is module.function, the module a .py file in lambda/.")
    module: ModuleType = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, function_name)


# Firehose's defaults where a delivery stream leaves a setting out: 300 s or 5 MB for the S3
# destination (https://docs.aws.amazon.com/firehose/latest/APIReference/API_BufferingHints.html);
# 60 s or 1 MB for a Lambda processor
# (https://docs.aws.amazon.com/firehose/latest/dev/data-transformation.html).
S3_INTERVAL_SECONDS, S3_SIZE_MB = 300.0, 5.0
PROCESSOR_INTERVAL_SECONDS, PROCESSOR_SIZE_MB = 60.0, 1.0


@dataclass(frozen=True)
class Buffering:
    """A delivery stream's buffering, as DescribeDeliveryStream gives it: the S3 destination's
    hints, and its Lambda processor's (None without an enabled one)."""

    s3_interval: float
    s3_size_mb: float
    processor_interval: float | None = None
    processor_size_mb: float | None = None

    @classmethod
    def of(cls, destination: dict[str, Any]) -> Buffering:
        """Read an ExtendedS3DestinationDescription, Firehose's defaults where it is silent."""
        hints = destination.get("BufferingHints") or {}
        params = processor_parameters(destination)
        return cls(
            float(hints.get("IntervalInSeconds", S3_INTERVAL_SECONDS)),
            float(hints.get("SizeInMBs", S3_SIZE_MB)),
            None if params is None else float(
                params.get("BufferIntervalInSeconds", PROCESSOR_INTERVAL_SECONDS)),
            None if params is None else float(params.get("BufferSizeInMBs", PROCESSOR_SIZE_MB)))

    @property
    def longest_wait(self) -> float:
        """The longest a record may wait before it is in S3: both intervals in turn."""
        return self.s3_interval + (self.processor_interval or 0.0)


def processor_parameters(destination: dict[str, Any]) -> dict[str, str] | None:
    """The parameters of a destination's enabled Lambda processor (LambdaArn, NumberOfRetries,
    BufferIntervalInSeconds, ...), or None when records go to S3 untransformed."""
    config = destination.get("ProcessingConfiguration") or {}
    if str(config.get("Enabled", "false")).lower() != "true":
        return None
    lambdas = [p for p in config.get("Processors", []) if p.get("Type") == "Lambda"]
    if not lambdas:
        return None
    return {p["ParameterName"]: str(p["ParameterValue"]) for p in lambdas[0].get("Parameters", [])}
