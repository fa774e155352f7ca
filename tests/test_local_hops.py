"""The pieces of the local Pipe and Firehose hops that must follow AWS's contracts exactly."""

import base64

import pytest

from workshop.local.hops.firehose import InvalidResponse, validate_response
from workshop.local.hops.pipe import PipeConfigError, partition_key

RECORD = {"dynamodb": {"Keys": {"orderid": {"S": "7421"}}}}


def test_partition_key_path_reads_the_record_and_a_word_is_a_constant():
    assert partition_key(RECORD, "$.dynamodb.Keys.orderid.S") == "7421"
    assert partition_key(RECORD, "orders") == "orders"


def test_partition_key_path_that_finds_nothing_says_where():
    with pytest.raises(PipeConfigError, match="finds nothing at 'sku'"):
        partition_key(RECORD, "$.dynamodb.Keys.sku.S")


def ok(record_id):
    return {"recordId": record_id, "result": "Ok", "data": base64.b64encode(b"{}\n").decode()}


def test_a_valid_response_is_returned_in_request_order():
    entries = validate_response({"records": [ok("b"), ok("a")]}, ["a", "b"])
    assert [e["recordId"] for e in entries] == ["a", "b"]


@pytest.mark.parametrize(
    ("response", "message"),
    [
        ({"records": [ok("a")]}, "missing 1 recordId"),
        ({"records": [ok("a"), ok("b"), ok("c")]}, "unknown recordId 'c'"),
        ({"records": [ok("a"), ok("a"), ok("b")]}, "repeats recordId 'a'"),
        ({"records": [ok("a"), {**ok("b"), "result": "Fine"}]}, "has result 'Fine'"),
        ({"records": [ok("a"), {**ok("b"), "data": "%%%"}]}, "not base64"),
        ([], "'records' list"),
    ],
)
def test_a_response_that_breaks_the_contract_fails_the_whole_invocation(response, message):
    with pytest.raises(InvalidResponse, match=message):
        validate_response(response, ["a", "b"])
