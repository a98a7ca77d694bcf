"""``semseg serve``: an HTTP service and a one-page web UI over
``semseg.inference.segmenter.Segmenter``.

Needs the ``serve`` extra (``pip install semseg[serve]``: FastAPI, uvicorn, python-multipart).
Modules: ``config`` holds the per-request ``Limits``; ``limits`` checks uploads before decoding;
``pool`` runs inference in a bounded worker pool; ``middleware`` caps bodies, refuses work when
full and enforces the request deadline; ``metrics`` keeps Prometheus counters; ``app`` builds
the FastAPI application. The page (HTML, CSS, JS; no network) lives in ``static/``.

Example:
    >>> from semseg.serve.app import create_app, load_models
    >>> app = create_app(load_models(["default"]))  # run with uvicorn.run(app)
"""
