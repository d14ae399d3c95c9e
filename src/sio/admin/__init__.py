"""The Socket.IO Admin UI for sio servers: ``instrument(io, auth=...)``, as Node's ``@socket.io/admin-ui``.

See docs/admin-ui.md. Basic authentication needs the ``admin`` extra (``pip install "sio[admin]"``:
bcrypt); :class:`RedisStore` the ``redis`` extra.
"""

from sio.admin.auth import hash_password
from sio.admin.instrument import Instrumentation, instrument
from sio.admin.stores import InMemoryStore, RedisStore, Store

__all__ = ["InMemoryStore", "Instrumentation", "RedisStore", "Store", "hash_password", "instrument"]
