"""The operator page's web server (Starlette on uvicorn): the page, logins, and one WebSocket per page.

The server only relays: the cell's messages (`hmi/view.py`) go out to every page through the `Hub`; a
page's requests come in on its WebSocket as JSON, `{"type": "command", "id": "c1", "command": "hold"}` or
`{"type": "ack", "id": "a1", "tag": "robot.safety"}`, and each gets an `answer`. A request is refused, with
the reason in its answer and a line in the log, and nothing reaches the cell, when it is larger than 2048
bytes (`MAX_MESSAGE_BYTES`; a frame over 64 KiB closes the WebSocket), not such a JSON object, a command
other than PackML's nine and `mode production|maintenance|manual`, more than 20 in a second
(`MAX_MESSAGES_PER_S`), or from a page that is not logged in as an operator or whose session expired. WebSockets from
another origin are refused (cross-site WebSocket hijacking), as are logins that are not JSON (cross-site
forms).

HTTP: `GET /` the page; `GET /static/…` its script, style and uPlot; `POST /api/login` `{"user", "password"}`
sets the session cookie (HttpOnly, SameSite=Strict, Secure over TLS); `POST /api/logout`; `GET /api/session`;
`GET /api/weld/{part_id}` the weld's trace for the weld plot; `WS /ws`.
"""
from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections import deque
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket, WebSocketDisconnect

from cell_controller.core.operator import MODE_VERB, CommandError, parse
from cell_controller.core.packml import Command, UnitMode
from cell_controller.core.ratelimit import RateLimit

from .sessions import LoginRefused, Session, Sessions
from .view import TREND_WINDOW_S, answer_message, hello_message, merge_trends

