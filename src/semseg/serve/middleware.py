"""Pure ASGI middleware: a cap on the request body and a deadline on the whole request.

Both answer with a JSON ``{"detail": ...}`` like every other error of the service. They work on
the raw ASGI messages, so they act before FastAPI parses the multipart body.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send


async def send_json(send: Send, status: int, detail: str,
                    headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
    """Send a complete JSON error response."""
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()), *headers]})
    await send({"type": "http.response.body", "body": body})


async def drain(receive: Receive, budget: int) -> None:
    """Read and drop the rest of a request body, at most ``budget`` bytes.

    Answering before the client has finished sending makes the server close a socket with
    unread data, which resets the connection and can destroy the answer in flight; reading a
    bounded remainder first lets the client see the 413 (the "lingering close" of nginx).
    """
    while budget > 0:
        message = await receive()
        if message["type"] != "http.request":
            return
        budget -= len(message.get("body", b""))
        if not message.get("more_body", False):
            return


class BodyLimitMiddleware:
    """413 when the body exceeds ``max_bytes``: by Content-Length up front, else while streaming.

    A chunked upload without Content-Length is counted as it arrives; at the first byte over the
    limit the rest is drained (up to ``drain_bytes``), the 413 goes out, the application sees a
    disconnect, and nothing it sends afterwards reaches the client.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, drain_bytes: int = 64 * 2**20):
        self.app, self.max_bytes, self.drain_bytes = app, max_bytes, drain_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        detail = f"request body larger than {self.max_bytes} bytes"
        for key, value in scope["headers"]:
            if key == b"content-length" and (not value.isdigit() or int(value) > self.max_bytes):
                await drain(receive, self.drain_bytes)
                return await send_json(send, 413, detail)
        seen, refused = 0, False

        async def counted() -> Message:
            nonlocal seen, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    refused = True
                    if message.get("more_body", False):
                        await drain(receive, self.drain_bytes)
                    await send_json(send, 413, detail)
                    return {"type": "http.disconnect"}
            return message

        async def guarded(message: Message) -> None:
            if not refused:
                await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            if not refused:  # the app's own failure
                raise
            # else: the app choked on the disconnect we fed it; the 413 is already out


class AdmissionMiddleware:
    """503 + Retry-After for POSTs to ``paths`` while ``is_full()``, before the body is parsed.

    Refusing costs one bounded read of the body and no multipart parsing, so an overloaded
    server answers the excess quickly. (The pool checks again when the job is submitted.)
    """

    def __init__(self, app: ASGIApp, is_full: Callable[[], bool], paths: Sequence[str],
                 retry_after_s: int, drain_bytes: int):
        self.app, self.is_full, self.paths = app, is_full, frozenset(paths)
        self.retry_after, self.drain_bytes = str(retry_after_s).encode(), drain_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] == "http" and scope["method"] == "POST" and scope["path"] in self.paths
                and self.is_full()):
            await drain(receive, self.drain_bytes)
            return await send_json(send, 503, "server busy: every worker busy and the queue full",
                                   [(b"retry-after", self.retry_after)])
        await self.app(scope, receive, send)


class TimeoutMiddleware:
    """Cancel a request after ``seconds`` (upload, queue and inference) and answer 504.

    A forward pass already running on a worker cannot be interrupted; it finishes in the
    background and only then frees its pool slot.
    """

    def __init__(self, app: ASGIApp, seconds: float):
        self.app, self.seconds = app, seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def send_tracking(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            async with asyncio.timeout(self.seconds):
                await self.app(scope, receive, send_tracking)
        except TimeoutError:
            if started:  # headers are out; the server closes the unfinished response
                raise
            await send_json(send, 504, f"request took longer than {self.seconds:g} s")
