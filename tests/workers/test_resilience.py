"""Delivery guarantees on the real RabbitMQ and PostgreSQL: a worker killed mid-way loses
nothing and duplicates nothing; a task that keeps failing lands in the dead-letter queue,
from where it can be inspected and replayed."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlmodel import Session

from geo.layer import Grid
from intake.app import create_app
from tests.processes import urbangrid_process, wait_until
from tests.test_pipeline import inside_points, service_values, settings_for
from urbangrid.core.db import make_engine
from urbangrid.core.tables import Case, CaseEvent

pytestmark = [pytest.mark.postgres, pytest.mark.rabbitmq]


def test_a_thousand_reports_survive_a_worker_killed_midway(
    pg_url: str, amqp_url: str, demo_grid: Grid, tmp_path: Path
) -> None:
    values = service_values(pg_url, amqp_url, tmp_path / "var")
    values["URBANGRID_RELAY_INTERVAL_S"] = "3600"  # nothing but the broker redelivers
    values["URBANGRID_WORKER_CONCURRENCY"] = "1"
    engine = make_engine(pg_url)

    def dispatched(ids: list[int]) -> int:
        with Session(engine) as session:
            return int(
                session.execute(
                    select(func.count())
                    .select_from(Case)
                    .where(Case.id.in_(ids))  # type: ignore[union-attr]
                    .where(Case.state == "DISPATCHED")  # type: ignore[arg-type]
                ).scalar_one()
            )

    points = inside_points(demo_grid, 1000, seed=41)
    ids: list[int] = []
    with (
        urbangrid_process(["worker", "-Q", "routing"], values, tmp_path / "w1.log") as doomed,
        urbangrid_process(["worker", "-Q", "routing"], values, tmp_path / "w2.log"),
        TestClient(create_app(settings_for(values))) as client,
    ):
        killed_at = None
        submitting = time.monotonic()
        for lon, lat in points:
            answer = client.post(
                "/api/v1/reports", json={"category": "E0102", "lat": lat, "lon": lon}
            )
            assert answer.status_code == 201, answer.text
            ids.append(answer.json()["id"])
            if killed_at is None and len(ids) % 50 == 0 and dispatched(ids) >= 300:
                os.killpg(doomed.pid, signal.SIGKILL)
                killed_at = len(ids)
        if killed_at is None:  # the API outran the workers: kill once 300 are through
            assert wait_until(lambda: dispatched(ids) >= 300, 120, interval=0.2)
            os.killpg(doomed.pid, signal.SIGKILL)
            killed_at = len(ids)
        started = time.monotonic()
        print(f"1000 reports submitted in {started - submitting:.1f} s")
        assert wait_until(lambda: dispatched(ids) == 1000, 240, interval=0.5), (
            dispatched(ids),
            (tmp_path / "w2.log").read_text()[-3000:],
        )
        print(
            f"worker killed after {killed_at} reports; the rest dispatched "
            f"{time.monotonic() - started:.1f} s later"
        )
        assert doomed.wait(10) == -signal.SIGKILL
    assert "route_case" in (tmp_path / "w1.log").read_text()  # it did work before dying
    with Session(engine) as session:
        counts = session.execute(
            select(CaseEvent.action, func.count(), func.count(func.distinct(CaseEvent.case_id)))
            .where(CaseEvent.case_id.in_(ids))  # type: ignore[attr-defined]
            .group_by(CaseEvent.action)
        ).all()
    engine.dispose()
    assert {action: (n, cases) for action, n, cases in counts} == {
        "submit": (1000, 1000),
        "file": (1000, 1000),
        "dispatch": (1000, 1000),
    }


def test_a_poison_message_is_dead_lettered_then_replayed(
    pg_url: str, amqp_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from urbangrid.commands.main import main
    from urbangrid.core.settings import get_settings
    from workers.app import make_celery

    values = service_values(pg_url, amqp_url, tmp_path / "var")
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    runner = CliRunner()
    celery = make_celery(settings_for(values))
    try:
        with urbangrid_process(["worker", "-Q", "routing"], values, tmp_path / "w.log"):
            # Not a case id: no retry can fix it, so it fails at once and is rejected.
            sent = celery.send_task("urbangrid.route_case", args=["not-a-case-id"])

            def listed() -> str:
                return runner.invoke(main, ["dlq", "list"]).output

            assert wait_until(lambda: sent.id in listed(), 60, interval=0.5), (
                tmp_path / "w.log"
            ).read_text()[-3000:]
            shown = listed()
            assert "1 dead letters" in shown
            assert "urbangrid.route_case('not-a-case-id')" in shown
            assert "from routing  rejected x1" in shown and "replayed 0" in shown
            assert sent.id in listed()  # listing leaves the letter in the queue

            replayed = runner.invoke(main, ["dlq", "replay", "--task-id", sent.id])
            assert replayed.exit_code == 0 and "1 replayed" in replayed.output
            # Still poison: it dies again, and comes back to the dead-letter queue as replayed.
            assert wait_until(lambda: "replayed 1" in listed(), 60, interval=0.5)
        assert "1 dead letters" in listed()
    finally:
        celery.close()
        get_settings.cache_clear()
