"""The pieces of the local Pipe and Firehose hops that must follow AWS's contracts exactly."""

import base64
from datetime import UTC, datetime

import pytest

from workshop.local.hops.firehose import InvalidResponse, validate_response
from workshop.local.hops.pipe import PipeConfigError, partition_key
from workshop.records.formats import evaluate_prefix, to_wire

PREFIX = ("orders/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/"
          "hour=!{timestamp:HH}/")
ERRORS = "errors/!{firehose:error-output-type}/year=!{timestamp:yyyy}/"
RECORD = {"dynamodb": {"Keys": {"orderid": {"S": "7421"}}}}


def test_prefix_is_evaluated_in_utc_and_zero_padded():
    when = datetime(2026, 3, 4, 5, 59, tzinfo=UTC)
    assert evaluate_prefix(PREFIX, when) == "orders/year=2026/month=03/day=04/hour=05/"


def test_the_templates_prefixes_are_spelled_as_its_date_projection_reads_them():
    from workshop import template
    from workshop.records import projection

    s3 = template.resource("DeliveryStream")["Properties"]["ExtendedS3DestinationConfiguration"]
    params = template.resource("OrdersTable")["Properties"]["TableInput"]["Parameters"]
    when = datetime(2026, 3, 4, 5, 59, tzinfo=UTC)
    assert evaluate_prefix(s3["Prefix"], when) == "orders/datehour=2026-03-04-05/"
    assert evaluate_prefix(s3["ErrorOutputPrefix"], when, "processing-failed") == (
        "errors/processing-failed/datehour=2026-03-04-05/")
    assert projection.projected(params, "datehour", "2026-03-04-05", now=when)


def test_error_prefix_names_the_error_output_type():
    when = datetime(2026, 11, 24, 21, tzinfo=UTC)
    assert evaluate_prefix(ERRORS, when, "processing-failed") == (
        "errors/processing-failed/year=2026/")


def test_error_output_type_outside_the_error_prefix_is_refused():
    with pytest.raises(ValueError, match="only valid in ErrorOutputPrefix"):
        evaluate_prefix(ERRORS, datetime.now(UTC))


def test_unknown_prefix_expressions_are_refused_not_copied():
    with pytest.raises(ValueError, match="unsupported"):
        evaluate_prefix("x/!{partitionKeyFromQuery:id}/", datetime.now(UTC))


def test_partition_key_path_reads_the_record_and_a_word_is_a_constant():
    assert partition_key(RECORD, "$.dynamodb.Keys.orderid.S") == "7421"
    assert partition_key(RECORD, "orders") == "orders"


def test_partition_key_path_that_finds_nothing_says_where():
    with pytest.raises(PipeConfigError, match="finds nothing at 'sku'"):
        partition_key(RECORD, "$.dynamodb.Keys.sku.S")


def test_stream_records_go_back_to_their_wire_form():
    when = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)
    wire = to_wire({"dynamodb": {"ApproximateCreationDateTime": when,
                                 "NewImage": {"photo": {"B": b"\x00\x01"}}}})
    assert wire["dynamodb"]["ApproximateCreationDateTime"] == int(when.timestamp())
    assert wire["dynamodb"]["NewImage"]["photo"]["B"] == "AAE="


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
