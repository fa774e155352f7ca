"""moto's HTTP server, keeping each client's connection open between requests.

werkzeug's development server, which moto's ThreadedMotoServer runs, answers every request with
`Connection: close`, so each call of boto3, the local hops and the query engine opened a new TCP
connection and the server a new thread for it, in a burst and in the hops' idle polls alike.
Kept open, the server spends less CPU on batch writes and while idle
(measured: docs/performance.md#the-local-aws-server).

`KeepAliveHandler` is moto's own request handler with one change: a request whose body length is
known (Content-Length, or none) keeps its connection. The app reads the body through a stream
limited to that length, the rest of it is skipped after the answer, and werkzeug's drain of the
socket (made for closing it) is given nothing to read, so the client's next request is kept.
A chunked request body is left to werkzeug as before (moto's server does not answer one).
"""

from __future__ import annotations

import io
import os
import threading
from typing import Any

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wsgi import LimitedStream

_EOF_READ, _EOF_WRITE = os.pipe()  # a descriptor always readable, at its end: nothing to drain
os.close(_EOF_WRITE)


class _AtEnd:
    """Stands in for the socket while werkzeug drains it after an answer."""

    def fileno(self) -> int:
        return _EOF_READ


class KeepAliveHandler(MotoRequestHandler):
    """moto's request handler without werkzeug's `Connection: close` on every answer."""

    # Headers and body go out in separate writes: without this, Nagle's algorithm holds the
    # body back until the client's delayed ACK of the headers, a wait added to every answer
    # (measured: docs/performance.md#the-local-aws-server).
    disable_nagle_algorithm = True
    _keep: bool = False
    _saved: tuple[Any, Any] | None = None
    _body: LimitedStream | None = None

    def make_environ(self) -> dict[str, Any]:
        environ = super().make_environ()
        length = environ.get("CONTENT_LENGTH") or "0"
        self._keep = not environ.get("wsgi.input_terminated") and length.isdigit()
        if self._keep:
            self._body = LimitedStream(self.rfile, int(length))
            environ["wsgi.input"] = self._body
            self._saved = (self.rfile, self.connection)
            self.rfile, self.connection = io.BytesIO(), _AtEnd()
        return environ

    def send_header(self, keyword: str, value: str) -> None:
        if self._keep and keyword.lower() == "connection" and value.lower() == "close":
            return  # the connection stays open: BaseHTTPRequestHandler reads the next request
        super().send_header(keyword, value)

    def run_wsgi(self) -> None:
        self._keep = False
        try:
            super().run_wsgi()
        finally:
            if self._saved is not None:
                self.rfile, self.connection = self._saved
                self._saved = None
            if self._keep and self._body is not None:
                try:
                    self._body.exhaust()  # the next request starts right after this body
                except Exception:  # the client went away mid-body: nothing more to read
                    self.close_connection = True
            self._body = None


class LocalServer:
    """moto's app on 127.0.0.1:port, served on a background thread: with KeepAliveHandler, or
    with moto's own handler (`keep_alive=False`, the patches switched off)."""

    def __init__(self, port: int, keep_alive: bool = True) -> None:
        self._server: BaseWSGIServer = make_server(
            "127.0.0.1", port, DomainDispatcherApplication(create_backend_app), threaded=True,
            request_handler=KeepAliveHandler if keep_alive else MotoRequestHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join()
