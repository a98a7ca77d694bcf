"""Request counters and a latency histogram, rendered in the Prometheus text format (0.0.4).

No client library: a dict of counters and fixed buckets are all ``/metrics`` needs. Paths are
labelled only when they are routes of the app, so clients cannot grow the label set.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    """Counts per (method, path, status) and a latency histogram per path."""

    def __init__(self, paths: Iterable[str]):
        self.paths = frozenset(paths)
        self.requests: Counter[tuple[str, str, int]] = Counter()
        self.buckets: dict[str, list[int]] = {}
        self.sums: Counter[str] = Counter()
        self.rejected_busy = 0
        self._lock = threading.Lock()

    def label(self, path: str) -> str:
        """The path itself for a known route, else ``"other"``."""
        return path if path in self.paths else "other"

    def observe(self, method: str, path: str, status: int, seconds: float) -> None:
        """Record one finished request."""
        path = self.label(path)
        with self._lock:
            self.requests[(method, path, status)] += 1
            counts = self.buckets.setdefault(path, [0] * (len(BUCKETS) + 1))
            counts[next((i for i, b in enumerate(BUCKETS) if seconds <= b), len(BUCKETS))] += 1
            self.sums[path] += seconds

    def render(self, gauges: dict[str, tuple[str, float]]) -> str:
        """Prometheus text: request counter, latency histogram, then ``gauges`` (name: help, v)."""
        out = ["# HELP semseg_http_requests_total HTTP requests by method, path and status.",
               "# TYPE semseg_http_requests_total counter"]
        with self._lock:
            for (method, path, status), n in sorted(self.requests.items()):
                out.append(f'semseg_http_requests_total{{method="{method}",path="{path}",'
                           f'status="{status}"}} {n}')
            out += ["# HELP semseg_http_request_duration_seconds Request latency by path.",
                    "# TYPE semseg_http_request_duration_seconds histogram"]
            for path, counts in sorted(self.buckets.items()):
                total = 0
                for bound, n in zip((*BUCKETS, "+Inf"), counts, strict=True):
                    total += n
                    out.append(f'semseg_http_request_duration_seconds_bucket{{path="{path}",'
                               f'le="{bound}"}} {total}')
                out.append(f'semseg_http_request_duration_seconds_sum{{path="{path}"}} '
                           f'{self.sums[path]:.6f}')
                out.append(f'semseg_http_request_duration_seconds_count{{path="{path}"}} {total}')
        for name, (text, value) in gauges.items():
            out += [f"# HELP {name} {text}", f"# TYPE {name} gauge", f"{name} {value:g}"]
        return "\n".join(out) + "\n"


class MetricsMiddleware:
    """Pure ASGI middleware: times every HTTP request and records its final status."""

    def __init__(self, app: ASGIApp, metrics: Metrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start, status = time.perf_counter(), 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            self.metrics.observe(scope["method"], scope["path"], status,
                                 time.perf_counter() - start)
