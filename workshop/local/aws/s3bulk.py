"""A bulk read of the local S3: one request lists a prefix, one returns many objects' bodies.

The local query engine mirrors a table's objects from the local S3 into its cache. Through the
S3 API that is one ListObjectsV2 page per 1,000 keys (XML) and one GetObject per object, and
moto takes milliseconds over each, so a table of thousands of objects takes many seconds to fetch
even on a thread pool (measured: docs/performance.md#the-query-engines-cache). This module adds
two routes to the local AWS process (`install()`, called by workshop.local.aws.server) that read
the same moto S3 backend directly:

    GET  /_workshop/s3bulk/list?bucket=B&prefix=P  -> {"objects": [[key, size], ...]} (sorted)
    POST /_workshop/s3bulk/get?bucket=B  {"keys": [...]}
         -> for each key, a JSON line {"key": k, "size": n} then its n bytes (n = -1: gone)

`BulkReader` is the engine's client. Both ends are for 127.0.0.1 only: the routes answer 403 to
any other peer (workshop.local.aws.routes), and the client refuses settings that do not point at
the local AWS. A server without the routes (a moto server started another way) is recognised
by the missing `X-Workshop-S3Bulk` header, and the engine falls back to plain GetObject.
"""

from __future__ import annotations

import http.client
import io
import json
import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import urlencode

from workshop.config import Settings
from workshop.errors import WorkshopError
from workshop.local.aws import routes
from workshop.local.aws.wire import local_endpoint

ROUTE = "/_workshop/s3bulk/"
MARKER = "X-Workshop-S3Bulk"  # set on every answer of the routes, so a client knows they exist
ACCESS_KEY = re.compile(r"Credential=([^/,\s]+)/")



class BulkUnavailable(WorkshopError, RuntimeError):
    """The local AWS has no bulk routes (or could not be reached): use GetObject instead."""


class NoSuchBucket(WorkshopError, LookupError):
    """The bucket named in a bulk request does not exist in the local S3."""


# --- the server side: runs inside the local AWS process ------------------------------------------

def _backend(environ: dict[str, Any]) -> Any:
    """moto's S3 backend of the account the request's credentials belong to, as moto picks it."""
    from moto.iam.models import get_account_id_from
    from moto.s3.models import s3_backends

    account = os.environ.get("MOTO_ACCOUNT_ID") or environ.get("HTTP_X_MOTO_ACCOUNT_ID")
    if not account:
        match = ACCESS_KEY.search(environ.get("HTTP_AUTHORIZATION", ""))
        account = get_account_id_from(match.group(1) if match else "")
    return s3_backends[account]["aws"]


def _bucket(backend: Any, name: str) -> Any:
    from moto.s3.exceptions import MissingBucket

    try:
        return backend.get_bucket(name)
    except MissingBucket as error:
        raise NoSuchBucket(name) from error


def list_objects(backend: Any, bucket: str, prefix: str) -> list[tuple[str, int]]:
    """(key, size) of every object under prefix, sorted, as ListObjectsV2 would list them."""
    keys, _, _, _ = backend.list_objects(_bucket(backend, bucket), prefix or None, None, None,
                                         None)
    return [(key.name, key.size) for key in keys]


def _value(key: Any) -> bytes:
    """An object's bytes, as FakeKey.value returns them, without copying them when possible.

    moto keeps a small object in a SpooledTemporaryFile over a BytesIO, whose getvalue()
    shares its buffer; FakeKey.value reads and copies it, time spent on every byte read
    (measured: docs/performance.md#the-query-engines-cache).
    """
    inner = getattr(getattr(key, "_value_buffer", None), "_file", None)
    if isinstance(inner, io.BytesIO):
        with key.lock:
            return inner.getvalue()
    return key.value


def read_objects(backend: Any, bucket: str, keys: Iterable[str]) -> Iterator[bytes]:
    """The framed bodies of keys: a JSON header line, then the bytes GetObject would return."""
    found = _bucket(backend, bucket)
    for name in keys:
        key = backend.get_object(found.name, name)
        body = _value(key) if key is not None else None
        size = -1 if body is None else len(body)
        yield json.dumps({"key": name, "size": size}).encode() + b"\n"
        if body:
            yield body


def _answer(start_response: Callable[..., Any], status: str, body: bytes | list[bytes],
            content_type: str = "application/json") -> list[bytes]:
    parts = body if isinstance(body, list) else [body]  # parts are sent as they are, unjoined
    start_response(status, [("Content-Type", content_type),
                            ("Content-Length", str(sum(map(len, parts)))), (MARKER, "1")])
    return parts


