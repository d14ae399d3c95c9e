"""Compatibility layers: other libraries' APIs on sio's own server.

- :mod:`sio.compat.socketio`: python-socketio 5.x's asyncio server side
  (``from sio.compat import socketio``; docs/compat.md).
"""
