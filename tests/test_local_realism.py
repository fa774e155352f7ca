"""The local AWS is as unkind as AWS documents: each behaviour is injected, and the code that
depends on it survives it (while the kinder loops the workshop had before do not).

Every test runs against the session's local AWS (the root conftest.py), realistic by default.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest
from botocore.exceptions import ClientError

from tests.conftest import wait_for
from workshop import config, generator
from workshop.local.aws import realism
from workshop.records import shards

pytestmark = pytest.mark.timeout(120)


def name(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def kinesis_stream(local_aws):
    kinesis = config.client("kinesis", local_aws)
    stream = name("realism")
    kinesis.create_stream(StreamName=stream, ShardCount=1)
    yield kinesis, stream
    kinesis.delete_stream(StreamName=stream)


@pytest.fixture
def table_with_stream(local_aws):
    dynamodb = config.client("dynamodb", local_aws)
    table = name("realism")
    dynamodb.create_table(
        TableName=table, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "orderid", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "orderid", "AttributeType": "S"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    arn = dynamodb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    yield dynamodb, table, arn
    dynamodb.delete_table(TableName=table)


def put_items(dynamodb, table: str, count: int, start: int = 0) -> None:
    for first in range(start, start + count, 25):
        requests = [{"PutRequest": {"Item": {"orderid": {"S": f"o{n:06d}"}}}}
                    for n in range(first, min(first + 25, start + count))]
        while requests:  # the realistic local AWS may leave some unprocessed, as AWS may
            left = dynamodb.batch_write_item(RequestItems={table: requests})
            requests = left.get("UnprocessedItems", {}).get(table, [])
            if requests:
                time.sleep(0.2)


# --- empty pages before data -------------------------------------------------------------------


def old_kinesis_loop(kinesis, stream: str) -> int:
    """How workshop.streams and the doctor read Kinesis before: stop at the first empty page."""
    count = 0
    for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
        iterator = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard["ShardId"],
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        while iterator:
            page = kinesis.get_records(ShardIterator=iterator, Limit=1000)
            count += len(page["Records"])
            if not page["Records"] or page.get("MillisBehindLatest") == 0:
                break
            iterator = page.get("NextShardIterator")
    return count


def test_a_new_kinesis_iterator_answers_empty_pages_first_with_data_ahead(kinesis_stream):
    kinesis, stream = kinesis_stream
    kinesis.put_records(StreamName=stream, Records=[
        {"Data": b"%d" % n, "PartitionKey": str(n)} for n in range(3)])
    iterator = kinesis.get_shard_iterator(StreamName=stream, ShardId="shardId-000000000000",
                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    pages = []
    for _ in range(realism.EMPTY_PAGES + 1):
        page = kinesis.get_records(ShardIterator=iterator)
        pages.append((len(page["Records"]), page["MillisBehindLatest"] > 0))
        iterator = page["NextShardIterator"]
        time.sleep(1 / shards.READS_PER_SECOND)
    assert pages == [(0, True)] * realism.EMPTY_PAGES + [(3, False)]


def test_readers_go_past_empty_kinesis_pages_where_the_old_loop_stopped(kinesis_stream):
    kinesis, stream = kinesis_stream
    kinesis.put_records(StreamName=stream, Records=[
        {"Data": b"%d" % n, "PartitionKey": str(n)} for n in range(50)])
    assert old_kinesis_loop(kinesis, stream) == 0
    assert len(list(shards.read_kinesis(kinesis, stream))) == 50


def test_a_new_stream_iterator_answers_empty_pages_first(table_with_stream, local_aws):
    dynamodb, table, arn = table_with_stream
    put_items(dynamodb, table, 3)
    streams = config.client("dynamodbstreams", local_aws)
    shard_id = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard_id,
                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    counts = []
    for _ in range(realism.EMPTY_PAGES + 1):
        page = streams.get_records(ShardIterator=iterator)
        counts.append(len(page["Records"]))
        iterator = page["NextShardIterator"]
    assert counts == [0] * realism.EMPTY_PAGES + [3]


# --- DynamoDB Streams shards roll over and DescribeStream pages them ------------------------


def test_stream_shards_roll_over_into_children_described_page_by_page(table_with_stream,
                                                                       local_aws):
    dynamodb, table, arn = table_with_stream
    put_items(dynamodb, table, 2 * realism.STREAM_SHARD_RECORDS + 10)
    streams = config.client("dynamodbstreams", local_aws)
    first = streams.describe_stream(StreamArn=arn)["StreamDescription"]
    assert len(first["Shards"]) == realism.SHARDS_PER_PAGE < 3
    assert first["LastEvaluatedShardId"] == first["Shards"][-1]["ShardId"]
    found = shards.table_stream_shards(streams, arn)
    assert len(found) == 3
    assert [s.get("ParentShardId") for s in found] == [None, found[0]["ShardId"],
                                                       found[1]["ShardId"]]
    assert "EndingSequenceNumber" in found[0]["SequenceNumberRange"]
    assert "EndingSequenceNumber" not in found[2]["SequenceNumberRange"]  # the open one


def test_a_closed_shard_is_read_to_its_end_and_then_the_iterator_is_null(table_with_stream,
                                                                          local_aws):
    dynamodb, table, arn = table_with_stream
    put_items(dynamodb, table, realism.STREAM_SHARD_RECORDS + 1)
    streams = config.client("dynamodbstreams", local_aws)
    closed = shards.table_stream_shards(streams, arn)[0]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=closed["ShardId"],
                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    read = 0
    while iterator:
        page = streams.get_records(ShardIterator=iterator)
        read += len(page["Records"])
        iterator = page.get("NextShardIterator")
    assert read == realism.STREAM_SHARD_RECORDS


def test_the_table_stream_reader_reads_every_shard_in_order(table_with_stream, local_aws):
    dynamodb, table, arn = table_with_stream
    count = 2 * realism.STREAM_SHARD_RECORDS + 10
    put_items(dynamodb, table, count)
    streams = config.client("dynamodbstreams", local_aws)
    records = list(shards.read_table_stream(streams, arn))
    ids = [r["dynamodb"]["Keys"]["orderid"]["S"] for r in records]
    assert ids == [f"o{n:06d}" for n in range(count)]
    numbers = [int(r["dynamodb"]["SequenceNumber"]) for r in records]
    assert numbers == sorted(numbers)


# --- Kinesis per-shard limits -------------------------------------------------------------------


def test_writes_beyond_1000_records_a_second_per_shard_are_refused_per_record(kinesis_stream):
    kinesis, stream = kinesis_stream
    started = time.monotonic()
    answers = [kinesis.put_records(StreamName=stream, Records=[
        {"Data": b"x", "PartitionKey": str(n)} for n in range(500)]) for _ in range(3)]
    elapsed = time.monotonic() - started
    failed = [r for answer in answers for r in answer["Records"] if "ErrorCode" in r]
    assert sum(a["FailedRecordCount"] for a in answers) == len(failed) > 0
    # A full second's worth at first, then 1,000 more each second (moto's own code is slower).
    assert 1500 - len(failed) <= 1000 * (1 + elapsed)
    assert {r["ErrorCode"] for r in failed} == {"ProvisionedThroughputExceededException"}
    assert "Rate exceeded for shard shardId-000000000000" in failed[0]["ErrorMessage"]


def unretried(s: config.Settings, service: str):
    """A client that sends each call once, so that a refusal is seen (boto3 retries them)."""
    return config.session(s).client(
        service, endpoint_url=s.endpoint_url,
        config=config.Config(retries={"total_max_attempts": 1, "mode": "standard"}))


def test_more_than_a_mib_a_second_per_shard_is_refused(kinesis_stream, local_aws):
    _, stream = kinesis_stream
    kinesis = unretried(local_aws, "kinesis")
    big = b"x" * (900 * 1024)
    codes = []
    for n in range(3):
        try:
            kinesis.put_record(StreamName=stream, Data=big, PartitionKey=str(n))
            codes.append("ok")
        except ClientError as error:
            codes.append(error.response["Error"]["Code"])
    assert codes[0] == "ok"
    assert "ProvisionedThroughputExceededException" in codes[1:]


def test_more_than_five_reads_a_second_per_shard_are_throttled(kinesis_stream, local_aws):
    from concurrent.futures import ThreadPoolExecutor

    kinesis, stream = kinesis_stream
    iterator = kinesis.get_shard_iterator(StreamName=stream, ShardId="shardId-000000000000",
                                          ShardIteratorType="LATEST")["ShardIterator"]
    clients = [unretried(local_aws, "kinesis") for _ in range(10)]
    for client in clients:  # connected and warm, so that the reads come close together
        client.describe_stream_summary(StreamName=stream)
    time.sleep(1)  # a full bucket of reads to start with

    def read(client) -> str:
        try:
            client.get_records(ShardIterator=iterator)
            return "ok"
        except ClientError as error:
            return error.response["Error"]["Code"]

    with ThreadPoolExecutor(10) as pool:  # ten calls within well under a second
        codes = list(pool.map(read, clients))
    assert codes.count("ok") <= realism.KINESIS_READS + 1
    assert "ProvisionedThroughputExceededException" in codes


def test_the_kinesis_reader_keeps_within_the_read_limit(kinesis_stream):
    kinesis, stream = kinesis_stream
    kinesis.put_records(StreamName=stream, Records=[
        {"Data": b"x", "PartitionKey": str(n)} for n in range(10)])
    started = time.monotonic()
    assert len(list(shards.read_kinesis(kinesis, stream))) == 10
    calls = realism.EMPTY_PAGES + 1
    assert time.monotonic() - started >= (calls - 1) / shards.READS_PER_SECOND


# --- BatchWriteItem under a burst -----------------------------------------------------------------


@pytest.fixture
def provisioned_table(local_aws):
    """A table provisioned with 100 write units a second."""
    dynamodb = config.client("dynamodb", local_aws)
    table = name("provisioned")
    dynamodb.create_table(
        TableName=table, KeySchema=[{"AttributeName": "orderid", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "orderid", "AttributeType": "S"}],
        ProvisionedThroughput={"ReadCapacityUnits": 100, "WriteCapacityUnits": 100})
    yield dynamodb, table
    dynamodb.delete_table(TableName=table)


def burst(dynamodb, table: str, count: int) -> int:
    """Batch-write `count` small items as fast as possible; how many came back unprocessed."""
    unprocessed = 0
    for first in range(0, count, 25):
        answer = dynamodb.batch_write_item(RequestItems={table: [
            {"PutRequest": {"Item": {"orderid": {"S": f"b{n}"}}}}
            for n in range(first, first + 25)]})
        unprocessed += len(answer.get("UnprocessedItems", {}).get(table, []))
    return unprocessed


def test_a_burst_beyond_the_provisioned_write_units_leaves_unprocessed_items(provisioned_table):
    assert burst(*provisioned_table, 400) > 0


def test_a_new_on_demand_table_takes_a_burst_below_4000_writes_a_second(table_with_stream):
    dynamodb, table, _ = table_with_stream
    assert burst(dynamodb, table, 2000) == 0


def test_the_generator_retries_unprocessed_items_until_every_order_is_written(
        provisioned_table):
    _, table = provisioned_table
    report = generator.write_orders(generator.make_orders(400, seed=3), table, burst=True,
                                    progress=False)
    assert report.written == 400 and report.retries > 0
    assert len(generator.existing_orderids(table)) == 400


# --- pipes are CREATING, then RUNNING ----------------------------------------------------------


def test_a_new_pipe_is_creating_before_it_runs_and_stopping_before_it_stops(local_aws,
                                                                          table_with_stream,
                                                                          kinesis_stream):
    _, _, stream_arn = table_with_stream
    kinesis, stream = kinesis_stream
    pipes = config.client("pipes", local_aws)
    target = kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"][
        "StreamARN"]
    pipe = name("pipe")
    pipes.create_pipe(Name=pipe, RoleArn="arn:aws:iam::123456789012:role/pipe", Source=stream_arn,
                      Target=target, DesiredState="STOPPED",
                      SourceParameters={"DynamoDBStreamParameters": {
                          "StartingPosition": "TRIM_HORIZON"}},
                      TargetParameters={"KinesisStreamParameters": {
                          "PartitionKey": "$.dynamodb.Keys.orderid.S"}})
    try:
        assert pipes.describe_pipe(Name=pipe)["CurrentState"] == "CREATING"
        wait_for(lambda: pipes.describe_pipe(Name=pipe)["CurrentState"] == "RUNNING",
                 realism.PIPE_STATE_SECONDS * 3, "the pipe to run")
        pipes.stop_pipe(Name=pipe)
        assert pipes.describe_pipe(Name=pipe)["CurrentState"] in ("STOPPING", "STOPPED")
        wait_for(lambda: pipes.describe_pipe(Name=pipe)["CurrentState"] == "STOPPED",
                 realism.PIPE_STATE_SECONDS * 3, "the pipe to stop")
        # moto's own states would go on to STARTING and RUNNING: on AWS it waits for StartPipe.
        time.sleep(realism.PIPE_STATE_SECONDS * 2.5)
        assert pipes.describe_pipe(Name=pipe)["CurrentState"] == "STOPPED"
    finally:
        pipes.delete_pipe(Name=pipe)


def test_a_stopped_pipe_moves_nothing_and_a_started_one_resumes(fresh_stack):
    s, found = fresh_stack
    pipes = config.client("pipes", s)
    pipes.stop_pipe(Name=found["PipeName"])
    wait_for(lambda: pipes.describe_pipe(Name=found["PipeName"])["CurrentState"] == "STOPPED",
             10, "the pipe to stop")
    time.sleep(1.5)  # the runtime sees the state within a second
    put_items(config.client("dynamodb", s), found["TableName"], 5)
    time.sleep(2)
    kinesis = config.client("kinesis", s)
    assert list(shards.read_kinesis(kinesis, found["KinesisStreamName"])) == []
    pipes.start_pipe(Name=found["PipeName"])
    wait_for(lambda: len(list(shards.read_kinesis(kinesis, found["KinesisStreamName"]))) == 5,
             20, "the started pipe to move the five records")


# --- Firehose reads its Kinesis source from LATEST at creation --------------------------------


def test_a_delivery_stream_delivers_only_what_arrives_after_it_was_created(local_aws,
                                                                           kinesis_stream):
    kinesis, stream = kinesis_stream
    s3 = config.client("s3", local_aws)
    bucket = name("latest")
    s3.create_bucket(Bucket=bucket)
    stream_arn = kinesis.describe_stream_summary(StreamName=stream)[
        "StreamDescriptionSummary"]["StreamARN"]
    kinesis.put_record(StreamName=stream, Data=b'{"when": "before"}\n', PartitionKey="a")
    time.sleep(0.05)
    firehose = config.client("firehose", local_aws)
    hose = name("latest")
    role = "arn:aws:iam::123456789012:role/firehose"
    firehose.create_delivery_stream(
        DeliveryStreamName=hose, DeliveryStreamType="KinesisStreamAsSource",
        KinesisStreamSourceConfiguration={"KinesisStreamARN": stream_arn, "RoleARN": role},
        ExtendedS3DestinationConfiguration={
            "BucketARN": f"arn:aws:s3:::{bucket}", "RoleARN": role, "Prefix": "out/",
            "BufferingHints": {"IntervalInSeconds": 1, "SizeInMBs": 1}})
    try:
        time.sleep(0.05)
        kinesis.put_record(StreamName=stream, Data=b'{"when": "after"}\n', PartitionKey="b")

        def delivered() -> list[bytes]:
            listed = s3.list_objects_v2(Bucket=bucket, Prefix="out/").get("Contents", [])
            return [s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in listed]

        bodies = wait_for(delivered, 30, "the delivery stream to write")
        lines = [json.loads(line) for body in bodies for line in body.splitlines()]
        assert lines == [{"when": "after"}]
    finally:
        firehose.delete_delivery_stream(DeliveryStreamName=hose)


# --- the pipe hop past empty pages and rolled-over shards ----------------------------------------


def test_the_pipe_hop_keeps_polling_until_a_new_shard_is_caught_up_then_rests(
        table_with_stream, kinesis_stream, local_aws, tmp_path):
    """Without this the runtime waited for the next write after each empty page: a 10,000-order
    burst rolled over 40 shards and took 72 s to reach S3 instead of 11 s."""
    from workshop.local.aws.checkpoint import Checkpoint
    from workshop.local.hops.pipe import PipeHop

    dynamodb, table, stream_arn = table_with_stream
    kinesis, stream = kinesis_stream
    target = kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]
    hop = PipeHop({"Name": "p", "Arn": "arn:aws:pipes:us-east-1:123456789012:pipe/p",
                   "Source": stream_arn, "Target": target["StreamARN"],
                   "TargetParameters": {"KinesisStreamParameters": {
                       "PartitionKey": "$.dynamodb.Keys.orderid.S"}}},
                  local_aws, Checkpoint(tmp_path, "pipe"))
    count = realism.STREAM_SHARD_RECORDS + 10  # a closed parent and an open child
    put_items(dynamodb, table, count)
    polls = 0
    while hop.moved < count:
        hop.poll()
        polls += 1
        assert hop.catching_up or hop.moved == count  # never idle while records are ahead
        time.sleep(0.05)
    # Each new iterator's empty pages, then its records: a few polls, not one per write.
    assert polls <= 2 * (realism.EMPTY_PAGES + 1)
    for _ in range(shards.CAUGHT_UP_EMPTY_PAGES):
        hop.poll()
    assert not hop.catching_up  # caught up: the runtime may wait for the next write
