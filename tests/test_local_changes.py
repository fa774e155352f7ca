"""An idle hop waits for the next write instead of polling, and never misses one."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator

import boto3
import pytest
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from werkzeug.test import EnvironBuilder

from workshop import config
from workshop.local.aws import changes
from workshop.local.aws.changes import ChangeWaiter
from workshop.local.aws.ports import free_port
from workshop.local.hops import runtime


@pytest.fixture(scope="module")
def counted(moto_local: config.Settings) -> Iterator[config.Settings]:
    """The bare moto server of the session, counting writes and answering the wait route."""
    changes.install()
    yield moto_local
    changes.remove()


def _client(s: config.Settings, service: str):
    return boto3.client(service, endpoint_url=s.endpoint_url, region_name=s.region,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def _kinesis_stream(s: config.Settings, name: str):
    kinesis = _client(s, "kinesis")
    kinesis.create_stream(StreamName=name, ShardCount=1)
    return kinesis


def test_a_kinesis_write_wakes_a_waiting_hop(counted: config.Settings) -> None:
    kinesis = _kinesis_stream(counted, "wake-kinesis")
    waiter = ChangeWaiter(counted, "kinesis", sleep=pytest.fail)
    assert waiter.wait(0) is True  # the first call: there may be records already
    woken: list[tuple[bool, float]] = []

    def wait() -> None:
        started = time.monotonic()
        woken.append((waiter.wait(5.0), time.monotonic() - started))

    thread = threading.Thread(target=wait)
    thread.start()
    time.sleep(0.3)
    kinesis.put_record(StreamName="wake-kinesis", Data=b"x", PartitionKey="p")
    thread.join()
    (changed, seconds), = woken
    assert changed is True and seconds < 4.0  # woken by the write, not by the 5 s timeout


def test_a_write_made_during_a_poll_is_not_missed(counted: config.Settings) -> None:
    kinesis = _kinesis_stream(counted, "wake-missed")
    waiter = ChangeWaiter(counted, "kinesis", sleep=pytest.fail)
    waiter.wait(0)
    # ... the hop polls and finds nothing; a record arrives before it asks to wait:
    kinesis.put_record(StreamName="wake-missed", Data=b"x", PartitionKey="p")
    started = time.monotonic()
    assert waiter.wait(5.0) is True
    assert time.monotonic() - started < 4.0  # answered at once: the count had moved on


def test_stream_records_count_for_the_pipe_and_a_table_without_stream_does_not(
        counted: config.Settings) -> None:
    ddb = _client(counted, "dynamodb")
    keys = {"AttributeDefinitions": [{"AttributeName": "k", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "k", "KeyType": "HASH"}],
            "BillingMode": "PAY_PER_REQUEST"}
    ddb.create_table(TableName="wake-streamed", StreamSpecification={
        "StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}, **keys)
    ddb.create_table(TableName="wake-plain", **keys)
    before = dict(changes.counter.counts)
    ddb.put_item(TableName="wake-plain", Item={"k": {"S": "1"}})
    assert changes.counter.counts == before
    ddb.put_item(TableName="wake-streamed", Item={"k": {"S": "1"}})
    ddb.delete_item(TableName="wake-streamed", Key={"k": {"S": "1"}})
    assert changes.counter.counts["dynamodbstreams"] == before["dynamodbstreams"] + 2
    assert changes.counter.counts["kinesis"] == before["kinesis"]


def test_without_a_write_the_wait_ends_at_its_timeout(counted: config.Settings) -> None:
    seen = changes.counter.counts["kinesis"]
    started = time.monotonic()
    assert changes.counter.wait("kinesis", seen, 0.3) == seen
    assert time.monotonic() - started >= 0.25


def test_a_waiter_polls_as_before_when_the_local_aws_has_no_wake_ups(
        counted: config.Settings) -> None:
    nowhere = dataclasses.replace(counted, local_port=free_port())
    slept: list[float] = []
    waiter = ChangeWaiter(nowhere, "dynamodbstreams", sleep=slept.append)
    assert waiter.wait(0.1) is True and slept == [0.1]


def _call(path: str, remote: str = "127.0.0.1") -> tuple[str, bytes]:
    """Ask the local AWS's dispatch, as a request from `remote` would (routes first)."""
    environ = EnvironBuilder(path=path, environ_base={"REMOTE_ADDR": remote}).get_environ()
    status: list[str] = []
    app = DomainDispatcherApplication.__new__(DomainDispatcherApplication)
    body = app(environ, lambda s, headers: status.append(s))
    return status[0], b"".join(body)


def test_the_wait_route_refuses_unknown_topics_bad_numbers_and_other_hosts(
        counted: config.Settings) -> None:
    status, body = _call("/_workshop/changes/sqs?after=1&wait=0")
    assert status.startswith("404") and b"dynamodbstreams, kinesis" in body
    assert _call("/_workshop/changes/kinesis?after=x")[0].startswith("400")
    assert _call("/_workshop/changes/kinesis?wait=0", remote="10.0.0.7")[0].startswith("403")


class _Script:
    """A hop whose polls return a script of (moved, seen), and records how the loop waited."""

    def __init__(self, loop: runtime.Runtime, polls: list[tuple[int, int]]) -> None:
        self.loop, self.polls, self.waits = loop, polls, []

    def step(self) -> tuple[int, int]:
        if not self.polls:
            self.loop.stopping.set()
            return 1000, 1000  # a backlog: the loop goes round without waiting, and stops
        return self.polls.pop(0)

    def wait(self, seconds: float) -> bool:  # the ChangeWaiter
        self.waits.append(("write", seconds))
        return True


@pytest.mark.parametrize(("due", "idle_wait"), [(None, ("write", runtime.IDLE_WAIT_SECONDS)),
                                                 (0.25, ("write", 0.25)), (0.0, None)])
def test_the_loop_polls_while_data_flows_and_waits_for_a_write_when_idle(
        monkeypatch: pytest.MonkeyPatch, due: float | None, idle_wait: tuple | None) -> None:
    loop = runtime.Runtime.__new__(runtime.Runtime)
    loop.stopping = threading.Event()
    script = _Script(loop, [(1000, 1000), (40, 40), (0, 7), (0, 0)])
    monkeypatch.setattr(loop.stopping, "wait", lambda seconds: script.waits.append(
        ("poll", seconds)))
    loop._loop(script.step, 1000, script, lambda: due)
    # a backlog: again at once; records moved or seen: the poll interval; nothing: a write
    # (or the buffer's due time); a buffer due now: no wait at all
    expected = [("poll", runtime.POLL_SECONDS), ("poll", runtime.POLL_SECONDS)]
    assert script.waits[:2] == expected
    assert script.waits[2:] == ([idle_wait] if idle_wait else [])
