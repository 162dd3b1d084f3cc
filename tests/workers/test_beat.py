"""Periodic tasks on the real RabbitMQ: they expire by header, so RabbitMQ never dead-letters a
stale relay; a late one is discarded and a failed one acknowledged by the worker."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from celery.beat import ScheduleEntry

from tests.test_pipeline import service_values, settings_for
from urbangrid.core.messages import MIN_LIFETIME_S
from workers.app import make_celery, periodic_tasks
from workers.beat import EXPIRES_HEADER, Scheduler

pytestmark = [pytest.mark.rabbitmq]


def test_a_periodic_task_carries_its_lifetime_in_the_header_not_a_broker_ttl(
    amqp_url: str, tmp_path: Path
) -> None:
    settings = settings_for(service_values("sqlite:///:memory:", amqp_url, tmp_path / "var"))
    app = make_celery(settings)
    try:
        entries = app.conf.beat_schedule
        relay = entries["relay-unrouted"]
        scheduler = Scheduler(app, schedule_filename=str(tmp_path / "beat"), lazy=True)
        entry = ScheduleEntry(
            name="relay-unrouted",
            task=relay["task"],
            schedule=relay["schedule"],
            options=dict(relay["options"]),
            app=app,
        )
        queue_name = app.conf.task_routes[relay["task"]]["queue"]
        with app.connection_for_write() as conn:
            channel = conn.default_channel
            for queue in app.conf.task_queues:
                queue(channel).declare()
            with app.producer_or_acquire() as producer:
                scheduler.apply_async(entry, producer=producer, advance=False)
            message = None
            for _ in range(50):
                message = channel.basic_get(queue_name, no_ack=True)
                if message is not None:
                    break
        assert message is not None
        assert message.headers["task"] == "urbangrid.relay_unrouted"
        expires = datetime.fromisoformat(message.headers[EXPIRES_HEADER])
        # The relay ticks every second here, but each tick outlives a busy worker's delay.
        assert settings.relay_interval_s < MIN_LIFETIME_S
        assert MIN_LIFETIME_S - 5 < (expires - app.now()).total_seconds() <= MIN_LIFETIME_S
        # No per-message TTL: RabbitMQ would dead-letter the message when it ran out.
        assert "expiration" not in message.properties
        assert entry.options == relay["options"]  # the entry itself is left as it was
    finally:
        app.close()


def test_failed_periodic_runs_are_acknowledged_other_tasks_rejected(tmp_path: Path) -> None:
    settings = settings_for(
        service_values("sqlite:///:memory:", "amqp://guest@127.0.0.1:1//", tmp_path / "var")
    )
    app = make_celery(settings)
    periodic = periodic_tasks(app)
    assert "urbangrid.relay_unrouted" in periodic and "urbangrid.sla_sweep" in periodic
    assert all(app.tasks[name].acks_on_failure for name in periodic)
    # A report's own routing still goes to the dead-letter queue when it fails for good.
    assert not app.tasks["urbangrid.route_case"].acks_on_failure
