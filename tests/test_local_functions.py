"""The learner's own transformer, locally as on AWS: the deployed code runs (never the working
copy), a new deployment is picked up without a restart, and a transformer that raises, runs past
its Timeout or answers what is not JSON ends in the error output, nothing lost, with its reason
in the function's log (`workshop logs`)."""

from __future__ import annotations

import base64
import json

import pytest

from tests.conftest import wait_for
from tests.test_local_pipeline import clean_lines, error_records, make_orders, write_burst
from workshop import athena, cli, config, logs, stack
from workshop.config import LAMBDA_DIR
from workshop.reconcile import reconcile

pytestmark = pytest.mark.timeout(180)
ORIGINAL = (LAMBDA_DIR / "transformer.py").read_text()
ADD_TOTAL = ('''    item["event_time"] = _event_time(stream_record["dynamodb"])
    return item''', '''    item["event_time"] = _event_time(stream_record["dynamodb"])
    item["total"] = round(item["quantity"] * item["price"], 2)
    return item''')


def edited(*replacements: tuple[str, str]) -> str:
    source = ORIGINAL
    for old, new in replacements:
        assert old in source
        source = source.replace(old, new)
    return source


def wrapped(body: str) -> str:
    """The transformer with its handler replaced by one running `body` (`original` is the
    handler it replaces)."""
    return (f"{ORIGINAL}\n\noriginal = lambda_handler\n\n\n"
            f"def lambda_handler(event, context):\n    {body}\n")


def deliver(s, found, count: int, start: int) -> list[str]:
    """Write `count` orders and wait until each is delivered or failed; their ids."""
    orders = make_orders(count, start=start)
    write_burst(s, found["TableName"], orders)
    ids = [o["orderid"] for o in orders]
    wait_for(lambda: not reconcile(ids, found["BucketName"], s).missing, 60,
             f"{count} orders in S3")
    return ids


def lines_of(s, found, ids: list[str]) -> list[dict]:
    return [line for line in clean_lines(s, found["BucketName"]) if line["orderid"] in ids]


def test_the_deployed_code_runs_and_a_new_deployment_is_picked_up_without_a_restart(
        fresh_stack, own_lambda):
    s, found = fresh_stack
    first = deliver(s, found, 10, 100)
    own_lambda(edited(ADD_TOTAL))  # edited, not deployed yet: nothing changes
    second = deliver(s, found, 5, 200)
    assert all("total" not in line for line in lines_of(s, found, first + second))
    events: list[str] = []
    stack.deploy(s=s, on_status=events.append)
    third = deliver(s, found, 5, 300)
    assert all(line["total"] == round(line["quantity"] * line["price"], 2)
               for line in lines_of(s, found, third))
    # Everything delivered before the deploy is still there, and still queryable.
    everything = first + second + third
    assert reconcile(everything, found["BucketName"], s).delivered == 20
    queried = athena.query("SELECT orderid FROM orders", s)
    assert set(everything) <= set(queried["orderid"])
    runtime_log = (s.local_dir / "runtime.log").read_text()
    code = config.client("lambda", s).get_function(
        FunctionName=found["TransformerFunctionName"])["Configuration"]["CodeSha256"]
    assert f"running the deployed code {code[:12]}" in runtime_log


def test_a_transformer_that_raises_sends_its_records_to_the_error_output_after_four_attempts(
        fresh_stack, own_lambda):
    s, found = fresh_stack
    own_lambda(wrapped("raise ZeroDivisionError('division by zero')"))
    stack.deploy(s=s)
    ids = deliver(s, found, 5, 400)
    result = reconcile(ids, found["BucketName"], s)
    assert result.failed == 5 and result.delivered == 0 and result.complete  # nothing lost
    errors = error_records(s, found["BucketName"])
    assert {(e["errorCode"], e["attemptsMade"]) for e in errors} == {("Lambda.FunctionError", 4)}
    assert errors[0]["errorMessage"] == ("The Lambda function was successfully invoked but it "
                                         "returned an error result.")
    raw = sorted(json.loads(base64.b64decode(e["rawData"]))["dynamodb"]["Keys"]["orderid"]["S"]
                 for e in errors)
    assert raw == sorted(ids)
    shown: list[str] = []
    logs.tail(s=s, out=shown.append)
    assert any("[ERROR] ZeroDivisionError: division by zero" in line for line in shown)


def test_a_transformer_past_its_timeout_is_cut_off_retried_then_kept_in_the_error_output(
        fresh_stack, own_lambda):
    s, found = fresh_stack
    own_lambda(wrapped("import time\n    time.sleep(3)\n    return original(event, context)"))
    stack.deploy(s=s)
    config.client("lambda", s).update_function_configuration(
        FunctionName=found["TransformerFunctionName"], Timeout=1)
    ids = deliver(s, found, 3, 500)
    assert reconcile(ids, found["BucketName"], s).failed == 3
    errors = error_records(s, found["BucketName"])
    assert {(e["errorCode"], e["attemptsMade"]) for e in errors} == {
        ("Lambda.FunctionTimedOut", 4)}
    def timeouts_logged() -> int:
        shown: list[str] = []
        logs.tail(s=s, out=shown.append)
        return sum("Task timed out after 1.00 seconds" in line for line in shown)

    # Both delivery streams (JSON and Parquet) call it, four times each.
    wait_for(lambda: timeouts_logged() == 2 * 4, 60, "eight timeouts in the function's log")


def test_an_answer_that_is_not_json_fails_the_invocation(fresh_stack, own_lambda):
    s, found = fresh_stack
    own_lambda(wrapped("return {**original(event, context), 'when': object()}"))
    stack.deploy(s=s)
    ids = deliver(s, found, 2, 600)
    assert reconcile(ids, found["BucketName"], s).failed == 2
    assert {e["errorCode"] for e in error_records(s, found["BucketName"])} == {
        "Lambda.FunctionError"}
    shown: list[str] = []
    logs.tail(s=s, out=shown.append)
    assert any("Runtime.MarshalError: Unable to marshal response" in line for line in shown)


def test_workshop_logs_prints_the_transformers_lines(fresh_stack, monkeypatch, capsys):
    s, found = fresh_stack
    deliver(s, found, 3, 700)
    monkeypatch.setenv("WORKSHOP_PREFIX", s.prefix)
    config.reset()
    try:
        assert cli.main(["logs", "--since", "5m"]) == 0
    finally:
        config.reset()
    printed = capsys.readouterr().out.splitlines()
    starts = [line for line in printed if " START RequestId: " in line]
    assert starts and all(line.endswith("Version: $LATEST") for line in starts)
    assert any(" REPORT RequestId: " in line and "Memory Size: 256 MB" in line
               for line in printed)


def test_code_location_is_served_by_the_local_aws_and_checked_against_code_sha256(fresh_stack):
    import hashlib
    import urllib.request

    s, found = fresh_stack
    answer = config.client("lambda", s).get_function(FunctionName=found["TransformerFunctionName"])
    location = answer["Code"]["Location"]
    assert location.startswith(f"http://127.0.0.1:{s.local_port}/_workshop/functions/code?")
    with urllib.request.urlopen(location) as zipped:
        digest = hashlib.sha256(zipped.read()).digest()
    assert base64.b64encode(digest).decode() == answer["Configuration"]["CodeSha256"]
