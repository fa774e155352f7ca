"""The local AWS keeps HTTP connections open, and one request's body never leaks into the next."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator

import pytest

from workshop.local.aws.keepalive import LocalServer
from workshop.local.aws.ports import free_port

KINESIS = {"Content-Type": "application/x-amz-json-1.1",
           "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/kinesis/"
                            "aws4_request, SignedHeaders=host, Signature=0"}


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    chosen = free_port()
    server = LocalServer(chosen)
    server.start()
    yield chosen
    server.stop()


def call(connection: http.client.HTTPConnection, operation: str, body: bytes | str,
         headers: dict[str, str] | None = None) -> tuple[http.client.HTTPResponse, dict]:
    connection.request("POST", "/", body=body, headers={
        **KINESIS, "X-Amz-Target": f"Kinesis_20131202.{operation}", **(headers or {})})
    response = connection.getresponse()
    return response, json.loads(response.read() or b"{}")


def test_one_connection_serves_many_requests(port: int) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    call(connection, "CreateStream", json.dumps({"StreamName": "kept", "ShardCount": 1}))
    sock = connection.sock
    for _ in range(3):
        response, answer = call(connection, "ListStreams", "{}")
        assert response.status == 200 and "kept" in answer["StreamNames"]
        assert response.getheader("Connection") != "close"
    assert connection.sock is sock  # never reconnected


def test_a_body_the_server_did_not_read_is_skipped_not_taken_for_the_next_request(
        port: int) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    # moto fails on an unknown service before it reads the body: those bytes, which look like
    # requests themselves, must not be read as the connection's next request.
    unknown = KINESIS["Authorization"].replace("/kinesis/", "/nosuch/")
    connection.request("POST", "/", body="GET / HTTP/1.1\r\n\r\n" * 300,
                       headers={"Authorization": unknown})
    response = connection.getresponse()
    response.read()
    assert response.status == 500
    response, answer = call(connection, "ListStreams", "{}")
    assert response.status == 200 and "StreamNames" in answer
