"""``urbangrid bench sla``: the sweep's one indexed query against a full scan, same data, same run.

A city keeps every open case's clocks; the sweep must stay cheap however many there are. The
benchmark fills a scratch database with ``clocks`` running clocks of which ``due`` are due,
times the sweep's query through ``ix_sla_clock_next_at`` and the same query with the index
disabled (the baseline), then times advancing the due cases (recording their warnings).
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import click
from sqlalchemy import insert, text
from sqlmodel import Session

from urbangrid.core.columns import utcnow
from urbangrid.core.db import make_engine
from urbangrid.core.migrate import upgrade
from urbangrid.core.settings import Settings
from urbangrid.core.tables import Case, Category, SlaClock
from urbangrid.domain.states import CaseState

_QUERY = (
    "SELECT id FROM sla_clock {hint} WHERE next_at <= :now "
    "AND (leased_until IS NULL OR leased_until < :now) ORDER BY next_at LIMIT :batch"
)


def _fill(url: str, clocks: int, due: int) -> None:
    engine = make_engine(url)
    now = utcnow()
    with Session(engine) as session:
        session.add(
            Category(
                code="E0102",
                name_zh="暴露垃圾",
                name_en="Exposed rubbish",
                family="event",
                major="01",
                minor="02",
                department_kind="sanitation",
                time_limit="4wh",
            )
        )
        session.commit()
        chunk = 20_000
        for start in range(0, clocks, chunk):
            rows = range(start, min(clocks, start + chunk))
            session.execute(
                insert(Case),
                [
                    {
                        "tracking_token": f"bench-{i}",
                        "category_code": "E0102",
                        "input_crs": "wgs84",
                        "input_lat": 31.2,
                        "input_lon": 121.4,
                        "lat": 31.2,
                        "lon": 121.4,
                        "state": CaseState.DISPATCHED,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i in rows
                ],
            )
            # The first ``due`` clocks started 70 minutes ago on a one-hour limit: warned and
            # overdue both. The rest fall due minute by minute over the coming month.
            session.execute(
                insert(SlaClock),
                [
                    _clock(
                        i + 1,
                        now - timedelta(minutes=70)
                        if i < due
                        else now + timedelta(minutes=i % 43_200),
                    )
                    for i in rows
                ],
            )
        session.commit()
    with engine.begin() as conn:  # fresh statistics, as a live database has them
        conn.execute(text("ANALYZE"))
    engine.dispose()


def _clock(case_id: int, started: datetime) -> dict[str, Any]:
    return {
        "case_id": case_id,
        "stage": "handle",
        "started_at": started,
        "limit": "1h",
        "deadline_at": started + timedelta(hours=1),
        "warn_at": started + timedelta(minutes=48),
        "next_at": started + timedelta(minutes=48),
    }


def _time_query(url: str, *, full_scan: bool, batch: int, repeat: int) -> tuple[float, int]:
    engine = make_engine(url)
    postgres = engine.dialect.name == "postgresql"
    hint = "NOT INDEXED" if full_scan and not postgres else ""
    sql = text(_QUERY.format(hint=hint))
    times, found = [], 0
    with engine.connect() as conn:
        if full_scan and postgres:
            conn.execute(text("SET enable_indexscan = off"))
            conn.execute(text("SET enable_bitmapscan = off"))
        for _ in range(repeat):
            started = time.perf_counter()
            found = len(conn.execute(sql, {"now": utcnow(), "batch": batch}).all())
            times.append(time.perf_counter() - started)
    engine.dispose()
    return statistics.median(times) * 1000, found


def run_sla_bench(clocks: int, due: int, url: str | None = None) -> dict[str, Any]:
    """Fill a scratch database and return the figures (milliseconds, cases per second)."""
    from urbangrid.cases.workdays import case_policy
    from workers.sla import advance_case, claim_due

    with tempfile.TemporaryDirectory() as folder:
        target = url or f"sqlite:///{Path(folder) / 'bench.db'}"
        upgrade(target)
        _fill(target, clocks, due)
        indexed_ms, found = _time_query(target, full_scan=False, batch=due, repeat=20)
        scan_ms, _ = _time_query(target, full_scan=True, batch=due, repeat=5)
        engine = make_engine(target)
        postgres = engine.dialect.name == "postgresql"
        settings = Settings(database_url=target, var_dir=Path(folder))
        with Session(engine, expire_on_commit=False) as session:
            started = time.perf_counter()
            ids = claim_due(session, now=utcnow(), lease_s=60, batch=due)
            claim_ms = (time.perf_counter() - started) * 1000
            started = time.perf_counter()
            marks = 0
            for case_id in ids:
                policy = case_policy(session, settings)
                marks += len(advance_case(session, case_id, now=utcnow(), policy=policy))
            advance_s = time.perf_counter() - started
        engine.dispose()
    return {
        "database": "postgresql" if postgres else "sqlite",
        "clocks": clocks,
        "due": found,
        "query_indexed_ms": round(indexed_ms, 3),
        "query_full_scan_ms": round(scan_ms, 3),
        "full_scan_over_indexed": round(scan_ms / indexed_ms, 1) if indexed_ms else None,
        "claim_ms": round(claim_ms, 2),
        "cases_advanced": len(ids),
        "marks_recorded": marks,
        "advance_cases_per_s": round(len(ids) / advance_s, 1) if advance_s else None,
    }


@click.command("sla")
@click.option("--clocks", default=100_000, show_default=True, help="Running clocks in the table.")
@click.option("--due", default=500, show_default=True, help="How many of them are due.")
@click.option("--url", default=None, help="A scratch database (default: a temporary SQLite).")
def bench_sla(clocks: int, due: int, url: str | None) -> None:
    """Time the SLA sweep's query (index vs full scan) and advancing the due cases."""
    if due > clocks:
        raise click.BadParameter("cannot exceed --clocks", param_hint="--due")
    click.echo(json.dumps(run_sla_bench(clocks, due, url)))


