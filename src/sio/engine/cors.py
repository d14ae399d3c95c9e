"""CORS as Node's ``cors`` package (2.8) answers for engine.io's ``cors`` option. Sans-I/O.

Node's semantics, header for header: ``origin`` ``"*"`` answers ``Access-Control-Allow-Origin: *``
(never the request's origin, so a credentialed request from any site is refused by the browser);
a fixed string answers that string; ``True``, a list (strings and compiled regexes) or a callable
reflects the request's origin when it is allowed (``Vary: Origin``); ``credentials`` adds
``Access-Control-Allow-Credentials: true``; a preflight gets ``methods``, the requested headers
reflected unless ``allowed_headers`` says which (``Vary: Access-Control-Request-Headers``),
``max_age`` and ``exposed_headers``, with ``options_success_status`` (204) and an empty body.

Where sio is stricter than Node: a request whose ``Origin`` an allow-list (a string, a list, a
callable) does not allow is refused (403, ``Origin not allowed``; Node processes it and lets the
browser drop the answer), and so is a WebSocket handshake from such an origin (browsers apply no
CORS to WebSockets; Node checks nothing there).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Union

from sio.errors import InvalidOption

__all__ = ["CorsPolicy"]

Headers = list[tuple[str, str]]
OriginRule = Union[str, "re.Pattern[str]"]
# What ``origin`` may be: "*", True, a fixed string, a list of strings / regexes, or a callable
# taking the request's Origin (or None) and returning one of the others (Node's origin callback).
Origin = Union[bool, str, "re.Pattern[str]", Sequence[OriginRule], Callable[[str | None], Any]]

NODE_DEFAULT_METHODS = "GET,HEAD,PUT,PATCH,POST,DELETE"
_NODE_KEYS = {
    "origin": "origin",
    "methods": "methods",
    "allowedHeaders": "allowed_headers",
    "headers": "allowed_headers",
    "exposedHeaders": "exposed_headers",
    "credentials": "credentials",
    "maxAge": "max_age",
    "optionsSuccessStatus": "options_success_status",
}


def _joined(value: str | Iterable[str] | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return ",".join(value)


def _origin_allowed(origin: str | None, rule: Any) -> bool:
    """Node's ``isOriginAllowed``: any member of a list, an equal string, a matching regex, or truthiness."""
    if isinstance(rule, (list, tuple, set, frozenset)):
        return any(_origin_allowed(origin, member) for member in rule)
    if isinstance(rule, str):
        return origin == rule
    if isinstance(rule, re.Pattern):
        return origin is not None and rule.search(origin) is not None
    return bool(rule)


