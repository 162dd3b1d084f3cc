"""Residents hear of status changes: a signed webhook (or a log line), once per change and
recipient, everyone who joined a case included, retried when the gateway fails."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from sqlmodel import Session, select

from geo.layer import Grid
from tests.intake.conftest import MakeClient
from tests.intake.helpers import cell_points
from tests.intake.test_tracking import CLOSING, _free_point, advance
from urbangrid.core.columns import utcnow
from urbangrid.core.db import make_engine
from urbangrid.core.tables import Notification
from workers.notify import LogChannel, WebhookChannel, collect, send_due

SECRET = "webhook-secret-for-tests"


class Gateway:
    """A city SMS gateway stand-in: records what it receives, can be told to fail."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.failing = False
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if gateway.failing:
                    self.send_response(503)
                    self.end_headers()
                    return
                gateway.received.append((dict(self.headers), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/notify"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def for_cases(self, *case_ids: int) -> list[dict[str, Any]]:
        found = []
        for headers, body in self.received:
            payload = json.loads(body)
            if payload["case_id"] in case_ids:
                expected = hmac.new(
                    SECRET.encode(),
                    headers["X-Urbangrid-Timestamp"].encode() + b"." + body,
                    hashlib.sha256,
                ).hexdigest()
                assert headers["X-Urbangrid-Signature"] == f"sha256={expected}"
                assert headers["X-Urbangrid-Notification"] == str(payload["notification_id"])
                found.append(payload)
        return found


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    found = Gateway()
    yield found
    found.server.shutdown()


def sweep(url: str, channel: Any, *, later: timedelta = timedelta(0)) -> tuple[int, int, int]:
    engine = make_engine(url)
    with Session(engine, expire_on_commit=False) as session:
        now = utcnow() + later
        added = collect(session, now=now, channel=channel.name)
        sent, failed = send_due(session, channel, now=now, base_url="https://report.example.cn")
    engine.dispose()
    return added, sent, failed


def test_everyone_linked_hears_when_the_case_closes(
    make_client: MakeClient, sqlite_url: str, demo_grid: Grid, gateway: Gateway
) -> None:
    client = make_client(duplicate_radius_m=250)
    lon, lat = _free_point(sqlite_url, demo_grid, "E0501", seed=501)
    first = client.post(
        "/api/v1/reports",
        json={"category": "E0501", "lat": lat, "lon": lon, "contact": "13811112222"},
    ).json()
    joined = client.post(
        "/api/v1/reports",
        json={"category": "E0501", "lat": lat, "lon": lon + 0.0005, "contact": "13833334444"},
    ).json()
    silent = client.post(  # joined, but left no contact: nothing to send
        "/api/v1/reports", json={"category": "E0501", "lat": lat, "lon": lon}
    ).json()
    assert joined["duplicate_of"] == first["id"] == silent["duplicate_of"]
    advance(sqlite_url, first["id"], CLOSING)

    channel = WebhookChannel(gateway.url, SECRET)
    added, _, _ = sweep(sqlite_url, channel)
    assert added >= 6
    notices = gateway.for_cases(first["id"], joined["id"], silent["id"])
    by_reporter: dict[int, list[str]] = {}
    for notice in notices:
        by_reporter.setdefault(notice["case_id"], []).append(notice["state"])
        assert notice["followed_case_id"] == first["id"]
    expected = ["DISPATCHED", "HANDLED", "CLOSED"]
    assert by_reporter == {first["id"]: expected, joined["id"]: expected}
    closing = [n for n in notices if n["state"] == "CLOSED"]
    assert {n["contact"] for n in closing} == {"13811112222", "13833334444"}
    assert all(n["status"] == "closed" and n["status_text_en"] == "Closed" for n in closing)
    assert closing[0]["tracking_url"].startswith("https://report.example.cn/#/t/")

    # A second sweep finds nothing new and sends nothing again.
    before = len(gateway.received)
    assert sweep(sqlite_url, channel)[0] == 0
    assert len(gateway.received) == before


def test_a_failing_gateway_is_retried_later(
    client: Any, sqlite_url: str, demo_grid: Grid, gateway: Gateway
) -> None:
    lon, lat = cell_points(demo_grid, 1, seed=502)[0]
    report = client.post(
        "/api/v1/reports",
        json={"category": "E0302", "lat": lat, "lon": lon, "contact": "a@b.cn"},
    ).json()
    advance(sqlite_url, report["id"], ["file", "dispatch"])
    channel = WebhookChannel(gateway.url, SECRET)
    gateway.failing = True
    sweep(sqlite_url, channel)
    engine = make_engine(sqlite_url)
    with Session(engine) as session:
        row = session.exec(select(Notification).where(Notification.case_id == report["id"])).one()
        assert row.status == "pending" and row.attempts == 1 and "503" in row.last_error
        assert row.next_attempt_at > utcnow()
    gateway.failing = False
    sweep(sqlite_url, channel)  # not due yet
    assert gateway.for_cases(report["id"]) == []
    sweep(sqlite_url, channel, later=timedelta(minutes=5))
    assert [n["state"] for n in gateway.for_cases(report["id"])] == ["DISPATCHED"]
    with Session(engine) as session:
        row = session.exec(select(Notification).where(Notification.case_id == report["id"])).one()
        assert row.status == "sent" and row.attempts == 2 and row.sent_at is not None
    engine.dispose()


def test_log_channel_masks_the_contact(
    client: Any, sqlite_url: str, demo_grid: Grid, caplog: pytest.LogCaptureFixture
) -> None:
    lon, lat = cell_points(demo_grid, 1, seed=503)[0]
    report = client.post(
        "/api/v1/reports",
        json={"category": "E0301", "lat": lat, "lon": lon, "contact": "13955556666"},
    ).json()
    advance(sqlite_url, report["id"], ["file", "dispatch"])
    with caplog.at_level(logging.INFO, logger="workers.notify"):
        sweep(sqlite_url, LogChannel())
    lines = [r.getMessage() for r in caplog.records if f"case {report['id']} is" in r.getMessage()]
    assert len(lines) == 1 and "139****6666" in lines[0] and "13955556666" not in lines[0]


def test_a_notifier_stopped_for_a_day_still_tells_residents(
    client: Any, sqlite_url: str, demo_grid: Grid, gateway: Gateway
) -> None:
    """The case moves while no notifier runs; the first sweep 30 hours later, far past the
    usual look-back, still finds the change and sends it, once."""
    lon, lat = cell_points(demo_grid, 1, seed=504)[0]
    report = client.post(
        "/api/v1/reports",
        json={"category": "E0406", "lat": lat, "lon": lon, "contact": "13700001111"},
    ).json()
    assert "id" in report, report
    advance(sqlite_url, report["id"], ["file", "dispatch"])
    channel = WebhookChannel(gateway.url, SECRET)
    sweep(sqlite_url, channel, later=timedelta(hours=30))
    assert [n["state"] for n in gateway.for_cases(report["id"])] == ["DISPATCHED"]
    sweep(sqlite_url, channel, later=timedelta(hours=31))
    assert len(gateway.for_cases(report["id"])) == 1
