"""permessage-deflate (RFC 7692), sans-I/O: negotiation, the codec, the frames it chooses.

The references: Node's ``ws`` itself (``lib/extension.js`` and ``PerMessageDeflate.accept``,
run with node) for the ``Sec-WebSocket-Extensions`` header, plain zlib and ``websockets``'
permessage-deflate extension for the compressed data.
"""

from __future__ import annotations

import json
import random
import subprocess
import tracemalloc
import zlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.extensions.permessage_deflate import PerMessageDeflate as WebsocketsDeflate
from websockets.frames import Frame, Opcode

from sio import _sio_core as core
from sio.engine.compression import DeflateOptions
from sio.engine.exchange import SharedPacket
from sio.errors import WebSocketCompressionError
from sio.frontends.permessage_deflate import (
    INVALID_HEADER,
    Agreement,
    PerMessageDeflate,
    SharedDeflater,
    negotiate,
    parse_extensions,
)
from tests.peers import JS_DIR, ensure_js_peers

DEFAULT = DeflateOptions()
LIMIT = 1_000_000


def agreement(
    server_no_context_takeover: bool = False,
    client_no_context_takeover: bool = False,
    server_max_window_bits: int | None = None,
    client_max_window_bits: int | None = None,
) -> Agreement:
    return Agreement(
        server_no_context_takeover,
        client_no_context_takeover,
        server_max_window_bits,
        client_max_window_bits,
        "permessage-deflate",
    )


def client_deflate(data: bytes, compressor: Any) -> bytes:
    """What a client sends: the message compressed, sync-flushed, the trailer removed."""
    out: bytes = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


def raw_payload(frame: bytes) -> tuple[int, bytes]:
    """A server frame's event as a client's parser sees it (opcode | RSV1 when compressed)."""
    [(opcode, payload)] = core.FrameParser(None, require_mask=False, deflate=True).feed(frame)
    return opcode, payload if isinstance(payload, bytes) else payload.encode()


# -- the header ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("permessage-deflate", {"permessage-deflate": [{}]}),
        (
            "permessage-deflate; client_max_window_bits",
            {"permessage-deflate": [{"client_max_window_bits": [True]}]},
        ),
        (
            'foo;bar=1;bar=2 , foo; baz="q", qux',
            {"foo": [{"bar": ["1", "2"]}, {"baz": ["q"]}], "qux": [{}]},
        ),
        ('a; b="c\\d"', {"a": [{"b": ["cd"]}]}),  # a quoted-string unescaped
        ("a;b\t=c", None),  # no space before "=" (ws: unexpected character)
        ("a ;\tb = c", None),
        ("a ; b", {"a": [{"b": [True]}]}),
        ("", None),
        (" a", None),
        ("a,", None),
        ("a;", None),
        (",a", None),
        ("a; b=", None),
        ('a; b="', None),
        ('a; b="c d"', None),  # a quoted value must be a token once unescaped
        ("a; b=c d", None),
        ("a b", None),
        ("a\u00e9", None),
    ],
)
def test_parse_extensions(header: str, expected: dict[str, Any] | None) -> None:
    if expected is None:
        with pytest.raises(ValueError):
            parse_extensions(header)
    else:
        assert parse_extensions(header) == expected


# -- negotiation: what real clients offer, each option ---------------------------------------

# Node's ws (engine.io-client and socket.io-client in node), Chrome, Edge and python-websockets send
# the first; Firefox and Safari the second.
NODE_AND_CHROME = "permessage-deflate; client_max_window_bits"
FIREFOX = "permessage-deflate"


@pytest.mark.parametrize("offer", [NODE_AND_CHROME, FIREFOX])
def test_the_offers_of_real_clients_are_accepted_as_is(offer: str) -> None:
    result = negotiate(offer, DEFAULT)
    assert result == Agreement(False, False, None, None, "permessage-deflate")


def test_no_header_or_no_permessage_deflate_offer_means_no_extension() -> None:
    assert negotiate(None, DEFAULT) is None
    assert negotiate("x-webkit-deflate-frame", DEFAULT) is None
    assert negotiate("foo; bar=1, baz", DEFAULT) is None


