"""The local pipeline end to end against a real local AWS: the template, the hops, the proof.

Orders are written straight to the table with boto3 so that these tests prove the hops alone.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest

from tests.conftest import wait_for
from workshop import config, stack
from workshop.delivered import errors_prefix, object_keys, orders_prefix, read_lines
from workshop.local.aws import process
from workshop.reconcile import reconcile

pytestmark = pytest.mark.timeout(180)


def make_orders(count: int, start: int = 0) -> list[dict]:
    return [{"orderid": f"o{n:06d}", "product_name": ["Laptop", "Phone", "Tablet"][n % 3],
             "quantity": 1 + n % 10, "price": Decimal("10.99") + n,
             "placed_at": "2026-11-28T12:00:00.000000Z"} for n in range(start, start + count)]


def write_burst(s: config.Settings, table: str, orders: list[dict]) -> None:
    ddb = config.session(s).resource("dynamodb", endpoint_url=s.endpoint_url)
    with ddb.Table(table).batch_writer() as batch:
        for order in orders:
            batch.put_item(Item=order)


def clean_lines(s: config.Settings, bucket: str) -> list[dict]:
    return list(read_lines(bucket, object_keys(bucket, orders_prefix(), s), s))


def error_records(s: config.Settings, bucket: str) -> list[dict]:
    return list(read_lines(bucket, object_keys(bucket, errors_prefix(), s), s))


def wait_delivered(s, outputs, orderids, timeout=60.0):
    def done():
        result = reconcile(orderids, outputs["BucketName"], s)
        return result if not result.missing else None
    return wait_for(done, timeout, f"{len(orderids)} orders to reach S3")


def test_stack_outputs_name_every_resource_the_notebooks_need(fresh_stack):
    s, outputs = fresh_stack
    assert outputs["TableName"] == f"{s.prefix}-OrderTable"
    for key in ("BucketName", "KinesisStreamName", "DeliveryStreamName", "PipeName",
                "GlueDatabaseName", "OrdersTableName", "AthenaWorkGroupName"):
        assert outputs[key], key
    assert stack.outputs(s) == outputs


def test_deploying_twice_changes_nothing(fresh_stack):
    s, outputs = fresh_stack
    stack_id = stack.describe(s)["StackId"]
    assert stack.deploy(s=s) == outputs
    assert stack.describe(s)["StackId"] == stack_id


def test_resources_moto_skips_are_created_from_the_template(fresh_stack):
    s, outputs = fresh_stack
    hose = config.client("firehose", s).describe_delivery_stream(
        DeliveryStreamName=outputs["DeliveryStreamName"])["DeliveryStreamDescription"]
    destination = hose["Destinations"][0]["ExtendedS3DestinationDescription"]
    assert destination["Prefix"] == "orders/datehour=!{timestamp:yyyy-MM-dd-HH}/"
    assert destination["BucketARN"] == f"arn:aws:s3:::{outputs['BucketName']}"
    pipe = config.client("pipes", s).describe_pipe(Name=outputs["PipeName"])
    assert pipe["TargetParameters"]["KinesisStreamParameters"]["PartitionKey"] == (
        "$.dynamodb.Keys.orderid.S")
    table = config.client("glue", s).get_table(DatabaseName=outputs["GlueDatabaseName"],
                                               Name=outputs["OrdersTableName"])["Table"]
    assert table["StorageDescriptor"]["Location"] == f"s3://{outputs['BucketName']}/orders/"


def test_every_order_of_a_burst_reaches_s3_exactly_once_with_its_fields(fresh_stack):
    s, outputs = fresh_stack
    orders = make_orders(600)
    write_burst(s, outputs["TableName"], orders)
    result = wait_delivered(s, outputs, [o["orderid"] for o in orders])
    assert result.complete and result.delivered == 600 and result.failed == 0
    assert result.duplicates == 0
    lines = {line["orderid"]: line for line in clean_lines(s, outputs["BucketName"])}
    for order in orders:
        line = lines[order["orderid"]]
        assert line["product_name"] == order["product_name"]
        assert line["quantity"] == order["quantity"]
        assert line["price"] == float(order["price"])
        assert line["placed_at"] == order["placed_at"]
        assert line["event_type"] == "INSERT"


def test_a_trickle_of_orders_arrives_in_partitioned_objects(fresh_stack):
    s, outputs = fresh_stack
    orders = make_orders(8, start=1000)
    for half in (orders[:4], orders[4:]):  # the second half after the first is in S3
        for order in half:
            write_burst(s, outputs["TableName"], [order])
            time.sleep(0.3)
        wait_delivered(s, outputs, [o["orderid"] for o in half])
    keys = object_keys(outputs["BucketName"], orders_prefix(), s)
    assert len(keys) >= 2  # several buffer flushes, not one
    name = outputs["DeliveryStreamName"]
    for key in keys:
        assert key.startswith("orders/datehour=20")
        assert f"/{name}-1-20" in key  # Firehose's <stream>-<version>-<yyyy-MM-dd-HH-mm-ss>-<uuid>


def test_modify_and_remove_flow_through_with_their_event_type(fresh_stack):
    s, outputs = fresh_stack
    orders = make_orders(3, start=2000)
    write_burst(s, outputs["TableName"], orders)
    table = config.session(s).resource("dynamodb", endpoint_url=s.endpoint_url).Table(
        outputs["TableName"])
    table.update_item(Key={"orderid": "o002000"}, UpdateExpression="SET quantity = :q",
                      ExpressionAttributeValues={":q": 9})
    table.delete_item(Key={"orderid": "o002001"})

    def events():
        seen = {(line["orderid"], line["event_type"]): line
                for line in clean_lines(s, outputs["BucketName"])}
        return seen if len(seen) == 5 else None

    seen = wait_for(events, 30, "INSERT, MODIFY and REMOVE lines")
    assert seen[("o002000", "MODIFY")]["quantity"] == 9
    removed = seen[("o002001", "REMOVE")]
    assert removed["product_name"] == orders[1]["product_name"]  # the old image, still visible


def test_a_poison_record_lands_in_the_error_output_and_its_neighbours_are_delivered(fresh_stack):
    s, outputs = fresh_stack
    kinesis = config.client("kinesis", s)
    write_burst(s, outputs["TableName"], make_orders(2, start=3000))
    kinesis.put_record(StreamName=outputs["KinesisStreamName"], Data=b"invalid_data_here",
                       PartitionKey="poison")
    write_burst(s, outputs["TableName"], make_orders(2, start=3002))
    wait_delivered(s, outputs, ["o003000", "o003001", "o003002", "o003003"])
    errors = wait_for(lambda: error_records(s, outputs["BucketName"]), 30, "the error output")
    assert [base64.b64decode(e["rawData"]) for e in errors] == [b"invalid_data_here"]
    assert errors[0]["errorCode"] == "Lambda.ProcessingFailedStatus"
    assert errors[0]["lambdaArn"] == outputs["TransformerFunctionArn"]
    assert object_keys(outputs["BucketName"], "errors/processing-failed/datehour=20", s)


def test_killing_the_runtime_mid_stream_loses_no_order(fresh_stack):
    s, outputs = fresh_stack
    first, second = make_orders(1500, start=4000), make_orders(500, start=5500)
    write_burst(s, outputs["TableName"], first)
    runtime_pid = process.status(s).running["runtime"]
    wait_for(lambda: object_keys(outputs["BucketName"], orders_prefix(), s), 30, "a first object")
    os.kill(runtime_pid, signal.SIGKILL)
    write_burst(s, outputs["TableName"], second)
    wait_for(lambda: "runtime" not in process.status(s).running, 10, "the runtime to die")
    process.start(s)  # starts only the missing runtime; the server and its data stay
    orderids = [o["orderid"] for o in first + second]
    result = wait_delivered(s, outputs, orderids, timeout=90)
    assert result.complete and result.delivered == 2000
    # Duplicates are possible only for the one buffer that was in flight at the kill.
    assert result.duplicates <= 1500


def test_a_wrong_transformer_response_is_retried_then_kept_in_the_error_output(fresh_stack):
    from workshop.local.aws.checkpoint import Checkpoint
    from workshop.local.hops.firehose import FirehoseHop

    s, outputs = fresh_stack
    process.stop_process("runtime", s)  # this test drives the Firehose hop itself
    try:
        write_burst(s, outputs["TableName"], make_orders(5, start=7000))
        description = config.client("firehose", s).describe_delivery_stream(
            DeliveryStreamName=outputs["DeliveryStreamName"])["DeliveryStreamDescription"]
        checkpoints = Checkpoint(s.local_dir / "checkpoints-test", "wrong-response")
        hop = FirehoseHop(description, s, checkpoints)
        calls = []

        def drops_a_record_id(event, context):
            calls.append(len(event["records"]))
            kept = event["records"][1:]
            return {"records": [{"recordId": r["recordId"], "result": "Ok", "data": r["data"]}
                                for r in kept]}

        hop.invoke = lambda event: drops_a_record_id(event, None)  # instead of the deployed code
        # The pipe hop is stopped too, so move the stream records into Kinesis by hand.
        from workshop.local.hops.pipe import PipeHop
        pipe = config.client("pipes", s).describe_pipe(Name=outputs["PipeName"])
        mover = PipeHop(pipe, s, Checkpoint(s.local_dir / "checkpoints-test", "pipe"))
        # A new iterator's first pages may be empty, on AWS as here: poll until all five moved.
        def all_moved() -> bool:
            mover.poll()
            return mover.moved >= 5

        wait_for(all_moved, 10, "stream records moved to Kinesis")
        wait_for(hop.read, 10, "records in Kinesis")
        outcome = hop.flush()
    finally:
        process.start(s)
    assert calls == [5, 5, 5, 5]  # the first try and NumberOfRetries=3 retries
    assert outcome.failed == 5 and outcome.delivered == 0
    errors = error_records(s, outputs["BucketName"])
    # As Firehose's own error records say it (see workshop.local.hops.firehose).
    assert {e["errorCode"] for e in errors} == {"Lambda.MissingRecordId"}
    assert all(e["errorMessage"].startswith("One or more record Ids were not returned")
               for e in errors)
    raw = [json.loads(base64.b64decode(e["rawData"])) for e in errors]
    assert sorted(r["dynamodb"]["Keys"]["orderid"]["S"] for r in raw) == [
        f"o{n:06d}" for n in range(7000, 7005)]


def test_several_processes_see_the_same_local_aws(fresh_stack):
    s, outputs = fresh_stack
    env = {**os.environ, "WORKSHOP_LOCAL_PORT": str(s.local_port), "WORKSHOP_PREFIX": s.prefix}
    code = "from workshop import stack; print(stack.outputs()['TableName'])"
    seen = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, check=True).stdout.strip()
    assert seen == outputs["TableName"]


def test_start_is_idempotent_and_status_says_where_it_runs(local_aws):
    before = process.status(local_aws)
    after = process.start(local_aws)
    assert after.running == before.running
    assert f"127.0.0.1:{local_aws.local_port}" in str(after)


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="reads /proc")
def test_the_server_keeps_its_memory_in_two_malloc_arenas(local_aws):
    """glibc's per-thread arenas cost the server ~45 MB after 100,000 orders (bench_pipeline)."""
    pid = process.status(local_aws).running["server"]
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    expected = os.environ.get("MALLOC_ARENA_MAX", str(process.SERVER_MALLOC_ARENAS))
    assert f"MALLOC_ARENA_MAX={expected}".encode() in environ


