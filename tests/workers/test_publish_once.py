"""Every report is published to routing once, with the scheduler and its relay running.

The relay must not send a report the API already published just because it waits in a busy
routing queue; only a report still unrouted past the lease is sent again. Here nothing consumes
the routing queue (the housekeeping worker runs the relay, the SLA sweep, the notices and the
metrics), so every message the API and the relay sent can be counted per report.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from kombu import Connection
from sqlalchemy import text

from geo.layer import Grid
from intake.app import create_app
from tests.processes import urbangrid_process, wait_until
from tests.test_pipeline import inside_points, service_values, settings_for
from urbangrid.core.db import make_engine
from urbangrid.core.messages import HOUSEKEEPING_QUEUES

ROUTE_TASKS = {"urbangrid.route_case", "urbangrid.route_cases"}


def _drain(url: str) -> Counter[int]:
    """Take every message off the routing queue; how many times each case was sent."""
    sent: Counter[int] = Counter()
    with Connection(url, connect_timeout=5) as conn:
        channel = conn.channel()
        while (message := channel.basic_get(queue="routing", no_ack=True)) is not None:
            task = message.headers["task"]
            assert task in ROUTE_TASKS, task
            args = json.loads(message.body)[0]
            ids = args[0] if task == "urbangrid.route_cases" else [args[0]]
            sent.update(int(i) for i in ids)
    return sent


@pytest.mark.postgres
@pytest.mark.rabbitmq
def test_reports_are_published_once_until_their_lease_runs_out(
    pg_url: str, amqp_url: str, demo_grid: Grid, tmp_path: Path
) -> None:
    values = service_values(pg_url, amqp_url, tmp_path / "var") | {
        # Far longer than the test: on a busy machine posting alone may take half a minute.
        "URBANGRID_RELAY_GRACE_S": "600",
    }
    # One housekeeping process for all the periodic tasks, as on a small deployment: each
    # tick must outlive its wait there (urbangrid.core.messages.MIN_LIFETIME_S) or the relay
    # never runs and nothing here is published a second time.
    housekeeping = ["worker", "-Q", ",".join(HOUSEKEEPING_QUEUES), "-c", "1"]
    ids: list[int] = []
    with (
        TestClient(create_app(settings_for(values))) as client,
        urbangrid_process(housekeeping, values, tmp_path / "housekeeping.log"),
        urbangrid_process(["scheduler"], values, tmp_path / "scheduler.log") as beat,
    ):
        # About 100 reports a second for five seconds, while the relay ticks every second.
        started = time.monotonic()
        for n, (lon, lat) in enumerate(inside_points(demo_grid, 500, seed=21)):
            answer = client.post(
                "/api/v1/reports", json={"category": "E0102", "lat": lat, "lon": lon}
            )
            assert answer.status_code == 201, answer.text
            ids.append(answer.json()["id"])
            pause = started + (n + 1) / 100 - time.monotonic()
            if pause > 0:
                time.sleep(pause)
        time.sleep(5)  # five more relay ticks, all well inside the lease
        assert beat.poll() is None
        first = _drain(amqp_url)
        relay_ran = re.search(
            r"relay_unrouted\[[^]]+\] succeeded", (tmp_path / "housekeeping.log").read_text()
        )
        assert relay_ran, (tmp_path / "housekeeping.log").read_text()[-2000:]
        assert set(first) == set(ids)
        assert set(first.values()) == {1}, Counter(first.values())

        # Nothing routed them: once their lease has run out (an hour ago, say), each is sent
        # again, exactly once more.
        engine = make_engine(pg_url)
        with engine.begin() as conn:
            conn.execute(
                text(
                    "UPDATE cases SET published_at = published_at - interval '1 hour', "
                    "created_at = created_at - interval '1 hour' WHERE id = ANY(:ids)"
                ),
                {"ids": ids},
            )
        engine.dispose()
        again: Counter[int] = Counter()
        wait_until(lambda: (again.update(_drain(amqp_url)), len(again) == len(ids))[1], 40, 1)
        assert set(again) == set(ids)
        assert set(again.values()) == {1}, Counter(again.values())
