"""``semseg serve``: an HTTP API and a web page over the named models (needs ``semseg[serve]``)."""

from __future__ import annotations

import argparse
import importlib.util

from semseg.cli.args import add_device_argument, parse_device
from semseg.errors import ConfigError


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``semseg serve``."""
    from semseg.serve.config import DEFAULT_QUEUE, Limits  # stdlib only: cheap

    limits = Limits()
    p = sub.add_parser(
        "serve",
        help="HTTP service + web page: POST /v1/segment, GET /v1/models, /metrics, page at /",
        description="Load each MODEL (pretrained name or .pt/.safetensors path) once and serve "
        "it; clients choose among these names only. The first MODEL is the default.",
    )
    p.add_argument("models", metavar="MODEL", nargs="+", help="pretrained name or checkpoint")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--workers", type=int, metavar="N",
                   help="inference threads (default: cores // --threads)")
    p.add_argument("--threads", type=int, default=1, metavar="N",
                   help="torch threads per worker; workers x threads <= cores (default 1)")
    p.add_argument("--queue", type=int, default=DEFAULT_QUEUE, metavar="N",
                   help="requests waiting for a worker before 503 (default %(default)s)")
    p.add_argument("--max-body-mb", type=float, default=limits.max_body_bytes / 2**20,
                   metavar="MB", help="largest request body, MiB (413 above; default %(default)g)")
    p.add_argument("--max-pixels", type=int, default=limits.max_pixels, metavar="N",
                   help="largest width x height, read from the header (413 above; default "
                   "%(default)s)")
    p.add_argument("--timeout", type=float, default=limits.timeout_s, metavar="S",
                   help="whole-request deadline in seconds (504 after; default %(default)g)")
    p.add_argument("--cors-origin", action="append", default=[], metavar="ORIGIN",
                   help="allow cross-origin calls from ORIGIN (repeatable; default: none)")
    add_device_argument(p)
    p.add_argument("--runtime", default="torch", choices=("torch", "onnxruntime"),
                   help="run the networks in PyTorch or ONNX Runtime (graph exported once and "
                   "cached; default torch)")
    p.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Check the options, load the models, serve until interrupted."""
    missing = [m for m in ("fastapi", "uvicorn", "multipart")
               if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError(f"semseg serve needs {', '.join(missing)}: pip install 'semseg[serve]'")
    import torch
    import uvicorn

    from semseg.serve.app import create_app, load_models
    from semseg.serve.config import Limits
    from semseg.serve.pool import available_cores, check_sizes

    workers = args.workers or max(1, available_cores() // max(args.threads, 1))
    check_sizes(workers, args.threads, args.queue)
    if args.max_body_mb <= 0 or args.max_pixels < 1 or args.timeout <= 0:
        raise ConfigError("--max-body-mb, --max-pixels and --timeout must be positive")
    if not 0 < args.port < 65536:
        raise ConfigError(f"--port {args.port}: expected 1..65535")
    torch.set_num_threads(args.threads)
    limits = Limits(max_body_bytes=int(args.max_body_mb * 2**20), max_pixels=args.max_pixels,
                    timeout_s=args.timeout)
    models = load_models(args.models, parse_device(args.device), args.runtime)
    app = create_app(models, limits=limits, workers=workers, threads=args.threads,
                     queue=args.queue, cors_origins=args.cors_origin)
    print(f"semseg serve: {', '.join(app.state.models)} on http://{args.host}:{args.port}/ "
          f"({workers} workers x {args.threads} threads, queue {args.queue})", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level,
                server_header=False, timeout_keep_alive=5)
    return 0