def test_the_first_acceptable_offer_wins() -> None:
    offers = "permessage-deflate; server_max_window_bits=10, permessage-deflate; client_no_context_takeover"
    assert negotiate(offers, DEFAULT) == Agreement(
        False, False, 10, None, "permessage-deflate; server_max_window_bits=10"
    )
    # A server window of 12 cannot serve a client asking for at most 10: the second offer wins.
    picky = DeflateOptions(server_max_window_bits=12)
    assert negotiate(offers, picky) == Agreement(
        False, True, 12, None, "permessage-deflate; client_no_context_takeover; server_max_window_bits=12"
    )


def test_no_acceptable_offer_means_no_extension_not_a_refusal() -> None:
    # (ws answers 400 here; RFC 7692 section 5 has the server decline, and so do we.)
    assert (
        negotiate("permessage-deflate; server_max_window_bits=10", DeflateOptions(server_max_window_bits=12))
        is None
    )
    assert negotiate(FIREFOX, DeflateOptions(client_max_window_bits=10)) is None
    assert (
        negotiate("permessage-deflate; client_max_window_bits=9", DeflateOptions(client_max_window_bits=10))
        is None
    )


@pytest.mark.parametrize(
    ("options", "offer", "header"),
    [
        (
            {"server_no_context_takeover": True},
            NODE_AND_CHROME,
            "permessage-deflate; server_no_context_takeover",
        ),
        ({"client_no_context_takeover": True}, FIREFOX, "permessage-deflate; client_no_context_takeover"),
        ({"server_max_window_bits": 10}, FIREFOX, "permessage-deflate; server_max_window_bits=10"),
        (
            {"server_max_window_bits": 10},
            "permessage-deflate; server_max_window_bits=12",
            "permessage-deflate; server_max_window_bits=10",
        ),
        ({"client_max_window_bits": 10}, NODE_AND_CHROME, "permessage-deflate; client_max_window_bits=10"),
        (
            {"client_max_window_bits": 10},
            "permessage-deflate; client_max_window_bits=12",
            "permessage-deflate; client_max_window_bits=10",
        ),
        # What the client asks of us is granted, and echoed in its order.
        (
            {},
            "permessage-deflate; server_no_context_takeover",
            "permessage-deflate; server_no_context_takeover",
        ),
        ({}, "permessage-deflate; server_max_window_bits=8", "permessage-deflate; server_max_window_bits=8"),
        ({}, "permessage-deflate; client_max_window_bits=9", "permessage-deflate; client_max_window_bits=9"),
        (
            {},
            'permessage-deflate; client_max_window_bits="11"',
            "permessage-deflate; client_max_window_bits=11",
        ),
        (
            {"server_no_context_takeover": True, "client_no_context_takeover": True},
            "permessage-deflate; client_no_context_takeover; client_max_window_bits",
            "permessage-deflate; client_no_context_takeover; server_no_context_takeover",
        ),
    ],
)
def test_each_option_in_the_response(options: dict[str, Any], offer: str, header: str) -> None:
    result = negotiate(offer, DeflateOptions(**options))
    assert result is not None
    assert result.header == header
    assert result.server_no_context_takeover == ("server_no_context_takeover" in header)
    assert result.client_no_context_takeover == ("client_no_context_takeover" in header)


@pytest.mark.parametrize(
    "header",
    [
        "",
        "permessage-deflate;",
        "permessage-deflate; server_max_window_bits",  # a value is required
        "permessage-deflate; server_max_window_bits=7",
        "permessage-deflate; client_max_window_bits=16",
        "permessage-deflate; client_max_window_bits=0xa",  # (ws reads JavaScript numbers: it takes this one)
        "permessage-deflate; server_no_context_takeover=1",
        "permessage-deflate; client_no_context_takeover; client_no_context_takeover",  # at most once each
        "permessage-deflate; mystery",
        "permessage-deflate, permessage-deflate; mystery",  # every offer is checked, as ws does
        "permessage-deflate; client_max_window_bits, garbage;",
    ],
)
def test_a_malformed_header_refuses_the_upgrade_as_ws(header: str) -> None:
    with pytest.raises(core.HandshakeError) as info:
        negotiate(header, DEFAULT)
    assert info.value.status == 400
    assert str(info.value) == INVALID_HEADER
    assert isinstance(info.value.__cause__, ValueError)


def test_a_malformed_header_for_other_extensions_refuses_too() -> None:
    with pytest.raises(core.HandshakeError):
        negotiate("foo; bar=", DEFAULT)  # ws parses the whole header first


