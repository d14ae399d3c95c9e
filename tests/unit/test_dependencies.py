"""What sio imports at run time is what a plain ``pip install sio`` installs.

(``--workers`` once imported msgpack, which only the ``redis`` extra and the test extra installed:
every test passed, and a user without the extra got a worker that could not start.)
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "sio"
# Modules (a folder, or one file) only an extra makes importable.
EXTRAS = {
    "redis": PACKAGE / "adapters" / "redis",
    "uvicorn": PACKAGE / "uvicorn.py",
    "metrics": PACKAGE / "metrics",
    "admin": PACKAGE / "admin" / "auth.py",
}
IMPORT_NAMES = {"redis": "redis", "hiredis": "hiredis", "prometheus_client": "prometheus-client"}


def _distribution(requirement: str) -> str:
    return re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].lower()


def _third_party_imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.partition(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n not in ("sio", "__future__")}


def test_every_run_time_import_is_a_dependency_or_behind_its_extra() -> None:
    tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = {_distribution(r) for r in project["dependencies"]}
    extras = {
        name: {_distribution(r) for r in reqs} for name, reqs in project["optional-dependencies"].items()
    }
    missing = {}
    for path in PACKAGE.rglob("*.py"):
        extra = next((name for name, place in EXTRAS.items() if place == path or place in path.parents), None)
        allowed = core | (extras[extra] if extra else set())
        unlisted = {
            name for name in _third_party_imports(path) if IMPORT_NAMES.get(name, name) not in allowed
        }
        if unlisted:
            missing[str(path.relative_to(ROOT))] = sorted(unlisted)
    assert missing == {}, f"imported but not installed by pip install sio (or its extra): {missing}"
