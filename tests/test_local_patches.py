"""The local AWS's fast answers must be exactly moto's own answers, only sooner."""

import json
from decimal import Decimal

import boto3
import pytest

from tests.helpers import clients, moto_server
from workshop.local.aws import patches


@pytest.fixture(scope="module")
def endpoint():
    with moto_server() as port:
        yield f"http://127.0.0.1:{port}"
    patches.remove()


def read_both_ways(read):
    """The answer with moto's own code, then with the fast paths."""
    patches.remove()
    theirs = read()
    patches.apply()
    try:
        ours = read()
    finally:
        patches.remove()
    return theirs, ours


def key_order(pairs: object) -> object:
    """The keys of a JSON value read with object_pairs_hook=list, nested, in order."""
    if isinstance(pairs, list) and all(isinstance(p, tuple) for p in pairs):
        return [(key, key_order(value)) for key, value in pairs]
    return None


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

    raw: list[bytes] = []
    streams.meta.events.register("after-call.dynamodbstreams.GetRecords",
                                 lambda http_response, **_: raw.append(http_response.content))

    def read():
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard,
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        return streams.get_records(ShardIterator=iterator, Limit=20)["Records"]

    theirs, ours = read_both_ways(read)
    assert len(ours) == 20
    assert ours == theirs
    # On the wire too, key for key in the same order (the Pipe hop forwards these bytes); and a
    # record the patched code writes comes out in moto's order, as moto's would.
    theirs_raw, ours_raw = (dict(json.loads(body, object_pairs_hook=list))["Records"]
                            for body in raw)
    assert ours_raw == theirs_raw
    patches.apply()
    try:
        table.put_item(Item={"orderid": "o30", "price": Decimal("429.99"), "tags": {"a", "b"},
                             "photo": b"\x00\xff", "nested": {"l": [1, "x", None, True]}})
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard, ShardIteratorType="AT_SEQUENCE_NUMBER",
            SequenceNumber=streams.get_records(ShardIterator=streams.get_shard_iterator(
                StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"],
                Limit=1000)["Records"][-1]["dynamodb"]["SequenceNumber"])["ShardIterator"]
        streams.get_records(ShardIterator=iterator)
    finally:
        patches.remove()
    [written_fast] = dict(json.loads(raw[-1], object_pairs_hook=list))["Records"]
    assert key_order(written_fast) == key_order(theirs_raw[0])


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
    patches.apply()
    try:
        assert list(backends.list_of_moto_modules()) == theirs
        assert "dynamodbstreams" in theirs and "kinesis" in theirs
    finally:
        patches.remove()


def test_moto_finds_each_action_among_the_same_methods_once_they_are_cached():
    from moto.core import responses
    from moto.dynamodb.responses import DynamoHandler
    from moto.kinesis.responses import KinesisResponse

    theirs = {c: responses.method_names_from_class(c) for c in (DynamoHandler, KinesisResponse)}
    patches.apply()
    try:
        for handler, names in theirs.items():
            assert responses.method_names_from_class(handler) == names
            assert responses.method_names_from_class(handler) == names  # cached, unchanged
        assert "batch_write_item" in theirs[DynamoHandler]
    finally:
        patches.remove()
    from moto.core.utils import method_names_from_class
    assert responses.method_names_from_class is method_names_from_class  # moto's own again


def _write_changes(table):
    for n in range(12):
        table.put_item(Item={"orderid": f"o{n}", "price": Decimal("429.99"), "tags": {"a", "b"},
                             "nested": {"l": [1, "x", None, True]}})
    table.put_item(Item={"orderid": "o3", "price": Decimal("1")})  # unchanged key: MODIFY
    table.update_item(Key={"orderid": "o1"}, UpdateExpression="SET price = :p",
                      ExpressionAttributeValues={":p": Decimal("1.5")})
    table.delete_item(Key={"orderid": "o2"})
    with table.batch_writer() as batch:  # BatchWriteItem, read by the fast parser
        for n in range(12, 40):
            batch.put_item(Item={"orderid": f"o{n}", "price": Decimal(f"{n}.99"),
                                 "tags": {"x"}, "qty": n, "ok": n % 2 == 0, "gone": None})
    with table.batch_writer() as batch:  # a binary attribute: moto's own parser
        batch.put_item(Item={"orderid": "o40", "photo": b"\x00\xff"})
        batch.delete_item(Key={"orderid": "o12"})


