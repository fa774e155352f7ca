"""The pipeline doctor: each broken situation, built on a local server, is named from evidence.

A stack deployed on the bare moto server (no runtime) is a pipeline that moves nothing: the
tests put data at the stage they want by hand. The transformer case needs the real runtime
(`fresh_stack`), which calls the transformer on what reaches Kinesis.
"""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from tests.conftest import unique_prefix, wait_for
from workshop import config, doctor, generator, stack, template
from workshop.doctor import FIREHOSE, KINESIS, LINES, ROWS, Stage

# The orders table's projection as the template declares it, in a bucket named b.
ORDERS_TABLE = template.resource("OrdersTable")["Properties"]["TableInput"]["Parameters"]
TEMPLATE = ORDERS_TABLE["storage.location.template"]["Fn::Sub"].replace(
    "${DataBucket}", "b").replace("${!", "${")
PROJECTION = {k: str(v) for k, v in ORDERS_TABLE.items() if k.startswith("projection.")}
NOW = datetime(2026, 12, 3, 17, 42, tzinfo=UTC)
LINE = {"orderid": "a1", "product_name": "Phone", "quantity": 2, "price": 10.5,
        "placed_at": "2026-11-28T12:00:00.000000Z", "event_type": "INSERT",
        "event_time": "2026-11-28T12:00:01Z"}


# --- evidence, without a server -----------------------------------------------------------------


def test_keys_outside_the_projection_template_are_named():
    keys = ["orders/datehour=2026-12-03-17/f-1",  # fits: the current hour
            "orders/datehour=2026-11-26-17/f-2",  # fits: the oldest hour of the 7 days
            "orders/2026/12/03/17/f-3",  # not Hive style
            "orders/year=2026/month=12/day=03/hour=17/f-4",  # the layout of before
            "orders/datehour=2026-12-3-17/f-5",  # day not zero-padded
            "orders/datehour=2026-11-26-16/f-6",  # older than the projected range
            "orders/datehour=2026-12-03-18/f-7"]  # in the future: not projected yet
    assert doctor.projection_misses(keys, TEMPLATE, PROJECTION, "b", NOW) == keys[2:]


def test_a_key_falls_out_of_the_projection_as_its_hour_leaves_the_range():
    key = "orders/datehour=2026-11-26-17/f-1"
    later = NOW.replace(day=4, hour=0)
    assert doctor.projection_misses([key], TEMPLATE, PROJECTION, "b", NOW) == []
    assert doctor.projection_misses([key], TEMPLATE, PROJECTION, "b", later) == [key]


def test_objects_without_newlines_are_named_and_their_records_counted():
    good = b'{"a":1}\n{"a":2}\n'
    glued = b'{"a":1}{"a":2}{"a":3}'
    unterminated = b'{"a":1}\n{"a":2}'
    bodies = {"good": good, "glued": glued, "unterminated": unterminated}
    assert doctor.newline_misses(bodies) == ["glued", "unterminated"]
    assert [doctor._count_json(b) for b in bodies.values()] == [2, 3, 2]


@pytest.mark.parametrize(("counts", "stop"), [
    ((5, 5, 5, 5, 5, 5), None),
    ((5, 5, 0, 0, 0, 0), KINESIS),
    ((5, 5, 5, None, 0, 0), LINES),  # an unknown count is skipped, not taken for zero
    ((0, 0, 0, 0, 3, 0), ROWS),
    ((0, 0, 0, 0, 0, 0), None),
])
def test_the_first_stop_is_the_first_empty_stage_after_one_with_data(counts, stop):
    stages = [Stage(name, count) for name, count in zip(doctor.FLOW, counts, strict=True)]
    assert doctor._first_stop(stages) == stop


def test_a_failed_query_is_where_data_stops():
    stages = [Stage(name, 4) for name in doctor.FLOW[:-1]] + [
        Stage(ROWS, None, "the query failed", failed=True)]
    assert doctor._first_stop(stages) == ROWS


# --- situations on the bare local server (nothing moves by itself) -----------------------------


@pytest.fixture
def still_stack(moto_local: config.Settings) -> Iterator[tuple[config.Settings, dict[str, str]]]:
    """The template deployed on the bare moto server: every resource, no runtime moving data."""
    from workshop.local.aws import models

    models.register()  # the server runs in this process: teach its CloudFormation the types
    s = dataclasses.replace(moto_local, prefix=unique_prefix())
    found = stack.deploy(s=s)
    yield s, found
    stack.teardown(s)


def put_lines(s: config.Settings, bucket: str, key: str, body: bytes) -> None:
    config.client("s3", s).put_object(Bucket=bucket, Key=key, Body=body)


def test_an_empty_pipeline_says_no_orders_were_written(still_stack):
    s, _ = still_stack
    result = doctor.diagnose(s)
    assert result.stopped_at is None
    assert result.causes == ["No orders have been written yet."]
    assert "        0 items in the table" in str(result)