@click.command("pipeline")
@click.option(
    "--database-url",
    default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
    show_default=True,
    help="PostgreSQL server to make a scratch database on (or the database, with --no-scratch).",
)
@click.option(
    "--broker-url",
    default="amqp://guest:guest@127.0.0.1:5672//",
    show_default=True,
    help="RabbitMQ to make a scratch vhost on (or the vhost, with --no-scratch).",
)
@click.option(
    "--api-url",
    "api_urls",
    multiple=True,
    help="An intake API to post to (repeat for several hosts); default: one started here.",
)
@click.option("--scratch/--no-scratch", default=True, show_default=True)
@click.option("--reports", default=3000, show_default=True, help="Reports per routing run.")
@click.option("--rate", default=100.0, show_default=True, help="Reports per second, paced.")
@click.option("--seconds", default=30.0, show_default=True, help="Length of each paced run.")
@click.option("--workers", "worker_counts", default="1,2", show_default=True)
def bench_pipeline(
    database_url: str,
    broker_url: str,
    api_urls: tuple[str, ...],
    scratch: bool,
    reports: int,
    rate: float,
    seconds: float,
    worker_counts: str,
) -> None:
    """Reports through intake to DISPATCHED with 1 and 2 workers, beside a bare Celery task."""
    from urbangrid.commands.bench_pipeline import run_pipeline_bench

    try:
        counts = [int(n) for n in worker_counts.split(",") if n.strip()]
    except ValueError as exc:
        raise click.BadParameter(
            "a list of process counts, e.g. 1,2", param_hint="--workers"
        ) from exc
    if not counts or min(counts) < 1:
        raise click.BadParameter("a list of process counts, e.g. 1,2", param_hint="--workers")
    if not database_url.startswith("postgresql") or not broker_url.startswith("amqp"):
        raise click.BadParameter("the pipeline bench needs PostgreSQL and RabbitMQ URLs")
    figures = run_pipeline_bench(
        database_url,
        broker_url,
        reports=reports,
        rate=rate,
        seconds=seconds,
        worker_counts=counts,
        api_urls=api_urls,
        scratch=scratch,
    )
    for name, run in figures["runs"].items():
        click.echo(f"{name} worker(s): {json.dumps(run)}")
    click.echo(f"paced, no scheduler: {json.dumps(figures['paced_without_scheduler'])}")
    click.echo(f"paced, scheduler on: {json.dumps(figures['paced_with_scheduler'])}")
    click.echo(json.dumps(figures))
