"""The local Lambda: runs the code deployed to a function, as Lambda does, for the Firehose hop.

moto stores a function and its zip but cannot run it without Docker. Here a function runs:

* **the deployed code**, never the working copy of lambda/: GetFunction's `Code.Location` (a
  presigned URL on AWS; locally a route of the local AWS that serves the zip moto stores,
  workshop.local.aws.lambda_code) gives the zip, checked against the function's `CodeSha256` and
  unpacked under the state folder. A new deployment (another CodeSha256) is picked up at the next
  invocation; an edit that was not deployed changes nothing.
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
import queue
import subprocess
import sys
import threading
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from workshop.config import LOCAL_HOST, Settings, client
from workshop.errors import WorkshopError
from workshop.local.hops import lambda_worker

log = logging.getLogger("workshop.local.hops.functions")
PAYLOAD_LIMIT = 6 * 1024 * 1024  # bytes of a synchronous invocation's request and response
IPC_GRACE_SECONDS = 0.25  # past the Timeout, for the answer to cross the pipe


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


# --- the runtime side: a worker per function ---------------------------------------------------

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
        self._worker: subprocess.Popen[bytes] | None = None
        self._answers: queue.Queue[bytes] = queue.Queue()
        self.log_file = log_path(s, self.name)
        # One invocation at a time; a stop asked for meanwhile (the runtime dropping a hop from
        # another thread) waits for it to end.
        self._lock = threading.RLock()
        self._closed = False

    def refresh(self) -> bool:
        """Read the function's deployment; True when its code or settings changed since the
        last call (the worker then starts again with the new ones)."""
        with self._lock:
            return self._refresh()

    def _refresh(self) -> bool:
        found = self.lambda_client.get_function(FunctionName=self.arn)
        config = found["Configuration"]
        if self.code is not None and (config["CodeSha256"], config["Handler"],
                                      float(config["Timeout"]), config["MemorySize"]) == (
                self.code.sha256, self.code.handler, self.code.timeout, self.code.memory_mb):
            return False
        directory = self._unpack(config["CodeSha256"], found["Code"]["Location"])
        self._stop()
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
        """Start a new execution environment: a worker process with the deployed code."""
        assert self.code is not None
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self._worker = subprocess.Popen(
            [sys.executable, "-m", "workshop.local.hops.lambda_worker", str(self.code.directory),
             self.code.handler, str(self.log_file), str(self.code.memory_mb), self.name,
             "$LATEST"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        answers: queue.Queue[bytes] = queue.Queue()
        self._answers = answers
        worker = self._worker

        def read() -> None:  # each answer is one line; EOF when the worker ends
            for line in worker.stdout:
                answers.put(line)
            answers.put(b"")

        threading.Thread(target=read, daemon=True, name=f"lambda-{self.name}").start()

    def close(self) -> None:
        """End the worker for good (the runtime dropped its hop). Asked for during an
        invocation, from another thread, it happens when that invocation ends."""
        self._closed = True
        if self._lock.acquire(blocking=False):
            try:
                self._stop()
            finally:
                self._lock.release()

    def _stop(self) -> None:
        if self._worker is None:
            return
        with contextlib.suppress(OSError):
            self._worker.stdin.close()  # the worker's loop ends with its input
        try:
            self._worker.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self._worker.kill()
            self._worker.wait(timeout=2)
        self._worker = None

    def invoke(self, event: dict[str, Any]) -> Any:
        """Invoke the deployed code synchronously with `event`; its answer, as JSON decodes it.

        Raises FunctionError when the function raised or answered what is not JSON, and
        FunctionTimedOut past its Timeout.
        """
        with self._lock:
            try:
                return self._invoke(event)
            finally:
                if self._closed:  # closed meanwhile: no environment is kept
                    self._stop()

    def _invoke(self, event: dict[str, Any]) -> Any:
        if self.code is None:
            self._refresh()
        assert self.code is not None
        payload = json.dumps(event)
        if len(payload) > PAYLOAD_LIMIT:
            raise FunctionError("RequestEntityTooLargeException",
                                f"Request must be smaller than {PAYLOAD_LIMIT} bytes for the "
                                "InvokeFunction operation")
        if self._worker is None or self._worker.poll() is not None:
            self._start()
        request_id = str(uuid.uuid4())
        try:
            self._worker.stdin.write(json.dumps([request_id, payload, self.code.timeout]).encode()
                                     + b"\n")
            self._worker.stdin.flush()
            line = self._answers.get(timeout=self.code.timeout + IPC_GRACE_SECONDS)
        except queue.Empty:
            self._stop()
            with self.log_file.open("a", encoding="utf-8") as log_file:
                lambda_worker.write(log_file, f"{request_id} Task timed out after "
                                              f"{self.code.timeout:.2f} seconds")
            raise FunctionTimedOut(
                f"Task timed out after {self.code.timeout:.2f} seconds") from None
        except OSError:  # the worker's input is gone: it ended
            line = b""
        if not line:  # the worker died (os._exit, a crash): a new environment next time
            self._stop()
            raise FunctionError("Runtime.ExitError", "the function's process exited")
        answer = json.loads(line)
        if answer[0] == "error":
            raise FunctionError(answer[1], answer[2])
        if len(answer[1]) > PAYLOAD_LIMIT:
            raise FunctionError("Function.ResponseSizeTooLarge",
                                f"Response payload size exceeded maximum allowed payload size "
                                f"({PAYLOAD_LIMIT} bytes).")
        return json.loads(answer[1])
