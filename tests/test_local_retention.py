"""Local retention drops only records every hop has checkpointed, and keeps positions valid."""

from __future__ import annotations

import dataclasses
import os
import signal
import time

import pytest

from tests.conftest import wait_for
from tests.helpers import clients, moto_server
from workshop import config, stack, streams
from workshop.local.aws import patches, process, retention
from workshop.local.aws.checkpoint import hop_checkpoint
from workshop.local.aws.ports import free_port
from workshop.local.aws.retention import Policy, policy_of
from workshop.reconcile import reconcile

GONE = Policy(seconds=0, records=0)  # drop every consumed record at once


@pytest.fixture(scope="module")
def endpoint():
    patches.apply()
    with moto_server() as port:
        yield f"http://127.0.0.1:{port}"
    patches.remove()


def stream_table(endpoint, name):
    ddb, streams_client = clients(endpoint, "dynamodb", "dynamodbstreams")
    arn = ddb.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "orderid", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "orderid", "KeyType": "HASH"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )["TableDescription"]["LatestStreamArn"]
    shard = streams_client.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]
    return arn, shard["ShardId"]


def put(endpoint, table, numbers):
    (ddb,) = clients(endpoint, "dynamodb")
    for n in numbers:
        ddb.put_item(TableName=table, Item={"orderid": {"S": f"o{n:03d}"}})


def read_stream(endpoint, arn, shard_id, **position):
    (client,) = clients(endpoint, "dynamodbstreams")
    kwargs = position or {"ShardIteratorType": "TRIM_HORIZON"}
    iterator = client.get_shard_iterator(StreamArn=arn, ShardId=shard_id, **kwargs)
    page = client.get_records(ShardIterator=iterator["ShardIterator"])
    return [(r["dynamodb"]["Keys"]["orderid"]["S"], int(r["dynamodb"]["SequenceNumber"]))
            for r in page["Records"]]


def stream_shard(table):
    from moto.dynamodb.models import dynamodb_backends
    return dynamodb_backends["123456789012"]["us-east-1"].get_table(table).stream_shard


def test_the_policy_comes_from_the_environment_with_a_clear_error(monkeypatch):
    for name in ("WORKSHOP_LOCAL_RETENTION_SECONDS", "WORKSHOP_LOCAL_RETENTION_RECORDS"):
        monkeypatch.delenv(name, raising=False)
    assert policy_of(config.settings()) == Policy(3600.0, 20_000)
    monkeypatch.setenv("WORKSHOP_LOCAL_RETENTION_SECONDS", "30")
    monkeypatch.setenv("WORKSHOP_LOCAL_RETENTION_RECORDS", "5")
    assert policy_of(config.settings()) == Policy(30.0, 5)
    monkeypatch.setenv("WORKSHOP_LOCAL_RETENTION_SECONDS", "off")
    assert policy_of(config.settings()).keeps_everything
    monkeypatch.setenv("WORKSHOP_LOCAL_RETENTION_SECONDS", "an hour")
    with pytest.raises(config.ConfigError, match="WORKSHOP_LOCAL_RETENTION_SECONDS=600"):
        config.settings()


def test_a_trimmed_stream_keeps_its_sequence_numbers_and_iterators(endpoint):
    arn, shard_id = stream_table(endpoint, "trim-stream")
    put(endpoint, "trim-stream", range(10))
    before = read_stream(endpoint, arn, shard_id)
    assert len(before) == 10
    latest = clients(endpoint, "dynamodbstreams")[0].get_shard_iterator(
        StreamArn=arn, ShardId=shard_id, ShardIteratorType="LATEST")["ShardIterator"]

    consumed = before[5][1]  # a hop has checkpointed the first six records
    assert retention.trim_stream_shard(stream_shard("trim-stream"), consumed, GONE) == 6
    assert read_stream(endpoint, arn, shard_id) == before[6:]  # TRIM_HORIZON: oldest kept
    assert read_stream(endpoint, arn, shard_id, ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                       SequenceNumber=str(before[7][1])) == before[8:]
    put(endpoint, "trim-stream", [10])
    after = read_stream(endpoint, arn, shard_id)
    assert after[-1] == ("o010", before[-1][1] + 1)  # numbering goes on past the trim
    page = clients(endpoint, "dynamodbstreams")[0].get_records(ShardIterator=latest)
    assert [r["dynamodb"]["Keys"]["orderid"]["S"] for r in page["Records"]] == ["o010"]
    new_latest = clients(endpoint, "dynamodbstreams")[0].get_shard_iterator(
        StreamArn=arn, ShardId=shard_id, ShardIteratorType="LATEST")["ShardIterator"]
    assert clients(endpoint, "dynamodbstreams")[0].get_records(
        ShardIterator=new_latest)["Records"] == []


