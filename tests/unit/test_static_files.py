"""sio.static.StaticFiles: files, folders, a folder's index.html, and nothing outside."""

from __future__ import annotations

from pathlib import Path

from sio.static import StaticFiles


def test_folders_serve_their_files_and_index_html_at_their_own_url(tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "docs").mkdir(parents=True)
    (site / "index.html").write_text("home")
    (site / "app.js").write_text("js")
    (site / "docs" / "index.html").write_text("docs")
    (tmp_path / "secret.txt").write_text("no")
    files = StaticFiles({"/ui/": site})
    assert files.response("GET", "/ui/") == (200, [("Content-Type", "text/html; charset=utf-8")], b"home")
    assert files.response("GET", "/ui/docs/")[2] == b"docs"
    assert files.response("GET", "/ui/app.js")[2] == b"js"
    assert files.response("GET", "/ui/docs")[0] == 404  # a folder without its slash is not a file
    assert files.response("GET", "/ui/../secret.txt")[0] == 404
    assert files.response("GET", "/ui/missing/")[0] == 404
    assert files.response("POST", "/ui/")[0] == 405
