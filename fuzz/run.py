"""Run every fuzz target for a bounded time (CI: ``python fuzz/run.py --seconds 20``).

Seeds come from byte vectors written here at run time (a valid frame, payload, packet and request
of each kind), so no corpus is committed; longer runs keep their corpus where ``--corpus`` says:

    python fuzz/run.py --seconds 3600 --corpus /tmp/sio-fuzz-corpus      # an hour each
    python fuzz/run.py --only http_requests --seconds 600

Last longer run (2026-12-01, ``--seconds 120 --corpus /tmp/sio-fuzz-corpus``, 2 shared vCPUs): ws_frames
18.7 M inputs, eio_packets 14.2 M, sio_packets 3.5 M, http_requests 0.76 M: no finding. The compiled core
is not coverage-instrumented (no clang here), so its corpora barely grow (2, 3 and 14 entries: blind
mutation); the HTTP target's Python layers are instrumented (143 entries).

A finding makes the run exit non-zero; libFuzzer writes the input as ``crash-*`` in the
current directory (reproduce with ``python fuzz/targets.py TARGET crash-...``).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "src"))

import zlib  # noqa: E402

from sio._sio_core import OP_BINARY, OP_TEXT, encode_deflated_frame, encode_frame  # noqa: E402


def _deflated(data: bytes) -> bytes:
    compressor = zlib.compressobj(-1, zlib.DEFLATED, -15)
    return (compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]


SEEDS: dict[str, list[bytes]] = {
    "ws_frames": [
        b"\x00" + encode_frame(OP_TEXT, "4hello", mask=b"abcd"),
        b"\x03" + encode_frame(OP_TEXT, "é" * 40, mask=b"abcd") + encode_frame(0x9, b"p", mask=b"abcd"),
    ],
    "ws_frames_deflate": [
        b"\x00\x01" + encode_deflated_frame(OP_TEXT, _deflated(b"4hello" * 50), mask=b"abcd"),
        b"\x05\x00"
        + encode_frame(OP_TEXT, "4plain", mask=b"abcd")
        + encode_deflated_frame(OP_BINARY, _deflated(bytes(5000)), mask=b"abcd"),
    ],
    "eio_packets": [b"4hello\x1e2\x1ebAQID", b"0{}", b"3probe"],
    "sio_packets": [
        b'\x01\x0842["chat",{"a":1}]',
        b'\x01\x1e451-["up",{"_placeholder":true,"num":0}]\x00\x04abcd',
    ],
    "msgpack_packets": [
        b"\x84\xa4type\x02\xa4data\x92\xa4chat\x81\xa1a\x01\xa3nsp\xa1/\xa2id\x07",
        b"\x83\xa4type\x00\xa3nsp\xa1/\xa7options\x81\xa8compress\xc3",
        b"\x83\xa4type\x02\xa3nsp\xa1/\xa4data\x92\xa1e\xd6\xff\x00\x00\x00\x01",
    ],
    "http_requests": [
        b"GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /engine.io/?EIO=4&transport=polling&sid=x HTTP/1.1\r\nContent-Length: 2\r\n\r\n40",
        b"GET /engine.io/?EIO=4&transport=websocket HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    ],
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=20, help="per target")
    parser.add_argument("--only", action="append", help="a target name (repeatable)")
    parser.add_argument("--corpus", type=Path, help="keep each target's corpus under this folder")
    args = parser.parse_args()
    failed = []
    for name in args.only or list(SEEDS):
        corpus = (args.corpus / name) if args.corpus else Path(tempfile.mkdtemp(prefix=f"sio-fuzz-{name}-"))
        corpus.mkdir(parents=True, exist_ok=True)
        for i, seed in enumerate(SEEDS[name]):
            (corpus / f"seed-{i}").write_bytes(seed)
        command = [
            sys.executable,
            str(HERE / "targets.py"),
            name,
            f"-max_total_time={args.seconds}",
            "-rss_limit_mb=2048",
            "-max_len=4096",
            "-print_final_stats=1",
            str(corpus),
        ]
        result = subprocess.run(command, capture_output=True, text=True)
        stats = [
            line
            for line in result.stderr.splitlines()
            if line.startswith(("stat::number_of_executed_units", "Done"))
        ]
        print(f"fuzz {name}: exit {result.returncode}; {'; '.join(stats) or result.stderr[-400:]}")
        if result.returncode != 0:
            print(result.stderr[-4000:])
            failed.append(name)
    print(
        f"fuzz: {len(SEEDS) if not args.only else len(args.only)} targets, {len(failed)} failed"
        + (f": {', '.join(failed)}" if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
