"""Wake-ups for the local runtime: it waits for the next write instead of polling an idle AWS.

The hops poll every POLL_SECONDS while data flows; once a poll moves nothing they would keep
asking ten times a second, and each request costs the moto server CPU, so an idle pipeline
would keep the server busy (measured: docs/performance.md#the-local-aws-server). Instead, an
idle hop asks the local AWS process to answer when something was written to what it reads:

* `dynamodbstreams`: a record added to any DynamoDB stream (what the Pipe hop reads);
* `kinesis`: a record put into any Kinesis shard (what the Firehose hop reads).

The server counts those writes per topic. `GET /_workshop/changes/<topic>?after=N&wait=S`
answers `{"count": M}` at once when M > N, else when the next write comes, or after S seconds.
A waiter passes the count it saw before its last poll, so a write made during the poll wakes it
at once: nothing is missed, at worst one poll finds nothing.
"""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Callable
from typing import Any

from workshop.config import Settings
from workshop.local.aws import routes
from workshop.local.aws.wire import local_endpoint

ROUTE = "/_workshop/changes/"
TOPICS = ("dynamodbstreams", "kinesis")
MAX_WAIT_SECONDS = 5.0  # the longest a request may hold a server thread


# --- the server side: the local AWS process ---------------------------------------------------

class Counter:
    """Writes per topic, and a condition that wakes every waiter on each write."""

    def __init__(self) -> None:
        self.counts = dict.fromkeys(TOPICS, 0)
        self.changed = threading.Condition()

    def add(self, topic: str) -> None:
        with self.changed:
            self.counts[topic] += 1
            self.changed.notify_all()

    def wait(self, topic: str, after: int, seconds: float) -> int:
        """The topic's count once it is above `after`, or after `seconds` at the latest."""
        with self.changed:
            self.changed.wait_for(lambda: self.counts[topic] > after, timeout=seconds)
            return self.counts[topic]


counter = Counter()
_original: dict[str, Any] = {}


def _counting(method: Callable[..., Any], topic: str) -> Callable[..., Any]:
    def counted(*args: Any, **kwargs: Any) -> Any:
        result = method(*args, **kwargs)
        counter.add(topic)
        return result
    return counted


def _answer(start_response: Callable[..., Any], status: str, body: dict[str, Any]) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"),
                            ("Content-Length", str(len(data)))])
    return [data]


def handle(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    """Answer one wait request (a WSGI application)."""
    from werkzeug.wrappers import Request

    request = Request(environ)
    topic = request.path[len(ROUTE):]
    try:
        after = int(request.args.get("after", "-1"))
        seconds = min(max(float(request.args.get("wait", "0")), 0.0), MAX_WAIT_SECONDS)
    except ValueError:
        return _answer(start_response, "400 Bad Request", {
            "message": "after must be a whole number and wait a number of seconds"})
    if topic not in TOPICS:
        return _answer(start_response, "404 Not Found", {
            "message": f"No change topic {topic!r}; the topics are {', '.join(TOPICS)}."})
    return _answer(start_response, "200 OK", {"count": counter.wait(topic, after, seconds)})


def install() -> None:
    """Count the writes and add the wait route (idempotent; local AWS process only).

    Call after workshop.local.aws.patches.apply(): the counting wraps the methods then in place.
    """
    from moto.dynamodb.models.table import StreamShard
    from moto.kinesis.models import Shard

    if _original:
        return
    _original["stream add"] = StreamShard.add
    _original["shard put"] = Shard.put_record
    StreamShard.add = _counting(StreamShard.add, "dynamodbstreams")
    Shard.put_record = _counting(Shard.put_record, "kinesis")
    routes.add(ROUTE, handle)


def remove() -> None:
    """Undo install() (for tests)."""
    from moto.dynamodb.models.table import StreamShard
    from moto.kinesis.models import Shard

    if _original:
        StreamShard.add = _original.pop("stream add")
        Shard.put_record = _original.pop("shard put")
        routes.drop(ROUTE)


# --- the client side: the runtime's process ---------------------------------------------------

class ChangeWaiter:
    """Waits for writes to one topic of the local AWS, on a keep-alive connection.

    `wait(seconds)` returns True when something was written since the previous call (or ever,
    on the first call), False when `seconds` passed without a write. When the server has no
    such route (or cannot be reached), it sleeps `seconds` and returns True: the caller polls,
    as it would without wake-ups.
    """

    def __init__(self, s: Settings, topic: str, sleep: Callable[[float], Any]) -> None:
        if topic not in TOPICS:
            raise ValueError(f"no change topic {topic!r}; the topics are {', '.join(TOPICS)}")
        self.host, self.port = local_endpoint(s, "change waiter")
        self.topic = topic
        self.sleep = sleep  # e.g. a stop event's wait, so that stopping is not delayed
        self.seen = -1
        self._connection: http.client.HTTPConnection | None = None

    def wait(self, seconds: float) -> bool:
        seconds = min(seconds, MAX_WAIT_SECONDS)
        try:
            count = self._ask(seconds)
        except (OSError, http.client.HTTPException, ValueError, KeyError):
            if self._connection is not None:
                self._connection.close()
                self._connection = None
            self.sleep(seconds)
            return True
        changed, self.seen = count > self.seen, count
        return changed

    def _ask(self, seconds: float) -> int:
        if self._connection is None:
            self._connection = http.client.HTTPConnection(self.host, self.port,
                                                          timeout=seconds + 10)
        self._connection.request(
            "GET", f"{ROUTE}{self.topic}?after={self.seen}&wait={seconds:.3f}")
        response = self._connection.getresponse()
        data = response.read()
        if response.status != 200:
            raise ValueError(f"{response.status}: {data[:200]!r}")
        return int(json.loads(data)["count"])
