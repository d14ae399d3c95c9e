"""sio: a fast Socket.IO server for Python (Engine.IO v4 / Socket.IO v5, Node's API)."""

try:
    from sio import _sio_core
except ImportError as exc:  # pragma: no cover - depends on how sio was installed
    raise ImportError(
        "sio's compiled core (sio._sio_core) is missing or broken: sio has no pure-Python "
        "fallback. Install sio with 'pip install .' (or 'pip install -e .') so that the "
        f"extension is built; the import failed with: {exc}"
    ) from exc

__all__ = ["_sio_core"]
__version__ = "0.1.0"
