"""CorsPolicy against Node's own ``cors`` package (the one engine.io uses), header for header.

A matrix of options and requests is run through Node's middleware (node, with the package
engine.io depends on) and through :class:`sio.engine.cors.CorsPolicy`; the answers must be the
same, except where sio refuses a request from an origin an allow-list does not allow (Node
processes it without an Access-Control-Allow-Origin, leaving the browser to drop the answer).
"""

from __future__ import annotations

import itertools
import json
import re
import subprocess
from typing import Any

import pytest

from sio.engine.cors import CorsPolicy
from sio.errors import InvalidOption
from tests.peers import JS_DIR, ensure_js_peers

NODE_CORS = r"""
const cors = require(require.resolve("cors", { paths: [require.resolve("engine.io")] }));
const revive = (v) => (v && typeof v === "object" && !Array.isArray(v) && v.$re) ? new RegExp(v.$re)
  : Array.isArray(v) ? v.map(revive) : v;
const cases = JSON.parse(require("fs").readFileSync(0, "utf8"));
const out = cases.map(([options, request]) => {
  const opts = Object.fromEntries(Object.entries(options).map(([k, v]) => [k, revive(v)]));
  const headers = {};
  const res = {
    statusCode: 200,
    getHeader: (k) => headers[k.toLowerCase()],
    setHeader: (k, v) => { headers[k.toLowerCase()] = String(v); },
    end: () => {},
  };
  let next = false;
  cors(opts)({ method: request.method, headers: request.headers }, res, () => { next = true; });
  return { headers, status: res.statusCode, next };
});
process.stdout.write(JSON.stringify(out));
"""

A = "https://a.example"
B = "https://x.b.example"
EVIL = "https://evil.example"

ORIGINS: list[Any] = ["*", True, A, [A, {"$re": r"\.b\.example$"}], [A], False]
OPTIONS: list[dict[str, Any]] = [
    {},
    {"credentials": True},
    {"credentials": True, "methods": ["GET", "POST"], "maxAge": 600},
    {"allowedHeaders": ["content-type", "x-token"], "exposedHeaders": "x-id"},
    {"optionsSuccessStatus": 200, "exposedHeaders": ["x-a", "x-b"], "maxAge": 0},
]
REQUESTS: list[dict[str, Any]] = [
    {"method": method, "headers": headers}
    for method in ("GET", "POST", "OPTIONS")
    for headers in (
        {},
        {"origin": A},
        {"origin": B},
        {"origin": EVIL},
        {"origin": A, "access-control-request-headers": "x-token"},
    )
]


def _python(value: Any) -> Any:
    if isinstance(value, dict) and "$re" in value:
        return re.compile(value["$re"])
    if isinstance(value, list):
        return [_python(v) for v in value]
    return value


def _ours(options: dict[str, Any], request: dict[str, Any]) -> tuple[dict[str, str], int] | None:
    policy = CorsPolicy.from_option({k: _python(v) for k, v in options.items()})
    assert policy is not None
    headers = request["headers"]
    origin = headers.get("origin")
    if request["method"] == "OPTIONS":
        got = policy.preflight_headers(origin, headers.get("access-control-request-headers"))
        status = policy.options_success_status
    else:
        got = policy.response_headers(origin)
        status = 200
    if got is None:
        return None
    return {name.lower(): value for name, value in got}, status


def test_headers_match_nodes_cors_package() -> None:
    node = ensure_js_peers()
    cases = [
        ({**extra, "origin": origin}, request)
        for origin, extra, request in itertools.product(ORIGINS, OPTIONS, REQUESTS)
    ]
    result = subprocess.run(
        [node, "-e", NODE_CORS],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        check=True,
        cwd=JS_DIR,
    )
    answers = json.loads(result.stdout)
    refused = same = 0
    for (options, request), answer in zip(cases, answers, strict=True):
        answer["headers"].pop("content-length", None)  # every answer of ours has one
        ours = _ours(options, request)
        where = (options, request, answer, ours)
        if ours is None:
            # Refused by sio: Node lets it through without allowing the origin (no
            # Access-Control-Allow-Origin, or a fixed one that is not the request's).
            refused += 1
            allowed = answer["headers"].get("access-control-allow-origin")
            assert allowed is None or allowed not in ("*", request["headers"]["origin"]), where
            assert request["headers"].get("origin") in (B, EVIL), where
            continue
        same += 1
        headers, status = ours
        if options["origin"] is False:  # Node's cors does nothing at all
            assert answer["headers"] == {} and answer["next"], where
            assert headers == {}, where
            continue
        assert headers == answer["headers"], where
        if request["method"] == "OPTIONS":
            assert not answer["next"] and status == answer["status"], where
    assert refused and same > refused


def test_node_option_names_and_bad_options() -> None:
    policy = CorsPolicy.from_option({"origin": A, "allowedHeaders": "x", "maxAge": 5, "credentials": True})
    assert policy == CorsPolicy(origin=A, allowed_headers="x", max_age=5, credentials=True)
    assert CorsPolicy.from_option({"preflightContinue": False}) == CorsPolicy()
    for bad in ({"preflightContinue": True}, {"orign": A}, "https://a.example"):
        with pytest.raises(InvalidOption):
            CorsPolicy.from_option(bad)  # type: ignore[arg-type]


def test_the_shorthand() -> None:
    assert CorsPolicy.from_allowed_origins(None, True) is None
    star = CorsPolicy.from_allowed_origins("*", False)
    assert star is not None and star.response_headers(EVIL) == [("Access-Control-Allow-Origin", "*")]
    one = CorsPolicy.from_allowed_origins(A, True)
    assert one is not None
    assert one.response_headers(A) == [
        ("Access-Control-Allow-Origin", A),
        ("Vary", "Origin"),
        ("Access-Control-Allow-Credentials", "true"),
    ]
    assert one.response_headers(EVIL) is None and one.refuses(EVIL) and not one.refuses(None)
    assert not star.refuses(EVIL)


def test_a_callable_origin() -> None:
    policy = CorsPolicy(origin=lambda origin: origin is not None and origin.endswith(".b.example"))
    assert policy.response_headers(B) == [("Access-Control-Allow-Origin", B), ("Vary", "Origin")]
    assert policy.response_headers(EVIL) is None and policy.refuses(EVIL)
    assert policy.response_headers(None) == []  # no Origin: not a cross-origin request
