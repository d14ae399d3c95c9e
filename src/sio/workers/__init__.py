"""``--workers N``: several processes on one port, every request of a session at the worker holding it.

:mod:`~sio.workers.supervisor` forks and watches the workers; :mod:`~sio.workers.worker` is one
of them; :mod:`~sio.workers.routing` says which worker a session id belongs to;
:mod:`~sio.workers.handoff` moves a client's connection to that worker.
"""

from sio.workers.supervisor import resolve_workers, supervise

__all__ = ["resolve_workers", "supervise"]
