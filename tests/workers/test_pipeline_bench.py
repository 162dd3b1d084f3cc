"""``urbangrid bench pipeline`` end to end on tiny numbers, on real PostgreSQL and RabbitMQ.

The figures themselves are never asserted (they depend on the machine); what is asserted is that
every phase ran to completion on real processes: every report stored, routed, swept and
dispatched, each published once, and the last line one JSON object with the figures a reader of
``docs/benchmarks.md`` looks for. A bench that cannot start its API must say why, quickly.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.services import postgres_database, rabbitmq_vhost
from workers.bench import bench_pipeline
from workers.pipeline_bench import run_pipeline_bench

pytestmark = [pytest.mark.postgres, pytest.mark.rabbitmq, pytest.mark.slow]

REPORTS = 12


def test_the_bench_takes_reports_to_dispatched_and_prints_its_figures_last() -> None:
    with postgres_database() as url, rabbitmq_vhost() as broker:
        result = CliRunner().invoke(
            bench_pipeline,
            [
                "--database-url",
                url,
                "--broker-url",
                broker,
                "--no-scratch",
                "--reports",
                str(REPORTS),
                "--rate",
                "5",
                "--seconds",
                "2",
                "--workers",
                "1",
            ],
        )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output.strip().splitlines()[-1])
    run = figures["runs"]["1"]
    assert run["reports"] == REPORTS
    # Every routed case had running clocks; the sweep found all of them due and marked them.
    assert run["sweep_cases_due"] == REPORTS
    assert run["sweep_marks_recorded"] >= REPORTS
    for key in ("routed_per_s", "bare_celery_per_s", "sweep_advanced_per_s"):
        assert figures[key] == run[key]
        assert math.isfinite(figures[key]) and figures[key] > 0
    for paced in (figures["paced_without_scheduler"], figures["paced_with_scheduler"]):
        assert paced["reports"] == 10 and paced["refused"] == 0
        assert paced["undispatched"] == 0
        assert paced["published_more_than_once"] == 0 and paced["never_published"] == 0
        assert 0 < paced["p50_s"] <= paced["p99_s"] <= paced["max_s"] < math.inf
    assert figures["p99_post_to_dispatched_s"] == figures["paced_with_scheduler"]["p99_s"]
    assert figures["p99_without_scheduler_s"] == figures["paced_without_scheduler"]["p99_s"]


def test_an_api_that_cannot_start_fails_the_bench_at_once_with_its_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    # What a virtualenv made before a dependency was added looks like to the API process.
    broken = tmp_path / "limits"
    broken.mkdir()
    (broken / "__init__.py").write_text("raise ImportError('limits is not installed here')\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    with (
        postgres_database() as url,
        rabbitmq_vhost() as broker,
        pytest.raises(RuntimeError, match="exited with status"),
    ):
        run_pipeline_bench(url, broker, reports=2, rate=1, seconds=1, scratch=False)
    err = capfd.readouterr().err
    assert "api.log" in err
    assert "limits is not installed here" in err
