"""Display helpers for the notebooks: records side by side, before and after, stack events.

Each helper returns something Jupyter shows well and GitHub renders from the committed outputs:
a DataFrame, or `Panels` (an HTML table of text blocks, with a plain-text form for terminals
and for nbval). Nothing here changes the pipeline; it only reads it and lays it out.
"""

from __future__ import annotations

import base64
import html
import json
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import pandas as pd
from botocore.exceptions import ClientError
from botocore.parsers import ResponseParserError

from workshop import template
from workshop.config import Settings, client, settings
from workshop.delivered import body, errors_prefix, object_keys, orders_prefix, read_lines
from workshop.errors import InvalidValue, WorkshopError
from workshop.streams import EventName, KinesisRecord, StreamRecord, plain

KINDS = (EventName.INSERT, EventName.MODIFY, EventName.REMOVE)


class ShowError(WorkshopError, LookupError):
    """What was asked to be shown is not there (yet)."""


# --- layout -------------------------------------------------------------------------------------


class Panels:
    """Rows of text blocks under column titles: an HTML table in Jupyter, blocks as plain text."""

    def __init__(self, titles: Sequence[str], rows: Sequence[Sequence[str]],
                 caption: str = "") -> None:
        if any(len(row) != len(titles) for row in rows):
            raise InvalidValue(f"every row needs {len(titles)} blocks, one per title")
        self.titles = list(titles)
        self.rows = [list(row) for row in rows]
        self.caption = caption

    def _repr_html_(self) -> str:
        cell = ('<td style="vertical-align:top;text-align:left"><pre style="white-space:pre-wrap;'
                'word-break:break-all;margin:0">{}</pre></td>')
        head = "".join(f'<th style="text-align:left">{html.escape(t)}</th>' for t in self.titles)
        # quote=False: JSON's quotes stay as they are, readable and sanitizable in the HTML
        body = "".join("<tr>" + "".join(cell.format(html.escape(text, quote=False))
                                        for text in row) + "</tr>" for row in self.rows)
        caption = f"<caption>{html.escape(self.caption)}</caption>" if self.caption else ""
        return f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    def __repr__(self) -> str:
        blocks = [self.caption] if self.caption else []
        for row in self.rows:
            for title, text in zip(self.titles, row, strict=True):
                blocks.append(f"--- {title} ---\n{text}")
        return "\n".join(blocks)


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    raise InvalidValue(f"cannot show {type(value).__name__} as JSON")


def pretty(value: Any) -> str:
    """JSON with two-space indents, keys in their own order (Decimal shown as a number)."""
    return json.dumps(value, indent=2, default=_default, ensure_ascii=False)


# --- 01: the template and the deployed stack ----------------------------------------------------


def template_resources() -> pd.DataFrame:
    """The template's resources in its order: logical id, type, name, dependencies, purpose."""
    rows = [{"resource": r.logical_id, "type": r.type, "name": r.name,
             "depends on": ", ".join(r.depends_on), "description": r.description}
            for r in template.resources()]
    return pd.DataFrame(rows).set_index("resource")


def _event_line(event: dict[str, Any]) -> str:
    reason = event.get("ResourceStatusReason") or ""
    return (f"{event['Timestamp']:%H:%M:%S}  {event['LogicalResourceId']:<26} "
            f"{event['ResourceStatus']:<20} {reason}").rstrip()


class StackEvents:
    """Print the stack's events while a deploy waits, in order, each once.

    Use as the deploy's `on_status`, inside a `with` block:
    `with show.StackEvents() as on_status: stack.deploy(on_status=on_status)`.
    """

    def __init__(self, s: Settings | None = None, interval: float | None = None,
                 out: Callable[[str], None] = print) -> None:
        self.s = s or settings()
        self.interval = interval if interval is not None else (1.0 if self.s.is_local else 5.0)
        self.out = out
        self.seen: set[str] = set()
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)

    def _events(self) -> list[dict[str, Any]]:
        try:
            found = client("cloudformation", self.s).describe_stack_events(
                StackName=self.s.stack_name)["StackEvents"]
        except (ClientError, ResponseParserError):
            return []  # no stack yet (or, locally, one moto cannot describe)
        return list(reversed(found))  # oldest first

    def poll(self) -> None:
        """Print the events not printed yet."""
        with self.lock:
            for event in self._events():
                if event["EventId"] not in self.seen:
                    self.seen.add(event["EventId"])
                    self.out(_event_line(event))

    def _watch(self) -> None:
        while not self.stopping.wait(self.interval):
            self.poll()

    def __call__(self, message: str) -> None:
        self.poll()  # events first, so the status line comes after what led to it
        self.out(message)

    def __enter__(self) -> StackEvents:
        self.seen.update(e["EventId"] for e in self._events())  # an earlier deploy's events
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.thread.join()
        self.poll()


