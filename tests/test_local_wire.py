"""The runtime's JSON wire client talks to the local AWS only."""

import dataclasses

import pytest

from workshop import config
from workshop.config import LocalModeViolation
from workshop.local.aws.wire import WireClient, WireError


def test_the_wire_client_refuses_the_aws_target():
    aws = dataclasses.replace(config.Settings(), target="aws")
    with pytest.raises(LocalModeViolation, match="local AWS only"):
        WireClient(aws, "kinesis")


def test_an_error_answer_carries_the_aws_error_code(local_aws):
    wire = WireClient(local_aws, "kinesis")
    with pytest.raises(WireError) as caught:
        wire.call("DescribeStreamSummary", {"StreamName": "no-such-stream"})
    assert caught.value.code == "ResourceNotFoundException"
