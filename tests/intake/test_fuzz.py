"""Schema-driven fuzzing of the whole API from its OpenAPI description: no input gets a 5xx.

Schemathesis turns every operation of ``/openapi.json`` into a Hypothesis strategy (valid and
deliberately invalid bodies, parameters and headers); a bounded number of cases per operation,
derandomized so that a failure reproduces, is sent to the running app.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

EXAMPLES_PER_OPERATION = 20


def _operations(client: TestClient) -> list[Any]:
    # From the description itself: loading it over ASGI would run the app's lifespan a second
    # time, on another event loop.
    loaded = schemathesis.openapi.from_dict(client.app.openapi())  # type: ignore[attr-defined]
    return [result.ok() for result in loaded.get_all_operations()]


def test_the_description_covers_every_route(client: TestClient) -> None:
    labels = {operation.label for operation in _operations(client)}
    assert "POST /api/v1/reports" in labels
    assert "POST /open311/v2/requests.{fmt}" in labels
    assert "POST /api/v1/track/{token}/photos" in labels
    assert len(labels) >= 18


@pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_no_input_gets_a_server_error(database: str, request: pytest.FixtureRequest) -> None:
    client: TestClient = request.getfixturevalue("client" if database == "sqlite" else "pg_client")
    failures: list[str] = []
    for operation in _operations(client):
        cases = st.one_of(
            operation.as_strategy(),
            operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
            *operation.get_strategies_from_examples(),
        )

        @given(case=cases)
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def fuzz(case: Any) -> None:
            # Through the fixture's client: one event loop for the app and its database pool.
            sent = case.as_transport_kwargs(base_url=str(client.base_url))
            if not sent.get("cookies"):
                sent.pop("cookies", None)
            if isinstance(sent.get("data"), bytes | str):
                sent["content"] = sent.pop("data")
            response = client.request(**sent)
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {case.formatted_path} -> {response.status_code}: "
                    f"{response.text[:300]}\n  body={case.body!r:.300} query={case.query}"
                )

        fuzz()
    assert not failures, "\n".join(failures[:10])
