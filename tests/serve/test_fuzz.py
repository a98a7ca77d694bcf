"""Fuzz every operation of the OpenAPI schema (schemathesis): no 5xx, no undocumented status.

Bounded by ``max_examples`` per operation and derandomized, so the run is reproducible and
takes seconds. Excluded check: ``positive_data_acceptance`` -- the schema can only say
"binary" for the image, so random bytes are schema-valid yet are, by design, refused with 415
(type sniffed from content). (Each operation gets its own Hypothesis test inside one pytest
test: ``schemathesis.pytest.from_fixture`` fails on pytest 9.2, and a collection-time schema
would load the model for every pytest run.)
"""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis.specs.openapi.checks import positive_data_acceptance  # noqa: E402

MAX_EXAMPLES = 25


def fuzz_operation(op, statuses: dict[str, set[int]]) -> None:
    """Run one operation's bounded Hypothesis test, recording the statuses seen."""

    @given(case=op.as_strategy())
    @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def fuzz(case):
        response = case.call_and_validate(excluded_checks=[positive_data_acceptance])
        assert response.status_code < 500
        statuses.setdefault(op.label, set()).add(response.status_code)

    fuzz()


def test_openapi_fuzz(segmenters):
    from semseg.serve.app import create_app
    from semseg.serve.config import Limits

    app = create_app(segmenters, workers=1, threads=1, queue=4,
                     limits=Limits(max_body_bytes=200_000, timeout_s=30))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.label for op in operations} == {
        "POST /v1/segment", "GET /v1/models", "GET /healthz", "GET /readyz", "GET /metrics"}
    statuses: dict[str, set[int]] = {}
    try:
        for op in operations:
            fuzz_operation(op, statuses)
    finally:
        app.state.pool.shutdown()
    assert statuses["GET /healthz"] == {200}
    assert statuses["POST /v1/segment"] <= {400, 413, 415, 422}  # random bytes: never an image
