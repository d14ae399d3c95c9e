"""``parse_query`` decodes query strings exactly as ``dict(parse_qsl(qs, keep_blank_values=True))``;
``parse_query_multi`` (``socket.handshake.query``) as node's ``querystring.parse``."""

from __future__ import annotations

import json
import subprocess
from urllib.parse import parse_qsl

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sio.engine.exchange import parse_query, parse_query_multi
from tests.peers import require_node

ESCAPES = ["%20", "%2B", "%26", "%3D", "%e2%82%ac", "%ZZ", "%C3"]
QUERY_CHARS = st.sampled_from([*"&=%+;?/ab9Z \u00e9\u20ac", *ESCAPES])


@pytest.mark.parametrize(
    "query",
    [
        "",
        "EIO=4&transport=websocket",
        "EIO=4&transport=polling&sid=abc-_123&t=PnJ5dQ0",
        "token=a%20b&name=x+y&empty=&flag",
        "a=1&a=2",  # the last value wins
        "&&a=1&&",
        "=novalue&%3D=%26",
        "bad=%ZZ&partial=%C3",
        "k=v=w",
    ],
)
def test_examples_match_parse_qsl(query: str) -> None:
    assert parse_query(query) == dict(parse_qsl(query, keep_blank_values=True))


@given(st.lists(QUERY_CHARS, max_size=40).map("".join))
def test_any_query_matches_parse_qsl(query: str) -> None:
    assert parse_query(query) == dict(parse_qsl(query, keep_blank_values=True))


# -- socket.handshake.query: Node's querystring.parse -----------------------------------------

NODE_EXAMPLES = [
    "",
    "EIO=4&transport=polling",
    "a=1&a=2",
    "a=1&b=x&a=2&a=3",
    "token=a%20b&name=x+y&empty=&flag",
    "&&a=1&&",
    "=novalue&%3D=%26",
    "k=v=w",
    "e=%e2%82%ac&e=%E2%82%AC",
    "bad=%ZZ&partial=%C3",
]


def test_handshake_query_collects_repeated_names_in_a_list() -> None:
    assert parse_query_multi("a=1&a=2") == {"a": ["1", "2"]}
    assert parse_query_multi("a=1&b=2&a=3&a=") == {"a": ["1", "3", ""], "b": "2"}
    assert parse_query_multi("EIO=4&transport=polling") == {"EIO": "4", "transport": "polling"}


def test_handshake_query_matches_nodes_querystring_parse() -> None:
    """The reference: node's own ``querystring.parse`` (what engine.io's ``req._query`` holds)."""
    node = require_node()
    script = (
        "const qs = require('querystring');"
        "const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
        "process.stdout.write(JSON.stringify(input.map((q) => ({ ...qs.parse(q) }))));"
    )
    result = subprocess.run(
        [node, "-e", script], input=json.dumps(NODE_EXAMPLES), capture_output=True, text=True, check=True
    )
    expected = json.loads(result.stdout)
    assert [parse_query_multi(q) for q in NODE_EXAMPLES] == expected


@given(st.lists(QUERY_CHARS, max_size=40).map("".join))
def test_handshake_query_keeps_every_value_parse_qsl_sees(query: str) -> None:
    pairs = parse_qsl(query, keep_blank_values=True)
    fields = parse_query_multi(query)
    for name in {name for name, _ in pairs}:
        values = [value for key, value in pairs if key == name]
        assert fields[name] == (values[0] if len(values) == 1 else values)
