"""The sweep gives way while reports wait on the routing queues of the real RabbitMQ."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_pipeline import settings_for
from workers.app import make_celery
from workers.giveway import give_way, routing_backlog

pytestmark = [pytest.mark.rabbitmq]


def test_the_sweep_waits_while_reports_wait_for_routing(amqp_url: str, tmp_path: Path) -> None:
    app = make_celery(
        settings_for({"URBANGRID_BROKER_URL": amqp_url, "URBANGRID_VAR_DIR": str(tmp_path)})
    )
    with app.connection_for_write() as conn:
        for queue in app.conf.task_queues:
            queue.bind(conn.default_channel).declare()
    assert routing_backlog(app) == 0
    assert give_way(app, longest_s=2) < 0.5  # nothing waits: no pause
    # Four batches of reports published; no router running: nothing to give way to.
    for _ in range(4):
        app.send_task("urbangrid.route_cases", args=[[1, 2]])
    assert routing_backlog(app) == 0
    # A router that is behind: it holds one message (prefetch 1, not yet acknowledged).
    with app.connection_for_write() as held:
        channel = held.channel()
        channel.basic_qos(0, 1, False)
        channel.basic_consume("routing", no_ack=False, callback=lambda message: None)
        held.drain_events(timeout=2)
        assert routing_backlog(app) == 3
        waited = give_way(app, longest_s=1)
        assert 1 <= waited < 2  # paused for as long as it may, then goes on
        channel.close()
    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge("routing")
    assert routing_backlog(app) == 0
