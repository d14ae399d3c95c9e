"""Dependencies point down (docs/architecture.md, "Layers"): checked on the import statements."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "sio"


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at any depth (function-local imports included)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


ENGINE = sorted((SRC / "engine").glob("*.py"))


@pytest.mark.parametrize("path", ENGINE, ids=lambda p: p.name)
def test_the_engine_imports_no_front_end_and_nothing_above_it(path: Path) -> None:
    above = ("sio.frontends", "sio.runner", "sio.server", "sio.socket", "sio.namespace", "sio.client")
    assert not {name for name in imported_modules(path) if name.startswith(above)}


def test_the_front_ends_are_installed_by_the_layer_above() -> None:
    import sio
    from sio.engine import server

    assert isinstance(server.front_ends(), sio.runner.StandardFrontEnds)


def test_the_leaf_modules_import_nothing_of_sio_but_the_core() -> None:
    for leaf in ("reasons.py", "errors.py"):
        ours = {name for name in imported_modules(SRC / leaf) if name.startswith("sio.")}
        assert all(name.startswith("sio._sio_core") for name in ours), (leaf, ours)
