"""Fixtures for the service: the default model loaded once, app builders, a live server."""

from __future__ import annotations

import io
import os
import socket
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi")
pytest.importorskip("multipart")
httpx = pytest.importorskip("httpx")

REPO = Path(__file__).resolve().parents[2]
STREET = REPO / "src" / "semseg" / "assets" / "street.jpg"
# The CLI of this checkout (the console script may belong to another install).
SEMSEG = (sys.executable, "-c", "import sys; from semseg.cli import main; sys.exit(main())")


def encode_png(array: np.ndarray | Image.Image, **save_kw) -> bytes:
    """Encode an array (or PIL image) as PNG."""
    buf = io.BytesIO()
    img = array if isinstance(array, Image.Image) else Image.fromarray(np.asarray(array))
    img.save(buf, format="PNG", **save_kw)
    return buf.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A valid PNG signature + IHDR + a tiny IDAT + IEND claiming ``width`` x ``height`` RGB."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + chunk(b"IEND", b""))


@pytest.fixture(scope="session")
def png_bytes() -> Callable[..., bytes]:
    """``png_bytes(array_or_pil, **save_kw) -> bytes``."""
    return encode_png


@pytest.fixture(scope="session")
def bomb_png() -> Callable[[int, int], bytes]:
    """``bomb_png(width, height) -> bytes``: a tiny valid PNG whose header claims that size."""
    return png_header_only


@pytest.fixture(scope="session")
def segmenters() -> dict:
    """``{"default": Segmenter}``: the bundled CamVid model, loaded once (offline)."""
    import torch

    from semseg.serve.app import load_models

    torch.set_num_threads(1)
    return load_models(["default"])


@pytest.fixture(scope="session")
def street_jpeg() -> bytes:
    """The bundled 360x480 CamVid validation frame, as JPEG bytes."""
    return STREET.read_bytes()


@pytest.fixture(scope="session")
def street_rgb() -> np.ndarray:
    """The same frame decoded the way ``semseg predict`` reads files."""
    from semseg.fileio.images import read_image

    return read_image(STREET)


@pytest.fixture
def make_client(segmenters) -> Iterator[Callable[..., httpx.AsyncClient]]:
    """``make_client(**create_app_kwargs) -> (app, AsyncClient)`` over the ASGI app, no sockets."""
    from semseg.serve.app import create_app

    apps = []

    def make(**kwargs):
        app = create_app(segmenters, **{"workers": 1, "threads": 1, **kwargs})
        apps.append(app)
        transport = httpx.ASGITransport(app=app)
        return app, httpx.AsyncClient(transport=transport, base_url="http://testserver")

    yield make
    for app in apps:
        app.state.pool.shutdown()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def live_server(tmp_path_factory) -> Iterator[str]:
    """``semseg serve default`` as a real process on 127.0.0.1, offline; yields its base URL."""
    port = free_port()
    log = tmp_path_factory.mktemp("serve") / "server.log"
    env = {**os.environ, "SEMSEG_OFFLINE": "1", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": str(REPO / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [*SEMSEG, "serve", "default", "--host", "127.0.0.1",
             "--port", str(port), "--workers", "1", "--threads", "1", "--log-level", "warning"],
            stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f"semseg serve exited with {proc.returncode}: {log.read_text()}")
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"semseg serve did not start in 90 s: {log.read_text()}")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