def _stream_records(endpoint, name):
    ddb, streams = clients(endpoint, "dynamodb", "dynamodbstreams")
    arn = ddb.describe_table(TableName=name)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard,
                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    records = streams.get_records(ShardIterator=iterator, Limit=100)["Records"]
    items = sorted(ddb.scan(TableName=name)["Items"],
                   key=lambda item: int(item["orderid"]["S"][1:]))
    assert len(items) == 39 and items[-1]["photo"]["B"] == b"\x00\xff"
    sizes = []
    for record in records:  # random and clock-dependent: checked apart
        assert len(record.pop("eventID")) == 32
        assert record["dynamodb"].pop("ApproximateCreationDateTime").year >= 2025
        # moto counts the clock's float digits in SizeBytes, so it varies by a few bytes
        sizes.append(record["dynamodb"].pop("SizeBytes"))
    return records + items, sizes


def test_stream_records_written_fast_are_the_records_moto_writes(endpoint):
    ddb, = clients(endpoint, "dynamodb")
    resource = boto3.resource("dynamodb", endpoint_url=endpoint, region_name="us-east-1",
                              aws_access_key_id="t", aws_secret_access_key="t")
    for name in ("theirs", "ours"):
        ddb.create_table(
            TableName=name, BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "orderid", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "orderid", "KeyType": "HASH"}],
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    _write_changes(resource.Table("theirs"))
    theirs, their_sizes = _stream_records(endpoint, "theirs")
    patches.apply()
    try:
        _write_changes(resource.Table("ours"))
        ours, our_sizes = _stream_records(endpoint, "ours")
    finally:
        patches.remove()
    assert [r.get("eventName") for r in ours].count("MODIFY") == 2 and len(ours) == 45 + 39
    assert ours == theirs
    assert all(abs(a - b) <= 8 for a, b in zip(our_sizes, their_sizes, strict=True))
    from moto.dynamodb.models import dynamodb_backends
    from moto.dynamodb.models.utilities import dynamo_json_dump
    kept = dynamodb_backends["123456789012"]["us-east-1"].get_table("ours").stream_shard.items
    for record in kept:  # SizeBytes is moto's rule to the byte, on the record's exact time
        block = record.to_json()["dynamodb"]
        assert block["SizeBytes"] == len(dynamo_json_dump({**block, "SizeBytes": 1}))


def test_kinesis_put_records_answers_as_moto_does(endpoint):
    (kinesis,) = clients(endpoint, "kinesis")
    entries = [{"Data": f"record {n}".encode(), "PartitionKey": f"key{n}"} for n in range(7)]
    answers, stored = [], []
    for name, fast in (("put-theirs", False), ("put-ours", True)):
        kinesis.create_stream(StreamName=name, ShardCount=2)
        if fast:
            patches.apply()
        try:
            answer = kinesis.put_records(StreamName=name, Records=entries)
        finally:
            patches.remove()
        answer.pop("ResponseMetadata")
        answers.append(answer)
        records = []
        for shard in kinesis.list_shards(StreamName=name)["Shards"]:
            iterator = kinesis.get_shard_iterator(StreamName=name, ShardId=shard["ShardId"],
                                                  ShardIteratorType="TRIM_HORIZON")
            page = kinesis.get_records(ShardIterator=iterator["ShardIterator"])
            records += [(shard["ShardId"], r["SequenceNumber"], r["PartitionKey"], r["Data"])
                        for r in page["Records"]]
        stored.append(records)
    assert answers[1]["FailedRecordCount"] == 0 and len(answers[1]["Records"]) == 7
    from datetime import datetime

    from moto.kinesis.models import kinesis_backends
    stream = kinesis_backends["123456789012"]["us-east-1"].streams["put-ours"]
    for shard in stream.shards.values():
        for record in shard.records.values():  # arrival times kept as moto keeps them
            assert isinstance(record.created_at, datetime)
    assert answers[1] == answers[0]
    assert stored[1] == stored[0] and len(stored[1]) == 7


def test_answers_get_the_request_id_moto_gives_them():
    import calendar
    from datetime import datetime

    from moto.core.responses import BaseResponse
    from moto.moto_api._internal import mock_random

    bodies = ['<R><RequestId>x</RequestId></R>', '{"Records": []}', b"\x00bytes", ""]
    for body in bodies:
        mock_random.seed(7)
        theirs = BaseResponse._enrich_response({"status": 200}, body)
        patches.apply()
        try:
            mock_random.seed(7)
            ours = BaseResponse._enrich_response({"status": 200}, body)
        finally:
            patches.remove()
        assert ours == theirs
        assert len(ours[0]["x-amzn-requestid"]) == 52
    moment = datetime(2026, 11, 28, 23, 59, 58, 123456)
    assert patches._wire(moment) == calendar.timegm(moment.timetuple()) + 0.123
    assert patches._wire(moment.replace(microsecond=0)) == calendar.timegm(moment.timetuple())


