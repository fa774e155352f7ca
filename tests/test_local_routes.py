"""The local AWS's own routes answer their paths; everything else still goes to moto."""

from moto.moto_server.werkzeug_app import DomainDispatcherApplication

from workshop.local import routes


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
        return app({"PATH_INFO": path}, None)

    assert call("/_workshop/a/x") == [b"a"] and call("/_workshop/b/") == [b"b"]
    call("/")
    call("/_workshop/c/")  # no such route: moto answers (its 404)
    routes.drop("/_workshop/a/")  # the first added goes first: the second still answers
    assert call("/_workshop/b/") == [b"b"]
    call("/_workshop/a/x")
    routes.drop("/_workshop/b/")
    assert DomainDispatcherApplication.__call__ is moto
    assert moto_calls == ["/", "/_workshop/c/", "/_workshop/a/x"]