@dataclass(frozen=True, slots=True)
class CorsPolicy:
    """A ``cors`` configuration (Node's option names in snake case; Node's camelCase keys accepted by
    :meth:`from_option`)."""

    origin: Origin = "*"
    methods: str | Sequence[str] = NODE_DEFAULT_METHODS
    allowed_headers: str | Sequence[str] | None = None
    exposed_headers: str | Sequence[str] | None = None
    credentials: bool = False
    max_age: int | None = None
    options_success_status: int = 204

    @classmethod
    def from_option(cls, cors: CorsPolicy | Mapping[str, Any] | None) -> CorsPolicy | None:
        """``cors=``: a :class:`CorsPolicy`, or a dict with Node's keys (or snake-case ones); None: off."""
        if cors is None or isinstance(cors, CorsPolicy):
            return cors
        if not isinstance(cors, Mapping):
            raise InvalidOption(f"cors must be a dict of Node's cors options, not {cors!r}")
        values: dict[str, Any] = {}
        for key, value in cors.items():
            name = _NODE_KEYS.get(key, key)
            if key == "preflightContinue" or name == "preflight_continue":
                if value:
                    raise InvalidOption(
                        "cors: preflightContinue is not supported (the engine answers preflights)"
                    )
                continue
            if name not in cls.__dataclass_fields__:
                raise InvalidOption(f"cors: unknown option {key!r}")
            values[name] = value
        return cls(**values)

    @classmethod
    def from_allowed_origins(cls, allowed: Any, credentials: bool) -> CorsPolicy | None:
        """The python-socketio-style shorthand: ``cors_allowed_origins`` ("*", True, one origin or a
        list) and ``cors_credentials``; None (the default) is CORS off."""
        if allowed is None:
            return None
        if isinstance(allowed, str) and allowed != "*":
            allowed = [allowed]  # one allowed origin, reflected (and others refused)
        elif not isinstance(allowed, (str, bool, re.Pattern)) and not callable(allowed):
            allowed = list(allowed)
        return cls(origin=allowed, credentials=credentials)

    # -- what the engine asks ----------------------------------------------------------------

    def _rule(self, origin: str | None) -> tuple[Any, bool]:
        """The origin rule for this request (a callable ``origin`` asked once), and whether sio
        refuses the request: it has an Origin that an allow-list (or the callable) does not allow."""
        rule = self.origin
        asked = callable(rule) and not isinstance(rule, (str, re.Pattern))
        if asked:
            rule = rule(origin)  # type: ignore[operator]
        if origin is None or rule == "*" or rule is True:
            return rule, False
        if not rule:
            return rule, asked  # origin=False: no CORS headers at all (Node); a callable said no
        return rule, not _origin_allowed(origin, [rule] if isinstance(rule, str) else rule)

    def refuses(self, origin: str | None) -> bool:
        """Whether a request (a WebSocket handshake too) from ``origin`` is refused."""
        return self._rule(origin)[1]

    def _origin_headers(self, origin: str | None, rule: Any) -> Headers:
        if rule == "*":
            return [("Access-Control-Allow-Origin", "*")]
        if isinstance(rule, str):
            return [("Access-Control-Allow-Origin", rule), ("Vary", "Origin")]
        if origin is not None and _origin_allowed(origin, rule):
            return [("Access-Control-Allow-Origin", origin), ("Vary", "Origin")]
        return [("Vary", "Origin")]

    def response_headers(self, origin: str | None) -> Headers | None:
        """The CORS headers of an actual (non-preflight) response; None: refused."""
        rule, refused = self._rule(origin)
        if refused:
            return None
        if not rule:
            return []
        headers = self._origin_headers(origin, rule)
        if self.credentials is True:
            headers.append(("Access-Control-Allow-Credentials", "true"))
        exposed = _joined(self.exposed_headers)
        if exposed:
            headers.append(("Access-Control-Expose-Headers", exposed))
        return headers

    def preflight_headers(self, origin: str | None, requested_headers: str | None) -> Headers | None:
        """The headers of a preflight (OPTIONS) answer; None: refused."""
        rule, refused = self._rule(origin)
        if refused:
            return None
        if not rule:
            return []
        headers = self._origin_headers(origin, rule)
        if self.credentials is True:
            headers.append(("Access-Control-Allow-Credentials", "true"))
        methods = _joined(self.methods)
        if methods:
            headers.append(("Access-Control-Allow-Methods", methods))
        allowed = _joined(self.allowed_headers)
        if allowed is None:
            allowed = requested_headers  # reflected
            headers.append(("Vary", "Access-Control-Request-Headers"))
        if allowed:
            headers.append(("Access-Control-Allow-Headers", allowed))
        if self.max_age is not None and str(self.max_age):
            headers.append(("Access-Control-Max-Age", str(self.max_age)))
        exposed = _joined(self.exposed_headers)
        if exposed:
            headers.append(("Access-Control-Expose-Headers", exposed))
        return _merge_vary(headers)


def _merge_vary(headers: Headers) -> Headers:
    """One ``Vary`` header listing every field, as Node's ``vary`` package appends them."""
    fields = [value for name, value in headers if name == "Vary"]
    if len(fields) < 2:
        return headers
    merged = [(name, value) for name, value in headers if name != "Vary"]
    merged.append(("Vary", ", ".join(fields)))
    return merged
