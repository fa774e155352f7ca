"""workshop.show: the notebooks' displays, on captured events and on a real local stack."""

from __future__ import annotations

import base64
import json
import threading
from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace

import pytest

from tests.helpers import load_event
from workshop import config, show, template
from workshop.delivered import errors_prefix, orders_prefix
from workshop.records.formats import load_handler
from workshop.show import Panels, ShowError
from workshop.streams import KinesisRecord, StreamRecord

ARRIVAL = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def kinesis_of(raw: dict, sequence: int) -> KinesisRecord:
    """A Kinesis record as the Pipe writes it: the stream record, with the ARN it adds."""
    data = dict(raw, eventSourceARN=raw.get("eventSourceARN", "arn:aws:dynamodb:stream"))
    return KinesisRecord("shardId-000000000000", str(sequence), raw["dynamodb"]["Keys"]
                         ["orderid"]["S"], json.dumps(data).encode(), ARRIVAL)


@pytest.fixture
def stream_and_kinesis() -> tuple[list[StreamRecord], list[KinesisRecord]]:
    insert = json.loads(base64.b64decode(load_event("firehose_pipe_insert")["records"][0]["data"]))
    raws = [insert, load_event("pipe_modify"), load_event("pipe_remove")]
    table = [StreamRecord({k: v for k, v in raw.items() if k != "eventSourceARN"}) for raw in raws]
    return table, [kinesis_of(raw, n) for n, raw in enumerate(raws, start=1)]


def test_panels_render_escaped_html_and_plain_text():
    panels = Panels(["left", "right"], [["<a> & b", "x"]], caption="one row")
    html = panels._repr_html_()
    assert "<caption>one row</caption>" in html and "&lt;a&gt; &amp; b" in html
    assert repr(panels) == "one row\n--- left ---\n<a> & b\n--- right ---\nx"


def test_panels_refuse_a_row_of_the_wrong_width():
    with pytest.raises(ValueError, match="every row needs 2 blocks"):
        Panels(["a", "b"], [["only one"]])


def test_pretty_shows_decimals_as_numbers_and_times_as_iso():
    text = show.pretty({"price": Decimal("429.99"), "quantity": Decimal("3"), "at": ARRIVAL,
                        "raw": b"hi"})
    assert json.loads(text) == {"price": 429.99, "quantity": 3, "at": "2026-11-28T12:00:00+00:00",
                                "raw": "aGk="}


def test_template_resources_is_a_table_of_every_resource():
    frame = show.template_resources()
    assert list(frame.index) == [r.logical_id for r in template.resources()]
    assert list(frame.columns) == ["type", "name", "depends on", "description"]
    assert frame.loc["OrderPipe", "depends on"] == (
        "PipeRolePolicy, DeliveryStream, ParquetDeliveryStream")


def test_side_by_side_pairs_a_stream_record_with_its_kinesis_twin(stream_and_kinesis):
    table, kinesis = stream_and_kinesis
    panels = show.side_by_side(table, kinesis, "MODIFY")
    assert panels.caption == ("MODIFY of order 7421: decoded, it differs from the stream record "
                              "only in eventSourceARN.")
    stream_text, kinesis_text, decoded_text = panels.rows[0]
    assert json.loads(stream_text)["eventName"] == "MODIFY"
    assert "partition key: 7421\nsequence number: 2\n" in kinesis_text
    assert kinesis[1].base64_data in kinesis_text
    assert json.loads(decoded_text)["dynamodb"]["OldImage"]["quantity"] == {"N": "3"}


def test_side_by_side_says_when_the_pipe_has_not_moved_a_record_yet(stream_and_kinesis):
    table, kinesis = stream_and_kinesis
    with pytest.raises(ShowError, match=r"has not put stream record .* into Kinesis yet"):
        show.side_by_side(table, kinesis[:1], "REMOVE")


def test_a_kind_never_seen_is_a_clear_error(stream_and_kinesis):
    table, kinesis = stream_and_kinesis
    with pytest.raises(ShowError, match="No REMOVE record found: did 02_generate_orders"):
        show.first_of_kind(table[:2], "REMOVE")
    with pytest.raises(ShowError, match="No MODIFY record in Kinesis yet"):
        show.pick(kinesis[:1])


def test_pick_takes_the_first_record_of_each_kind_in_order(stream_and_kinesis):
    _, kinesis = stream_and_kinesis
    picked = show.pick(list(reversed(kinesis)))
    assert [k.decoded().event_name.value for k in picked] == ["INSERT", "MODIFY", "REMOVE"]


def test_before_after_shows_each_record_next_to_the_transformers_answer(stream_and_kinesis):
    _, kinesis = stream_and_kinesis
    handler = load_handler("transformer.lambda_handler")
    event = {"records": [
        {"recordId": f"r{n}", "data": k.base64_data} for n, k in enumerate(kinesis)]}
    event["records"].append({"recordId": "err-123", "data": "invalid_data_here"})
    panels = show.before_after(event, handler(event, None))
    befores = [row[0] for row in panels.rows]
    afters = [row[1] for row in panels.rows]
    assert befores[1].startswith("eventName: MODIFY\nNewImage:")
    assert befores[2].startswith("eventName: REMOVE\nOldImage:")
    assert befores[3] == "data (not a stream record): 'invalid_data_here'"
    assert afters[0].startswith("Ok\n'{\"orderid\":\"7421\"") and afters[0].endswith("\\n'")
    assert afters[3] == "ProcessingFailed\ndata returned unchanged: 'invalid_data_here'"


