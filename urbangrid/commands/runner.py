"""``urbangrid demo seed`` and ``urbangrid run``: the whole pipeline on one machine."""

from __future__ import annotations

import os
import sys
import time
import urllib.request

import click
from sqlmodel import Session

from urbangrid.commands.progress import step
from urbangrid.commands.supervisor import Supervisor
from urbangrid.core.db import get_engine
from urbangrid.core.settings import get_settings


@click.group()
def demo() -> None:
    """The synthetic demo city."""


@demo.command("seed")
@click.option("--force", is_flag=True, help="Add a fresh demo grid version even if one exists.")
def demo_seed(force: bool) -> None:
    """Seed the demo city's grid, the starter categories, departments and routing rules."""
    seed_demo(force=force)


def seed_demo(*, force: bool = False) -> None:
    from geo.demo import demo_city
    from urbangrid.cases.seed import demo_is_seeded, seed_city

    with Session(get_engine()) as session:
        if demo_is_seeded(session) and not force:
            click.echo("demo city already seeded")
            return
        started = time.perf_counter()
        with step("the demo city's grid, categories, departments and rules"):
            grid = demo_city()
            version, taxonomy = seed_city(session, grid)
        counts = ", ".join(f"L{level} {len(grid[level])}" for level in sorted(grid))
        click.echo(
            f"seeded demo city as grid version {version} ({counts}) and "
            f"{len(taxonomy.categories)} categories in {time.perf_counter() - started:.1f} s"
        )
        from urbangrid.cases.addresses import demo_addresses, import_rows

        with step("an address list, one door per community"):
            added = import_rows(session, demo_addresses(grid)).added
            session.commit()
        click.echo(f"{added:,} demo addresses, e.g. 黄浦区梅桥路1号, for reports placed by address")
        from urbangrid.history.store import seed_demo_history

        with step("a season of history"):
            said = seed_demo_history(session, version)
        click.echo(said)
    rebuild_metrics()


def rebuild_metrics() -> None:
    """After a bulk load: one set-based build beats folding in the history case by case."""
    from urbangrid.evaluation.refresh import refresh

    settings = get_settings()
    with step("building the metrics' rollups"):
        done = refresh(get_engine(settings), tz=settings.city_timezone, full=True)
    click.echo(f"metrics built from {done.cases:,} cases in {done.seconds:.1f} s")


# How much each child logs: quiet (the default) is warnings and errors, which still include a
# child's crash ("Unrecoverable error", tracebacks) that ``urbangrid soak`` counts; verbose is
# every request, every task received and succeeded, and each of the scheduler's ticks.
LOG_LEVELS = ("debug", "info", "warning", "error")


@click.command()
@click.option("--no-dashboard", is_flag=True, help="Leave the dashboard out.")
@click.option("--api-workers", default=1, show_default=True, help="uvicorn worker processes.")
@click.option(
    "--verbose",
    is_flag=True,
    help="Log every request, task and scheduler tick (same as --log-level info).",
)
@click.option(
    "--log-level",
    type=click.Choice(LOG_LEVELS, case_sensitive=False),
    default="warning",
    show_default=True,
    envvar="URBANGRID_LOG_LEVEL",
    help="What the API, workers, scheduler and dashboard log.",
)
def run(no_dashboard: bool, api_workers: int, verbose: bool, log_level: str) -> None:
    """Run API, worker, scheduler and dashboard together on this machine, restarting any that
    dies; SIGTERM or Ctrl-C stops them all."""
    from urbangrid.core.migrate import upgrade

    level = "info" if verbose and log_level.lower() != "debug" else log_level.lower()
    settings = get_settings()
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.effective_database_url)
    from urbangrid.core.grids import active_version_id

    with Session(get_engine()) as session:
        seeded = active_version_id(session) is not None
    if not seeded:
        seed_demo()

    supervisor = Supervisor(
        child_commands(api_workers=api_workers, dashboard=not no_dashboard, level=level),
        say=lambda line: click.echo(line, err=True),
        pid_dir=settings.var_dir / "run",
    )
    supervisor.start_all()
    started = ", ".join(
        f"{name} (pid {child.process.pid})"
        for name, child in supervisor.children.items()
        if child.process is not None
    )
    click.echo(f"urbangrid run: started {started}", err=True)
    if level in ("warning", "error") and os.geteuid() == 0:
        click.echo(
            "urbangrid run: warning: running as root; give the stack a user of its own", err=True
        )
    api_url = f"http://{settings.api_host}:{settings.api_port}"
    if _wait_for(f"{api_url}/healthz", 120, supervisor):
        dashboard = f"http://{settings.dashboard_host}:{settings.dashboard_port}"
        for line in addresses(api_url, None if no_dashboard else dashboard, level=level):
            click.echo(line)
    stopped_by = supervisor.run()
    click.echo(f"urbangrid run: stopped by {stopped_by}", err=True)


def child_commands(*, api_workers: int, dashboard: bool, level: str) -> dict[str, list[str]]:
    """The processes ``urbangrid run`` keeps alive, each logging at ``level``."""
    # -P: the children import the code this command runs, not a checkout that happens to be
    # the working directory (python -m would put it first on the path).
    me = [sys.executable, "-P", "-m", "urbangrid.commands.main"]
    from urbangrid.core.messages import HOUSEKEEPING_QUEUES, ROUTING_QUEUES

    celery_level = level.upper()
    commands = {
        "api": [*me, "api", "--workers", str(api_workers), "--log-level", level],
        # Routing on workers of its own: housekeeping never delays a report (workers/app.py).
        "worker": [*me, "worker", "-Q", ",".join(ROUTING_QUEUES), "--loglevel", celery_level],
        "housekeeping": [
            *me,
            "worker",
            "-Q",
            ",".join(HOUSEKEEPING_QUEUES),
            "-c",
            "1",
            "--loglevel",
            celery_level,
        ],
        "scheduler": [*me, "scheduler", "--loglevel", celery_level],
    }
    if dashboard:
        commands["dashboard"] = [*me, "dashboard", "--log-level", level]
    return commands


def addresses(api_url: str, dashboard_url: str | None, *, level: str) -> list[str]:
    """The block that ends start-up: where to go, and how to see more.

    >>> block = addresses("http://127.0.0.1:8000", "http://127.0.0.1:8501", level="warning")
    >>> print("\\n".join(block))
    urbangrid is running:
      residents' page  http://127.0.0.1:8000/
      API docs         http://127.0.0.1:8000/docs
      Open311          http://127.0.0.1:8000/open311/v2/discovery.json
      dashboard        http://127.0.0.1:8501
    Ctrl-C stops everything. The log shows warnings and errors; --verbose shows every request.
    """
    lines = [
        "urbangrid is running:",
        f"  residents' page  {api_url}/",
        f"  API docs         {api_url}/docs",
        f"  Open311          {api_url}/open311/v2/discovery.json",
    ]
    if dashboard_url:
        lines.append(f"  dashboard        {dashboard_url}")
    if level in ("warning", "error"):
        lines.append(
            "Ctrl-C stops everything. The log shows warnings and errors; "
            "--verbose shows every request."
        )
    else:
        lines.append("Ctrl-C stops everything.")
    return lines


def _wait_for(url: str, seconds: float, supervisor: Supervisor) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not supervisor.received:
        supervisor.check()
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return True
        except OSError:
            time.sleep(0.3)
    return False