# -- negotiation against ws itself ------------------------------------------------------------

WS_OPTIONS: list[dict[str, Any]] = [
    {},
    {"server_no_context_takeover": True},
    {"client_no_context_takeover": True},
    {"server_max_window_bits": 10},
    {"server_max_window_bits": 8},
    {"client_max_window_bits": 11},
    {"server_no_context_takeover": True, "client_no_context_takeover": True, "server_max_window_bits": 12},
    {"client_max_window_bits": 15, "server_max_window_bits": 15},
]


def generated_headers(count: int) -> list[str]:
    """Headers from a small grammar, and mutations of them (seeded: the same list every run)."""
    rng = random.Random(7692)
    names = ["permessage-deflate", "permessage-deflate", "x-webkit-deflate-frame", "foo"]
    params = [
        "server_no_context_takeover",
        "client_no_context_takeover",
        "server_max_window_bits",
        "client_max_window_bits",
        "client_max_window_bits",
        "other",
    ]
    values = [None, None, "8", "9", "10", "12", "15", "7", "16", '"10"', '"1\\2"', "x", "08"]
    spaces = ["", "", " ", "  ", "\t"]
    headers = []
    for _ in range(count):
        offers = []
        for _ in range(rng.randint(1, 3)):
            offer = rng.choice(names)
            for _ in range(rng.randint(0, 3)):
                param = rng.choice(params)
                value = rng.choice(values)
                offer += ";" + rng.choice(spaces) + param + ("" if value is None else "=" + value)
            offers.append(offer)
        header = ("," + rng.choice(spaces)).join(offers)
        if rng.random() < 0.25:  # a mutation: a character dropped, doubled or replaced
            at = rng.randrange(len(header))
            header = header[:at] + rng.choice(["", header[at] * 2, rng.choice(';,="\\ x')]) + header[at + 1 :]
        headers.append(header)
    return headers


WS_NEGOTIATE = """
const path = require("path");
const extension = require(path.resolve("node_modules/ws/lib/extension.js"));
const PerMessageDeflate = require(path.resolve("node_modules/ws/lib/permessage-deflate.js"));
const camel = (s) => s.replace(/_([a-z])/g, (_, c) => c.toUpperCase());
let input = "";
process.stdin.on("data", (d) => (input += d)).on("end", () => {
  const results = JSON.parse(input).map(([header, options]) => {
    const opts = { isServer: true };
    for (const [k, v] of Object.entries(options)) opts[camel(k)] = v;
    try {  // as WebSocketServer.handleUpgrade
      const offers = extension.parse(header);
      if (!offers["permessage-deflate"]) return { ok: null };
      const params = new PerMessageDeflate(opts).accept(offers["permessage-deflate"]);
      return { ok: extension.format({ "permessage-deflate": [params] }) };
    } catch (err) {
      return { error: err.message };
    }
  });
  process.stdout.write(JSON.stringify(results));
});
"""


def test_negotiation_matches_ws() -> None:
    node = ensure_js_peers()
    headers = [
        NODE_AND_CHROME,
        FIREFOX,
        "permessage-deflate; server_max_window_bits=10; client_max_window_bits",
        "permessage-deflate; client_max_window_bits=12, permessage-deflate",
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
        *generated_headers(400),
    ]
    cases = [(header, options) for header in headers for options in WS_OPTIONS]
    result = subprocess.run(
        [node, "-e", WS_NEGOTIATE],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        check=True,
        cwd=JS_DIR,
    )
    answers = json.loads(result.stdout)
    outcomes = {"accepted": 0, "refused": 0, "none": 0, "declined": 0}
    for (header, options), answer in zip(cases, answers, strict=True):
        try:
            ours = negotiate(header, DeflateOptions(**options))
        except core.HandshakeError:
            assert "error" in answer, (header, options, answer)
            assert answer["error"] != "None of the extension offers can be accepted", (header, options)
            outcomes["refused"] += 1
            continue
        if ours is not None:
            assert answer == {"ok": ours.header}, (header, options)
            outcomes["accepted"] += 1
        elif "error" in answer:  # the one difference: ws refuses what we decline (see the module)
            assert answer["error"] == "None of the extension offers can be accepted", (
                header,
                options,
                answer,
            )
            outcomes["declined"] += 1
        else:
            assert answer == {"ok": None}, (header, options)
            outcomes["none"] += 1
    assert all(outcomes.values()), outcomes  # the corpus reaches every outcome


