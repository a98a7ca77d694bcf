"""The FastAPI application: ``/v1/segment``, ``/v1/models``, health, metrics and the web page.

Every image goes through the one inference path, ``Segmenter.predict``, on a worker of an
``InferencePool``; overlays, colour and index masks come from ``semseg.visualize.overlay`` and
``SegmentationResult``. Clients pick a model only by a name the operator loaded; no request names
a file. Every error is JSON ``{"detail": "..."}`` with the status listed in the OpenAPI schema.

Example:
    >>> app = create_app(load_models(["default"]), workers=2, threads=1)
    >>> # uvicorn.run(app, host="127.0.0.1", port=8000)
"""

from __future__ import annotations

import base64
import io
import logging
import time
from collections.abc import Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from PIL import Image
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from semseg import __version__
from semseg.errors import ConfigError, SemsegError
from semseg.hub.loading import MODEL_SUFFIXES
from semseg.inference.segmenter import Segmenter
from semseg.serve.config import DEFAULT_QUEUE, Limits
from semseg.serve.limits import ACCEPTED, RejectedUpload, decode, open_checked
from semseg.serve.metrics import CONTENT_TYPE, Metrics, MetricsMiddleware
from semseg.serve.middleware import (
    AdmissionMiddleware,
    BodyLimitMiddleware,
    TimeoutMiddleware,
)
from semseg.serve.pool import Busy, InferencePool
from semseg.visualize.overlay import class_ids, legend_entries, mask_image

log = logging.getLogger("semseg.serve")
Format = Literal["json", "mask", "color", "overlay"]
STATIC = {"app.js": "text/javascript", "style.css": "text/css"}
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}


class ErrorBody(BaseModel):
    """Every error response."""

    detail: str


class ClassEntry(BaseModel):
    index: int
    name: str
    color: list[int]  # [r, g, b]


class ModelEntry(BaseModel):
    name: str
    dataset: str
    arch: str
    input_size: list[int] | None  # [H, W] the model runs at; None: any size (padded)
    classes: list[ClassEntry]


class ModelList(BaseModel):
    default: str
    models: list[ModelEntry]
    max_body_bytes: int
    max_pixels: int


class SegmentBody(BaseModel):
    model: str
    width: int
    height: int
    classes: list[str]  # every class of the model, in id order
    shares: dict[str, float]  # present (selected) classes -> pixel share, largest first
    timings_ms: dict[str, float]  # queue, decode, inference, render
    mask_png_base64: str | None = None  # index PNG (palette mode) when include_mask=true


class Status(BaseModel):
    status: str


ERRORS = {
    400: "malformed multipart body",
    413: "body larger than max_body_bytes, or image larger than max_pixels (from its header)",
    415: f"the upload is not a {ACCEPTED} image, judged by its content",
    422: "corrupt or truncated image, unknown model or class, or an invalid field",
    503: "every worker busy and the queue full; retry after Retry-After seconds",
    504: "the request did not finish within the server's timeout",
}


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    out: dict[int | str, dict[str, Any]] = {c: {"model": ErrorBody, "description": ERRORS[c]}
                                            for c in codes}
    if 503 in out:
        out[503]["headers"] = {"Retry-After": {"description": "seconds",
                                               "schema": {"type": "integer"}}}
    return out


def load_models(names: Sequence[str], device: str = "cpu", runtime: str = "torch"
                ) -> dict[str, Segmenter]:
    """Load each pretrained name or checkpoint path once; keys are what clients may ask for.
    ``runtime`` "onnxruntime" runs each network through its cached ONNX graph."""
    if not names:
        raise ConfigError("give at least one model (a pretrained name or a checkpoint path)")
    keys: dict[str, str] = {}
    for name in names:  # every name is checked before any model is loaded
        path = Path(name)
        key = path.stem if path.suffix.lower() in MODEL_SUFFIXES else name
        if key in keys:
            raise ConfigError(f"{name}: clients could not tell it from {keys[key]} (both are "
                              f"called {key!r}); rename one file")
        keys[key] = name
    return {key: Segmenter.from_pretrained(name, device=device, runtime=runtime)
            for key, name in keys.items()}


@dataclass(frozen=True)
class Job:
    """One segmentation request, validated, ready for a worker."""

    segmenter: Segmenter
    model: str
    image: Image.Image  # header read, pixels not yet decoded
    fmt: str
    alpha: float
    classes: list[str] | None
    include_mask: bool
    admitted: float  # perf_counter() when queued