def resource_states(outputs: dict[str, str], s: Settings | None = None) -> pd.DataFrame:
    """Whether each moving part of the deployed pipeline is ready, asked of its own service."""
    s = s or settings()
    table = client("dynamodb", s).describe_table(TableName=outputs["TableName"])["Table"]
    stream = client("kinesis", s).describe_stream_summary(
        StreamName=outputs["KinesisStreamName"])["StreamDescriptionSummary"]
    pipe = client("pipes", s).describe_pipe(Name=outputs["PipeName"])
    hose = client("firehose", s).describe_delivery_stream(
        DeliveryStreamName=outputs["DeliveryStreamName"])["DeliveryStreamDescription"]
    function = client("lambda", s).get_function_configuration(
        FunctionName=outputs["TransformerFunctionName"])
    rows = [
        ("DynamoDB table", outputs["TableName"], table["TableStatus"],
         f"stream: {table['StreamSpecification']['StreamViewType']}"),
        ("Kinesis stream", outputs["KinesisStreamName"], stream["StreamStatus"],
         f"{stream['OpenShardCount']} shard(s)"),
        ("EventBridge Pipe", outputs["PipeName"], pipe.get("CurrentState", "?"),
         "table stream -> Kinesis"),
        ("Lambda transformer", outputs["TransformerFunctionName"],
         function.get("State", "Active"), f"{function['Runtime']}, {function['Handler']}"),
        ("Firehose", outputs["DeliveryStreamName"], hose["DeliveryStreamStatus"],
         "Kinesis -> transformer -> S3"),
    ]
    return pd.DataFrame(rows, columns=["part", "name", "state", "detail"]).set_index("part")


# --- 02: items in the table ---------------------------------------------------------------------


def items(orderids: Iterable[str], table: str | None = None,
          s: Settings | None = None) -> pd.DataFrame:
    """The table's items for these order ids, as boto3 returns them (numbers are Decimal)."""
    from workshop import stack

    table = table or stack.outputs(s)["TableName"]
    dynamodb = client("dynamodb", s)
    rows = []
    for orderid in orderids:
        item = dynamodb.get_item(TableName=table, Key={"orderid": {"S": orderid}},
                                 ConsistentRead=True).get("Item")
        rows.append(plain(item) if item else {"orderid": orderid, "product_name": "(deleted)"})
    return pd.DataFrame(rows).set_index("orderid")


# --- 03: stream records and Kinesis records -----------------------------------------------------


def first_of_kind(records: Iterable[StreamRecord], kind: str) -> StreamRecord:
    """The first stream record of this kind (INSERT, MODIFY or REMOVE)."""
    for record in records:
        if record.event_name == kind:
            return record
    raise ShowError(f"No {kind} record found: did 02_generate_orders update and delete orders?")


def _decoded(records: Iterable[KinesisRecord]) -> list[tuple[KinesisRecord, StreamRecord]]:
    return [(record, record.decoded()) for record in records]


def kinesis_twin(record: StreamRecord, kinesis: Iterable[KinesisRecord]) -> KinesisRecord:
    """The Kinesis record the Pipe made from this stream record (same eventID)."""
    event_id = record.raw.get("eventID")
    for candidate, decoded in _decoded(kinesis):
        if decoded.raw.get("eventID") == event_id:
            return candidate
    raise ShowError(f"The Pipe has not put stream record {event_id} into Kinesis yet: wait a "
                    "second and read the Kinesis records again.")


def _differences(left: dict[str, Any], right: dict[str, Any]) -> list[str]:
    keys = sorted(set(left) | set(right))
    return [key for key in keys if left.get(key) != right.get(key)]


def side_by_side(table_records: Sequence[StreamRecord], kinesis: Sequence[KinesisRecord],
                 kind: str) -> Panels:
    """The first `kind` record of the table's stream next to the Kinesis record the Pipe made."""
    record = first_of_kind(table_records, kind)
    twin = kinesis_twin(record, kinesis)
    decoded = twin.decoded().raw
    changed = _differences(record.raw, decoded)
    same = ("decoded, it is the stream record unchanged"
            if not changed else f"decoded, it differs from the stream record only in "
            f"{', '.join(changed)}")
    meta = (f"shard: {twin.shard_id}\npartition key: {twin.partition_key}\n"
            f"sequence number: {twin.sequence_number}\n\ndata (base64):\n{twin.base64_data}")
    return Panels(
        ["DynamoDB stream record (typed JSON)", "Kinesis record (as the Pipe wrote it)",
         "Kinesis data, decoded"],
        [[pretty(record.raw), meta, pretty(decoded)]],
        caption=f"{kind} of order {record.orderid}: {same}.",
    )


# --- 04: the transformer, S3 and the error output -----------------------------------------------