def handle(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    """Answer one request for the bulk routes (a WSGI application)."""
    from werkzeug.wrappers import Request

    request = Request(environ)
    operation = request.path[len(ROUTE):]
    bucket, prefix = request.args.get("bucket", ""), request.args.get("prefix", "")
    try:
        backend = _backend(environ)
        if operation == "list" and request.method == "GET":
            objects = list_objects(backend, bucket, prefix)
            return _answer(start_response, "200 OK", json.dumps({"objects": objects}).encode())
        if operation == "get" and request.method == "POST":
            keys = json.loads(request.get_data() or b"{}").get("keys", [])
            parts = list(read_objects(backend, bucket, keys))
            return _answer(start_response, "200 OK", parts, "application/octet-stream")
    except NoSuchBucket:
        return _answer(start_response, "404 Not Found", json.dumps({
            "code": "NoSuchBucket", "message": f"The bucket {bucket} does not exist."}).encode())
    return _answer(start_response, "404 Not Found", json.dumps({
        "code": "NotFound", "message": f"No bulk route {request.method} {request.path}."}).encode())


def install() -> None:
    """Add the bulk routes in front of moto's own dispatch (idempotent; local AWS process only)."""
    routes.add(ROUTE, handle)


def remove() -> None:
    """Take the bulk routes away again (the tests compare with and without)."""
    routes.drop(ROUTE)


# --- the client side: the query engine's process -------------------------------------------------

class BulkReader:
    """Lists and reads objects of the local S3 in bulk, one keep-alive connection per thread."""

    def __init__(self, s: Settings) -> None:
        self.host, self.port = local_endpoint(s, "bulk S3 reader")
        # moto picks the account by the access key of the credential scope, as for boto3's calls
        self.headers = {"Authorization": f"AWS4-HMAC-SHA256 Credential=testing/20260101/"
                                         f"{s.region}/s3/aws4_request, SignedHeaders=host, "
                                         "Signature=0"}
        self._local = threading.local()

    def _request(self, method: str, operation: str, query: dict[str, str],
                 body: bytes | None = None) -> http.client.HTTPResponse:
        path = f"{ROUTE}{operation}?{urlencode(query)}"
        for attempt in (1, 2):
            connection = getattr(self._local, "connection", None)
            if connection is None:
                connection = http.client.HTTPConnection(self.host, self.port, timeout=120)
                self._local.connection = connection
            try:
                connection.request(method, path, body=body, headers=self.headers)
                response = connection.getresponse()
                break
            except (OSError, http.client.HTTPException) as error:
                connection.close()
                self._local.connection = None
                if attempt == 2:
                    raise BulkUnavailable(
                        f"the local AWS did not answer {path}: {error}") from error
        if response.getheader(MARKER) != "1":
            response.read()
            raise BulkUnavailable(f"the local AWS has no bulk S3 routes ({response.status})")
        if response.status == 404 and (answer := json.loads(response.read() or b"{}")):
            if answer.get("code") == "NoSuchBucket":
                raise NoSuchBucket(query.get("bucket", ""))
            raise BulkUnavailable(answer.get("message", "unknown bulk route"))
        if response.status != 200:
            raise BulkUnavailable(f"the bulk S3 route answered {response.status}: "
                                  f"{response.read()[:200]!r}")
        return response

    def list(self, bucket: str, prefix: str) -> list[tuple[str, int]]:
        """(key, size) of every object under prefix, sorted by key."""
        response = self._request("GET", "list", {"bucket": bucket, "prefix": prefix})
        return [(key, size) for key, size in json.loads(response.read())["objects"]]

    def get(self, bucket: str, keys: list[str]) -> Iterator[tuple[str, bytes | None]]:
        """(key, body) for each key in order; body None when the object is gone."""
        response = self._request("POST", "get", {"bucket": bucket},
                                 json.dumps({"keys": keys}).encode())
        for _ in keys:
            header = json.loads(response.readline())
            size = header["size"]
            body = response.read(size) if size > 0 else (b"" if size == 0 else None)
            if body is not None and len(body) != size:
                self._local.connection = None
                raise BulkUnavailable(f"the bulk answer for {header['key']} was cut short")
            yield header["key"], body
        response.read()  # the connection is reused: leave nothing unread