def test_stack_events_print_each_event_once_before_the_status_line(monkeypatch):
    events: list[dict] = [{"EventId": "old", "Timestamp": ARRIVAL, "LogicalResourceId": "s",
                           "ResourceStatus": "DELETE_COMPLETE"}]
    fake = SimpleNamespace(describe_stack_events=lambda StackName: {
        "StackEvents": list(reversed(events))})
    monkeypatch.setattr(show, "client", lambda service, s=None: fake)
    printed: list[str] = []
    s = config.Settings(prefix="alice")
    with show.StackEvents(s, interval=0.01, out=printed.append) as on_status:
        on_status("Creating stack alice-sales-pipeline")
        events.append({"EventId": "1", "Timestamp": ARRIVAL, "LogicalResourceId": "OrderTable",
                       "ResourceStatus": "CREATE_IN_PROGRESS"})
        events.append({"EventId": "2", "Timestamp": ARRIVAL, "LogicalResourceId": "OrderTable",
                       "ResourceStatus": "CREATE_FAILED", "ResourceStatusReason": "no room"})
        on_status("Stack alice-sales-pipeline is CREATE_FAILED")
    assert printed == [
        "Creating stack alice-sales-pipeline",
        "12:00:00  OrderTable                 CREATE_IN_PROGRESS",
        "12:00:00  OrderTable                 CREATE_FAILED        no room",
        "Stack alice-sales-pipeline is CREATE_FAILED",
    ]
    assert not any(t.name == on_status.thread.name for t in threading.enumerate())


# --- against a real local stack -----------------------------------------------------------------


def put_lines(s: config.Settings, bucket: str, key: str, lines: list[dict]) -> None:
    body = "".join(json.dumps(line, separators=(",", ":")) + "\n" for line in lines)
    config.client("s3", s).put_object(Bucket=bucket, Key=key, Body=body.encode())


LINE = {"orderid": "a1", "product_name": "Phone", "quantity": 2, "price": 10.5,
        "placed_at": "2026-11-28T12:00:00.000000Z", "event_type": "INSERT",
        "event_time": "2026-11-28T12:00:01Z"}


def test_s3_views_of_a_stack(fresh_stack):
    s, outputs = fresh_stack
    bucket = outputs["BucketName"]
    assert show.describe_objects(bucket, orders_prefix(), s) == (
        f"no objects under s3://{bucket}/orders/")
    with pytest.raises(ShowError, match=r"Nothing under s3://.*/errors/ after 0 s"):
        show.wait_for_objects(bucket, errors_prefix(), timeout=0, s=s)
    key = "orders/year=2026/month=11/day=28/hour=12/x-1-2026-11-28-12-00-00-u"
    modify = dict(LINE, quantity=3, event_type="MODIFY", event_time="2026-11-28T12:00:05Z")
    put_lines(s, bucket, key, [modify, LINE, dict(LINE, orderid="b2")])
    put_lines(s, bucket, "errors/processing-failed/year=2026/month=11/day=28/hour=12/e", [{
        "attemptsMade": 1, "errorCode": "Lambda.ProcessingFailedStatus", "errorMessage": "m",
        "rawData": base64.b64encode(b"invalid_data_here").decode()}])
    assert show.describe_objects(bucket, orders_prefix(), s) == (
        f"1 objects under s3://{bucket}/orders/, e.g.\n  {key}")
    assert show.raw_line(bucket, "a1", s=s).endswith(b'"event_type":"INSERT",'
                                                     b'"event_time":"2026-11-28T12:00:01Z"}\n')
    with pytest.raises(ShowError, match="No REMOVE line for order a1"):
        show.raw_line(bucket, "a1", "REMOVE", s=s)
    history = show.lines_for(bucket, ["a1"], s)
    assert list(history["event_type"]) == ["INSERT", "MODIFY"]
    assert show.wait_for_objects(bucket, errors_prefix(), s=s)
    errors = show.error_records(bucket, s)
    assert errors.to_dict("records") == [{
        "errorCode": "Lambda.ProcessingFailedStatus", "errorMessage": "m", "attemptsMade": 1,
        "rawData (decoded)": "invalid_data_here"}]


def test_items_and_resource_states_of_a_stack(fresh_stack):
    s, outputs = fresh_stack
    config.client("dynamodb", s).put_item(TableName=outputs["TableName"], Item={
        "orderid": {"S": "a1"}, "product_name": {"S": "Phone"}, "quantity": {"N": "2"},
        "price": {"N": "10.50"}})
    frame = show.items(["a1", "gone"], outputs["TableName"], s)
    assert frame.loc["a1", "price"] == Decimal("10.50")
    assert frame.loc["gone", "product_name"] == "(deleted)"
    states = show.resource_states(outputs, s)
    assert states.loc["DynamoDB table", "state"] == "ACTIVE"
    assert states.loc["EventBridge Pipe", "state"] == "RUNNING"
    assert states.loc["Kinesis stream", "detail"] == "1 shard(s)"
