"""``--workers N``: one port, N processes, every request of a session at the worker holding it.

Driven by the official socket.io-client (many sockets per node process, tests/js/crowd_peer.js)
against ``python -m sio run tests.integration.workers_app:io --workers N``; one connection
shared by sessions of two workers is also driven byte by byte (http.client, raw pipelining).
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import re
import signal
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from tests.integration.cluster_bus import wait_until
from tests.integration.siopeer import SioPeer
from tests.integration.workers import ROOT, Crowd, Workers
from tests.redis_server import RedisServer

POLL = "/socket.io/?EIO=4&transport=polling"


class _AnyString:
    """Equal to any string (an offset the server chose)."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str)

    def __hash__(self) -> int:
        return 0


ANY_OFFSET = _AnyString()


@pytest.fixture
async def workers() -> AsyncIterator[Any]:
    """Factory: a supervisor with N workers, stopped after the test."""
    started: list[Workers] = []

    async def start(count: int | str, *args: str, env: dict[str, str] | None = None) -> Workers:
        supervisor = await Workers.start(count, *args, env=env)
        started.append(supervisor)
        return supervisor

    yield start
    for supervisor in started:
        await supervisor.kill()


async def pids_of(crowd: Crowd) -> dict[int, int]:
    """The worker pid serving each client, by client index."""
    return {i: answer[0] for i, answer in (await crowd.call("whoami")).items()}


@pytest.mark.parametrize("count", [2, 3])
async def test_polling_clients_are_served_by_every_worker(workers: Any, node_peers: Any, count: int) -> None:
    server = await workers(count)
    crowd = await Crowd.start(node_peers, server.url, 24, transports=["polling"])
    connects = await crowd.connected()
    assert len({c["id"] for c in connects}) == 24
    pids = await pids_of(crowd)
    # Every handshake made its session on the worker the connection reached: they spread over them.
    assert set(pids.values()) <= set(server.pids)
    assert len(set(pids.values())) >= 2, pids
    for _ in range(3):  # each polling request is an HTTP exchange, wherever its TCP connection lands
        assert await pids_of(crowd) == pids

    async def all_counted() -> bool:
        return await crowd.call("count", to=[0]) == {0: [24, count]}

    await wait_until(all_counted, f"{count} workers and 24 sockets counted")
    # fetch_sockets from whichever worker holds the asking socket finds every socket of every worker.
    answers = await crowd.call("count")
    assert set(map(tuple, answers.values())) == {(24, count)}
    # server_side_emit_with_ack: the other workers answer, each once.
    for i, (answer,) in (await crowd.call("ask")).items():
        assert answer == sorted(set(server.pids) - {pids[i]})


async def test_clients_upgrade_to_websocket_on_their_worker(workers: Any, node_peers: Any) -> None:
    server = await workers(2)
    crowd = await Crowd.start(node_peers, server.url, 16)  # polling first, then the upgrade
    await crowd.connected()
    await crowd.until("upgrade", lambda upgrades: len({u["i"] for u in upgrades}) == 16)
    state = await crowd.query("state")
    assert {c["transport"] for c in state["clients"]} == {"websocket"}
    pids = await pids_of(crowd)
    assert len(set(pids.values())) == 2, pids
    owners = {c["sid"][0] for c in state["clients"]}
    assert len(owners) == 2  # sessions of both workers, each upgraded where it lives


async def test_a_shared_keep_alive_pool_carries_sessions_of_several_workers(
    workers: Any, node_peers: Any
) -> None:
    server = await workers(3)
    # 16 clients, one keep-alive pool (as browser tabs share one): a socket freed by one
    # session's request carries the next request of any other session, of any worker.
    crowd = await Crowd.start(node_peers, server.url, 16, transports=["polling"], sharedPool=32)
    await crowd.connected()
    pids = await pids_of(crowd)
    for _ in range(10):
        assert await pids_of(crowd) == pids
    pool = await crowd.query("pool")
    assert pool["sockets"] <= 32
    assert pool["crossWorker"] > 0, pool  # requests for another worker's session on a used socket


