"""One worker process of ``--workers``: the app on the shared port, routing, the cluster between workers."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sio.workers.handoff import ConnectionRouter
from sio.workers.routing import worker_prefix

if TYPE_CHECKING:
    from sio.runner import Servable

log = logging.getLogger("sio.workers")

EXIT_CANNOT_SERVE = 3  # the worker could not listen: the supervisor gives up instead of restarting


def tag_logs(index: int) -> None:
    """Prefix every log message of this process with ``[worker N]``."""
    make_record = logging.getLogRecordFactory()
    tag = f"[worker {index}] "

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        record.msg = tag + str(record.msg)
        return record

    logging.setLogRecordFactory(factory)


def join_cluster(app: Servable, directory: Path) -> None:
    """Make the workers one cluster: the local mesh, unless the app set an adapter of its own (Redis).

    Either way every namespace gets a new adapter here, in the worker: those made before the
    fork carry the supervisor's server id (uid), the same in every worker, and a server drops
    the messages of its own uid.
    """
    from sio.adapters.local import local_adapter
    from sio.adapters.memory import InMemoryAdapter
    from sio.server import Server

    if isinstance(app, Server):
        factory = app.adapter()
        app.adapter(local_adapter(directory / "mesh") if factory is InMemoryAdapter else factory)


def run_worker(
    app: Servable,
    index: int,
    count: int,
    host: str,
    port: int,
    directory: Path,
    status: int,
    *,
    other_asgi_app: Any = None,
    root_path: str = "",
) -> int:
    """Serve until SIGTERM / SIGINT (then close gracefully); return the exit code.

    ``status`` is the supervisor's pipe: ``ready <index>`` once listening, or ``failed <index> <why>``
    (``unstartable <index> <why>`` when ``other_asgi_app``'s lifespan startup failed).
    """
    import uvloop

    from sio.frontends.lifespan import LifespanFailed
    from sio.runner import CannotListen, serve_until_stopped

    tag_logs(index)
    engine: Any = getattr(app, "engine", app)  # a sio.Server, or an EngineServer alone
    engine.sid_prefix = worker_prefix(index, count)
    join_cluster(app, directory)
    router = ConnectionRouter(directory, index, count)

    def ready(_listening: object) -> None:
        report(status, f"ready {index}")
        log.debug("listening (pid %d)", os.getpid())

    try:
        uvloop.run(
            serve_until_stopped(
                app,
                host,
                port,
                router=router,
                reuse_port=True,
                on_ready=ready,
                other_asgi_app=other_asgi_app,
                root_path=root_path,
            )
        )
    except CannotListen as exc:
        report(status, f"failed {index} {exc}")
        return EXIT_CANNOT_SERVE
    except LifespanFailed as exc:
        report(status, f"unstartable {index} worker {index}: {exc}")
        return EXIT_CANNOT_SERVE
    return 0


def report(status: int, line: str) -> None:
    """One line to the supervisor (a single write under PIPE_BUF: never interleaved)."""
    os.write(status, (line.replace("\n", " ")[:500] + "\n").encode())