STATIC = Path(__file__).with_name("static")
PAGE = Path(__file__).with_name("index.html")
COOKIE = "cell_hmi_session"
MAX_MESSAGE_BYTES = 2048
MAX_MESSAGES_PER_S = 20
#: commands one operator may send a second, across her pages: below what the supervisor journals one by one
#: (5 a second; beyond, it counts them in one event without names)
MAX_COMMANDS_PER_USER_S = 2
#: refusals logged a second per page (the others are counted in the next line logged)
MAX_REFUSALS_LOGGED_PER_S = 5
#: a page that cannot keep up loses the messages beyond this many waiting for it (the next state, device
#: or alarm message puts it right again)
MAX_QUEUED = 2000
#: the commands a page may send: PackML's nine and `mode <unit mode>` (no device commands or swaps)
PAGE_VERBS = tuple(c.value for c in Command) + (MODE_VERB,)
PAGE_MODES = tuple(m.label.lower() for m in UnitMode)
_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")
_TAG = re.compile(r"[a-z_]{1,20}\.[a-z_]{1,32}")
_PART_ID = re.compile(r"[A-Za-z0-9_()-]{1,40}")
SECURITY_HEADERS = {"Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; base-uri 'none'",
                    "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


class RequestRefused(ValueError):
    """A page's request that is not taken; the message says why."""


class CellLink(Protocol):
    """What the server needs of the cell (nodes/hmi.py): commands and acknowledgements are answered
    (accepted, reason); the weld plot's trace of a part, None when this HMI saw no weld of it."""

    def command(self, text: str, user: str) -> Awaitable[tuple[bool, str]]: ...

    def acknowledge(self, tag: str, user: str) -> Awaitable[tuple[bool, str]]: ...

    def weld(self, part_id: str) -> dict | None: ...


@dataclass(frozen=True)
class PageRequest:
    type: str
    id: str
    #: the command's text or the alarm's tag
    what: str


def parse_request(data: str | bytes) -> PageRequest:
    """A page's request; RequestRefused naming what is wrong."""
    size = len(data.encode() if isinstance(data, str) else data)
    if size > MAX_MESSAGE_BYTES:
        raise RequestRefused(f"a message of {size} bytes (at most {MAX_MESSAGE_BYTES})")
    try:
        request = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise RequestRefused("not JSON") from None
    if not isinstance(request, dict) or request.get("type") not in ("command", "ack"):
        raise RequestRefused('expected {"type": "command" | "ack", "id": ..., ...}')
    request_id = request.get("id")
    if not isinstance(request_id, str) or not _ID.fullmatch(request_id):
        raise RequestRefused("id: expected 1..32 letters, digits, _ or -")
    if request["type"] == "ack":
        tag = request.get("tag")
        if not isinstance(tag, str) or not _TAG.fullmatch(tag):
            raise RequestRefused("tag: expected an alarm's tag such as robot.safety")
        return PageRequest("ack", request_id, tag)
    text = request.get("command")
    if not isinstance(text, str):
        raise RequestRefused("command: expected a text such as hold or mode maintenance")
    try:
        command = parse(text)
    except CommandError as error:
        raise RequestRefused(str(error)) from None
    if command.verb not in PAGE_VERBS or command.id or command.user:
        raise RequestRefused(f"{command.verb!r} is not a command of the page (known: {', '.join(PAGE_VERBS)}; "
                             "no options)")
    if command.verb == MODE_VERB and command.args[0] not in PAGE_MODES:
        raise RequestRefused(f"unit mode {command.args[0][:20]!r} is not one of {', '.join(PAGE_MODES)}")
    return PageRequest("command", request_id, command.text)


class Hub:
    """Sends the cell's messages to every connected page. `publish` may be called from any thread; a page
    that connects gets the newest message of each key and the trend window first."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.latest: dict[str, str] = {}
        self.trend: deque[tuple[float, dict]] = deque()
        self.pages: set[asyncio.Queue[str]] = set()

    def publish(self, message: dict, key: str | None = None) -> None:
        """Send `message` to every page; with `key`, it is also what a page that connects later gets for
        that key. A `trend` message (no key) is kept for TREND_WINDOW_S."""
        self.loop.call_soon_threadsafe(self._publish, message, key)

    def _publish(self, message: dict, key: str | None) -> None:
        text = json.dumps(message, separators=(",", ":"), allow_nan=False)
        if key is not None:
            self.latest[key] = text
        if message["type"] == "trend":
            now_s = time.monotonic()
            self.trend.append((now_s, message))
            while self.trend and self.trend[0][0] < now_s - TREND_WINDOW_S:
                self.trend.popleft()
        for page in self.pages:
            self.send(page, text)

    def send(self, page: asyncio.Queue[str], text: str) -> None:
        """Queue `text` for `page`; a page MAX_QUEUED behind loses it (its next state or row puts it right)."""
        try:
            page.put_nowait(text)
        except asyncio.QueueFull:
            pass

    def connect(self) -> asyncio.Queue[str]:
        page: asyncio.Queue[str] = asyncio.Queue(MAX_QUEUED)
        for text in self.latest.values():
            self.send(page, text)
        if self.trend:
            self.send(page, json.dumps(merge_trends(m for _, m in self.trend), separators=(",", ":")))
        self.pages.add(page)
        return page

    def disconnect(self, page: asyncio.Queue[str]) -> None:
        self.pages.discard(page)


def same_origin(headers) -> bool:
    """The request's Origin (if the browser sent one) is the page's own host (the Host header, which the
    trusted-host check has already held to the page's names)."""
    origin, host = headers.get("origin"), headers.get("host", "")
    return origin is None or re.sub(r"^https?://", "", origin) == host


class SecurityHeaders:
    """ASGI middleware: SECURITY_HEADERS on every HTTP response."""

    def __init__(self, app) -> None:
        self.app = app
        self.headers = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]

    async def __call__(self, scope, receive, send) -> None:
        async def with_headers(message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *self.headers]}
            await send(message)
        await self.app(scope, receive, with_headers if scope["type"] == "http" else send)


