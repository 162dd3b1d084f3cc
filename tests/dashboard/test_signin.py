"""Signing in to the dashboard: the staff API's answers told apart, in the language chosen."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from dashboard.signin import ROUTES
from urbangrid.core.settings import get_settings


class _StaffApi(BaseHTTPRequestHandler):
    """A staff API that lets in ``correct horse 7`` and is past its limit for anything else."""

    forwarded_for: ClassVar[list[str | None]] = []

    def do_POST(self) -> None:
        _StaffApi.forwarded_for.append(self.headers.get("X-Forwarded-For"))
        sent = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if sent["password"] == "correct horse 7":
            body = json.dumps({"token": "ugs_test", "expires_in_s": 600}).encode()
            self.send_response(200)
        else:
            body = json.dumps({"detail": "too many sign-in attempts; try again in 42 s"}).encode()
            self.send_response(429)
            self.send_header("Retry-After", "42")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def staff_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _StaffApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("URBANGRID_DASHBOARD_STAFF_API_URL", url)
    get_settings.cache_clear()
    yield url
    server.shutdown()
    get_settings.cache_clear()


@pytest.mark.parametrize(
    ("lang", "words"), [("en", "Too many sign-in attempts; try again in 42 s"), ("zh", "42 秒")]
)
def test_a_throttled_sign_in_says_so_and_when_not_wrong_password(
    staff_api: str, lang: str, words: str
) -> None:
    """A sign-in during a lockout must not read "wrong password": staff would retry at once."""
    client = TestClient(Starlette(routes=ROUTES))
    answer = client.post(
        "/staff/signin",
        data={"name": "li.wei", "password": "tried again", "lang": lang, "next": "/"},
        follow_redirects=False,
    )
    assert answer.status_code == 429
    assert answer.headers["retry-after"] == "42"
    assert words in answer.text
    assert "Wrong name or password" not in answer.text and "账号或密码不正确" not in answer.text


@pytest.mark.parametrize(
    ("lang", "next_url", "lands_on"),
    [
        ("en", "/", "/?lang=en"),
        ("zh", "/queue?period=90d", "/queue?period=90d&lang=zh"),
        ("en", "/queue?lang=zh", "/queue?lang=zh"),
    ],
)
def test_signing_in_lands_in_the_language_of_the_form(
    staff_api: str, lang: str, next_url: str, lands_on: str
) -> None:
    client = TestClient(Starlette(routes=ROUTES))
    answer = client.post(
        "/staff/signin",
        data={"name": "li.wei", "password": "correct horse 7", "lang": lang, "next": next_url},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == lands_on
    assert "ugs_test" in answer.headers["set-cookie"]


def test_the_staff_api_counts_the_browser_not_the_dashboard(staff_api: str) -> None:
    """The API's per-address sign-in limit must count each person: were it to see only the
    dashboard's own address, anyone reaching the form could lock every member of staff out."""
    _StaffApi.forwarded_for.clear()
    client = TestClient(Starlette(routes=ROUTES), client=("203.0.113.7", 50000))
    client.post(
        "/staff/signin",
        data={"name": "li.wei", "password": "correct horse 7", "lang": "en", "next": "/"},
        follow_redirects=False,
    )
    assert _StaffApi.forwarded_for == ["203.0.113.7"]