def pick(kinesis: Iterable[KinesisRecord], kinds: Sequence[str] = KINDS) -> list[KinesisRecord]:
    """The first Kinesis record of each kind, in the order of `kinds`."""
    decoded = _decoded(kinesis)
    picked = []
    for kind in kinds:
        match = next((k for k, d in decoded if d.event_name == kind), None)
        if match is None:
            raise ShowError(f"No {kind} record in Kinesis yet: did 02_generate_orders run?")
        picked.append(match)
    return picked


def _image_of(raw: dict[str, Any]) -> tuple[str, Any]:
    dynamodb = raw.get("dynamodb", {})
    if raw.get("eventName") == "REMOVE":
        return "OldImage", dynamodb.get("OldImage")
    return "NewImage", dynamodb.get("NewImage")


def before_after(event: dict[str, Any], response: dict[str, Any]) -> Panels:
    """Each record of a Firehose event next to what the transformer answered for it."""
    answers = {entry.get("recordId"): entry for entry in response["records"]}
    rows = []
    for record in event["records"]:
        answer = answers.get(record.get("recordId"), {})
        try:
            raw = json.loads(base64.b64decode(record["data"]))
            name, image = _image_of(raw)
            before = f"eventName: {raw.get('eventName')}\n{name}:\n{pretty(image)}"
        except (ValueError, TypeError, AttributeError):
            before = f"data (not a stream record): {record.get('data')!r}"
        if answer.get("result") == "Ok":
            after = f"Ok\n{base64.b64decode(answer['data']).decode('utf-8')!r}"
        else:
            unchanged = answer.get("data") == record.get("data")
            after = (f"{answer.get('result')}\ndata returned "
                     f"{'unchanged' if unchanged else 'CHANGED'}: {answer.get('data')!r}")
        rows.append([before, after])
    return Panels(["before: the record Firehose hands over (decoded)",
                   "after: the transformer's answer (data decoded)"], rows)


def wait_for_objects(bucket: str, prefix: str, timeout: float = 60.0,
                     s: Settings | None = None) -> list[str]:
    """Poll until at least one object exists under prefix; return the keys."""
    deadline = time.monotonic() + timeout
    while True:
        keys = object_keys(bucket, prefix, s)
        if keys:
            return keys
        if time.monotonic() > deadline:
            raise ShowError(f"Nothing under s3://{bucket}/{prefix} after {timeout:.0f} s: is the "
                            "local AWS running (`workshop local status`)?")
        time.sleep(0.5)


def describe_objects(bucket: str, prefix: str, s: Settings | None = None) -> str:
    """How many objects are under prefix, and what the first key looks like."""
    keys = object_keys(bucket, prefix, s)
    if not keys:
        return f"no objects under s3://{bucket}/{prefix}"
    return (f"{len(keys)} objects under s3://{bucket}/{prefix}, e.g.\n  {keys[0]}")


def raw_line(bucket: str, orderid: str, event_type: str = "INSERT",
             s: Settings | None = None) -> bytes:
    """The bytes of the line Firehose stored for this order's event, newline included."""
    needle = f'"orderid":"{orderid}"'.encode()
    for key in object_keys(bucket, orders_prefix(), s):
        for line in body(bucket, key, s).splitlines(True):
            if needle in line and f'"event_type":"{event_type}"'.encode() in line:
                return line
    raise ShowError(f"No {event_type} line for order {orderid} under s3://{bucket}/"
                    f"{orders_prefix()} yet")


EVENT_ORDER = {"INSERT": 0, "MODIFY": 1, "REMOVE": 2}
HISTORY_COLUMNS = ("orderid", "event_type", "quantity", "price", "event_time")


def lines_for(bucket: str, orderids: Iterable[str], s: Settings | None = None,
              columns: Sequence[str] = HISTORY_COLUMNS) -> pd.DataFrame:
    """Every line stored under orders/ for these orders, in the order the events happened."""
    wanted = set(orderids)
    lines = [line for line in read_lines(bucket, object_keys(bucket, orders_prefix(), s), s)
             if line.get("orderid") in wanted]
    lines.sort(key=lambda line: (line.get("orderid"), line.get("event_time", ""),
                                 EVENT_ORDER.get(line.get("event_type"), 3)))
    return pd.DataFrame(lines, columns=list(columns))


def error_records(bucket: str, s: Settings | None = None) -> pd.DataFrame:
    """The error output: Firehose's error records, with their raw data decoded for reading."""
    rows = []
    for record in read_lines(bucket, object_keys(bucket, errors_prefix(), s), s):
        raw = base64.b64decode(record.get("rawData", ""))
        rows.append({"errorCode": record.get("errorCode"),
                     "errorMessage": record.get("errorMessage"),
                     "attemptsMade": record.get("attemptsMade"),
                     "rawData (decoded)": raw.decode("utf-8", errors="replace")})
    return pd.DataFrame(rows, columns=["errorCode", "errorMessage", "attemptsMade",
                                       "rawData (decoded)"])
