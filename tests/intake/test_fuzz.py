"""Schema-driven fuzzing of the whole API from its OpenAPI description: no input gets a 5xx.

Schemathesis turns every operation of ``/openapi.json`` into a Hypothesis strategy (valid and
deliberately invalid bodies, parameters and headers); a bounded number of cases per operation,
derandomized so that a failure reproduces, is sent to the running app.
"""

from __future__ import annotations

import os
from typing import Any

import httpx
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from tests.staffing import staff_token
from urbangrid.core.db import make_engine

# The suite's run: a few hundred cases. A campaign (URBANGRID_FUZZ_EXAMPLES=150, a fresh
# URBANGRID_FUZZ_SEED) sends thousands; the target was 5,000 or more over the whole API.
EXAMPLES_PER_OPERATION = int(os.environ.get("URBANGRID_FUZZ_EXAMPLES", "20"))
SEED = os.environ.get("URBANGRID_FUZZ_SEED")


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
    # Signed in as city-wide staff, so the staff routes are fuzzed past their 401 too.
    url = request.getfixturevalue("sqlite_url" if database == "sqlite" else "pg_url")
    engine = make_engine(url)
    staff = {"Authorization": f"Bearer {staff_token(engine, 'shift_lead', 'city')}"}
    engine.dispose()
    failures: list[str] = []
    sent_cases = [0]
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
            derandomize=SEED is None,
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
            if not (sent.get("headers") or {}).get("Authorization"):
                sent["headers"] = {**(sent.get("headers") or {}), **staff}
            try:
                response = client.request(**sent)
            except httpx.InvalidURL:  # longer than the HTTP client itself will send
                return
            sent_cases[0] += 1
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {case.formatted_path} -> {response.status_code}: "
                    f"{response.text[:300]}\n  body={case.body!r:.300} query={case.query}"
                )

        if SEED is not None:
            fuzz = seed(int(SEED))(fuzz)
        fuzz()
    print(f"{sent_cases[0]} cases sent, {len(failures)} answered 5xx")
    assert not failures, "\n".join(failures[:10])
