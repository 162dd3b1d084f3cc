"""``urbangrid worker``, ``scheduler``, ``sla``, ``calendar``, ``rules`` and ``dlq``."""

from __future__ import annotations

import logging
import os
import sys
import warnings
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click
import yaml
from celery.signals import worker_process_init
from sqlmodel import Session

from urbangrid.core.db import get_engine
from urbangrid.core.messages import HOUSEKEEPING_QUEUES, QUEUES, prefetch_for
from urbangrid.core.settings import get_settings
from workers.app import make_celery


@worker_process_init.connect
def _after_fork(**_: Any) -> None:
    # A forked child must not share its parent's database connections; then map the grid
    # index file (shared with every process on the machine) so the first report this process
    # routes is as fast as the rest.
    from urbangrid.core.db import dispose_engines
    from workers.tasks import warm_grid

    dispose_engines()
    warm_grid(get_settings())


@click.command()
@click.option("-Q", "--queues", default=",".join(QUEUES), show_default=True)
@click.option("-c", "--concurrency", default=None, type=int, help="Processes (default: settings).")
@click.option("--loglevel", default="INFO", show_default=True)
@click.option("--hostname", default=None, help="Worker node name (unique per machine).")
@click.option(
    "--niceness",
    default=None,
    type=click.IntRange(0, 19),
    help="CPU priority to give way by (default: 10 on housekeeping queues alone, else 0).",
)
def worker(
    queues: str, concurrency: int | None, loglevel: str, hostname: str | None, niceness: int | None
) -> None:
    """Run a Celery worker on the given queues."""
    settings = get_settings()
    app = make_celery(settings)
    names = [name.strip() for name in queues.split(",") if name.strip()]
    unknown = sorted(set(names) - set(QUEUES))
    if unknown:
        raise click.BadParameter(f"unknown queue(s) {', '.join(unknown)}", param_hint="--queues")
    if not settings.embedded_broker:
        from workers.deadletter import declare

        declare(app)
    if niceness is None:
        # Housekeeping yields the CPU to the routing workers on the same machine: a sweep of
        # thousands of deadlines must not lengthen the wait of the report just submitted.
        niceness = 10 if set(names) <= set(HOUSEKEEPING_QUEUES) else 0
    if niceness:
        os.nice(niceness)
    argv = [
        "worker",
        f"--queues={','.join(names)}",
        f"--concurrency={concurrency or settings.worker_concurrency}",
        f"--prefetch-multiplier={prefetch_for(names, settings)}",
        f"--loglevel={loglevel}",
        "--pool=prefork",
    ]
    # Two workers with one node name on one machine clash on RabbitMQ (the pidbox queue is
    # exclusive), and the second dies at start-up: without a name, each gets its pid in it.
    argv.append(f"--hostname={hostname or f'urbangrid-{os.getpid()}@%h'}")
    if settings.embedded_broker:
        argv += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
    _quiet_noise(settings.embedded_broker, loglevel)
    app.worker_main([*_banner(loglevel), *argv])


@click.command()
@click.option("--loglevel", default="INFO", show_default=True)
def scheduler(loglevel: str) -> None:
    """Run the scheduler (Celery beat): the relay and the SLA sweep. Run exactly one."""
    settings = get_settings()
    app = make_celery(settings)
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    app.start(
        [
            *_banner(loglevel),
            "beat",
            f"--loglevel={loglevel}",
            "--scheduler=workers.beat:Scheduler",
            f"--schedule={settings.var_dir / 'celerybeat-schedule'}",
        ]
    )


def _quiet_noise(embedded_broker: bool, loglevel: str) -> None:
    """Leave out two warnings that tell the operator nothing to act on: kombu's "no hostname"
    (the embedded broker has none) and, in a quiet log, Celery's eight lines on running as
    root (``urbangrid run`` says it once, in a line of its own)."""
    if embedded_broker:
        logging.getLogger("kombu.connection").addFilter(
            lambda record: not record.getMessage().startswith("No hostname was supplied")
        )
    if _banner(loglevel):
        from celery.exceptions import SecurityWarning

        warnings.filterwarnings(
            "ignore", message="You're running the worker with superuser", category=SecurityWarning
        )