def _handshake(conn: http.client.HTTPConnection) -> str:
    conn.request("GET", POLL)
    response = conn.getresponse()
    body = response.read().decode()
    assert response.status == 200, body
    sid: str = json.loads(body[1:])["sid"]
    return sid


def _sessions_on_two_workers(port: int) -> tuple[str, str]:
    """Two sessions whose ids name different workers (each handshake on a new connection)."""
    first = None
    for _ in range(200):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        sid = _handshake(conn)
        conn.close()
        if first is None:
            first = sid
        elif sid[0] != first[0]:
            return first, sid
    raise AssertionError("200 handshakes all landed on one worker")


def _one_connection_for_two_workers(port: int) -> list[tuple[str, int, bytes]]:
    a, b = _sessions_on_two_workers(port)
    shared = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    seen = []
    for sid, packet in ((a, b"40"), (b, b"40"), (a, b'421["whoami"]'), (b, b'421["whoami"]')):
        shared.request("POST", f"{POLL}&sid={sid}", body=packet, headers={"Content-Type": "text/plain"})
        response = shared.getresponse()
        seen.append((sid, response.status, response.read()))
        sock = shared.sock
        shared.request("GET", f"{POLL}&sid={sid}")
        response = shared.getresponse()
        seen.append((sid, response.status, response.read()))
        assert shared.sock is sock, "the connection was closed between requests"
    return seen


async def test_one_keep_alive_connection_serves_sessions_of_two_workers(workers: Any) -> None:
    server = await workers(2)
    seen = await asyncio.to_thread(_one_connection_for_two_workers, server.port)
    assert [status for _, status, _ in seen] == [200] * 8
    posts, polls = seen[0::2], seen[1::2]
    assert [body for _, _, body in posts] == [b"ok"] * 4
    # Each session answered its own CONNECT, then its own ack, from the worker holding it.
    assert polls[0][2].startswith(b'40{"sid":') and polls[1][2].startswith(b'40{"sid":')
    acks = [json.loads(body[3:]) for _, _, body in polls[2:]]
    assert [body[:3] for _, _, body in polls[2:]] == [b"431", b"431"]
    assert acks[0][0] != acks[1][0]  # two worker pids
    assert (
        acks[0][1] == json.loads(polls[0][2][2:])["sid"] and acks[1][1] == json.loads(polls[1][2][2:])["sid"]
    )


def _pipelined(port: int) -> list[bytes]:
    a, b = _sessions_on_two_workers(port)
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    requests = b"".join(
        f"POST {POLL}&sid={sid} HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n".encode()
        + b"Content-Length: 2\r\n\r\n40"
        for sid in (a, b, a)
    )
    sock.sendall(requests)
    data = b""
    while data.count(b"HTTP/1.1 ") < 3 or not data.endswith(b"ok"):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    sock.close()
    return re.findall(rb"HTTP/1\.1 (\d+)[^\r]*\r\n(?:[^\r]+\r\n)*\r\n(ok|[^H]*)", data)


async def test_pipelined_requests_for_two_workers_are_answered_in_order(workers: Any) -> None:
    server = await workers(2)
    answers = await asyncio.to_thread(_pipelined, server.port)
    assert answers == [(b"200", b"ok")] * 3


async def test_a_room_broadcast_reaches_every_client_on_every_worker_once(
    workers: Any, node_peers: Any
) -> None:
    server = await workers(3)
    polling = await Crowd.start(node_peers, server.url, 8, transports=["polling"])
    ws = await Crowd.start(node_peers, server.url, 8, transports=["websocket"])
    crowds = [polling, ws]
    for crowd in crowds:
        await crowd.connected()
        await crowd.call("join", "news")

    async def all_counted() -> bool:
        return await ws.call("count", to=[0]) == {0: [16, 3]}

    await wait_until(all_counted, "3 workers counted")
    polling.emit("shout", "news", "one", to=[0])
    ws.emit("shout", "news", "two", to=[0])
    for crowd in crowds:
        await crowd.until("event", lambda events: len([e for e in events if e["name"] == "shouted"]) == 16)
    for crowd in crowds:
        texts: dict[int, list[str]] = {}
        for i, args in crowd.events("shouted"):
            texts.setdefault(i, []).append(args[0])
        assert {i: sorted(t) for i, t in texts.items()} == {i: ["one", "two"] for i in range(8)}


