"""A thin JSON client for the local runtime's hot calls, skipping botocore's parse and rebuild.

DynamoDB Streams and Kinesis speak JSON over HTTP. The Pipe hop must hand Kinesis the stream
record exactly as it travels on the wire, and botocore first parses it into Python objects
(datetimes, bytes), only for the hop to turn them back into JSON, a parse that costs the hop
time on every batch (measured: docs/performance.md#the-local-hops). For GetRecords and
PutRecords on the local AWS only, this client posts the JSON body itself and reads the JSON
answer as it is. It talks to 127.0.0.1 only: the endpoint comes from the local settings, and
anything else is refused.
"""

from __future__ import annotations

import http.client
import json
import threading
from typing import Any
from urllib.parse import urlsplit

from workshop.config import LOCAL_HOST, LocalModeViolation, Settings
from workshop.errors import WorkshopError

TARGETS = {  # service -> (X-Amz-Target prefix, content type, signing name moto routes by)
    "dynamodbstreams": ("DynamoDBStreams_20120810", "application/x-amz-json-1.0", "dynamodb"),
    "kinesis": ("Kinesis_20131202", "application/x-amz-json-1.1", "kinesis"),
}


class WireError(WorkshopError, RuntimeError):
    """The local AWS answered a wire call with an error."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


def local_endpoint(s: Settings, who: str) -> tuple[str, int]:
    """The local AWS's host and port; refuses the aws target and any host but 127.0.0.1."""
    if not s.is_local or s.endpoint_url is None:
        raise LocalModeViolation(f"The {who} is for the local AWS only.")
    endpoint = urlsplit(s.endpoint_url)
    if endpoint.hostname != LOCAL_HOST:
        raise LocalModeViolation(f"The {who} refuses {endpoint.hostname}.")
    return endpoint.hostname, endpoint.port or 80


class WireClient:
    """Posts JSON-protocol calls to the local AWS, one keep-alive connection per thread."""

    def __init__(self, s: Settings, service: str) -> None:
        self.host, self.port = local_endpoint(s, "wire client")
        self.prefix, self.content_type, self.signing_name = TARGETS[service]
        self.region = s.region
        self._local = threading.local()

    def _connection(self) -> http.client.HTTPConnection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = http.client.HTTPConnection(self.host, self.port, timeout=60)
            self._local.connection = connection
        return connection

    def call(self, operation: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Send one operation; return the decoded JSON answer or raise WireError."""
        body = json.dumps(payload)
        headers = {
            "Content-Type": self.content_type,
            "X-Amz-Target": f"{self.prefix}.{operation}",
            # moto routes by the credential scope; it does not check the signature.
            "Authorization": (f"AWS4-HMAC-SHA256 Credential=testing/20260101/{self.region}/"
                              f"{self.signing_name}/aws4_request, SignedHeaders=host, Signature=0"),
        }
        for attempt in (1, 2):
            connection = self._connection()
            try:
                connection.request("POST", "/", body=body, headers=headers)
                response = connection.getresponse()
                data = response.read()
                break
            except (ConnectionError, http.client.HTTPException):
                connection.close()
                self._local.connection = None
                if attempt == 2:
                    raise
        if response.status >= 500:
            raise WireError("InternalFailure", f"the local AWS failed on {operation}: "
                            f"{data[:200]!r}; see .workshop/local/server.log")
        answer = json.loads(data) if data else {}
        if response.status >= 300:
            code = str(answer.get("__type", response.status)).split("#")[-1]
            raise WireError(code, str(answer.get("message") or answer.get("Message") or data))
        return answer
