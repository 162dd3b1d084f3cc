"""The real services the integration tests use, and how a test run reaches them.

On a laptop without PostgreSQL + PostGIS or RabbitMQ the tests that need them skip; in CI
(``CI=true``) or with ``URBANGRID_TEST_REQUIRE_SERVICES=1`` they fail instead.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

PG_ADMIN_URL = os.environ.get(
    "URBANGRID_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
AMQP_URL = os.environ.get("URBANGRID_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")


def services_required() -> bool:
    return (
        os.environ.get("CI", "").lower() == "true"
        or os.environ.get("URBANGRID_TEST_REQUIRE_SERVICES") == "1"
    )


def unavailable(what: str) -> None:
    if services_required():
        pytest.fail(f"{what} is required in CI but not reachable", pytrace=False)
    pytest.skip(f"{what} not reachable")


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh PostGIS database for this test run, dropped afterwards."""
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"urbangrid_test_{os.getpid()}_{secrets.token_hex(3)}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        admin.dispose()
        unavailable(f"PostgreSQL at {PG_ADMIN_URL} ({exc.__class__.__name__})")
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        probe = create_engine(url)
        try:
            with probe.begin() as conn:
                conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
        except Exception as exc:
            unavailable(f"PostGIS in {PG_ADMIN_URL} ({exc.__class__.__name__}: {exc})")
        finally:
            probe.dispose()
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _reachable(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5672), 2):
            return True
    except OSError:
        return False


@contextmanager
def rabbitmq_vhost() -> Iterator[str]:
    """An AMQP URL on a vhost of its own, so test runs never consume each other's messages."""
    if not _reachable(AMQP_URL):
        unavailable(f"RabbitMQ at {AMQP_URL}")
    ctl = shutil.which("rabbitmqctl")
    if ctl is None or os.geteuid() != 0:
        yield AMQP_URL  # the shared vhost: fine for one run at a time
        return
    vhost = f"urbangrid_test_{os.getpid()}_{secrets.token_hex(3)}"
    user = urlsplit(AMQP_URL).username or "guest"
    subprocess.run([ctl, "-q", "add_vhost", vhost], check=True, capture_output=True)
    subprocess.run(
        [ctl, "-q", "set_permissions", "-p", vhost, user, ".*", ".*", ".*"],
        check=True,
        capture_output=True,
    )
    parts = urlsplit(AMQP_URL)
    try:
        yield parts._replace(path=f"/{vhost}").geturl()
    finally:
        subprocess.run([ctl, "-q", "delete_vhost", vhost], check=False, capture_output=True)