async def test_a_client_is_recovered_by_whichever_worker_it_reconnects_to(
    workers: Any, node_peers: Any
) -> None:
    server = await workers(2, env={"SIO_TEST_RECOVERY": "1"})
    sender = await SioPeer.start(node_peers, server.url, transports=["websocket"])
    await sender.connect()
    # No automatic reconnection: it comes back by hand, once the shout below reached every worker.
    peer = await SioPeer.start(node_peers, server.url, transports=["websocket"])
    first = await peer.connect()
    await peer.call("join", "news")
    pid, sid, recovered, rooms = (await peer.call("whoami"))["args"]
    assert sid == first["id"] and recovered is False and rooms == sorted([sid, "news"])
    workers_seen = {pid}
    crossed = 0
    for attempt in range(16):  # a new connection lands on either worker: until two moves
        sender.emit("shout", "news", f"live {attempt}")
        await peer.expect("event", name="shouted", args=[f"live {attempt}", ANY_OFFSET])
        peer.command("closeEngine")
        await server.wait_line(rf"disconnect {sid} transport close")
        sender.emit("shout", "news", f"missed {attempt}")
        # A fetch_sockets from the sender's worker is answered by every worker after the shout
        # (each pair of workers is one ordered stream): the holder's log has it by then.
        await sender.call("count")
        peer.command("reconnect")
        connected = await peer.expect("connect")
        assert connected["id"] == sid and connected["recovered"] is True
        now_pid, now_sid, now_recovered, now_rooms = (await peer.call("whoami"))["args"]
        assert (now_sid, now_recovered, now_rooms) == (sid, True, rooms)
        texts = [args[0] for args in peer.events("shouted")]
        assert texts.count(f"missed {attempt}") == 1, texts  # replayed once, before connect
        crossed += now_pid != pid
        workers_seen.add(now_pid)
        pid = now_pid
        if crossed >= 2:
            break
        server.lines.clear()
    assert crossed >= 2 and workers_seen == set(server.pids)


async def test_a_killed_worker_is_restarted_and_the_others_keep_serving(
    workers: Any, node_peers: Any
) -> None:
    server = await workers(2)
    # (Each request of node's client is a connection of its own. Not a keep-alive pool: there,
    # xmlhttprequest-ssl retries a request whose reused socket was reset without ever ending it,
    # so a client of the dead worker would hang until its ping timeout instead of failing.)
    crowd = await Crowd.start(node_peers, server.url, 20, transports=["polling"])
    await crowd.connected()
    pids = await pids_of(crowd)
    assert len(set(pids.values())) == 2, pids
    victim = pids[0]
    lost = {i for i, pid in pids.items() if pid == victim}
    kept = sorted(set(pids) - lost)
    os.kill(victim, signal.SIGKILL)
    restarted = await server.wait_line(r"worker (\d) restarted \(pid (\d+)\)")
    assert re.search(rf"worker \d \(pid {victim}\) killed by SIGKILL: restarting it", "\n".join(server.lines))
    new_pid = int(restarted[2])
    await crowd.until("disconnect", lambda events: {e["i"] for e in events} >= lost)
    # Every client of the dead worker is disconnected. A request of another client that was
    # passing through the dead worker at that moment (on its way to its owner) dies with it too:
    # such a client is disconnected as well, and reconnects; every other one keeps its session.
    # (Its disconnect can come a moment after the dead worker's own clients': those are read first.)
    survivor = pids[kept[0]]
    answers = await crowd.call_raw("whoami", to=kept)
    gone = {e["i"] for e in crowd.node.seen("disconnect")}
    assert {i for i, answer in answers.items() if "error" in answer} <= gone
    served = {i: answer["args"][0] for i, answer in answers.items() if "error" not in answer}
    assert served and set(served.values()) == {survivor}
    kept = sorted(served)
    newcomers = await Crowd.start(node_peers, server.url, 12, transports=["polling"])
    await newcomers.connected()
    assert set((await pids_of(newcomers)).values()) <= {survivor, new_pid}

    async def recounted() -> bool:
        return await newcomers.call("count", to=[0]) == {0: [len(kept) + 12, 2]}

    await wait_until(recounted, "the restarted worker counted, the dead one's sockets not")


