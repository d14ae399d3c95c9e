"""The public API under ``mypy --strict``: the examples and a typed app check clean, revealed types are
what the app's ``# T:`` comments say, and mistakes (a misspelt option) are errors mypy reports."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from mypy import api  # a test dependency: missing, this module fails rather than skips

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).parent


def _mypy(*paths: Path) -> tuple[str, int]:
    limit = sys.getrecursionlimit()
    try:
        out, err, status = api.run(["--strict", "--no-incremental", "--hide-error-context", *map(str, paths)])
    finally:
        sys.setrecursionlimit(limit)  # mypy raises it for itself; later tests rely on the default
    return out + err, status


def _expected(path: Path, marker: str, offset: int = 0) -> dict[int, str]:
    """What the lines' ``marker`` comments expect, by line number (+ ``offset``: the line it is about)."""
    return {
        number + offset: line.split(marker, 1)[1].strip()
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if marker in line
    }


def test_examples_and_the_typed_app_check_clean_with_the_revealed_types() -> None:
    app = HERE / "typed_app.py"
    output, status = _mypy(app, *sorted((ROOT / "examples").rglob("*.py")))
    revealed = {
        int(m.group(1)): m.group(2)
        for m in re.finditer(r"typed_app\.py:(\d+): note: Revealed type is \"(.*)\"", output)
    }
    assert revealed == _expected(app, "# T:"), output
    errors = [line for line in output.splitlines() if ": error:" in line]
    assert not errors and status == 0, output


def test_mistakes_are_type_errors() -> None:
    app = HERE / "misspelt_app.py"
    output, status = _mypy(app)
    errors = {
        int(m.group(1)): m.group(2).rsplit("  [", 1)[0]
        for m in re.finditer(r"misspelt_app\.py:(\d+): error: (.*)", output)
    }
    assert errors == _expected(app, "# E:", offset=1), output
    assert status == 1
