"""The API over the ASGI app (no sockets): every endpoint, every error status, concurrency."""

from __future__ import annotations

import asyncio
import base64
import io
import threading

import numpy as np
import pytest
from PIL import Image

from semseg.serve.config import Limits
from semseg.visualize.overlay import colorize

SEGMENT_ERRORS = {"400", "413", "415", "422", "503", "504"}


def run(coro):
    return asyncio.run(coro)


def upload(data: bytes, name: str = "street.jpg", ctype: str = "image/jpeg") -> dict:
    return {"image": (name, data, ctype)}


def png_image(content: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(content))
    img.load()
    return img


@pytest.fixture(scope="module")
def street_result(segmenters, street_rgb):
    """The direct in-process prediction of the bundled street frame: the expected answers."""
    return segmenters["default"].predict(street_rgb)


def test_segment_json_matches_direct_prediction(make_client, street_jpeg, street_result):
    _, client = make_client()

    async def go():
        async with client:
            return await client.post("/v1/segment", files=upload(street_jpeg))

    r = run(go())
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    body = r.json()
    assert (body["model"], body["width"], body["height"]) == ("default", 480, 360)
    assert body["classes"][3] == "road" and len(body["classes"]) == 11
    expected = street_result.class_shares()
    assert list(body["shares"]) == list(expected)  # same classes, largest first
    assert body["shares"] == pytest.approx(expected, abs=1e-6)
    assert sum(body["shares"].values()) == pytest.approx(1.0, abs=1e-5)
    assert set(body["timings_ms"]) == {"queue", "decode", "inference", "render"}
    assert "mask_png_base64" not in body or body["mask_png_base64"] is None


def test_segment_png_formats(make_client, street_jpeg, street_result):
    _, client = make_client()

    async def go():
        async with client:
            out = {}
            for fmt in ("mask", "color"):
                out[fmt] = await client.post("/v1/segment", files=upload(street_jpeg),
                                             data={"format": fmt})
            out["overlay"] = await client.post(
                "/v1/segment", files=upload(street_jpeg),
                data={"format": "overlay", "alpha": "0.3", "classes": "road, car"})
            out["json"] = await client.post(
                "/v1/segment", files=upload(street_jpeg),
                data={"classes": "car,road", "include_mask": "true"})
            return out

    r = run(go())
    for fmt in ("mask", "color", "overlay"):
        assert r[fmt].status_code == 200 and r[fmt].headers["content-type"] == "image/png"
    mask = png_image(r["mask"].content)
    assert mask.mode == "P" and mask.size == (480, 360)
    np.testing.assert_array_equal(np.asarray(mask), street_result.mask)
    palette = street_result.info.palette_array()
    np.testing.assert_array_equal(np.asarray(png_image(r["color"].content)),
                                  colorize(street_result.mask, palette))
    overlay = np.asarray(png_image(r["overlay"].content).convert("RGB"))
    np.testing.assert_array_equal(overlay, street_result.overlay(alpha=0.3,
                                                                 classes=["road", "car"]))
    untinted = ~np.isin(street_result.mask, [3, 8])  # road = 3, car = 8
    np.testing.assert_array_equal(overlay[:, :480][untinted], street_result.image[untinted])
    body = r["json"].json()
    assert list(body["shares"]) == ["road", "car"]  # only the selected classes
    shares = street_result.class_shares()
    assert body["shares"] == pytest.approx({"road": shares["road"], "car": shares["car"]},
                                           abs=1e-6)
    inline = png_image(base64.b64decode(body["mask_png_base64"]))
    np.testing.assert_array_equal(np.asarray(inline), street_result.mask)


def test_models_health_ready(make_client, segmenters):
    _, client = make_client(limits=Limits(max_body_bytes=1000, max_pixels=77))

    async def go():
        async with client:
            return [await client.get(p) for p in ("/v1/models", "/healthz", "/readyz")]

    models, health, ready = run(go())
    body = models.json()
    assert body["default"] == "default" and (body["max_body_bytes"], body["max_pixels"]) == (
        1000, 77)
    (entry,) = body["models"]
    info = segmenters["default"].info
    assert (entry["name"], entry["dataset"], entry["input_size"]) == ("default", "camvid",
                                                                      None)  # any size
    assert [c["name"] for c in entry["classes"]] == list(info.classes)
    assert [c["color"] for c in entry["classes"]] == info.palette_array().tolist()
    assert health.json() == {"status": "ok"} and ready.json() == {"status": "ready"}


