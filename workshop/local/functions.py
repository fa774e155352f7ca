"""The local Lambda: runs the code deployed to a function, as Lambda does, for the Firehose hop.

moto stores a function and its zip but cannot run it without Docker. Here a function runs:

* **the deployed code**, never the working copy of lambda/: GetFunction's `Code.Location` (a
  presigned URL on AWS; locally a route of the local AWS that serves the zip moto stores,
  `serve_code`) gives the zip, checked against the function's `CodeSha256` and unpacked under
  the state folder. A new deployment (another CodeSha256) is picked up at the next invocation;
  an edit that was not deployed changes nothing.
* **in an execution environment of its own**: a worker process imports the handler and serves
  invocations; events and answers cross as JSON, as they do Lambda's API, so an answer that is
  not JSON fails the invocation as Lambda's runtime does. An invocation past the function's
  `Timeout` ends the worker ("Task timed out after N seconds"); the next one starts a new
  environment (a cold start), as Lambda does.
  https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html
* **with its logs where a learner looks**: what the handler prints or logs, and Lambda's START,
  END and REPORT lines, go to one file per function (`log_path`), as CloudWatch Logs holds them
  on AWS (`workshop logs` reads either).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import logging
import math
import multiprocessing
import sys
import time
import traceback
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from workshop.config import LOCAL_HOST, Settings, client
from workshop.errors import WorkshopError

log = logging.getLogger("workshop.local.functions")
ROUTE = "/_workshop/functions/code"
PAYLOAD_LIMIT = 6 * 1024 * 1024  # bytes of a synchronous invocation's request and response


class FunctionError(WorkshopError):
    """The function ran and failed: it raised, its answer is not JSON, or it could not start."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(f"{error_type}: {message}")
        self.error_type = error_type


class FunctionTimedOut(WorkshopError):
    """The invocation ran past the function's Timeout."""


def log_path(s: Settings, function_name: str) -> Path:
    """The file that holds a local function's log, as its CloudWatch log group does on AWS."""
    return s.local_dir / "logs" / f"{function_name}.log"


# --- the local AWS side: the deployed zip behind Code.Location -----------------------------------

def _function(arn: str) -> Any:
    from moto.awslambda.models import lambda_backends

    _, _, _, region, account, _, name = arn.split(":")[:7]
    return lambda_backends[account][region].get_function(name)


