"""``parse_query`` decodes query strings exactly as ``dict(parse_qsl(qs, keep_blank_values=True))``."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sio.engine.exchange import parse_query

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
