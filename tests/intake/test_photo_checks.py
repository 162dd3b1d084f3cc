"""The intake's checks of incoming photos run a few at a time, so a burst of large photos
cannot take the API's memory; past the queue, an upload answers 503 and nothing is kept."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from geo.layer import Grid
from intake import uploads
from intake.apikeys import create_key
from tests.intake.helpers import cell_points, jpeg
from tests.intake.test_photo_reports import counts, raw_files
from urbangrid.core.db import make_engine

WORKERS, QUEUE = 1, 1


class HeldChecks:
    """Photo checks that wait for the test to let them finish, counting how many ran at once."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.release = threading.Event()
        self.running = self.most = 0
        self._lock = threading.Lock()
        real = uploads.inspect

        def held(data: bytes, **limits: Any) -> Any:
            with self._lock:
                self.running += 1
                self.most = max(self.most, self.running)
            try:
                self.release.wait(20)
                return real(data, **limits)
            finally:
                with self._lock:
                    self.running -= 1

        monkeypatch.setattr(uploads, "inspect", held)

    @staticmethod
    def wait_for(in_flight: int) -> None:
        gate = uploads.photo_checks(WORKERS, QUEUE)
        deadline = time.monotonic() + 20
        while gate._in_flight < in_flight:
            assert time.monotonic() < deadline, f"{gate._in_flight} photo checks in flight"
            time.sleep(0.01)


def _report(client: TestClient, point: tuple[float, float]) -> Callable[[], Any]:
    lon, lat = point
    data = {"category": "E0102", "lat": str(lat), "lon": str(lon), "description": "井盖破损"}
    files = [("photos", ("IMG_3001.jpg", jpeg((900, 700)), "image/jpeg"))]
    return lambda: client.post("/api/v1/reports", data=data, files=files)


def test_photos_are_checked_one_at_a_time_and_past_the_queue_refused_with_503(
    make_client: Any,
    sqlite_url: str,
    demo_grid: Grid,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = make_client(photo_check_workers=WORKERS, photo_check_queue=QUEUE)
    held = HeldChecks(monkeypatch)
    points = cell_points(demo_grid, 3, seed=140)
    before = counts(sqlite_url)
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(_report(client, points[0]))
        held.wait_for(1)
        second = pool.submit(_report(client, points[1]))
        held.wait_for(2)  # one checking, one waiting its turn
        refused = _report(client, points[2])()
        assert refused.status_code == 503, refused.text
        assert int(refused.headers["Retry-After"]) >= 1
        assert "photo checks are busy" in refused.json()["detail"]
        # Nothing of the refused report is kept, and the other two are still being checked.
        assert counts(sqlite_url) == before and raw_files(tmp_path / "var") == []
        held.release.set()
        assert first.result().status_code == 201, first.result().text
        assert second.result().status_code == 201, second.result().text
    assert held.most == WORKERS
    resent = _report(client, points[2])()
    assert resent.status_code == 201, resent.text


def test_open311_clients_are_told_503_with_retry_after_not_400(
    make_client: Any,
    sqlite_url: str,
    demo_grid: Grid,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A 311 app's server retries on 503 and gives up on 400: a busy intake must not look like
    # a bad request.
    client = make_client(photo_check_workers=WORKERS, photo_check_queue=QUEUE)
    engine = make_engine(sqlite_url)
    with Session(engine) as session:
        key = create_key(session, f"fixmystreet-busy-{datetime.now(UTC).timestamp()}")
    engine.dispose()
    held = HeldChecks(monkeypatch)
    points = cell_points(demo_grid, 3, seed=141)
    with ThreadPoolExecutor(2) as pool:
        waiting = [pool.submit(_report(client, p)) for p in points[:2]]
        held.wait_for(2)
        lon, lat = points[2]
        answer = client.post(
            "/open311/v2/requests.json",
            data={"api_key": key, "service_code": "E0102", "lat": str(lat), "long": str(lon)},
            files={"media": ("IMG_3002.jpg", jpeg((900, 700)), "image/jpeg")},
        )
        held.release.set()
        assert [w.result().status_code for w in waiting] == [201, 201]
    assert answer.status_code == 503, answer.text
    assert int(answer.headers["Retry-After"]) >= 1
    [error] = answer.json()
    assert error["code"] == 503 and "photo checks are busy" in error["description"]