def test_a_stopped_pipe_is_named_where_kinesis_stays_empty(still_stack):
    s, found = still_stack
    generator.write_orders(generator.make_orders(5, seed=1), found["TableName"], burst=True,
                           progress=False)
    config.client("pipes", s).stop_pipe(Name=found["PipeName"])
    result = doctor.diagnose(s)
    assert (result.count(doctor.TABLE), result.count(doctor.STREAM), result.count(KINESIS)) == (
        5, 5, 0)
    assert result.stopped_at == KINESIS
    assert result.causes[0] == "The EventBridge Pipe is not running (state STOPPED)."
    assert "start_pipe" in result.findings[0].fix


def kinesis_put(s: config.Settings, found: dict[str, str], n: int) -> None:
    kinesis = config.client("kinesis", s)
    for i in range(n):
        kinesis.put_record(StreamName=found["KinesisStreamName"], Data=b'{"x": 1}',
                           PartitionKey=str(i))


def test_records_waiting_less_than_the_buffer_are_not_flushed_yet(still_stack):
    s, found = still_stack
    kinesis_put(s, found, 3)
    result = doctor.diagnose(s)
    assert result.stopped_at == FIREHOSE
    assert "Firehose's buffer has not been flushed yet: the data is on its way." in result.causes
    assert "The local runtime, which runs the pipe and Firehose hops, is not running." in (
        result.causes)


def test_records_waiting_longer_than_the_buffer_mean_firehose_does_not_deliver(still_stack):
    s, found = still_stack
    kinesis_put(s, found, 2)
    result = doctor.diagnose(s, now=time.time() + 3600)  # an hour later
    finding = next(f for f in result.findings if f.stage == FIREHOSE and "not deliver" in f.cause)
    assert finding.cause == "Firehose is not delivering: records wait longer than its buffer."
    assert "ago" in finding.evidence
    assert not any("not been flushed" in c for c in result.causes)


def test_keys_that_miss_the_projection_explain_zero_rows(still_stack):
    s, found = still_stack
    body = (json.dumps(LINE) + "\n").encode()
    put_lines(s, found["BucketName"], "orders/2026/11/28/14/by-hand-1", body)
    result = doctor.diagnose(s)
    assert (result.count(LINES), result.count(ROWS)) == (1, 0)
    assert result.stopped_at == ROWS
    assert result.causes[0].startswith("Object keys do not match the table's partition projection")
    assert "orders/2026/11/28/14/by-hand-1" in result.findings[0].evidence


def test_records_without_newlines_are_found_in_the_objects(still_stack):
    s, found = still_stack
    glued = "".join(json.dumps(dict(LINE, orderid=f"o{i}")) for i in range(3)).encode()
    put_lines(s, found["BucketName"], f"orders/datehour={datetime.now(UTC):%Y-%m-%d-%H}/glued-1",
              glued)
    result = doctor.diagnose(s)
    assert result.count(LINES) == 3
    assert result.stopped_at == ROWS  # locally the query fails loudly on such a file
    assert result.causes[0].startswith("Records without newlines")


def test_a_work_group_without_result_location_is_reported(still_stack):
    s, found = still_stack
    athena = config.client("athena", s)
    athena.delete_work_group(WorkGroup=found["AthenaWorkGroupName"])
    athena.create_work_group(Name=found["AthenaWorkGroupName"], Configuration={})
    result = doctor.diagnose(s)
    assert any("No output location provided" in c for c in result.causes)


# --- with the real runtime ----------------------------------------------------------------------


def test_a_transformer_failing_every_record_is_named_with_its_error(fresh_stack):
    s, found = fresh_stack
    kinesis = config.client("kinesis", s)
    for i in range(4):  # a broken producer: not DynamoDB stream records
        kinesis.put_record(StreamName=found["KinesisStreamName"],
                           Data=json.dumps({"hello": i}).encode(), PartitionKey=f"k{i}")
    wait_for(lambda: doctor.diagnose(s).count(doctor.ERRORS) == 4, what="4 error records")
    result = doctor.diagnose(s)
    assert result.count(LINES) == 0
    assert result.stopped_at == LINES
    assert result.causes[0] == ("The transformer fails every record: all of them went to "
                                "errors/.")
    assert "Lambda.ProcessingFailedStatus" in result.findings[0].evidence
    assert "{\"hello\": 0}" in result.findings[0].evidence  # the raw data, decoded


def test_a_healthy_pipeline_reaches_every_stage(fresh_stack):
    """Every stage is counted past the empty GetRecords pages that come before the data (on AWS
    as in the realistic local AWS): a count that stopped at the first one would say 0."""
    s, found = fresh_stack
    # The generator writes through the settings in force, which this module's moto_local
    # fixture points at the bare moto server: point them at the running local AWS meanwhile.
    bare = config.settings()
    config.configure(local_port=s.local_port, state_dir=s.state_dir)
    try:
        report = generator.write_orders(generator.make_orders(50, seed=uuid.uuid4().hex),
                                        found["TableName"], burst=True, progress=False)
    finally:
        config.configure(local_port=bare.local_port, state_dir=bare.state_dir)
    wait_for(lambda: doctor.diagnose(s).count(ROWS) == report.written, what="50 rows")
    result = doctor.diagnose(s)
    assert [result.count(n) for n in doctor.FLOW] == [50] * 6
    assert result.findings == [] and result.stopped_at is None
    assert str(result).endswith("Data reaches every stage.")