# -- inflating what the client sends -----------------------------------------------------------


def messages(n: int) -> list[bytes]:
    """Compressible Engine.IO-ish messages that refer to each other (context takeover pays)."""
    return [f'42["chat",{{"n":{i},"text":"{"hello world " * (i % 7 + 1)}"}}]'.encode() for i in range(n)]


@pytest.mark.parametrize("client_bits", [8, 9, 12, 15])
def test_inflate_with_client_context_takeover(client_bits: int) -> None:
    codec = PerMessageDeflate(agreement(client_max_window_bits=client_bits), DEFAULT, LIMIT)
    # (zlib's raw deflate takes 9 for 8, as a client's zlib does.)
    client = zlib.compressobj(-1, zlib.DEFLATED, -max(client_bits, 9))
    sizes = []
    for message in messages(30):
        payload = client_deflate(message, client)
        sizes.append(len(payload))
        assert codec.inflate(payload) == message
    assert sizes[-1] < sizes[0]  # later messages referred to earlier ones: the history was kept


def test_inflate_without_client_context_takeover_keeps_no_inflater() -> None:
    codec = PerMessageDeflate(agreement(client_no_context_takeover=True), DEFAULT, LIMIT)
    for message in messages(5):
        client = zlib.compressobj(-1, zlib.DEFLATED, -15)  # a fresh context per message
        assert codec.inflate(client_deflate(message, client)) == message
        assert codec._inflater is None  # nothing held between messages


def test_a_final_block_ends_the_stream_and_the_next_message_starts_a_new_one() -> None:
    codec = PerMessageDeflate(agreement(), DEFAULT, LIMIT)
    client = zlib.compressobj(-1, zlib.DEFLATED, -15)
    assert codec.inflate(client_deflate(b"first", client)) == b"first"
    final = zlib.compressobj(-1, zlib.DEFLATED, -15)
    assert codec.inflate(final.compress(b"second") + final.flush(zlib.Z_FINISH)) == b"second"  # BFINAL
    assert codec._inflater is None
    fresh = zlib.compressobj(-1, zlib.DEFLATED, -15)
    assert codec.inflate(client_deflate(b"third", fresh)) == b"third"


def test_an_empty_message() -> None:
    codec = PerMessageDeflate(agreement(), DEFAULT, LIMIT)
    assert codec.inflate(b"\x00") == b""  # RFC 7692 section 7.2.3.6
    assert codec.deflate(b"") == b"\x00"
    assert codec.inflate(client_deflate(b"", zlib.compressobj(-1, zlib.DEFLATED, -15))) == b""


