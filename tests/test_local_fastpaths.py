"""The local AWS's fast answers must be exactly moto's own answers, only sooner."""

from decimal import Decimal

import boto3
import pytest
from moto.server import ThreadedMotoServer

from workshop.local import fastpaths
from workshop.local.server import free_port


@pytest.fixture(scope="module")
def endpoint():
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()
    fastpaths.remove()


def clients(endpoint, *names):
    kw = {"endpoint_url": endpoint, "region_name": "us-east-1", "aws_access_key_id": "t",
          "aws_secret_access_key": "t"}
    return [boto3.client(name, **kw) for name in names]


def read_both_ways(read):
    """The answer with moto's own code, then with the fast paths."""
    fastpaths.remove()
    theirs = read()
    fastpaths.apply()
    try:
        ours = read()
    finally:
        fastpaths.remove()
    return theirs, ours


def test_stream_records_read_fast_are_moto_records(endpoint):
    ddb, streams = clients(endpoint, "dynamodb", "dynamodbstreams")
    arn = ddb.create_table(
        TableName="fast", BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "orderid", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "orderid", "KeyType": "HASH"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )["TableDescription"]["LatestStreamArn"]
    table = boto3.resource("dynamodb", endpoint_url=endpoint, region_name="us-east-1",
                           aws_access_key_id="t", aws_secret_access_key="t").Table("fast")
    for n in range(30):
        table.put_item(Item={"orderid": f"o{n}", "price": Decimal("429.99"), "tags": {"a", "b"},
                             "photo": b"\x00\xff", "nested": {"l": [1, "x", None, True]}})
    table.update_item(Key={"orderid": "o1"}, UpdateExpression="SET price = :p",
                      ExpressionAttributeValues={":p": Decimal("1.5")})
    table.delete_item(Key={"orderid": "o2"})
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]

    def read():
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard,
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        return streams.get_records(ShardIterator=iterator, Limit=20)["Records"]

    theirs, ours = read_both_ways(read)
    assert len(ours) == 20
    assert ours == theirs


def test_kinesis_records_read_fast_are_moto_records(endpoint):
    (kinesis,) = clients(endpoint, "kinesis")
    kinesis.create_stream(StreamName="fast", ShardCount=1)
    for n in range(25):
        kinesis.put_record(StreamName="fast", Data=f"record {n}".encode(), PartitionKey=str(n))
    shard = kinesis.list_shards(StreamName="fast")["Shards"][0]["ShardId"]

    def read():
        pages = []
        iterator = kinesis.get_shard_iterator(StreamName="fast", ShardId=shard,
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        for _ in range(3):
            page = kinesis.get_records(ShardIterator=iterator, Limit=10)
            pages.append((page["Records"], page["MillisBehindLatest"]))
            iterator = page["NextShardIterator"]
        return pages

    theirs, ours = read_both_ways(read)
    assert [len(records) for records, _ in ours] == [10, 10, 5]
    assert ours == theirs


def test_the_cached_module_list_is_moto_s_own_list():
    from moto import backends

    theirs = list(backends.list_of_moto_modules())
    fastpaths.apply()
    try:
        assert list(backends.list_of_moto_modules()) == theirs
        assert "dynamodbstreams" in theirs and "kinesis" in theirs
    finally:
        fastpaths.remove()