def _banner(loglevel: str) -> list[str]:
    """Celery's start-up banner is information: below info (``urbangrid run``'s quiet log) it
    is left out, as the per-task lines are."""
    return [] if loglevel.upper() in ("DEBUG", "INFO") else ["--quiet"]


@click.group()
def sla() -> None:
    """SLA clocks: deadlines on the official calendar, and the sweep."""


def _city_instant(text: str, tz: ZoneInfo) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise click.BadParameter(
            f"{text!r} is not an ISO date and time", param_hint="--start"
        ) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


@sla.command("deadline")
@click.option("--start", required=True, help="ISO instant, e.g. 2026-02-13T16:00:00+08:00.")
@click.option("--limit", "limit_text", required=True, help="e.g. 4wh, 2wd, 90min, 6h (or a+b).")
def sla_deadline(start: str, limit_text: str) -> None:
    """Print the deadline a limit gives from START on the city's calendar and office hours."""
    from sqlalchemy.exc import SQLAlchemyError

    from urbangrid.cases.workdays import load_calendar
    from urbangrid.domain.calendar import OfficialCalendar
    from urbangrid.domain.sla import ClockRules
    from urbangrid.domain.timelimits import parse_limits, parse_windows

    settings = get_settings()
    tz = ZoneInfo(settings.city_timezone)
    begin = _city_instant(start, tz)
    try:
        limits = parse_limits(limit_text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--limit") from exc
    try:
        with Session(get_engine(settings)) as session:
            calendar = load_calendar(session)
    except SQLAlchemyError:
        click.echo(
            "warning: no calendar overrides (database not reachable or not upgraded): "
            "official calendar only",
            err=True,
        )
        calendar = OfficialCalendar()
    rules = ClockRules(calendar=calendar, tz=tz, windows=parse_windows(settings.office_windows))
    deadline = rules.add(begin, limits)
    for year in sorted(calendar.fallback_years):
        click.echo(
            f"warning: {year} is not in the official holiday calendar: counted Monday to Friday "
            f"as working days. Enter the year's notice with `urbangrid calendar load FILE`.",
            err=True,
        )
    click.echo(deadline.isoformat())


@sla.command("sweep")
def sla_sweep() -> None:
    """Run one SLA sweep now, in this process (the scheduler does it every interval)."""
    from urbangrid.cases.workdays import case_policy
    from urbangrid.core.columns import utcnow
    from workers.sla import advance_batch, claim_due

    settings = get_settings()
    with Session(get_engine(settings), expire_on_commit=False) as session:
        now = utcnow()
        ids = claim_due(
            session, now=now, lease_s=settings.sla_lease_s, batch=settings.sla_sweep_batch
        )
        marks = advance_batch(session, ids, now=now, policy=case_policy(session, settings))
        fired = sum(len(found) for found in marks.values())
    click.echo(f"{len(ids)} cases due, {fired} marks recorded")


@click.group()
def calendar() -> None:
    """The working-day calendar: the official notice and the city's overrides."""


@calendar.command("set")
@click.argument("day", type=click.DateTime(formats=["%Y-%m-%d"]))
@click.option("--workday/--day-off", required=True, help="Working day, or day off.")
@click.option("--note", default="", help="Why, e.g. the notice it comes from.")
def calendar_set(day: datetime, workday: bool, note: str) -> None:
    """Declare DAY a working day or a day off, winning over the official calendar."""
    from urbangrid.core.tables import CalendarDay

    with Session(get_engine()) as session:
        row = session.get(CalendarDay, day.date()) or CalendarDay(
            day=day.date(), is_workday=workday
        )
        row.is_workday, row.note = workday, note
        session.add(row)
        session.commit()
    click.echo(f"{day.date().isoformat()}: {'working day' if workday else 'day off'}")


@calendar.command("load")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def calendar_load(file: Path) -> None:
    """Enter a year's holiday notice from a YAML file (year, holidays, workdays, complete)."""
    from urbangrid.core.tables import CalendarDay, CalendarYear
    from urbangrid.domain.calendar import parse_notice

    try:
        notice = parse_notice(yaml.safe_load(file.read_text(encoding="utf-8")) or {})
    except (ValueError, yaml.YAMLError) as exc:
        raise click.ClickException(f"{file}: {exc}") from exc
    with Session(get_engine()) as session:
        for day, working in notice.days.items():
            row = session.get(CalendarDay, day) or CalendarDay(day=day, is_workday=working)
            row.is_workday, row.note = working, notice.note
            session.add(row)
        if notice.complete:
            year = session.get(CalendarYear, notice.year) or CalendarYear(year=notice.year)
            year.note = notice.note
            session.add(year)
        session.commit()
    state = "the whole year" if notice.complete else "some days"
    click.echo(f"{notice.year}: {len(notice.days)} days entered ({state})")


@calendar.command("show")
@click.argument("year", type=int)
def calendar_show(year: int) -> None:
    """List YEAR's days off on weekdays and its working weekend days, and where they come from."""
    from datetime import timedelta

    from urbangrid.cases.workdays import load_calendar

    with Session(get_engine()) as session:
        cal = load_calendar(session)
    source = "official notice" if cal.knows(year) else "NOT KNOWN: weekends only"
    click.echo(f"{year}: {source}")
    day = date(year, 1, 1)
    while day.year == year:
        working = cal.is_workday(day)
        if working != (day.weekday() < 5):
            origin = "override" if day in cal.overrides else "official"
            kind = "workday" if working else "day off"
            click.echo(f"{day.isoformat()} {day.strftime('%a')} {kind} ({origin})")
        day += timedelta(days=1)


@click.group()
def rules() -> None:
    """Routing rules: category x grid scope -> department."""


@rules.command("load")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def rules_load(file: Path) -> None:
    """Replace the rule table with FILE's rules (YAML), after checking every entry."""
    from urbangrid.cases.rules import check_rules, load_rules

    with Session(get_engine()) as session:
        try:
            book = check_rules(session, yaml.safe_load(file.read_text(encoding="utf-8")) or {})
        except (ValueError, yaml.YAMLError) as exc:
            raise click.ClickException(f"{file}: {exc}") from exc
        count = load_rules(session, book)
    click.echo(f"loaded {count} rules and {len(book.departments)} departments from {file}")


@rules.command("dump")
def rules_dump() -> None:
    """Print the rule table as a rules file."""
    from urbangrid.cases.rules import dump_rules

    with Session(get_engine()) as session:
        document = dump_rules(session)
    yaml.safe_dump(document, sys.stdout, allow_unicode=True, sort_keys=False)


@click.group()
def dlq() -> None:
    """The dead-letter queue on RabbitMQ: tasks that kept failing."""


@dlq.command("list")
@click.option("--limit", default=100, show_default=True)
def dlq_list(limit: int) -> None:
    """Show dead letters (they stay in the queue)."""
    from workers.deadletter import inspect, require_rabbitmq

    settings = get_settings()
    try:
        require_rabbitmq(settings)
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from exc
    letters, total = inspect(make_celery(settings), limit=limit)
    click.echo(f"{total} dead letters")
    for letter in letters:
        click.echo(letter.line())


@dlq.command("replay")
@click.option("--task-id", default=None, help="Only this task id.")
@click.option(
    "--task", "task_name", default=None, help="Only this task, e.g. urbangrid.route_case."
)
@click.option("--limit", default=100, show_default=True)
def dlq_replay(task_id: str | None, task_name: str | None, limit: int) -> None:
    """Put dead letters back on the queue they came from."""
    from workers.deadletter import replay, require_rabbitmq

    settings = get_settings()
    try:
        require_rabbitmq(settings)
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from exc
    replayed = replay(
        make_celery(settings),
        limit=limit,
        select=lambda letter: (
            (task_id is None or letter.task_id == task_id)
            and (task_name is None or letter.task == task_name)
        ),
    )
    for letter in replayed:
        click.echo(f"replayed {letter.line()}")
    click.echo(f"{len(replayed)} replayed")