def _png(img: Image.Image | Any, level: int = 3) -> bytes:
    buf = io.BytesIO()
    (img if isinstance(img, Image.Image) else Image.fromarray(img)).save(
        buf, format="PNG", compress_level=level)
    return buf.getvalue()


def run_job(job: Job) -> tuple[bytes | dict[str, Any], dict[str, float]]:
    """Decode, predict, render; runs on a pool worker. Returns (PNG bytes or JSON, timings)."""
    t0 = time.perf_counter()
    rgb = decode(job.image)
    t1 = time.perf_counter()
    result = job.segmenter.predict(rgb)
    t2 = time.perf_counter()
    palette = result.info.palette_array()
    if job.fmt == "mask":
        body: bytes | dict[str, Any] = _png(mask_image(result.mask, palette))
    elif job.fmt == "color":
        body = _png(result.color_mask())
    elif job.fmt == "overlay":
        body = _png(result.overlay(alpha=job.alpha, classes=job.classes))
    else:
        ids = class_ids(job.classes, result.info.classes) if job.classes else None
        entries = legend_entries(result.mask, result.info.classes, palette, ids)
        body = {"model": job.model, "height": rgb.shape[0], "width": rgb.shape[1],
                "classes": list(result.info.classes),
                "shares": {e.name: round(float(e.share), 6) for e in entries}}
        if job.include_mask:
            body["mask_png_base64"] = base64.b64encode(
                _png(mask_image(result.mask, palette))).decode("ascii")
    t3 = time.perf_counter()
    ms = {"queue": t0 - job.admitted, "decode": t1 - t0, "inference": t2 - t1, "render": t3 - t2}
    return body, {k: round(1000 * v, 2) for k, v in ms.items()}


def _model_entry(name: str, seg: Segmenter) -> ModelEntry:
    info = seg.info
    palette = info.palette_array()
    return ModelEntry(
        name=name, dataset=info.name, arch=seg.spec.arch,
        input_size=list(seg.spec.input_size) if seg.spec.input_size else None,
        classes=[ClassEntry(index=i, name=c, color=[int(v) for v in palette[i]])
                 for i, c in enumerate(info.classes)],
    )