def test_unconsumed_recent_or_counted_stream_records_are_kept(endpoint):
    _, _ = stream_table(endpoint, "keep-stream")
    put(endpoint, "keep-stream", range(10))
    shard = stream_shard("keep-stream")
    first = shard.starting_sequence_number
    # nothing consumed: nothing goes, however old
    assert retention.trim_stream_shard(shard, first - 1, GONE) == 0
    # consumed but younger than the grace period: kept
    assert retention.trim_stream_shard(shard, first + 9, Policy(seconds=3600, records=100)) == 0
    # the count cap keeps the newest 4 consumed records, whatever their age
    assert retention.trim_stream_shard(shard, first + 9, Policy(seconds=3600, records=4)) == 6
    # records aged past the grace period go, but only up to what was consumed
    later = time.time() + 7200
    assert retention.trim_stream_shard(shard, first + 7, Policy(3600, 100), now=later) == 2
    assert len(shard.items) == 2 and shard.trimmed == 8


def test_a_trimmed_kinesis_shard_keeps_its_newest_record_and_numbering(endpoint):
    (kinesis,) = clients(endpoint, "kinesis")
    kinesis.create_stream(StreamName="trim-kinesis", ShardCount=1)
    for n in range(6):
        kinesis.put_record(StreamName="trim-kinesis", Data=f"r{n}".encode(), PartitionKey="k")
    from moto.kinesis.models import kinesis_backends
    shard = next(iter(kinesis_backends["123456789012"]["us-east-1"].streams[
        "trim-kinesis"].shards.values()))

    def read(**position):
        kwargs = position or {"ShardIteratorType": "TRIM_HORIZON"}
        iterator = kinesis.get_shard_iterator(StreamName="trim-kinesis", ShardId=shard.shard_id,
                                              **kwargs)["ShardIterator"]
        return [(r["Data"], r["SequenceNumber"])
                for r in kinesis.get_records(ShardIterator=iterator)["Records"]]

    before = read()
    assert retention.trim_kinesis_shard(shard, 3, GONE) == 3
    assert read() == before[3:]
    assert read(ShardIteratorType="AFTER_SEQUENCE_NUMBER", StartingSequenceNumber="1") == (
        before[3:])  # a position trimmed away reads on from the oldest record kept
    assert retention.trim_kinesis_shard(shard, 6, GONE) == 2  # the newest record stays
    assert read() == before[5:]
    kinesis.put_record(StreamName="trim-kinesis", Data=b"r6", PartitionKey="k")
    assert read()[-1] == (b"r6", "7")


def test_a_sweep_trims_up_to_every_hop_s_checkpoint_only(endpoint, tmp_path):
    arn, shard_id = stream_table(endpoint, "sweep-stream")
    kinesis, pipes = clients(endpoint, "kinesis", "pipes")
    kinesis.create_stream(StreamName="sweep-kinesis", ShardCount=1)
    target = kinesis.describe_stream_summary(
        StreamName="sweep-kinesis")["StreamDescriptionSummary"]["StreamARN"]
    for name in ("pipe-a", "pipe-b"):
        pipes.create_pipe(Name=name, Source=arn, Target=target,
                          RoleArn="arn:aws:iam::123456789012:role/pipe")
    put(endpoint, "sweep-stream", range(8))
    first = stream_shard("sweep-stream").starting_sequence_number
    retention.sweep(tmp_path, GONE)
    assert len(stream_shard("sweep-stream").items) == 8  # no checkpoint yet: nothing goes
    hop_checkpoint(tmp_path, "pipe", "pipe-a").save({shard_id: str(first + 6)})
    retention.sweep(tmp_path, GONE)
    assert len(stream_shard("sweep-stream").items) == 8  # pipe-b has not started
    hop_checkpoint(tmp_path, "pipe", "pipe-b").save({shard_id: str(first + 2)})
    assert retention.sweep(tmp_path, GONE) == {arn: 3}  # the slower pipe's position
    assert [n for _, n in read_stream(endpoint, arn, shard_id)] == list(range(first + 3,
                                                                                first + 8))


