"""workshop.records: the formats both targets share, read and written as AWS does."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from workshop.records import formats
from workshop.records.formats import Buffering, evaluate_prefix, iso_utc, to_wire
from workshop.records.statistics import QueryStatistics

PREFIX = ("orders/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/"
          "hour=!{timestamp:HH}/")
ERRORS = "errors/!{firehose:error-output-type}/year=!{timestamp:yyyy}/"


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


def test_stream_records_go_back_to_their_wire_form():
    when = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)
    wire = to_wire({"dynamodb": {"ApproximateCreationDateTime": when,
                                 "NewImage": {"photo": {"B": b"\x00\x01"}}}})
    assert wire["dynamodb"]["ApproximateCreationDateTime"] == int(when.timestamp())
    assert wire["dynamodb"]["NewImage"]["photo"]["B"] == "AAE="


def test_times_are_written_in_utc_with_microseconds_and_a_z():
    paris = timezone(timedelta(hours=1))
    when = datetime(2026, 12, 5, 13, 4, 5, 6, tzinfo=paris)
    assert iso_utc(when) == "2026-12-05T12:04:05.000006Z"
    assert iso_utc().endswith("Z") and len(iso_utc()) == len("2026-12-05T12:04:05.000006Z")


def test_buffering_is_read_with_firehose_s_defaults_where_the_stream_is_silent():
    assert Buffering.of({}) == Buffering(300.0, 5.0, None, None)
    processor = {"ProcessingConfiguration": {"Enabled": True, "Processors": [
        {"Type": "Lambda", "Parameters": [
            {"ParameterName": "LambdaArn", "ParameterValue": "arn:aws:lambda:f"},
            {"ParameterName": "BufferIntervalInSeconds", "ParameterValue": "20"}]}]},
        "BufferingHints": {"IntervalInSeconds": 60, "SizeInMBs": 64}}
    buffering = Buffering.of(processor)
    assert buffering == Buffering(60.0, 64.0, 20.0, 1.0)
    assert buffering.longest_wait == 80.0


def test_a_disabled_processor_transforms_nothing():
    disabled = {"ProcessingConfiguration": {"Enabled": False, "Processors": [
        {"Type": "Lambda", "Parameters": [{"ParameterName": "LambdaArn", "ParameterValue": "x"}]}]}}
    assert formats.processor_parameters(disabled) is None
    assert Buffering.of(disabled).longest_wait == 300.0


def test_a_handler_that_is_not_in_lambda_says_where_it_looked():
    with pytest.raises(formats.HandlerNotFound, match=r"no file .*nowhere\.py"):
        formats.load_handler("nowhere.lambda_handler")


def test_athena_bills_whole_megabytes_and_ten_at_least():
    assert QueryStatistics(data_scanned_in_bytes=1).billed_bytes == 10 * 1024 * 1024
    eleven_and_a_bit = 11 * 1024 * 1024 + 1
    assert QueryStatistics(data_scanned_in_bytes=eleven_and_a_bit).billed_bytes == 12 * 1024 * 1024
    assert QueryStatistics().cost_usd is None