def _error(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def _add_error_handlers(app: FastAPI, limits: Limits) -> None:
    @app.exception_handler(RejectedUpload)
    async def rejected(_: Request, exc: RejectedUpload) -> JSONResponse:
        return _error(exc.status, str(exc))

    @app.exception_handler(SemsegError)
    async def bad_option(_: Request, exc: SemsegError) -> JSONResponse:
        return _error(422, str(exc))

    @app.exception_handler(Busy)
    async def busy(_: Request, exc: Busy) -> JSONResponse:
        return _error(503, f"server busy: {exc}", {"Retry-After": str(limits.retry_after_s)})

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errs = exc.errors()
        lines = [f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'body'}: {e.get('msg')}"
                 for e in errs[:3]]
        return _error(422, "; ".join(lines) or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def internal(_: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error", exc_info=exc)
        return _error(500, "internal server error")


def _add_page_routes(app: FastAPI) -> None:
    folder = resources.files("semseg.serve") / "static"
    page = (folder / "index.html").read_text(encoding="utf-8")
    assets = {name: (folder / name).read_bytes() for name in STATIC}

    @app.get("/", include_in_schema=False)
    async def index() -> HTMLResponse:
        return HTMLResponse(page, headers=PAGE_HEADERS)

    @app.get("/static/{name}", include_in_schema=False)
    async def static(name: str) -> Response:
        if name not in assets:  # a fixed in-memory table, never a file system lookup
            return _error(404, "no such asset")
        return Response(assets[name], media_type=STATIC[name], headers=PAGE_HEADERS)


def _add_segment_route(app: FastAPI, models: dict[str, Segmenter], pool: InferencePool,
                       limits: Limits) -> None:
    default = next(iter(models))

    @app.post("/v1/segment", response_model=SegmentBody,
              responses={200: {"content": {"image/png": {"schema": {"type": "string",
                                                                    "format": "binary"}}},
                               "description": "JSON (format=json) or a PNG (mask, color, overlay)"},
                         **_errors(400, 413, 415, 422, 503, 504)})
    async def segment(
        image: Annotated[UploadFile, File(description=f"a {ACCEPTED} image")],
        model: Annotated[str | None, Form(description="a name from /v1/models")] = None,
        classes: Annotated[str | None, Form(description="comma-separated class names: "
                                            "only these are tinted and reported")] = None,
        alpha: Annotated[float, Form(ge=0.0, le=1.0, description="overlay opacity")] = 0.5,
        format: Annotated[Format, Form(description="json, or a PNG: mask (class ids), color, "
                                       "overlay (with legend)")] = "json",
        include_mask: Annotated[bool, Form(description="json only: add the index PNG")] = False,
    ) -> Any:
        """Segment one image with one of the loaded models."""
        name = model or default
        if name not in models:
            raise RejectedUpload(f"unknown model {name!r}; this server has: {', '.join(models)}")
        wanted = [c.strip() for c in classes.split(",") if c.strip()] if classes else None
        if wanted:
            class_ids(wanted, models[name].info.classes)  # 422 naming the valid classes
        img = open_checked(await image.read(), limits)
        job = Job(models[name], name, img, format, alpha, wanted, include_mask,
                  time.perf_counter())
        body, timings = await pool.run(run_job, job)
        if isinstance(body, dict):
            return JSONResponse({**body, "timings_ms": timings},
                                headers={"Cache-Control": "no-store"})
        server_timing = ", ".join(f"{k};dur={v}" for k, v in timings.items())
        return Response(body, media_type="image/png", headers={
            "Content-Disposition": f'inline; filename="{format}.png"',
            "Cache-Control": "no-store", "Server-Timing": server_timing})


def _add_info_routes(app: FastAPI, model_list: ModelList, pool: InferencePool,
                     limits: Limits) -> Metrics:
    """/v1/models, /healthz, /readyz and /metrics; returns the metrics they report."""

    @app.get("/v1/models", response_model=ModelList)
    async def list_models() -> ModelList:
        """The loaded models: names, classes with their colours, input sizes; and the limits."""
        return model_list

    @app.get("/healthz", response_model=Status)
    async def healthz() -> Status:
        """The process is up."""
        return Status(status="ok")

    @app.get("/readyz", response_model=Status, responses=_errors(503))
    async def readyz() -> Any:
        """Ready for another request: models loaded and the queue not full."""
        if pool.full:
            return _error(503, "queue full", {"Retry-After": str(limits.retry_after_s)})
        return Status(status="ready")

    metrics = Metrics([r.path for r in app.routes] + ["/metrics"])

    @app.get("/metrics", response_class=PlainTextResponse,
             responses={200: {"content": {CONTENT_TYPE: {"schema": {"type": "string"}}}}})
    async def prometheus() -> PlainTextResponse:
        """Request counts, a latency histogram and the pool's state, in Prometheus format."""
        text = metrics.render({
            "semseg_inference_pending": ("Jobs running or queued.", pool.pending),
            "semseg_inference_capacity": ("Workers plus queue slots.", pool.capacity),
            "semseg_inference_workers": ("Inference worker threads.", pool.workers),
        })
        return PlainTextResponse(text, media_type=CONTENT_TYPE)

    return metrics


def create_app(
    models: dict[str, Segmenter],
    *,
    limits: Limits | None = None,
    workers: int = 1,
    threads: int = 1,
    queue: int = DEFAULT_QUEUE,
    cors_origins: Sequence[str] = (),
) -> FastAPI:
    """The service over already-loaded ``models`` (the first is the default)."""
    if not models:
        raise ConfigError("create_app needs at least one model")
    limits = limits or Limits()
    pool = InferencePool(workers, threads, queue)
    model_list = ModelList(default=next(iter(models)),
                           models=[_model_entry(n, s) for n, s in models.items()],
                           max_body_bytes=limits.max_body_bytes, max_pixels=limits.max_pixels)

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        yield
        pool.shutdown()

    app = FastAPI(title="semseg", version=__version__, lifespan=lifespan, docs_url=None,
                  redoc_url=None,
                  form_limits={"max_files": 1, "max_fields": 8, "max_part_size": 4096},
                  description="Semantic segmentation over HTTP. Errors are JSON {detail}.")
    app.state.pool, app.state.limits, app.state.models = pool, limits, models
    _add_error_handlers(app, limits)
    _add_page_routes(app)
    _add_segment_route(app, models, pool, limits)
    metrics = _add_info_routes(app, model_list, pool, limits)
    # The last added is outermost: metrics see every status, including the timeout's 504.
    app.add_middleware(BodyLimitMiddleware, max_bytes=limits.max_body_bytes)
    app.add_middleware(AdmissionMiddleware, is_full=lambda: pool.full, paths=["/v1/segment"],
                       retry_after_s=limits.retry_after_s, drain_bytes=limits.max_body_bytes)
    app.add_middleware(TimeoutMiddleware, seconds=limits.timeout_s)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    if cors_origins:  # off unless the operator names origins
        from starlette.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(cors_origins),
                           allow_methods=["GET", "POST"], allow_headers=["*"])
    return app