@pytest.mark.parametrize("limit", [1, 100, 65536])
def test_the_limit_applies_to_the_inflated_size(limit: int) -> None:
    at_limit = bytes(range(256)) * (limit // 256) + b"x" * (limit % 256)
    codec = PerMessageDeflate(agreement(client_no_context_takeover=True), DEFAULT, limit)
    assert codec.inflate(client_deflate(at_limit, zlib.compressobj(-1, zlib.DEFLATED, -15))) == at_limit
    with pytest.raises(core.WebSocketMessageTooBig) as info:
        codec.inflate(client_deflate(at_limit + b"y", zlib.compressobj(-1, zlib.DEFLATED, -15)))
    assert info.value.close_code == 1009


def test_a_deflate_bomb_is_never_inflated_past_the_limit() -> None:
    client = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = bytes(1 << 20)
    bomb = b"".join(client.compress(chunk) for _ in range(64)) + client.flush(zlib.Z_SYNC_FLUSH)[:-4]
    assert len(bomb) < 100_000  # 64 MiB of zeros
    codec = PerMessageDeflate(agreement(), DEFAULT, LIMIT)
    tracemalloc.start()
    try:
        with pytest.raises(core.WebSocketMessageTooBig, match="once inflated"):
            codec.inflate(bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * LIMIT  # the output stopped at the limit (64 MiB otherwise)
    assert codec._inflater is None  # the connection is closed anyway: nothing kept


@pytest.mark.parametrize("payload", [b"\xff\xff\xff", b"\x07", b"\x02\x00\x00"])
def test_data_that_is_not_deflate(payload: bytes) -> None:
    codec = PerMessageDeflate(agreement(), DEFAULT, LIMIT)
    with pytest.raises(WebSocketCompressionError) as info:
        codec.inflate(payload)
    assert info.value.close_code == 1007
    assert isinstance(info.value, core.WebSocketError)


def test_inflate_message_decodes_text_strictly() -> None:
    codec = PerMessageDeflate(agreement(client_no_context_takeover=True), DEFAULT, LIMIT)
    text = "4héllo ✓"

    def compressed(data: bytes) -> bytes:
        return client_deflate(data, zlib.compressobj(-1, zlib.DEFLATED, -15))

    assert codec.inflate_message(core.OP_TEXT_DEFLATED, compressed(text.encode())) == text
    assert codec.inflate_message(core.OP_BINARY_DEFLATED, compressed(b"\xff\x00")) == b"\xff\x00"
    for bad in (b"4\xff", b"4\xed\xa0\x80", b"4\xe2\x82"):
        with pytest.raises(core.WebSocketInvalidUtf8) as info:
            codec.inflate_message(core.OP_TEXT_DEFLATED, compressed(bad))
        assert info.value.close_code == 1007


# -- deflating what we send ---------------------------------------------------------------------


@pytest.mark.parametrize("server_bits", [None, 9, 10, 15])
def test_deflate_with_context_takeover_reads_back_in_order(server_bits: int | None) -> None:
    codec = PerMessageDeflate(agreement(server_max_window_bits=server_bits), DEFAULT, LIMIT)
    client = zlib.decompressobj(-(server_bits or 15))
    sizes = []
    for message in messages(30):
        payload = codec.deflate(message)
        sizes.append(len(payload))
        assert client.decompress(payload + b"\x00\x00\xff\xff") == message
    assert sizes[-1] < sizes[0]


def test_server_window_of_8_bits_is_compressed_with_9_and_read_by_a_256_byte_window() -> None:
    rng = random.Random(8)
    block = bytes(rng.randrange(256) for _ in range(300))
    # Repeats 300 bytes back: within a 9- or 10-bit window, beyond the client's 256 bytes.
    data = [block[rng.randrange(100) :] + block + block[: rng.randrange(300)] for _ in range(40)]
    codec = PerMessageDeflate(agreement(server_max_window_bits=8), DEFAULT, LIMIT)
    assert codec._wbits == 9
    client = zlib.decompressobj(-8)
    for message in data:
        assert client.decompress(codec.deflate(message) + b"\x00\x00\xff\xff") == message
    # The control: a compressor that does refer that far back breaks a 256-byte window.
    wide = zlib.compressobj(-1, zlib.DEFLATED, -10)
    with pytest.raises(zlib.error, match="too far back"):
        narrow = zlib.decompressobj(-8)
        for message in data:
            narrow.decompress(client_deflate(message, wide) + b"\x00\x00\xff\xff")


def test_server_no_context_takeover_shares_one_compressor_per_parameter_set() -> None:
    a = PerMessageDeflate(agreement(server_no_context_takeover=True), DEFAULT, LIMIT)
    b = PerMessageDeflate(
        agreement(server_no_context_takeover=True, client_no_context_takeover=True), DEFAULT, LIMIT
    )
    other_window = PerMessageDeflate(agreement(True, server_max_window_bits=10), DEFAULT, LIMIT)
    other_level = PerMessageDeflate(agreement(True), DeflateOptions(level=1), LIMIT)
    assert a.shared is not None and a.shared is b.shared
    assert other_window.shared is not a.shared and other_level.shared is not a.shared
    assert SharedDeflater.get(15, 8, -1) is a.shared
    assert PerMessageDeflate(agreement(), DEFAULT, LIMIT).shared is None
    # Each message reads with a fresh inflater: nothing refers to an earlier one.
    for message in messages(10):
        for codec in (a, b):
            assert zlib.decompressobj(-15).decompress(codec.deflate(message) + b"\x00\x00\xff\xff") == message
    assert a._deflater is None and b._deflater is None  # no compressor of their own


# -- which frame goes out ---------------------------------------------------------------------------


def test_frame_compresses_at_and_over_the_threshold_only() -> None:
    codec = PerMessageDeflate(agreement(), DeflateOptions(threshold=10), LIMIT)
    client = zlib.decompressobj(-15)

    def received(frame: bytes) -> tuple[int, bytes]:
        opcode, payload = raw_payload(frame)
        if opcode & 0x40:
            return opcode, client.decompress(payload + b"\x00\x00\xff\xff")
        return opcode, payload

    assert received(codec.frame("4" * 9)) == (core.OP_TEXT, b"4" * 9)
    assert codec.frame("4" * 9) == core.encode_text_frame("4" * 9)
    assert received(codec.frame("4" * 10)) == (core.OP_TEXT_DEFLATED, b"4" * 10)
    # The threshold counts UTF-8 bytes: 5 characters, 10 bytes.
    assert received(codec.frame("é" * 5)) == (core.OP_TEXT_DEFLATED, "é".encode() * 5)
    assert received(codec.frame("é" * 4 + "a")) == (core.OP_TEXT, "é".encode() * 4 + b"a")
    assert received(codec.frame(b"\x04" * 9)) == (core.OP_BINARY, b"\x04" * 9)
    assert received(codec.frame(b"\x04" * 10)) == (core.OP_BINARY_DEFLATED, b"\x04" * 10)


def test_a_packet_marked_not_to_be_compressed_goes_out_plain() -> None:
    codec = PerMessageDeflate(agreement(server_no_context_takeover=True), DeflateOptions(threshold=0), LIMIT)
    packet = SharedPacket("4" + "x" * 5000, compress=False)
    assert codec.frame(packet) is packet.frame  # the shared plain frame, as without the extension
    assert packet.deflated is None
    big_binary = SharedPacket(b"\x04" * 5000, compress=False)
    assert raw_payload(codec.frame(big_binary)) == (core.OP_BINARY, b"\x04" * 5000)


def test_a_shared_packet_is_compressed_once_for_every_recipient_of_the_shared_compressor() -> None:
    options = DeflateOptions(server_no_context_takeover=True)
    recipients = [
        PerMessageDeflate(agreement(server_no_context_takeover=True), options, LIMIT) for _ in range(3)
    ]
    packet = SharedPacket('42["news","' + "x" * 2000 + '"]')
    frames = [codec.frame(packet) for codec in recipients]
    assert frames[0] is frames[1] is frames[2] is packet.deflated
    assert packet.deflated_by is recipients[0].shared
    opcode, payload = raw_payload(frames[0])
    assert opcode == core.OP_TEXT_DEFLATED
    assert zlib.decompressobj(-15).decompress(payload + b"\x00\x00\xff\xff") == packet.data.encode()  # type: ignore[union-attr]
    # A recipient with its own compressor (context takeover) compresses for itself, uncached.
    own = PerMessageDeflate(agreement(), options, LIMIT)
    mine = own.frame(packet)
    assert mine is not packet.deflated
    assert packet.deflated_by is recipients[0].shared
    # Small shared packets go out as their shared plain frame.
    small = SharedPacket("4hi")
    assert recipients[0].frame(small) is small.frame


# -- against websockets' own permessage-deflate ------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.one_of(st.text(max_size=3000), st.binary(max_size=3000)), min_size=1, max_size=8),
    st.booleans(),
    st.booleans(),
    st.sampled_from([None, 9, 12]),
)
def test_round_trips_with_websockets(
    payloads: list[str | bytes], server_nct: bool, client_nct: bool, server_bits: int | None
) -> None:
    terms = agreement(server_nct, client_nct, server_bits)
    ours = PerMessageDeflate(terms, DeflateOptions(threshold=0), LIMIT)
    theirs = WebsocketsDeflate(server_nct, client_nct, server_bits or 15, 15)  # the client's side
    for data in payloads:
        raw = data.encode() if isinstance(data, str) else data
        # Ours to the client.
        opcode, payload = raw_payload(ours.frame(data))
        assert opcode & 0x40
        frame = Frame(Opcode.TEXT if isinstance(data, str) else Opcode.BINARY, payload, rsv1=True)
        assert theirs.decode(frame).data == raw
        # The client's to ours.
        sent = theirs.encode(Frame(Opcode.TEXT if isinstance(data, str) else Opcode.BINARY, raw))
        assert sent.rsv1
        event = core.OP_TEXT_DEFLATED if isinstance(data, str) else core.OP_BINARY_DEFLATED
        assert ours.inflate_message(event, bytes(sent.data)) == data
