"""Packaging: a regular (non-editable) install must ship every package under src/sio."""

from __future__ import annotations

from pathlib import Path

import tomllib
from setuptools import find_packages

ROOT = Path(__file__).resolve().parents[2]


def test_package_discovery_covers_every_package_under_src() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "packages" not in config or isinstance(config["packages"], dict)  # discovery, not a fixed list
    find = config["packages"]["find"]
    discovered = set(find_packages(where=str(ROOT / find["where"][0]), include=find["include"]))
    on_disk = {
        ".".join(path.parent.relative_to(ROOT / "src").parts)
        for path in (ROOT / "src" / "sio").rglob("__init__.py")
    }
    assert on_disk <= discovered
    assert {"sio", "sio.engine", "sio.frontends"} <= discovered


def test_typing_stub_and_marker_are_package_data() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert set(config["package-data"]["sio"]) >= {"py.typed", "*.pyi"}
    assert (ROOT / "src" / "sio" / "py.typed").exists()
    assert (ROOT / "src" / "sio" / "_sio_core.pyi").exists()