def test_metrics_count_requests(make_client, street_jpeg):
    _, client = make_client()

    async def go():
        async with client:
            await client.post("/v1/segment", files=upload(street_jpeg))
            await client.post("/v1/segment", files=upload(b"GIF89a" + bytes(30)))
            await client.get("/healthz")
            await client.get("/no/such/path")
            return await client.get("/metrics")

    r = run(go())
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    lines = r.text.splitlines()
    for line in (
        'semseg_http_requests_total{method="POST",path="/v1/segment",status="200"} 1',
        'semseg_http_requests_total{method="POST",path="/v1/segment",status="415"} 1',
        'semseg_http_requests_total{method="GET",path="/healthz",status="200"} 1',
        'semseg_http_requests_total{method="GET",path="other",status="404"} 1',
        'semseg_http_request_duration_seconds_bucket{path="/v1/segment",le="+Inf"} 2',
        'semseg_http_request_duration_seconds_count{path="/v1/segment"} 2',
        "semseg_inference_pending 0",
        "semseg_inference_capacity 9",  # 1 worker + queue 8
    ):
        assert line in lines, line


def test_hostile_uploads_get_json_errors_and_the_server_keeps_serving(
        make_client, street_jpeg, png_bytes, bomb_png):
    _, client = make_client(limits=Limits(max_body_bytes=300_000, max_pixels=480 * 360))

    async def chunks():  # a well-formed multipart start, then more bytes than allowed
        yield (b'--x\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n'
               b"Content-Type: image/png\r\n\r\n\x89PNG\r\n\x1a\n")
        for _ in range(40):
            yield b"\0" * 10_000

    too_big = np.zeros((400, 500, 3), np.uint8)  # a few hundred bytes as PNG
    cases = {
        "body over the cap": (413, dict(files=upload(b"\x89PNG\r\n\x1a\n" + bytes(400_000)))),
        "chunked body, no length": (413, dict(content=chunks(), headers={
            "content-type": "multipart/form-data; boundary=x"})),
        "60000x60000 header": (413, dict(files=upload(bomb_png(60000, 60000), "b.png"))),
        "pixels over the cap": (413, dict(files=upload(png_bytes(too_big),
                                                       "big.png", "image/png"))),
        "GIF named .png": (415, dict(files=upload(b"GIF89a" + bytes(64), "x.png", "image/png"))),
        "text": (415, dict(files=upload(b"hello", "x.jpg"))),
        "empty": (415, dict(files=upload(b"", "x.jpg"))),
        "truncated JPEG": (422, dict(files=upload(street_jpeg[: len(street_jpeg) // 3]))),
        "unknown model": (422, dict(files=upload(street_jpeg), data={"model": "/etc/passwd"})),
        "unknown class": (422, dict(files=upload(street_jpeg), data={"classes": "road,ufo"})),
        "alpha out of range": (422, dict(files=upload(street_jpeg), data={"alpha": "1.5"})),
        "unknown format": (422, dict(files=upload(street_jpeg), data={"format": "jpeg"})),
        "no image": (422, dict(data={"model": "default"})),
        "two files": (400, dict(files=[("image", ("a.jpg", street_jpeg, "image/jpeg")),
                                       ("image", ("b.jpg", street_jpeg, "image/jpeg"))])),
    }

    async def go():
        async with client:
            out = {k: await client.post("/v1/segment", **kw) for k, (_, kw) in cases.items()}
            out["still serving"] = await client.post("/v1/segment", files=upload(street_jpeg))
            return out

    replies = run(go())
    for name, (status, _) in cases.items():
        r = replies[name]
        assert r.status_code == status, (name, r.text)
        assert r.headers["content-type"] == "application/json", name
        assert isinstance(r.json()["detail"], str) and r.json()["detail"], name
    assert "truncated" in replies["truncated JPEG"].json()["detail"]
    assert "unknown model '/etc/passwd'; this server has: default" in (
        replies["unknown model"].json()["detail"])
    assert "ufo" in replies["unknown class"].json()["detail"]
    assert replies["pixels over the cap"].json()["detail"] == (
        "image is 500x400 = 200000 pixels; the limit is 172800")
    assert replies["still serving"].status_code == 200


def test_full_queue_answers_503_with_retry_after(make_client, street_jpeg):
    app, client = make_client(workers=1, queue=0)
    release = threading.Event()

    async def go():
        async with client:
            blocker = asyncio.ensure_future(app.state.pool.run(release.wait, 30))
            await asyncio.sleep(0.05)  # the only worker is now busy, no queue slot left
            busy = await client.post("/v1/segment", files=upload(street_jpeg))
            not_ready = await client.get("/readyz")
            release.set()
            await blocker
            after = await client.post("/v1/segment", files=upload(street_jpeg))
            return busy, not_ready, after

    busy, not_ready, after = run(go())
    assert busy.status_code == 503 and busy.headers["retry-after"] == "1"
    assert "busy" in busy.json()["detail"]
    assert not_ready.status_code == 503 and not_ready.headers["retry-after"] == "1"
    assert after.status_code == 200


def test_request_timeout_answers_504_and_frees_the_slot(make_client, street_jpeg):
    app, client = make_client(workers=1, queue=1, limits=Limits(timeout_s=0.3))
    release = threading.Event()

    async def go():
        async with client:
            blocker = asyncio.ensure_future(app.state.pool.run(release.wait, 30))
            await asyncio.sleep(0.05)
            late = await client.post("/v1/segment", files=upload(street_jpeg))  # waits in queue
            release.set()
            await blocker
            for _ in range(50):  # the timed-out job is cancelled in the queue: its slot frees
                if app.state.pool.pending == 0:
                    break
                await asyncio.sleep(0.02)
            return late, app.state.pool.pending

    late, pending = run(go())
    assert late.status_code == 504 and late.json() == {"detail": "request took longer than 0.3 s"}
    assert pending == 0


def test_32_parallel_requests_all_answered_correctly(segmenters, street_rgb):
    """32 requests at once over 4 different images: each reply is its own image's prediction.

    A small seeded convolution stands in for the network (each pixel's class depends on its
    colours and neighbours) so the test is about the service, not the forward pass's cost.
    """
    import httpx
    import torch

    from semseg.hub.checkpoint import ModelSpec
    from semseg.inference.segmenter import Segmenter
    from semseg.serve.app import create_app

    torch.manual_seed(0)
    info = segmenters["default"].info
    tiny = Segmenter(torch.nn.Conv2d(3, info.num_classes, 3, padding=1), ModelSpec("tiny", info))
    crops = [street_rgb[r:r + 120, c:c + 160] for r, c in ((0, 0), (200, 300), (100, 40),
                                                           (240, 0))]
    expected = [tiny.predict(c).class_shares() for c in crops]
    assert len({tuple(e.items()) for e in expected}) == 4  # four different answers
    payloads = []
    for crop in crops:
        buf = io.BytesIO()
        Image.fromarray(crop).save(buf, format="PNG")
        payloads.append(buf.getvalue())
    app = create_app({"tiny": tiny}, workers=2, threads=1, queue=32)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")

    async def go():
        async with client:
            return await asyncio.gather(*(
                client.post("/v1/segment", files=upload(payloads[i % 4], "c.png", "image/png"))
                for i in range(32)))

    try:
        replies = run(go())
    finally:
        app.state.pool.shutdown()
    assert [r.status_code for r in replies] == [200] * 32
    for i, r in enumerate(replies):
        body = r.json()
        assert (body["width"], body["height"]) == (160, 120)
        assert body["shares"] == pytest.approx(expected[i % 4], abs=1e-6)


def test_cors_is_off_by_default_and_limited_to_named_origins(make_client):
    _, closed = make_client()
    _, opened = make_client(cors_origins=["http://ok.example"])
    preflight = {"origin": "http://ok.example", "access-control-request-method": "POST"}

    async def go():
        async with closed, opened:
            return (await closed.get("/v1/models", headers={"origin": "http://ok.example"}),
                    await closed.options("/v1/segment", headers=preflight),
                    await opened.options("/v1/segment", headers=preflight),
                    await opened.get("/v1/models", headers={"origin": "http://evil.example"}))

    plain, closed_pre, open_pre, other = run(go())
    assert "access-control-allow-origin" not in plain.headers
    assert "access-control-allow-origin" not in closed_pre.headers
    assert closed_pre.status_code == 405
    assert open_pre.headers["access-control-allow-origin"] == "http://ok.example"
    assert "access-control-allow-origin" not in other.headers


def test_page_and_assets_are_self_contained(make_client):
    _, client = make_client()

    async def go():
        async with client:
            paths = ("/", "/static/app.js", "/static/style.css", "/static/..%2f__init__.py",
                     "/static/index.html")
            return [await client.get(p) for p in paths]

    page, js, css, traversal, other = run(go())
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert js.headers["content-type"].startswith("text/javascript") and "fetch(" in js.text
    assert css.status_code == 200
    for text in (page.text, js.text, css.text):  # no CDN, no other site
        assert "http://" not in text and "https://" not in text and "//cdn" not in text
    for control in ('for="file"', 'for="camera"', 'for="model"', 'for="alpha"'):
        assert control in page.text  # every control has a label
    assert 'name="viewport"' in page.text
    assert traversal.status_code == 404 and other.status_code == 404


def test_openapi_documents_every_status(make_client):
    _, client = make_client()

    async def go():
        async with client:
            return (await client.get("/openapi.json")).json()

    schema = run(go())
    segment = schema["paths"]["/v1/segment"]["post"]["responses"]
    assert set(segment) == {"200"} | SEGMENT_ERRORS
    assert set(segment["200"]["content"]) == {"application/json", "image/png"}
    assert "Retry-After" in segment["503"]["headers"]
    assert set(schema["paths"]) == {"/v1/segment", "/v1/models", "/healthz", "/readyz",
                                    "/metrics"}
    assert set(schema["paths"]["/readyz"]["get"]["responses"]) == {"200", "503"}