def create_app(link: CellLink, hub: Hub, sessions: Sessions, tls: bool, log: logging.Logger,
               hosts: list[str] | None = None) -> Starlette:
    """The page's app. tls: the page is served over HTTPS (the cookie is then Secure); hosts: the names and
    addresses it may be reached by (the Host header; None: any, for tests)."""
    commands_of: dict[str, RateLimit] = {}

    def session_of(request: Request | WebSocket) -> Session | None:
        return sessions.get(request.cookies.get(COOKIE))

    def hello(session: Session | None) -> dict:
        return hello_message(session, bool(sessions.accounts))

    async def page(request: Request) -> Response:
        return FileResponse(PAGE)

    async def login(request: Request) -> Response:
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            return JSONResponse({"reason": "a login is JSON (application/json)"}, 415)
        client = request.client.host if request.client else ""
        try:
            body = b""
            async for chunk in request.stream():
                body += chunk
                if len(body) > MAX_MESSAGE_BYTES:
                    raise LoginRefused(f"a login of more than {MAX_MESSAGE_BYTES} bytes")
            data = json.loads(body)
            if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in ("user", "password")):
                raise LoginRefused('expected {"user": ..., "password": ...}')
            token, session = await asyncio.to_thread(sessions.login, data["user"], data["password"], client)
        except (LoginRefused, ValueError) as error:
            log.warning("login refused from %s: %s", client or "?", error)
            return JSONResponse({"reason": str(error)}, 401)
        log.info("%s logged in (%s)", session.user, session.role.value)
        response = JSONResponse(hello(session))
        response.set_cookie(COOKIE, token, httponly=True, samesite="strict", secure=tls, path="/")
        return response

    async def logout(request: Request) -> Response:
        sessions.logout(request.cookies.get(COOKIE, ""))
        response = JSONResponse(hello(None))
        response.delete_cookie(COOKIE, path="/")
        return response

    async def session(request: Request) -> Response:
        return JSONResponse(hello(session_of(request)))

    async def weld(request: Request) -> Response:
        part_id = request.path_params["part_id"]
        trace = link.weld(part_id) if _PART_ID.fullmatch(part_id) else None
        if trace is None:
            return JSONResponse({"reason": f"this HMI saw no weld of part {part_id[:40]!r}"}, 404)
        return JSONResponse(trace)

    async def socket(websocket: WebSocket) -> None:
        peer = websocket.client.host if websocket.client else "?"
        if not same_origin(websocket.headers):
            log.warning("WebSocket from %s refused: origin %s is not this page's", peer,
                        websocket.headers.get("origin", "")[:80])
            await websocket.close(code=1008)
            return
        await websocket.accept()
        token = websocket.cookies.get(COOKIE)
        queue = hub.connect()
        hub.send(queue, json.dumps(hello(sessions.get(token))))
        sender = asyncio.ensure_future(_send_all(websocket, queue))
        messages, logged, unlogged = RateLimit(MAX_MESSAGES_PER_S), RateLimit(MAX_REFUSALS_LOGGED_PER_S), 0
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                answer = await _answer(message.get("text") or message.get("bytes") or "", token, messages, peer)
                if answer["result"] == "refused":
                    unlogged += 1
                    if logged.allow(time.monotonic()):
                        log.warning("request from %s refused: %s%s", peer, answer["reason"],
                                    f" (and {unlogged - 1} more refused)" if unlogged > 1 else "")
                        unlogged = 0
                hub.send(queue, json.dumps(answer))
                if answer["result"] == "refused" and token and sessions.get(token) is None:
                    hub.send(queue, json.dumps(hello(None)))  # the page shows it is logged out
        except WebSocketDisconnect:
            pass
        finally:
            hub.disconnect(queue)
            sender.cancel()

    async def _answer(data: str | bytes, token: str | None, messages: RateLimit, peer: str) -> dict:
        request_id = ""
        try:
            now_s = time.monotonic()
            if not messages.allow(now_s):
                raise RequestRefused(f"more than {MAX_MESSAGES_PER_S} messages in a second")
            request = parse_request(data)
            request_id = request.id
            live = sessions.use(token)
            if live is None:
                raise RequestRefused("the session expired: log in again" if sessions.expired(token)
                                     else "log in as an operator to do this")
            if not live.operator:
                raise RequestRefused(f"{live.user} is a viewer: only an operator may do this")
            if request.type == "ack":
                accepted, reason = await link.acknowledge(request.what, live.user)
            elif not commands_of.setdefault(live.user, RateLimit(MAX_COMMANDS_PER_USER_S)).allow(now_s):
                raise RequestRefused(f"more than {MAX_COMMANDS_PER_USER_S} commands a second from {live.user}")
            else:
                accepted, reason = await link.command(request.what, live.user)
            return answer_message(request_id, accepted, reason)
        except RequestRefused as error:
            return answer_message(request_id, False, str(error))
        except Exception:  # noqa: BLE001 - a bug here refuses the request, it never ends the page's socket
            log.exception("request from %s failed", peer)
            return answer_message(request_id, False, "the HMI failed to handle it (see its log)")

    middleware = [Middleware(SecurityHeaders)]
    if hosts is not None:
        middleware.insert(0, Middleware(TrustedHostMiddleware, allowed_hosts=hosts, www_redirect=False))
    return Starlette(middleware=middleware, routes=[
        Route("/", page), Route("/api/login", login, methods=["POST"]), Route("/api/logout", logout, methods=["POST"]),
        Route("/api/session", session), Route("/api/weld/{part_id}", weld), WebSocketRoute("/ws", socket),
        Route("/favicon.ico", lambda request: Response(status_code=204)),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ])


async def _send_all(websocket: WebSocket, queue: asyncio.Queue[str]) -> None:
    try:
        while True:
            await websocket.send_text(await queue.get())
    except (WebSocketDisconnect, RuntimeError):
        pass
