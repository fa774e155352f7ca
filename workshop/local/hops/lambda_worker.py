"""A local Lambda's execution environment: the worker process that runs a function's handler.

workshop.local.hops.functions starts one per function as `python -m
workshop.local.hops.lambda_worker` and sends it invocations as JSON lines on its stdin; the answers
come back as JSON lines on its stdout, and everything the handler prints or logs goes to the
function's log file. It imports nothing but the standard library, so an environment starts (a cold
start) in a fraction of a second.
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
import sys
import time
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


def write(log_file: Any, message: str) -> None:
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
            write(self.file, line)
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


def serve(code_dir: str, handler: str, log_name: str, memory_mb: int, function_name: str,
          version: str) -> None:
    """Import the handler once, then answer invocations until stdin ends."""
    requests = sys.stdin.buffer
    answers = os.fdopen(os.dup(1), "wb")  # the pipe back; fd 1 and 2 become the log file
    log_file = open(log_name, "a", encoding="utf-8")  # noqa: SIM115 - for the worker's life
    os.dup2(log_file.fileno(), 1)
    os.dup2(log_file.fileno(), 2)
    sys.stdout = sys.stderr = _LogFile(log_file)  # type: ignore[assignment]
    request = _RequestId()
    console = logging.StreamHandler(sys.stdout)
    # Lambda's Python runtime: "[LEVEL]\t<UTC time>\t<request id>\t<message>"
    formatter = logging.Formatter("[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t"
                                  "%(aws_request_id)s\t%(message)s", "%Y-%m-%dT%H:%M:%S")
    formatter.converter = time.gmtime
    console.setFormatter(formatter)
    console.addFilter(request)
    root = logging.getLogger()
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
    for line in requests:
        request_id, event_json, timeout = json.loads(line)
        request.request_id = request_id
        print(f"START RequestId: {request_id} Version: {version}")
        started = time.monotonic()
        context = LambdaContext(function_name, version, memory_mb, request_id, started + timeout)
        answer = ["error", *failure] if failure else _run(function, event_json, context)
        millis = (time.monotonic() - started) * 1000
        print(f"END RequestId: {request_id}")
        print(f"REPORT RequestId: {request_id}\tDuration: {millis:.2f} ms\tBilled Duration: "
              f"{math.ceil(millis)} ms\tMemory Size: {memory_mb} MB")
        answers.write(json.dumps(answer).encode() + b"\n")
        answers.flush()


def _run(function: Any, event_json: str, context: LambdaContext) -> list[str]:
    """One invocation: ["ok", the answer as JSON] or ["error", type, message]."""
    try:
        result = function(json.loads(event_json), context)
    except Exception as error:
        trace = "".join(traceback.format_exception(error))
        print(f"[ERROR] {type(error).__name__}: {error}\n{trace}", end="")
        return ["error", type(error).__name__, str(error)]
    try:
        return ["ok", json.dumps(result)]
    except (TypeError, ValueError) as error:  # as Lambda's runtime answers it
        print(f"[ERROR] Runtime.MarshalError: Unable to marshal response: {error}")
        return ["error", "Runtime.MarshalError", f"Unable to marshal response: {error}"]


if __name__ == "__main__":
    code_dir, handler, log_name, memory, function_name, version = sys.argv[1:7]
    serve(code_dir, handler, log_name, int(memory), function_name, version)
