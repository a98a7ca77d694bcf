"""What one request may cost the server; plain values, cheap to import (the CLI reads them)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """Per-request limits of the service."""

    max_body_bytes: int = 16 * 2**20  # whole request body; larger bodies get 413 while streaming
    max_pixels: int = 2**23  # width x height from the header (8.4 MP; probs are K x H x W floats)
    timeout_s: float = 60.0  # whole request, upload + queue + inference; 504 after it
    retry_after_s: int = 1  # Retry-After sent with 503 when the queue is full


DEFAULT_QUEUE = 8  # requests that may wait for a worker before the service answers 503
