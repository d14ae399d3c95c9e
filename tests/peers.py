"""Access to the real reference peers the tests run against (node and the npm packages)."""

from __future__ import annotations

import os
import shutil

import pytest


def require_node() -> str:
    """Return the path of node; skip the test without it, except in CI where that is a failure."""
    node = shutil.which("node")
    if node is None:
        if os.environ.get("CI"):
            pytest.fail("node is required in CI (the JavaScript reference peer) but is not installed")
        pytest.skip("node is not installed: the JavaScript reference checks cannot run here")
    return node
