"""workshop.lab: the same start/stop cells on both targets."""

from __future__ import annotations

from workshop import config, lab


def test_on_aws_nothing_starts_or_stops_here(tmp_path):
    s = config.Settings(target="aws", region="eu-west-1", state_dir=tmp_path)
    assert lab.start(s).startswith("Target aws (region eu-west-1): nothing to start")
    assert lab.stop(s) == "Target aws: nothing runs on this machine."


def test_start_is_idempotent_and_says_where_the_local_aws_runs(local_aws):
    text = lab.start(local_aws)
    endpoint = f"http://127.0.0.1:{local_aws.local_port}"
    assert text.startswith(f"local AWS on {endpoint} since ")
    assert "server pid" in text and "runtime pid" in text and "NOT running" not in text
    # ... and how to point any SDK or the AWS CLI at it
    assert (f"AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing aws --endpoint-url "
            f"{endpoint} --region us-east-1 dynamodb list-tables") in text


def test_stopping_a_local_aws_that_is_not_running_says_so(tmp_path):
    s = config.Settings(target="local", state_dir=tmp_path)
    assert lab.stop(s) == "local AWS is not running (start it with `workshop local start`)"
