"""Shared set-up for sio's micro-benchmarks (see bench/README.md).

Puts ``src/`` on ``sys.path`` when sio is not importable, so that ``pytest bench/``
works from the repository root with or without ``PYTHONPATH=src`` (the compiled
extension is built in place under ``src/sio``).
"""

from __future__ import annotations

import sys
from pathlib import Path

_SRC = Path(__file__).resolve().parent.parent / "src"

try:
    import sio._sio_core  # noqa: F401
except ImportError:
    sys.path.insert(0, str(_SRC))
