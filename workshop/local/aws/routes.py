"""The local AWS's own routes (`/_workshop/...`), answered in front of moto's dispatch.

The bulk S3 reads (workshop.local.aws.s3bulk) and the runtime's wake-ups
(workshop.local.aws.changes) are plain WSGI applications; every other request goes on to moto as
before. The routes answer 127.0.0.1 only: a request from any other peer gets a 403 here, before a
route sees it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from workshop.config import LOCAL_HOST

PREFIX = "/_workshop/"  # every route's path starts with it
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Any]
_routes: dict[str, WsgiApp] = {}
_moto_dispatch: list[Any] = []  # moto's own __call__ while any route is added


def add(path: str, handle: WsgiApp) -> None:
    """Answer requests whose path starts with `path` with `handle` (idempotent)."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    if not path.startswith(PREFIX):
        raise ValueError(f"a workshop route starts with {PREFIX}, not {path!r}")
    if not _moto_dispatch:
        dispatch = DomainDispatcherApplication.__call__
        _moto_dispatch.append(dispatch)

        def route(self: Any, environ: dict[str, Any], start_response: Any) -> Any:
            where = environ.get("PATH_INFO", "")
            if where.startswith(PREFIX):
                for start, app in _routes.items():
                    if where.startswith(start):
                        if environ.get("REMOTE_ADDR") != LOCAL_HOST:
                            return _forbidden(start_response)
                        return app(environ, start_response)
            return dispatch(self, environ, start_response)

        DomainDispatcherApplication.__call__ = route
    _routes[path] = handle


def drop(path: str) -> None:
    """Take a route away; moto's dispatch is itself again once none is left."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    _routes.pop(path, None)
    if not _routes and _moto_dispatch:
        DomainDispatcherApplication.__call__ = _moto_dispatch.pop()


def _forbidden(start_response: Callable[..., Any]) -> list[bytes]:
    """The answer to a peer other than 127.0.0.1: 403, and nothing of what the route holds."""
    body = json.dumps({"code": "AccessDenied",
                       "message": f"The workshop's routes answer {LOCAL_HOST} only."}).encode()
    start_response("403 Forbidden", [("Content-Type", "application/json"),
                                     ("Content-Length", str(len(body)))])
    return [body]
