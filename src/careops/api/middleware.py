"""Request ids, security headers and request-size limits, as plain ASGI middleware (no body
is buffered twice)."""

from __future__ import annotations

import contextlib
import re
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_SANE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

#: headers on every answer: no MIME sniffing, no framing (clickjacking), no referrer leaving
#: with a patient id in the URL, nothing cached by browsers or proxies
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
)
#: on JSON answers (not the /docs page, which loads its viewer): nothing may run or be framed
JSON_CSP = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")


class RequestId:
    """Give every request an id (the caller's `X-Request-ID` when it is sane, else a new one),
    kept in `request.state.request_id`, echoed in the response header and written to the audit;
    add the security headers to every answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        rid = given if _SANE_ID.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"server"]
                headers.append((b"x-request-id", rid.encode()))
                headers.extend(SECURITY_HEADERS)
                if dict(headers).get(b"content-type", b"").startswith(b"application/json"):
                    headers.append(JSON_CSP)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_id)


class HeadAsGet:
    """Answer HEAD like GET without the body (RFC 9110 §9.3.2): FastAPI routes a GET path's
    HEAD to 405 otherwise, and monitors and link checkers use HEAD. The GET runs with its
    permission check and audit as usual; only the body is dropped on the way out."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, without_body)


class BodyLimit:
    """Answer 413 to a request body larger than `limit` bytes, whether it declares its length
    or streams it in chunks."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await _too_large(scope, send, self.limit)
            return
        seen = 0
        exceeded = False

        async def counted() -> Message:
            nonlocal seen, exceeded
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    exceeded = True
                    raise _TooLarge
            return message

        async def unless_exceeded(message: Message) -> None:
            if not exceeded:  # the app's answer to a body it could not read (FastAPI: 400)
                await send(message)

        with contextlib.suppress(_TooLarge):
            await self.app(scope, counted, unless_exceeded)
        if exceeded:
            await _too_large(scope, send, self.limit)


class _TooLarge(Exception):
    pass


async def _too_large(scope: Scope, send: Send, limit: int) -> None:
    import json

    rid = scope.get("state", {}).get("request_id")
    english = _prefers_english(dict(scope["headers"]).get(b"accept-language", b""))
    body = json.dumps(
        {
            "error": {
                "code": "too_large",
                "message": "The request is too large." if english else "请求过大",
                "detail": f"请求体超过 {limit} 字节 / request body over {limit} bytes",
                "request_id": rid,
            }
        },
        ensure_ascii=False,
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"connection", b"close")],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _prefers_english(header: bytes) -> bool:
    for part in header.decode("latin-1").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("zh"):
            return False
        if tag.startswith("en"):
            return True
    return False
