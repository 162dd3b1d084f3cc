"""The real PostgreSQL taken away behind a proxy: honest 503s, then a seamless return.

No mock: the API's engines connect through a TCP proxy in front of the shared PostgreSQL, and the
test closes the proxy (every connection and the listener) as a network cut or a restart would.
"""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import urlsplit
from xml.etree import ElementTree

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from geo.layer import Grid
from intake.app import create_app
from tests.processes import wait_until
from tests.test_pipeline import inside_points, settings_for
from urbangrid.commands.soak.proxy import TcpProxy
from urbangrid.core.db import dispose_engines
from urbangrid.core.settings import Settings

pytestmark = [pytest.mark.postgres]


def _through(proxy: TcpProxy, url: str) -> str:
    return make_url(url).set(host="127.0.0.1", port=proxy.port).render_as_string(False)


def _behind_proxy(
    pg_url: str, tmp_path: Path, extra: dict[str, str] | None = None
) -> tuple[TcpProxy, Settings]:
    """A started proxy in front of the test database, and the API's settings through it."""
    parts = urlsplit(pg_url.replace("postgresql+psycopg", "postgresql"))
    proxy = TcpProxy((parts.hostname or "127.0.0.1", parts.port or 5432))
    proxy.start()
    settings = settings_for(
        {
            "URBANGRID_DATABASE_URL": _through(proxy, pg_url),
            # The broker is not what these tests are about: publishing fails and the relay
            # would cover it; the reports are committed either way.
            "URBANGRID_BROKER_URL": "amqp://guest:guest@127.0.0.1:1//",
            "URBANGRID_VAR_DIR": str(tmp_path / "var"),
            "URBANGRID_RATE_LIMIT_PER_MINUTE": "0",
            "URBANGRID_DUPLICATE_RADIUS_M": "0",
            **(extra or {}),
        }
    )
    return proxy, settings


def test_database_away_answers_503_then_reports_are_stored_again(
    pg_url: str, demo_grid: Grid, tmp_path: Path
) -> None:
    # One connection: one chain of reconnection tries, as a pool whose connections all died
    # at once has.
    proxy, settings = _behind_proxy(
        pg_url, tmp_path, {"URBANGRID_API_POOL_SIZE": "1", "URBANGRID_API_WRITERS": "1"}
    )
    points = iter(inside_points(demo_grid, 200, seed=77))

    def submit(client: TestClient, key: str) -> tuple[int, dict[str, str], float]:
        lon, lat = next(points)
        started = time.monotonic()
        answer = client.post(
            "/api/v1/reports",
            json={"category": "E0102", "lat": lat, "lon": lon},
            headers={"Idempotency-Key": key},
        )
        return answer.status_code, dict(answer.headers), time.monotonic() - started

    try:
        with TestClient(create_app(settings), raise_server_exceptions=False) as client:
            assert submit(client, "before-1")[0] == 201
            proxy.stop()
            cut = time.monotonic()
            away = [submit(client, f"away-{n}") for n in range(6)]
            print("while away:", [(status, round(s, 2)) for status, _, s in away])
            assert [status for status, _, _ in away] == [503] * 6
            assert all(headers.get("retry-after") == "5" for _, headers, _ in away)
            # Open311 clients get the standard's error document, in the format they asked for.
            listed = client.get("/open311/v2/requests.xml")
            assert listed.status_code == 503 and listed.headers["retry-after"] == "5"
            assert ElementTree.fromstring(listed.content).find("error/code").text == "503"
            staff = client.get("/api/v1/cases", headers={"authorization": "Bearer x" * 3})
            assert staff.status_code == 503

            # Away long enough that a pool doubling its wait between reconnections would next
            # try well after the return (tries at 1, 3, 7, 15 and 31 s).
            while time.monotonic() - cut < 20:
                assert submit(client, f"away-{time.monotonic()}")[0] == 503
                time.sleep(1)
            proxy.start()
            back = time.monotonic()
            assert wait_until(lambda: submit(client, f"back-{time.monotonic()}")[0] == 201, 30)
            print(f"first report stored {time.monotonic() - back:.2f} s after the return")
            assert time.monotonic() - back < 10
            after = [submit(client, f"after-{n}")[0] for n in range(30)]
            assert after == [201] * 30  # no 500 from a pooled connection the cut left dead
    finally:
        proxy.stop()
        dispose_engines()


def test_a_database_that_hangs_answers_503_instead_of_holding_the_resident(
    pg_url: str, demo_grid: Grid, tmp_path: Path
) -> None:
    proxy, settings = _behind_proxy(pg_url, tmp_path)
    points = inside_points(demo_grid, 50, seed=78)

    def submit(client: TestClient, key: str) -> tuple[int, dict[str, str], float, int | None]:
        lon, lat = points[int(key.rsplit("-", 1)[-1]) if key[-1].isdigit() else 49]
        started = time.monotonic()
        answer = client.post(
            "/api/v1/reports",
            json={"category": "E0102", "lat": lat, "lon": lon},
            headers={"Idempotency-Key": key},
        )
        case = answer.json().get("id") if answer.status_code in (200, 201) else None
        return answer.status_code, dict(answer.headers), time.monotonic() - started, case

    try:
        with TestClient(create_app(settings), raise_server_exceptions=False) as client:
            assert submit(client, "before")[0] == 201
            proxy.hang()
            hung = [submit(client, f"hung-{n}") for n in range(3)]
            print("while hung:", [(status, round(s, 2)) for status, _, s, _ in hung])
            assert [status for status, _, _, _ in hung] == [503] * 3
            assert all(headers.get("retry-after") == "5" for _, headers, _, _ in hung)
            assert all(seconds < 15 for _, _, seconds, _ in hung)  # answered, not held open
            proxy.resume()
            # The residents send the same reports again with their keys: each is stored once
            # (one sent before the hang may have been stored when the database answered).
            again = [submit(client, f"hung-{n}") for n in range(3)]
            # 200: the report sent before the hang, stored when the database answered.
            assert {status for status, _, _, _ in again} <= {200, 201}
            assert len({case for _, _, _, case in again}) == 3
            assert [submit(client, f"hung-{n}")[3] for n in range(3)] == [
                case for _, _, _, case in again
            ]
    finally:
        proxy.stop()
        dispose_engines()
