"""Write Switchyard plugins in Python: helpers over the ``switchyard:plugin@0.3.0`` contract.

The same helpers as the Rust SDK: ``forward``, ``forward_json``, ``emit``, ``drop``, ``config``,
``log``, ``kv``, errors that say retry-later or fail (``RetryLater``, ``Fail``), and ``fetch``
for outbound HTTP, which the gateway sends only to the plugin's ``allowed_hosts``.

A plugin is a module with a class named ``WitWorld`` whose ``handle`` is wrapped in
``@handler`` (an exception other than ``RetryLater``/``Fail`` then becomes a ``fail`` instead
of trapping the instance)::

    from switchyard_plugin import WitWorldBase, handler, forward_json, drop

    class WitWorld(WitWorldBase):
        @handler
        def handle(self, event):
            body = event.json()
            if body.get("data", {}).get("type") != "order":
                return [drop("not an order")]
            return [forward_json({"order": body["data"]["id"]})]

Build it with ``python -m switchyard_plugin_build app.py -o plugin.wasm``. Every import must be
at the top of a module: the interpreter is snapshotted when the component is built.
"""

import asyncio
import functools
import json as _json
from typing import Any, Iterable, Optional, Union
from urllib import parse as _parse

import poll_loop
import wit_world
from componentize_py_types import Err
from wit_world.imports import config as _config
from wit_world.imports import kv as _kv
from wit_world.imports import log as _log
from wit_world.imports.log import Level
from wit_world.imports.plugin_types import (
    Action,
    Action_Drop,
    Action_Emit,
    Action_Forward,
    Emit,
    Error_Fail,
    Error_RetryLater,
    Event,
    Forward,
)
from wit_world.imports import types as _http

__all__ = [
    "WitWorldBase", "handler", "forward", "forward_json", "emit", "drop", "RetryLater", "Fail",
    "log", "config", "kv", "fetch", "Response", "Event", "Action",
]

WitWorldBase = wit_world.WitWorld

Body = Union[str, bytes, bytearray]


def _bytes(body: Body) -> bytes:
    return body.encode() if isinstance(body, str) else bytes(body)


def _headers(headers) -> list:
    if not headers:
        return []
    items = headers.items() if isinstance(headers, dict) else headers
    return [(str(k), str(v)) for k, v in items]


def forward(body: Optional[Body] = None, destination: Optional[str] = None, headers=None, order_key=None) -> Action:
    """Forward to the route's destinations (or ``destination``), with the event's body or ``body``.

    With ``order_key``, the route's deliveries to one destination that share the key go out
    one at a time, in the order their events were accepted.
    """
    key = None if order_key is None else str(order_key)
    return Action_Forward(Forward(destination, None if body is None else _bytes(body), _headers(headers), key))


def forward_json(value: Any, destination: Optional[str] = None, headers=None, order_key=None) -> Action:
    """Forward ``value`` as a JSON body (content-type application/json)."""
    all_headers = [("content-type", "application/json")] + _headers(headers)
    body = _json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return forward(body, destination, all_headers, order_key)


def emit(scope: str, body: Body) -> Action:
    """A derived event of ``scope``, routed again as if it had arrived on the same source."""
    return Action_Emit(Emit(scope, _bytes(body)))


def drop(reason: str) -> Action:
    """Do nothing with the event, saying why (the host logs the reason)."""
    return Action_Drop(str(reason))


class RetryLater(Exception):
    """A passing problem (an upstream is down): the host calls again later."""


class Fail(Exception):
    """The event can never be handled: it is dead-lettered."""


class _Event:
    """The event with conveniences: ``json()``, ``text()``, ``param(name)``, ``header(name)``."""

    def __init__(self, event: Event):
        self._event = event

    def __getattr__(self, name):
        return getattr(self._event, name)

    def text(self) -> str:
        return self._event.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        try:
            return _json.loads(self._event.body)
        except ValueError as e:
            raise Fail(f"body is not JSON: {e}") from None

    def param(self, name: str) -> Optional[str]:
        return next((v for k, v in self._event.params if k == name), None)

    def header(self, name: str) -> Optional[str]:
        lower = name.lower()
        return next((v for k, v in self._event.headers if k.lower() == lower), None)


def handler(fn):
    """Wraps ``handle``: ``RetryLater``/``Fail`` become the call's error, any other exception a fail."""

    @functools.wraps(fn)
    def handle(self, event: Event):
        try:
            return list(fn(self, _Event(event)))
        except Err:
            raise
        except RetryLater as e:
            raise Err(Error_RetryLater(str(e)))
        except Fail as e:
            raise Err(Error_Fail(str(e)))
        except Exception as e:  # noqa: BLE001 - a plugin's bug fails its event, it does not trap
            raise Err(Error_Fail(f"{type(e).__name__}: {e}"))

    return handle


class _Log:
    """Logging into the host's span for the current event."""

    def trace(self, message: str):
        _log.log(Level.TRACE, str(message))

    def debug(self, message: str):
        _log.log(Level.DEBUG, str(message))

    def info(self, message: str):
        _log.log(Level.INFO, str(message))

    def warn(self, message: str):
        _log.log(Level.WARN, str(message))

    def error(self, message: str):
        _log.log(Level.ERROR, str(message))