def serve_code(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    """GET /_workshop/functions/code?arn=...: the zip deployed to a function, as stored."""
    arn = parse_qs(environ.get("QUERY_STRING", "")).get("arn", [""])[0]
    try:
        body = _function(arn).code_bytes
        status = "200 OK"
    except Exception as error:  # unknown function: say so, as a 404
        body = json.dumps({"message": f"no function {arn}: {error}"}).encode()
        status = "404 Not Found"
    start_response(status, [("Content-Type", "application/zip"),
                            ("Content-Length", str(len(body)))])
    return [body]


def install(port: int) -> None:
    """Serve deployed code at a local route and point GetFunction's Code.Location at it."""
    from moto.awslambda.models import LambdaFunction

    from workshop.local import routes

    original = LambdaFunction.get_code
    if getattr(original, "_workshop", False):
        return

    def get_code(self: Any) -> dict[str, Any]:
        answer = original(self)
        if "Code" in answer and self.code_bytes:
            answer["Code"]["Location"] = (f"http://{LOCAL_HOST}:{port}{ROUTE}?"
                                          f"arn={quote(self.function_arn, safe='')}")
        return answer

    get_code._workshop = True  # type: ignore[attr-defined]
    LambdaFunction.get_code = get_code
    routes.add(ROUTE, serve_code)


# --- the runtime side: a worker per function ---------------------------------------------------

def _write(log_file: Any, message: str) -> None:
    stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    for line in message.rstrip("\n").splitlines() or [""]:
        log_file.write(f"{stamp} {line}\n")
    log_file.flush()


class _LogFile(io.TextIOBase):
    """stdout and stderr of a worker: every line into the function's log, timestamped."""

    def __init__(self, log_file: Any) -> None:
        self.file, self.pending = log_file, ""

    def write(self, text: str) -> int:
        self.pending += text
        while "\n" in self.pending:
            line, self.pending = self.pending.split("\n", 1)
            _write(self.file, line)
        return len(text)


class _RequestId(logging.Filter):
    request_id = ""

    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = self.request_id
        return True


@dataclass
class LambdaContext:
    """The context object a handler receives, with the fields Lambda's Python runtime gives."""

    function_name: str
    function_version: str
    memory_limit_in_mb: int
    aws_request_id: str
    deadline: float  # time.monotonic() when the invocation times out

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the invocation times out."""
        return max(0, int((self.deadline - time.monotonic()) * 1000))


def _serve(conn: Any, code_dir: str, handler: str, log_name: str, memory_mb: int,
           function_name: str, version: str) -> None:
    """The worker: import the handler once, then answer invocations until told to stop."""
    log_file = open(log_name, "a", encoding="utf-8")  # noqa: SIM115 - for the worker's life
    sys.stdout = sys.stderr = _LogFile(log_file)  # type: ignore[assignment]
    request = _RequestId()
    root = logging.getLogger()
    console = logging.StreamHandler(sys.stdout)
    # Lambda's Python runtime: "[LEVEL]\t<UTC time>\t<request id>\t<message>"
    formatter = logging.Formatter("[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t"
                                  "%(aws_request_id)s\t%(message)s", "%Y-%m-%dT%H:%M:%S")
    formatter.converter = time.gmtime
    console.setFormatter(formatter)
    console.addFilter(request)
    root.handlers, root.level = [console], logging.WARNING
    sys.path.insert(0, code_dir)
    module_name, _, attribute = handler.rpartition(".")
    try:
        function = getattr(__import__(module_name), attribute)
        failure = None
    except Exception as error:  # Lambda answers every invocation with this error
        function = None
        failure = ("Runtime.ImportModuleError",
                   f"Unable to import module '{module_name}': {error}")
        print(f"[ERROR] {failure[0]}: {failure[1]}")
    while True:
        try:
            message = conn.recv()
        except EOFError:  # the runtime is gone: so is this environment
            return
        if message is None:
            return
        request_id, event_json, timeout = message
        request.request_id = request_id
        print(f"START RequestId: {request_id} Version: {version}")
        started = time.monotonic()
        context = LambdaContext(function_name, version, memory_mb, request_id, started + timeout)
        if failure is not None:
            answer: tuple[str, ...] = ("error", *failure)
        else:
            try:
                result = function(json.loads(event_json), context)
            except Exception as error:
                trace = "".join(traceback.format_exception(error))
                print(f"[ERROR] {type(error).__name__}: {error}\n{trace}", end="")
                answer = ("error", type(error).__name__, str(error))
            else:
                try:
                    answer = ("ok", json.dumps(result))
                except (TypeError, ValueError) as error:  # as Lambda's runtime answers it
                    answer = ("error", "Runtime.MarshalError",
                              f"Unable to marshal response: {error}")
                    print(f"[ERROR] Runtime.MarshalError: Unable to marshal response: {error}")
        millis = (time.monotonic() - started) * 1000
        print(f"END RequestId: {request_id}")
        print(f"REPORT RequestId: {request_id}\tDuration: {millis:.2f} ms\tBilled Duration: "
              f"{math.ceil(millis)} ms\tMemory Size: {memory_mb} MB")
        conn.send(answer)


@dataclass
class _Code:
    """One deployed version of a function."""

    sha256: str  # CodeSha256: the base64 SHA-256 of the zip
    directory: Path
    handler: str
    timeout: float
    memory_mb: int


class LocalFunction:
    """A deployed function, run locally in a worker process, its latest deployment always."""

    def __init__(self, arn: str, s: Settings) -> None:
        self.arn = arn
        self.name = arn.split(":")[6]
        self.s = s
        self.lambda_client = client("lambda", s)
        self.code: _Code | None = None
        self._worker: Any = None
        self._conn: Any = None
        self.log_file = log_path(s, self.name)

    def refresh(self) -> bool:
        """Read the function's deployment; True when its code or settings changed since the
        last call (the worker then starts again with the new ones)."""
        found = self.lambda_client.get_function(FunctionName=self.arn)
        config = found["Configuration"]
        if self.code is not None and (config["CodeSha256"], config["Handler"],
                                      float(config["Timeout"]), config["MemorySize"]) == (
                self.code.sha256, self.code.handler, self.code.timeout, self.code.memory_mb):
            return False
        directory = self._unpack(config["CodeSha256"], found["Code"]["Location"])
        self.stop()
        self.code = _Code(config["CodeSha256"], directory, config["Handler"],
                          float(config["Timeout"]), int(config["MemorySize"]))
        log.info("function %s: running the deployed code %s (%s, last modified %s)", self.name,
                 config["CodeSha256"][:12], config["Handler"], config.get("LastModified"))
        return True

    def _unpack(self, sha256: str, location: str) -> Path:
        """The deployed zip, fetched from Code.Location once and unpacked under the state folder."""
        digest_hex = base64.b64decode(sha256).hex()
        directory = self.s.local_dir / "functions" / self.name / digest_hex[:16]
        if directory.is_dir():
            return directory
        if urlsplit(location).hostname != LOCAL_HOST:  # never fetch from anywhere but here
            raise WorkshopError(f"function {self.name}: its code is at {location}, not on the "
                                "local AWS; deploy it with `workshop deploy`.")
        import urllib.request

        with urllib.request.urlopen(location, timeout=30) as answer:  # checked: 127.0.0.1 only
            data = answer.read()
        if hashlib.sha256(data).digest() != base64.b64decode(sha256):
            raise WorkshopError(f"function {self.name}: the code fetched does not match its "
                                f"CodeSha256 {sha256}; deploy it again with `workshop deploy`.")
        staging = directory.with_name(directory.name + f".{uuid.uuid4().hex[:8]}")
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            archive.extractall(staging)
        staging.replace(directory)
        return directory

    def _start(self) -> None:
        assert self.code is not None
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._worker = context.Process(
            target=_serve, daemon=True, name=f"lambda-{self.name}",
            args=(child, str(self.code.directory), self.code.handler, str(self.log_file),
                  self.code.memory_mb, self.name, "$LATEST"))
        self._worker.start()
        child.close()

    def stop(self) -> None:
        """End the worker (its environment); the next invocation starts a new one."""
        if self._worker is None:
            return
        with contextlib.suppress(OSError):
            self._conn.send(None)
        self._worker.join(timeout=2)
        if self._worker.is_alive():
            self._worker.kill()
            self._worker.join(timeout=2)
        self._conn.close()
        self._worker = self._conn = None

    def invoke(self, event: dict[str, Any]) -> Any:
        """Invoke the deployed code synchronously with `event`; its answer, as JSON decodes it.

        Raises FunctionError when the function raised or answered what is not JSON, and
        FunctionTimedOut past its Timeout.
        """
        if self.code is None:
            self.refresh()
        assert self.code is not None
        payload = json.dumps(event)
        if len(payload) > PAYLOAD_LIMIT:
            raise FunctionError("RequestEntityTooLargeException",
                                f"Request must be smaller than {PAYLOAD_LIMIT} bytes for the "
                                "InvokeFunction operation")
        if self._worker is None or not self._worker.is_alive():
            self._start()
        request_id = str(uuid.uuid4())
        self._conn.send((request_id, payload, self.code.timeout))
        if not self._conn.poll(self.code.timeout + 1):  # a second's grace for the worker's IPC
            self.stop()
            with self.log_file.open("a", encoding="utf-8") as log_file:
                _write(log_file, f"{request_id} Task timed out after "
                                 f"{self.code.timeout:.2f} seconds")
            raise FunctionTimedOut(f"Task timed out after {self.code.timeout:.2f} seconds")
        try:
            answer = self._conn.recv()
        except EOFError:  # the worker died (os._exit, a crash): a new environment next time
            self.stop()
            raise FunctionError("Runtime.ExitError", "the function's process exited") from None
        if answer[0] == "error":
            raise FunctionError(answer[1], answer[2])
        if len(answer[1]) > PAYLOAD_LIMIT:
            raise FunctionError("Function.ResponseSizeTooLarge",
                                f"Response payload size exceeded maximum allowed payload size "
                                f"({PAYLOAD_LIMIT} bytes).")
        return json.loads(answer[1])
