"""Lambda's GetFunction `Code.Location`, locally: a route of the local AWS serving the zip moto
stores.

On AWS, Code.Location is a presigned URL of the deployed zip; here it points at
`/_workshop/functions/code`, which answers with the bytes moto stored for the function, so the
local Lambda (workshop.local.hops.functions) runs exactly what was deployed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, quote

from workshop.config import LOCAL_HOST

ROUTE = "/_workshop/functions/code"


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

    from workshop.local.aws import routes

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
