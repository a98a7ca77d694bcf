"""Pure ASGI middleware: a cap on the request body and a deadline on the whole request.

Both answer with a JSON ``{"detail": ...}`` like every other error of the service. They work on
the raw ASGI messages, so they act before FastAPI parses the multipart body.
"""

from __future__ import annotations

import asyncio
import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send


async def send_json(send: Send, status: int, detail: str) -> None:
    """Send a complete JSON error response."""
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    """413 when the body exceeds ``max_bytes``: by Content-Length up front, else while streaming.

    A chunked upload without Content-Length is counted as it arrives; at the first byte over the
    limit the 413 goes out, the application sees a disconnect, and nothing it sends afterwards
    reaches the client.
    """

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        detail = f"request body larger than {self.max_bytes} bytes"
        for key, value in scope["headers"]:
            if key == b"content-length" and (not value.isdigit() or int(value) > self.max_bytes):
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
