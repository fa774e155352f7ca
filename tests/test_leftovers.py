"""workshop.leftovers: what a participant's cleanup leaves behind, found by prefix."""

from __future__ import annotations

import dataclasses

from botocore.exceptions import ClientError

from tests.conftest import unique_prefix
from workshop import leftovers, stack


def test_a_deployed_stack_is_found_piece_by_piece(fresh_stack):
    s, outputs = fresh_stack
    found = leftovers.find(s)
    assert f"CloudFormation stack: {s.stack_name} (CREATE_COMPLETE)" in found
    assert f"S3 bucket: {outputs['BucketName']}" in found
    assert f"S3 bucket: {stack.artifacts_bucket_name(s)}" in found
    assert f"DynamoDB table: {outputs['TableName']}" in found
    assert f"Kinesis stream: {outputs['KinesisStreamName']}" in found
    assert f"Glue database: {outputs['GlueDatabaseName']}" in found


def test_after_the_stack_is_deleted_only_the_artifacts_bucket_is_left_and_can_go(fresh_stack):
    s, _ = fresh_stack
    stack.delete_stack(s)
    assert leftovers.find(s) == [f"S3 bucket: {stack.artifacts_bucket_name(s)}"]
    assert leftovers.report(s).startswith(f"1 resource(s) named for '{s.prefix}' are left")
    assert stack.remove_artifacts_bucket(s) == (
        f"Deleted s3://{stack.artifacts_bucket_name(s)} and its 1 object version(s)")
    assert leftovers.report(s) == f"Nothing named for '{s.prefix}' is left on the local target."
    assert stack.remove_artifacts_bucket(s).endswith("does not exist: nothing to remove")


def test_other_prefixes_are_not_reported(fresh_stack):
    s, _ = fresh_stack
    other = dataclasses.replace(s, prefix=unique_prefix())
    assert leftovers.find(other) == []


def test_a_service_that_cannot_be_listed_is_reported_not_skipped(local_aws, monkeypatch):
    def denied(_s):
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "ListTables")

    monkeypatch.setitem(leftovers.FINDERS, "DynamoDB table", denied)
    found = leftovers.find(dataclasses.replace(local_aws, prefix=unique_prefix()))
    assert found == ["DynamoDB table: could not list (An error occurred (AccessDenied) when "
                     "calling the ListTables operation: no); check it in the console"]