def test_a_busy_port_gives_a_clear_message(local_aws, tmp_path):
    other = dataclasses.replace(local_aws, state_dir=tmp_path)
    with pytest.raises(Exception, match=f"Port {local_aws.local_port} on 127.0.0.1 is already"):
        process.start(other)


def test_the_notebooks_can_read_stream_and_kinesis_records_without_consuming_them(fresh_stack):
    from workshop import streams

    s, outputs = fresh_stack
    write_burst(s, outputs["TableName"], make_orders(3, start=8000))
    wait_delivered(s, outputs, ["o008000", "o008001", "o008002"])
    raw = streams.table_stream_records(10, s)
    assert [r.event_name for r in raw] == ["INSERT"] * 3
    assert streams.plain(raw[0].new_image)["quantity"] == 1
    on_kinesis = streams.kinesis_records(10, s)
    assert [k.partition_key for k in on_kinesis] == [r.orderid for r in raw]
    assert on_kinesis[0].decoded().new_image == raw[0].new_image
    event = streams.firehose_event(on_kinesis, s)
    assert [r["data"] for r in event["records"]] == [k.base64_data for k in on_kinesis]
    assert len(streams.table_stream_records(10, s)) == 3  # reading consumed nothing


def test_a_runtime_whose_server_is_gone_stops_by_itself(tmp_path, monkeypatch):
    from workshop.local.aws.ports import free_port
    from workshop.local.hops import runtime

    monkeypatch.setattr(runtime, "SERVER_GONE_SECONDS", 0.5)
    monkeypatch.setattr(runtime, "DISCOVER_SECONDS", 0.1)
    s = config.Settings(local_port=free_port(), state_dir=tmp_path)
    orphan = runtime.Runtime(s)
    started = time.monotonic()
    orphan.run()  # returns instead of polling a dead port forever
    assert time.monotonic() - started < 30


def test_a_stopped_process_waiting_for_another_parent_counts_as_gone():
    from workshop.local.aws.process import _gone

    # A grandchild whose parent never collects it stays a zombie: stop must not wait on it.
    parent = subprocess.Popen([sys.executable, "-c",
                               "import subprocess, sys, time\n"
                               "child = subprocess.Popen([sys.executable, '-c', 'pass'])\n"
                               "print(child.pid, flush=True)\n"
                               "time.sleep(30)"], stdout=subprocess.PIPE, text=True)
    try:
        zombie = int(parent.stdout.readline())
        wait_for(lambda: _gone(zombie), 10, "the exited grandchild to count as gone")
    finally:
        parent.kill()
        parent.wait()
