"""The local AWS's own routes answer their paths, to 127.0.0.1 only; the rest goes to moto."""

import json

import pytest
from moto.moto_server.werkzeug_app import DomainDispatcherApplication

from workshop.local.aws import routes


def _app(name):
    return lambda environ, start_response: [name.encode()]


def test_routes_answer_their_paths_and_can_be_dropped_in_any_order(monkeypatch):
    moto_calls = []
    monkeypatch.setattr(DomainDispatcherApplication, "__call__",
                        lambda self, environ, start: moto_calls.append(environ["PATH_INFO"]))
    moto = DomainDispatcherApplication.__call__
    routes.add("/_workshop/a/", _app("a"))
    routes.add("/_workshop/b/", _app("b"))
    app = DomainDispatcherApplication.__new__(DomainDispatcherApplication)

    def call(path):
        return app({"PATH_INFO": path, "REMOTE_ADDR": "127.0.0.1"}, None)

    assert call("/_workshop/a/x") == [b"a"] and call("/_workshop/b/") == [b"b"]
    call("/")
    call("/_workshop/c/")  # no such route: moto answers (its 404)
    routes.drop("/_workshop/a/")  # the first added goes first: the second still answers
    assert call("/_workshop/b/") == [b"b"]
    call("/_workshop/a/x")
    routes.drop("/_workshop/b/")
    assert DomainDispatcherApplication.__call__ is moto
    assert moto_calls == ["/", "/_workshop/c/", "/_workshop/a/x"]


@pytest.mark.parametrize("peer", ["10.0.0.7", "192.168.1.20", "::1", "", None])
def test_routes_answer_other_peers_403_without_calling_the_route(monkeypatch, peer):
    moto_calls, route_calls, statuses = [], [], []
    monkeypatch.setattr(DomainDispatcherApplication, "__call__",
                        lambda self, environ, start: moto_calls.append(environ["PATH_INFO"]))
    routes.add("/_workshop/a/", lambda environ, start: route_calls.append(environ) or [b"a"])
    try:
        app = DomainDispatcherApplication.__new__(DomainDispatcherApplication)
        environ = {"PATH_INFO": "/_workshop/a/secret"}
        if peer is not None:
            environ["REMOTE_ADDR"] = peer
        body = b"".join(app(environ, lambda status, _headers: statuses.append(status)))
        assert statuses == ["403 Forbidden"] and route_calls == [] and moto_calls == []
        assert json.loads(body)["code"] == "AccessDenied" and b"127.0.0.1" in body
        app({"PATH_INFO": "/", "REMOTE_ADDR": peer}, None)  # moto's own paths: moto decides
        assert moto_calls == ["/"]
    finally:
        routes.drop("/_workshop/a/")