def test_batch_write_item_answers_as_moto_does(endpoint):
    """Same parsed answer, same content type and CRC32 header, same items stored."""
    import json
    import urllib.request
    import zlib

    (ddb,) = clients(endpoint, "dynamodb")
    for name in ("bw-a", "bw-b"):
        ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                         AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
                         KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}])

    def request(n):  # puts into one table, a delete in the other
        return {"RequestItems": {
            "bw-a": [{"PutRequest": {"Item": {"k": {"S": f"{n}-{i}"}, "n": {"N": str(i)}}}}
                     for i in range(3)],
            "bw-b": [{"DeleteRequest": {"Key": {"k": {"S": f"{n}-x"}}}}]},
            "ReturnConsumedCapacity": "TOTAL"}

    def raw(n):
        call = urllib.request.Request(endpoint, data=json.dumps(request(n)).encode(), headers={
            "X-Amz-Target": "DynamoDB_20120810.BatchWriteItem",
            "Content-Type": "application/x-amz-json-1.0",
            "Authorization": "AWS4-HMAC-SHA256 Credential=t/20261129/us-east-1/dynamodb/"
                             "aws4_request, SignedHeaders=host, Signature=x"})
        with urllib.request.urlopen(call) as answer:
            body = answer.read()
            headers = {k.lower(): v for k, v in answer.headers.items()}
            return answer.status, headers, json.loads(body), zlib.crc32(body)

    theirs, ours = read_both_ways(lambda: raw("raw"))
    assert ours[0] == theirs[0] == 200
    varying = {"date", "x-amzn-requestid", "x-amz-crc32", "content-length"}
    assert {k: v for k, v in ours[1].items() if k not in varying} == {
        k: v for k, v in theirs[1].items() if k not in varying}
    assert ours[1].keys() == theirs[1].keys()
    assert int(ours[1]["x-amz-crc32"]) == ours[3]  # the checksum of the body sent
    assert ours[2] == theirs[2] and ours[2]["UnprocessedItems"] == {}
    parsed = read_both_ways(lambda: {k: v for k, v in ddb.batch_write_item(
        **request("boto")).items() if k != "ResponseMetadata"})
    assert parsed[0] == parsed[1] and len(parsed[1]["ConsumedCapacity"]) == 2
    items = ddb.scan(TableName="bw-a")["Items"]
    assert sorted(i["k"]["S"] for i in items) == sorted(
        f"{n}-{i}" for n in ("raw", "boto") for i in range(3))


def test_fast_answers_have_moto_s_content_types(endpoint):
    """A JSON answer says which JSON it is, as moto's serializers say it (SDKs other than
    boto3 may read the content type); the fast paths used to answer text/html."""
    kinesis, ddb, streams = clients(endpoint, "kinesis", "dynamodb", "dynamodbstreams")
    kinesis.create_stream(StreamName="types", ShardCount=1)
    ddb.create_table(TableName="types", BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                     StreamSpecification={"StreamEnabled": True,
                                          "StreamViewType": "NEW_AND_OLD_IMAGES"})
    arn = ddb.describe_table(TableName="types")["Table"]["LatestStreamArn"]
    shard = kinesis.list_shards(StreamName="types")["Shards"][0]["ShardId"]
    stream_shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]

    def content_types():
        answers = [
            ddb.batch_write_item(RequestItems={"types": [{"PutRequest": {"Item": {
                "k": {"S": "1"}}}}]}),
            kinesis.put_records(StreamName="types", Records=[{"Data": b"x",
                                                              "PartitionKey": "p"}]),
            kinesis.get_records(ShardIterator=kinesis.get_shard_iterator(
                StreamName="types", ShardId=shard,
                ShardIteratorType="TRIM_HORIZON")["ShardIterator"]),
            streams.get_records(ShardIterator=streams.get_shard_iterator(
                StreamArn=arn, ShardId=stream_shard["ShardId"],
                ShardIteratorType="TRIM_HORIZON")["ShardIterator"]),
        ]
        return [a["ResponseMetadata"]["HTTPHeaders"]["content-type"] for a in answers]

    theirs, ours = read_both_ways(content_types)
    assert theirs == ["application/x-amz-json-1.0", "application/x-amz-json-1.1",
                      "application/x-amz-json-1.1", "application/x-amz-json-1.0"]
    assert ours == theirs
