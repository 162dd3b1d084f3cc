"""`urbangrid run` brings up the whole pipeline on the embedded default, from an empty ./var."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import pytest

from tests.ports import answers, free_port
from tests.processes import urbangrid_process, wait_until


def get_json(url: str) -> dict[str, object]:
    with urllib.request.urlopen(url, timeout=5) as answer:
        return json.loads(answer.read())  # type: ignore[no-any-return]


@pytest.mark.slow
def test_run_serves_api_and_dashboard_and_routes_a_report(tmp_path: Path) -> None:
    api, board = free_port(), free_port()
    env = {
        "URBANGRID_VAR_DIR": str(tmp_path / "var"),
        "URBANGRID_API_PORT": str(api),
        "URBANGRID_DASHBOARD_PORT": str(board),
    }
    with urbangrid_process(["run"], env, tmp_path / "run.log"):
        up = wait_until(lambda: answers(f"http://127.0.0.1:{api}/healthz"), 240, 0.5)
        assert up, (tmp_path / "run.log").read_text()[-4000:]
        assert wait_until(lambda: answers(f"http://127.0.0.1:{board}/"), 120, 0.5)
        request = urllib.request.Request(
            f"http://127.0.0.1:{api}/api/v1/reports",
            data=json.dumps(
                {"category": "C0101", "lat": 31.2304, "lon": 121.4737, "crs": "wgs84"}
            ).encode(),
            headers={"content-type": "application/json"},
        )
        sent = time.monotonic()
        with urllib.request.urlopen(request, timeout=10) as answer:
            report_id = json.loads(answer.read())["id"]

        def dispatched() -> bool:
            body = get_json(f"http://127.0.0.1:{api}/api/v1/reports/{report_id}")
            return body["state"] == "DISPATCHED"

        assert wait_until(dispatched, 60, 0.05), (tmp_path / "run.log").read_text()[-4000:]
        print(f"report dispatched {time.monotonic() - sent:.2f} s after submit")
        body = get_json(f"http://127.0.0.1:{api}/api/v1/reports/{report_id}")
        for level in ("district", "street", "community", "cell"):
            area = body[level]
            assert isinstance(area, dict) and area["code"] and area["name"]
        assert body["department"] and body["deadline"]


@pytest.mark.slow
def test_run_restarts_a_killed_worker_while_the_api_keeps_answering(tmp_path: Path) -> None:
    import os
    import signal

    api = free_port()
    var = tmp_path / "var"
    env = {
        "URBANGRID_VAR_DIR": str(var),
        "URBANGRID_API_PORT": str(api),
        "URBANGRID_RELAY_GRACE_S": "5",
        "URBANGRID_RELAY_INTERVAL_S": "2",
    }
    log = tmp_path / "run.log"
    with urbangrid_process(["run", "--no-dashboard"], env, log) as stack:
        assert wait_until(lambda: answers(f"http://127.0.0.1:{api}/healthz"), 240, 0.5), (
            log.read_text()[-4000:]
        )
        pid_file = var / "run" / "worker.pid"
        doomed = int(pid_file.read_text())
        os.killpg(doomed, signal.SIGKILL)  # the worker and its pool, as the OOM killer would
        # The API answers throughout, and a report taken meanwhile is routed by the new worker.
        assert answers(f"http://127.0.0.1:{api}/healthz")
        request = urllib.request.Request(
            f"http://127.0.0.1:{api}/api/v1/reports",
            data=json.dumps({"category": "C0101", "lat": 31.2304, "lon": 121.4737}).encode(),
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            report_id = json.loads(answer.read())["id"]
        assert wait_until(lambda: int(pid_file.read_text()) != doomed, 60, 0.2)

        def dispatched() -> bool:
            body = get_json(f"http://127.0.0.1:{api}/api/v1/reports/{report_id}")
            return body["state"] == "DISPATCHED"

        assert wait_until(dispatched, 120, 0.5), log.read_text()[-4000:]
        assert stack.poll() is None  # the stack itself never stopped
    text = log.read_text()
    assert f"worker (pid {doomed}) exited, killed by SIGKILL" in text
    assert "worker restarted" in text
    assert "stopped by SIGTERM" in text
