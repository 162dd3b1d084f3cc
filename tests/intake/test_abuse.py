"""Abuse controls: sign-in throttling, limits shared across API processes, idempotency keys
scoped to their client, links never built from the Host header."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient
from sqlmodel import Session

from geo.layer import Grid
from intake.ratelimit import Limiter
from intake.signin import SignInGuard
from tests.intake.conftest import MakeClient
from tests.intake.helpers import cell_points
from urbangrid.cases.staff import create_staff
from urbangrid.core.db import make_engine

REDIS_URL = "redis://127.0.0.1:6379/0"


def staff_with_password(url: str, password: str) -> str:
    engine = make_engine(url)
    name = f"dispatcher-{secrets.token_hex(4)}"
    with Session(engine) as session:
        create_staff(session, name, "dispatcher", "city", password=password)
        session.commit()
    engine.dispose()
    return name


def login(client: TestClient, name: str, password: str) -> Any:
    return client.post("/api/v1/auth/login", json={"name": name, "password": password})


def test_forty_wrong_passwords_are_throttled_before_the_eleventh(
    client: TestClient, sqlite_url: str
) -> None:
    name = staff_with_password(sqlite_url, "correct horse battery")
    statuses = [login(client, name, f"guess-{i}").status_code for i in range(40)]
    assert statuses[:5] == [401] * 5
    assert 429 in statuses[:10]
    assert set(statuses[5:]) == {429}
    refused = login(client, name, "guess-again")
    wait = int(refused.headers["Retry-After"])
    assert 1 <= wait <= 60 * 60 * 24
    # Locked: even the right password waits, so guessing on through the lock gains nothing.
    assert login(client, name, "correct horse battery").status_code == 429


def test_unknown_names_are_throttled_and_hashed_like_known_ones(
    client: TestClient, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    known = staff_with_password(sqlite_url, "s3cret-enough")
    hashes: list[int] = []
    real = hashlib.scrypt

    def counted(*args: Any, **kwargs: Any) -> bytes:
        hashes.append(1)
        return real(*args, **kwargs)

    login(client, "warm-up", "x")  # the stand-in hash is made once per process
    monkeypatch.setattr(hashlib, "scrypt", counted)
    for name in (known, f"nobody-{secrets.token_hex(4)}"):
        hashes.clear()
        answers = [login(client, name, "wrong") for _ in range(6)]
        assert [a.status_code for a in answers] == [401] * 5 + [429]
        assert answers[0].json() == answers[1].json()
        assert len(hashes) == 5  # one scrypt per attempt admitted, none once throttled


def test_the_right_password_signs_in_and_ends_the_count(
    client: TestClient, sqlite_url: str
) -> None:
    name = staff_with_password(sqlite_url, "s3cret-enough")
    for _ in range(4):
        assert login(client, name, "wrong").status_code == 401
    signed = login(client, name, "s3cret-enough")
    assert signed.status_code == 200, signed.text
    token = signed.json()["token"]
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["name"] == name
    # The count started again: four more wrong ones are still only 401.
    assert [login(client, name, "wrong").status_code for _ in range(4)] == [401] * 4


def test_one_address_is_throttled_across_names(make_client: MakeClient) -> None:
    client = make_client()
    statuses = [login(client, f"name-{i}", "pw").status_code for i in range(21)]
    assert statuses[:20] == [401] * 20 and statuses[20] == 429


def test_sign_in_waits_while_the_store_of_counts_is_away(make_client: MakeClient) -> None:
    client = make_client(rate_limit_storage="redis://127.0.0.1:1/0")
    answer = login(client, "anyone", "pw")
    assert answer.status_code == 503 and int(answer.headers["Retry-After"]) >= 1


def test_the_lockout_grows_the_longer_guessing_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1_000_000.0]
    monkeypatch.setattr(time, "time", lambda: clock[0])
    guard = SignInGuard(Limiter("memory://"), workers=1, queue=1)

    async def attempts(name: str, count: int, every_s: float) -> list[int]:
        waits = []
        for _ in range(count):
            try:
                await guard.admit(name, f"10.0.0.{len(waits)}")
                waits.append(0)
            except Exception as exc:  # the HTTPException carrying 429 and Retry-After
                waits.append(int(exc.headers["Retry-After"]))  # type: ignore[attr-defined]
            clock[0] += every_s
        return waits

    quick = asyncio.run(attempts("li.lei", 6, every_s=1))
    assert quick[:5] == [0] * 5 and 1 <= quick[5] <= 60
    # Slow enough for the minute's limit, not for the hour's: the wait is then the hour's.
    slow = asyncio.run(attempts("wang.fang", 11, every_s=13))
    assert slow[:10] == [0] * 10 and 60 < slow[10] <= 3600
    clock[0] += 3 * 3600  # past the hour: ten more that day, then the day's wait
    later = asyncio.run(attempts("wang.fang", 11, every_s=13))
    assert later[:10] == [0] * 10 and later[10] > 3600
    guard.close()


def _redis_or_skip() -> None:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5).ping()
    except redis.exceptions.ConnectionError:
        pytest.skip(f"Redis at {REDIS_URL} not reachable")


def test_limits_hold_across_api_processes_sharing_a_store(
    make_client: MakeClient, sqlite_url: str
) -> None:
    """Two API processes (two apps) on one Redis: attempts on either count together."""
    _redis_or_skip()
    first = make_client(rate_limit_storage=REDIS_URL)
    second = make_client(rate_limit_storage=REDIS_URL)
    name = staff_with_password(sqlite_url, "s3cret-enough")
    statuses = [login(client, name, "wrong").status_code for client in [first, second] * 3]
    assert statuses == [401] * 5 + [429]


def test_resident_write_limits_hold_across_processes(
    make_client: MakeClient, demo_grid: Grid
) -> None:
    _redis_or_skip()
    settings: dict[str, Any] = {
        "rate_limit_storage": REDIS_URL,
        "rate_limit_per_minute": 6,
        "rate_limit_burst": 3,
    }
    address = f"198.18.{secrets.randbelow(256)}.{secrets.randbelow(256)}"  # this run's own
    first = with_address(make_client(**settings), address)
    second = with_address(make_client(**settings), address)
    points = cell_points(demo_grid, 4, seed=1201)
    statuses = [
        post("/api/v1/reports", json=_report(point)).status_code
        for post, point in zip([first, second, first, second], points, strict=True)
    ]
    assert statuses == [201, 201, 201, 429]


def _report(point: tuple[float, float]) -> dict[str, Any]:
    lon, lat = point
    return {"category": "E0102", "lat": lat, "lon": lon, "description": "井盖缺失"}


def with_address(client: TestClient, address: str) -> Callable[..., Any]:
    """``client.post`` as if from ``address`` (the ASGI scope's client)."""

    def post(url: str, **kwargs: Any) -> Any:
        transport = client._transport  # type: ignore[attr-defined]
        transport.client = (address, 50000)
        try:
            return client.post(url, **kwargs)
        finally:
            transport.client = ("testclient", 50000)

    return post


def test_an_idempotency_key_belongs_to_its_client(client: TestClient, demo_grid: Grid) -> None:
    body = _report(cell_points(demo_grid, 1, seed=1207)[0])
    key = {"Idempotency-Key": f"shared-{secrets.token_hex(4)}"}
    resident = with_address(client, "203.0.113.7")
    stranger = with_address(client, "198.51.100.9")
    first = resident("/api/v1/reports", json=body, headers=key)
    assert first.status_code == 201, first.text
    retried = resident("/api/v1/reports", json=body, headers=key)
    assert retried.status_code == 200 and retried.json() == first.json()
    other = stranger("/api/v1/reports", json=body, headers=key)
    assert other.status_code in (201, 409), other.text
    assert other.json().get("tracking_token") != first.json()["tracking_token"]


def test_links_never_come_from_the_host_header(make_client: MakeClient) -> None:
    for configured, expected in (("", "http://127.0.0.1:8000"), ("https://report.city.cn/", None)):
        client = make_client(public_base_url=configured)
        answer = client.get("/open311/v2/discovery.json", headers={"Host": "evil.example"})
        text = answer.text
        assert "evil.example" not in text
        assert (expected or "https://report.city.cn") + "/open311/v2" in text
