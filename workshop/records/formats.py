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
from datetime import datetime
from types import ModuleType
from typing import Any

from workshop.config import LAMBDA_DIR
from workshop.errors import InvalidValue, WorkshopError


class HandlerNotFound(WorkshopError, FileNotFoundError):
    """A Lambda handler setting names a file that lambda/ does not hold."""


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