log = _Log()


class _Config:
    """The plugin's ``config`` table: strings as they are, other values as JSON text."""

    def get(self, key: str) -> Optional[str]:
        return _config.get(key)

    def all(self) -> list:
        return _config.all()

    def json(self, key: str) -> Any:
        raw = _config.get(key)
        if raw is None:
            return None
        try:
            return _json.loads(raw)
        except ValueError:
            return raw


config = _Config()


def _kv_call(call):
    try:
        return call()
    except Err as e:
        error = e.value
        if isinstance(error, _kv.Error_Unavailable):
            raise RetryLater(f"kv: {error.value}") from None
        if isinstance(error, _kv.Error_ValueTooLarge):
            raise Fail(f"kv: a value is larger than kv_max_value = {error.value} bytes") from None
        if isinstance(error, _kv.Error_TooManyKeys):
            raise Fail(f"kv: the plugin already holds kv_max_keys = {error.value} keys") from None
        if isinstance(error, _kv.Error_InvalidKey):
            raise Fail("kv: keys are 1 to 512 bytes") from None
        raise Fail("kv: increment of a value that is not a decimal integer") from None


class _Kv:
    """The plugin's own key–value state, committed with the event's outcome."""

    def get(self, key: str) -> Optional[bytes]:
        return _kv_call(lambda: _kv.get(key))

    def get_string(self, key: str) -> Optional[str]:
        value = self.get(key)
        return None if value is None else value.decode("utf-8", errors="replace")

    def set(self, key: str, value: Body, ttl_ms: Optional[int] = None):
        _kv_call(lambda: _kv.set(key, _bytes(value), ttl_ms))

    def delete(self, key: str):
        _kv_call(lambda: _kv.delete(key))

    def increment(self, key: str, delta: int = 1) -> int:
        return _kv_call(lambda: _kv.increment(key, delta))

    def list(self, prefix: str = "", limit: int = 100) -> list:
        return _kv_call(lambda: _kv.keys(prefix, limit))


kv = _Kv()


class Response:
    """An answer, read whole."""

    def __init__(self, url: str, status: int, headers: list, body: bytes):
        self.url, self.status, self.headers, self.body = url, status, headers, body

    def header(self, name: str) -> Optional[str]:
        lower = name.lower()
        return next((v.decode() for k, v in self.headers if k.lower() == lower), None)

    def json(self) -> Any:
        try:
            return _json.loads(self.body)
        except ValueError as e:
            raise Fail(f"{self.url} answered with a body that is not JSON: {e}") from None

    def retry_on_server_error(self) -> "Response":
        """Raises ``RetryLater`` for 429 and 5xx: the upstream is busy or down."""
        if self.status == 429 or self.status >= 500:
            raise RetryLater(f"{self.url} answered {self.status}")
        return self


_METHODS = {
    "GET": _http.Method_Get, "POST": _http.Method_Post, "PUT": _http.Method_Put,
    "PATCH": _http.Method_Patch, "DELETE": _http.Method_Delete, "HEAD": _http.Method_Head,
}


def fetch(url: str, method: str = "GET", headers=None, body: Optional[Body] = None) -> Response:
    """One HTTP request, through the gateway: ``Fail`` when it refuses the host, ``RetryLater``
    when the network fails."""
    loop = poll_loop.PollLoop()
    asyncio.set_event_loop(loop)
    try:
        return loop.run_until_complete(_fetch(url, method.upper(), _headers(headers), body))
    finally:
        loop.close()


async def _fetch(url: str, method: str, headers: list, body: Optional[Body]) -> Response:
    parts = _parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise Fail(f"`{url}` is not an http:// or https:// URL")
    fields = _http.Fields.from_list([(k, v.encode()) for k, v in headers])
    request = _http.OutgoingRequest(fields)
    request.set_method(_METHODS[method]() if method in _METHODS else _http.Method_Other(method))
    request.set_scheme(_http.Scheme_Https() if parts.scheme == "https" else _http.Scheme_Http())
    request.set_authority(parts.netloc)
    request.set_path_with_query((parts.path or "/") + (f"?{parts.query}" if parts.query else ""))
    outgoing = request.body()
    pending = asyncio.ensure_future(poll_loop.send(request))
    await asyncio.sleep(0)  # let send() hand the request to the host before the body is written
    sink = poll_loop.Sink(outgoing)
    if body is not None:
        await sink.send(_bytes(body))
    sink.close()
    try:
        response = await pending
    except Err as e:
        code = e.value
        if isinstance(code, (_http.ErrorCode_HttpRequestDenied, _http.ErrorCode_DestinationIpProhibited)):
            raise Fail(f"fetch of {url} refused by the gateway: {type(code).__name__[len('ErrorCode_'):]}") from None
        raise RetryLater(f"fetch of {url} failed: {type(code).__name__[len('ErrorCode_'):]}") from None
    stream = poll_loop.Stream(response.consume())
    chunks = []
    while (chunk := await stream.next()) is not None:
        chunks.append(chunk)
    return Response(url, response.status(), response.headers().entries(), b"".join(chunks))
