"""Command line: ``python -m sio run module:attribute --host 127.0.0.1 --port 3000 [--asgi module:app]``."""

from __future__ import annotations

import argparse
import importlib
import logging
import ssl
import sys
from typing import Any


def load(target: str) -> Any:
    """Import ``module:attribute`` (the current directory is importable, as with uvicorn)."""
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise SystemExit(f"expected module:attribute, got {target!r}")
    if "" not in sys.path:
        sys.path.insert(0, "")
    module = importlib.import_module(module_name)
    try:
        obj = module
        for part in attribute.split("."):
            obj = getattr(obj, part)
    except AttributeError:
        raise SystemExit(f"{module_name!r} has no attribute {attribute!r}") from None
    return obj


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``python -m sio``."""
    parser = argparse.ArgumentParser(prog="python -m sio", description="Run a sio server.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "run",
        help="serve a sio.Server (or EngineServer) on the built-in uvloop front end",
        description="Serve module:attribute, a sio.Server or sio.EngineServer, until Ctrl-C.",
    )
    run.add_argument("target", metavar="module:attribute", help="where the server object is, e.g. app:io")
    run.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    run.add_argument("--port", type=int, default=3000, help="port to bind (default: 3000)")
    run.add_argument(
        "--workers",
        default="1",
        help='worker processes serving the port, or "auto" for one per core (default: 1)',
    )
    run.add_argument(
        "--asgi",
        metavar="module:attribute",
        help="an ASGI app (FastAPI, Starlette) to serve on the same port for the other paths, "
        "as uvicorn would, its lifespan run in each worker, e.g. app:api",
    )
    run.add_argument(
        "--root-path",
        default="",
        help="the --asgi app's root path, as uvicorn's --root-path (the prefix a proxy strips)",
    )
    run.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    run.add_argument("--ssl-certfile", help="serve HTTPS and WSS with this certificate (PEM; uvicorn's flag)")
    run.add_argument("--ssl-keyfile", help="its private key (PEM), unless the certificate file has it")
    run.add_argument("--ssl-keyfile-password", help="the password of an encrypted private key")
    run.add_argument(
        "--proxy-headers",
        action="store_true",
        help="behind a reverse proxy: the client's address and scheme from X-Forwarded-For / "
        "X-Forwarded-Proto when the peer is in --forwarded-allow-ips (uvicorn's flags)",
    )
    run.add_argument(
        "--forwarded-allow-ips",
        default="127.0.0.1",
        help='the trusted proxies: comma-separated addresses or networks, "*" for any (default: 127.0.0.1)',
    )
    args = parser.parse_args(argv)

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    from sio import runner  # after logging is set up: importing sio installs the front ends
    from sio.engine.proxy import TrustedProxies
    from sio.errors import InvalidOption
    from sio.frontends.lifespan import LifespanFailed

    runner.cli_import.append(args.target)  # a top-level io.listen() in the app is not ours to run
    try:
        server = load(args.target)
        asgi_app = load(args.asgi) if args.asgi else None
    finally:
        runner.cli_import.clear()
    if not hasattr(server, "listen"):
        raise SystemExit(f"{args.target} is a {type(server).__name__}, not a sio.Server or EngineServer")
    if asgi_app is not None and not callable(asgi_app):
        raise SystemExit(f"{args.asgi} is a {type(asgi_app).__name__}, not an ASGI application")
    if args.root_path and asgi_app is None:
        raise SystemExit("--root-path is the --asgi app's: it needs --asgi")
    asgi_options: dict[str, Any] = {}
    if asgi_app is not None:
        asgi_options = {"other_asgi_app": asgi_app, "root_path": args.root_path}
    workers = args.workers if args.workers == "auto" else _positive(args.workers)
    context = _ssl_context(args.ssl_certfile, args.ssl_keyfile, args.ssl_keyfile_password)
    if args.proxy_headers:
        try:
            getattr(server, "engine", server).trusted_proxies = TrustedProxies(args.forwarded_allow_ips)
        except InvalidOption as exc:
            raise SystemExit(f"--forwarded-allow-ips: {exc}") from None
    logging.getLogger("sio").info("serving %s", args.target + (f" with {args.asgi}" if args.asgi else ""))
    try:
        # Logs "listening on http(s)://..." once it listens.
        server.listen(args.port, args.host, workers=workers, ssl=context, **asgi_options)
    except (runner.CannotListen, LifespanFailed) as exc:
        raise SystemExit(str(exc)) from None


def _ssl_context(certfile: str | None, keyfile: str | None, password: str | None) -> ssl.SSLContext | None:
    """A server TLS context from uvicorn's flags (None without a certificate)."""
    if certfile is None:
        if keyfile is not None:
            raise SystemExit("--ssl-keyfile needs --ssl-certfile")
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(certfile, keyfile, password)
    except (OSError, ssl.SSLError) as exc:
        raise SystemExit(f"cannot load the TLS certificate {certfile}: {exc}") from None
    return context


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise SystemExit(f'--workers must be a positive integer or "auto", not {text!r}')
    return value


if __name__ == "__main__":
    main()
