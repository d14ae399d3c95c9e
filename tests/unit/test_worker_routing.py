"""sio.workers.routing: a session id names its worker; a parsed request is written back exactly."""

from __future__ import annotations

from typing import Any

import httptools
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sio.workers.routing import MAX_WORKERS, owner_of, prefix_width, request_bytes, worker_prefix


@pytest.mark.parametrize("count", [1, 2, 3, 64, 65, 200, MAX_WORKERS])
def test_every_worker_owns_the_ids_it_makes(count: int) -> None:
    width = prefix_width(count)
    assert width == (1 if count <= 64 else 2)
    indices = range(count) if count <= 200 else (0, 1, 64, count - 1)
    for index in indices:
        prefix = worker_prefix(index, count)
        assert len(prefix) == width
        sid = prefix + "x" * (20 - width)
        assert owner_of(sid, count) == index


def test_ids_of_no_worker_have_no_owner() -> None:
    assert owner_of("C" + "x" * 19, 2) is None  # worker 2 of 2 does not exist
    assert owner_of("A" * 19, 2) is None  # not 20 characters
    assert owner_of("!" + "x" * 19, 2) is None  # not base64url
    assert owner_of("_" * 20, 64) == 63


@pytest.mark.parametrize("count", [0, MAX_WORKERS + 1])
def test_worker_counts_out_of_range_are_refused(count: int) -> None:
    with pytest.raises(ValueError):
        prefix_width(count)


class _Parsed:
    def __init__(self) -> None:
        self.url = b""
        self.headers: dict[str, str] = {}
        self.body = b""
        self.complete = 0

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        self.headers[key] = text if key not in self.headers else self.headers[key] + ", " + text

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        self.complete += 1


def _parse(data: bytes) -> tuple[Any, _Parsed]:
    parsed = _Parsed()
    parser = httptools.HttpRequestParser(parsed)
    parser.feed_data(data)
    return parser, parsed


_token = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=12)
_value = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=30)


@given(
    method=st.sampled_from(["GET", "POST", "PUT"]),
    target=st.text(alphabet="abc/?=&%2F", min_size=1, max_size=40).map(lambda t: ("/" + t).encode()),
    version=st.sampled_from(["1.0", "1.1"]),
    headers=st.dictionaries(_token, _value, max_size=6),
    body=st.binary(max_size=300),
    chunked=st.booleans(),
)
def test_a_request_written_back_parses_to_the_same_request(
    method: str, target: bytes, version: str, headers: dict[str, str], body: bytes, chunked: bool
) -> None:
    if chunked:  # a chunked body arrives decoded: written back with its length instead
        headers = {**headers, "transfer-encoding": "chunked"}
    headers.pop("content-length", None)
    data = request_bytes(method, target, version, headers, body)
    parser, parsed = _parse(data)
    assert parsed.complete == 1
    assert parser.get_method().decode() == method and parser.get_http_version() == version
    assert parsed.url == target and parsed.body == body
    expected = {k: v for k, v in headers.items() if k != "transfer-encoding"}
    if body or chunked:
        expected["content-length"] = str(len(body))
    assert parsed.headers == expected
    if parser.should_keep_alive():  # the framing is exact: the next request parses right behind
        _, both = _parse(data + b"GET /next HTTP/1.1\r\n\r\n")
        assert both.complete == 2 and both.url == target + b"/next"