async def test_sigterm_closes_every_socket_with_server_shutting_down(workers: Any, node_peers: Any) -> None:
    server = await workers(2)
    polling = await Crowd.start(node_peers, server.url, 6, transports=["polling"])
    ws = await Crowd.start(node_peers, server.url, 6, transports=["websocket"])
    ids = set()
    for crowd in (polling, ws):
        ids |= {c["id"] for c in await crowd.connected()}
    assert await server.stop(signal.SIGTERM) == 0
    for crowd in (polling, ws):
        await crowd.until("disconnect", lambda events: len(events) == 6)
    reasons = dict(re.findall(r"^disconnect (\S+) (.+)$", "\n".join(server.lines), re.M))
    assert reasons == {sid: "server shutting down" for sid in ids}, "\n".join(server.lines)
    assert "Traceback" not in "\n".join(server.lines)
    assert re.search(r"stopping 2 workers \(SIGTERM\)", "\n".join(server.lines))


async def test_a_port_in_use_is_one_clear_message(workers: Any) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        process = await asyncio.create_subprocess_exec(
            *Workers.command(2, "--port", str(port)),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=ROOT,
        )
        out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 1
    text = (out + err).decode()
    assert text.count(f"cannot listen on 127.0.0.1:{port}: Address already in use") == 1, text
    assert "Traceback" not in text


async def test_workers_auto_is_one_per_core(workers: Any) -> None:
    server = await workers("auto")
    assert len(server.pids) == (os.cpu_count() or 1)


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.stop()


async def test_two_supervisors_on_one_redis_are_a_four_node_cluster(
    workers: Any, node_peers: Any, redis_server: RedisServer
) -> None:
    env = {"SIO_TEST_REDIS": redis_server.url}
    first, second = await workers(2, env=env), await workers(2, env=env)
    polling = await Crowd.start(node_peers, first.url, 10, transports=["polling"])
    ws = await Crowd.start(node_peers, second.url, 10)
    crowds = [polling, ws]
    for crowd in crowds:
        await crowd.connected()
        await crowd.call("join", "news")

    async def all_counted() -> bool:
        return await polling.call("count", to=[0]) == {0: [20, 4]}

    await wait_until(all_counted, "4 nodes and 20 sockets counted", limit=20)
    assert set(map(tuple, (await ws.call("count")).values())) == {(20, 4)}
    everyone = set(first.pids) | set(second.pids)
    pids = await pids_of(polling)
    for i, (answer,) in (await polling.call("ask", to=[0])).items():
        assert answer == sorted(everyone - {pids[i]})  # the 3 other workers, of both machines
    ws.emit("shout", "news", "over redis", to=[0])
    for crowd in crowds:
        await crowd.until("event", lambda events: len([e for e in events if e["name"] == "shouted"]) == 10)
        assert sorted(i for i, _ in crowd.events("shouted")) == list(range(10))


async def test_no_worker_outlives_a_killed_supervisor(workers: Any) -> None:
    server = await workers(2)
    server.process.kill()  # SIGKILL: no chance to stop anyone
    await server.process.wait()

    def all_gone() -> bool:
        for pid in server.pids:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                continue
            return False
        return True

    await wait_until(all_gone, "the workers ended (PR_SET_PDEATHSIG)")