def test_stream_iterators_expire_as_on_aws(endpoint):
    arn, shard_id = stream_table(endpoint, "expire-stream")
    (client,) = clients(endpoint, "dynamodbstreams")
    client.get_shard_iterator(StreamArn=arn, ShardId=shard_id, ShardIteratorType="LATEST")
    assert retention.expire_iterators(max_age=3600) == 0
    assert retention.expire_iterators(max_age=0) >= 1


@pytest.mark.timeout(240)
def test_the_pipeline_loses_nothing_while_every_consumed_record_is_dropped(tmp_path,
                                                                         monkeypatch):
    from tests.test_local_pipeline import make_orders, write_burst

    s = config.Settings(local_port=free_port(), state_dir=tmp_path, prefix="ret",
                        retention_seconds=0, retention_records=0, local_buffer_seconds=0.5)
    process.start(s)
    try:
        found = stack.deploy(s=s)
        first, second = make_orders(1500), make_orders(500, start=1500)
        write_burst(s, found["TableName"], first)
        wait_for(lambda: reconcile([o["orderid"] for o in first[:100]], found["BucketName"],
                                   s).delivered, 60, "a first delivery")
        os.kill(process.status(s).running["runtime"], signal.SIGKILL)
        write_burst(s, found["TableName"], second)
        wait_for(lambda: "runtime" not in process.status(s).running, 10, "the runtime to die")
        process.start(s)
        orderids = [o["orderid"] for o in first + second]

        def delivered():
            result = reconcile(orderids, found["BucketName"], s)
            return result if not result.missing else None

        result = wait_for(delivered, 120, "every order in S3")
        assert result.complete and result.delivered == 2000
        # Everything consumed is dropped: the stream is emptied, Kinesis keeps its newest record.
        wait_for(lambda: not streams.table_stream_records(10, s), 20, "a trimmed stream")
        wait_for(lambda: len(streams.kinesis_records(10, s)) == 1, 20, "a trimmed Kinesis")
    finally:
        process.stop(dataclasses.replace(s))


def test_a_trimmed_kinesis_record_is_freed(endpoint):
    import gc
    import weakref

    from moto.kinesis.models import kinesis_backends

    (kinesis,) = clients(endpoint, "kinesis")
    kinesis.create_stream(StreamName="free-kinesis", ShardCount=1)
    for n in range(3):
        kinesis.put_record(StreamName="free-kinesis", Data=f"r{n}".encode(), PartitionKey="k")
    shard = next(iter(kinesis_backends["123456789012"]["us-east-1"].streams[
        "free-kinesis"].shards.values()))
    oldest = weakref.ref(shard.records[1])
    assert retention.trim_kinesis_shard(shard, 2, GONE) == 2
    gc.collect()
    assert oldest() is None  # nothing else (moto's instance register) holds it


def test_a_rolled_over_stream_keeps_its_record_bound_and_forgets_closed_shards_read_to_the_end(
        endpoint, tmp_path):
    from moto.dynamodb.models import dynamodb_backends

    from workshop.local.aws import realism

    arn, _ = stream_table(endpoint, "rolled-stream")
    (kinesis, pipes) = clients(endpoint, "kinesis", "pipes")
    kinesis.create_stream(StreamName="rolled-kinesis", ShardCount=1)
    target = kinesis.describe_stream_summary(
        StreamName="rolled-kinesis")["StreamDescriptionSummary"]["StreamARN"]
    pipes.create_pipe(Name="rolled-pipe", Source=arn, Target=target,
                      RoleArn="arn:aws:iam::123456789012:role/pipe")
    table = dynamodb_backends["123456789012"]["us-east-1"].get_table("rolled-stream")
    put(endpoint, "rolled-stream", range(6))
    realism.roll_over(table)  # a closed parent of 6 records, an open child
    put(endpoint, "rolled-stream", range(6, 10))
    parent, child = realism.stream_shards(table)
    assert parent.ending_sequence_number == parent.starting_sequence_number + 5
    assert child.starting_sequence_number == parent.ending_sequence_number + 1
    checkpoint = hop_checkpoint(tmp_path, "pipe", "rolled-pipe")
    checkpoint.save({parent.id: str(parent.ending_sequence_number),
                     child.id: str(child.starting_sequence_number + 1)})
    # Keep 3 consumed records in the whole stream: the child's 2 and one of the parent's.
    assert retention.sweep(tmp_path, Policy(seconds=3600, records=3)) == {arn: 5}
    assert [len(shard.items) for shard in realism.stream_shards(table)] == [1, 4]
    assert retention.sweep(tmp_path, GONE) == {arn: 3}
    assert realism.stream_shards(table) == [child]  # the parent, read and emptied, is gone
