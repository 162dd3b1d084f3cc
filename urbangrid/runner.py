"""``urbangrid demo seed`` and ``urbangrid run``: the whole pipeline on one machine."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.request
from types import FrameType

import click
from sqlmodel import Session

from urbangrid.db import get_engine
from urbangrid.settings import get_settings


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
    from urbangrid.seed import demo_is_seeded, seed_city

    with Session(get_engine()) as session:
        if demo_is_seeded(session) and not force:
            click.echo("demo city already seeded")
            return
        started = time.perf_counter()
        grid = demo_city()
        version, taxonomy = seed_city(session, grid)
        counts = ", ".join(f"L{level} {len(grid[level])}" for level in sorted(grid))
        click.echo(
            f"seeded demo city as grid version {version} ({counts}) and "
            f"{len(taxonomy.categories)} categories in {time.perf_counter() - started:.1f} s"
        )
        from urbangrid.history.store import seed_demo_history

        click.echo(seed_demo_history(session, version))
    rebuild_metrics()


def rebuild_metrics() -> None:
    """After a bulk load: one set-based build beats folding in the history case by case."""
    from urbangrid.rollups import refresh

    settings = get_settings()
    done = refresh(get_engine(settings), tz=settings.city_timezone, full=True)
    click.echo(f"metrics built from {done.cases:,} cases in {done.seconds:.1f} s")


@click.command()
@click.option("--no-dashboard", is_flag=True, help="Leave the dashboard out.")
def run(no_dashboard: bool) -> None:
    """Run API, worker, scheduler and dashboard together on this machine."""
    from urbangrid.migrate import upgrade

    settings = get_settings()
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.effective_database_url)
    from urbangrid.grids import active_version_id

    with Session(get_engine()) as session:
        seeded = active_version_id(session) is not None
    if not seeded:
        seed_demo()

    me = [sys.executable, "-m", "urbangrid.cli"]
    from workers.app import HOUSEKEEPING_QUEUES, ROUTING_QUEUES

    commands = {
        "api": [*me, "api"],
        # Routing on workers of its own: housekeeping never delays a report (workers/app.py).
        "worker": [*me, "worker", "-Q", ",".join(ROUTING_QUEUES)],
        "housekeeping": [*me, "worker", "-Q", ",".join(HOUSEKEEPING_QUEUES), "-c", "1"],
        "scheduler": [*me, "scheduler"],
    }
    if not no_dashboard:
        commands["dashboard"] = [*me, "dashboard"]
    children = {name: subprocess.Popen(argv) for name, argv in commands.items()}

    def stop(_signum: int = 0, _frame: FrameType | None = None) -> None:
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for child in children.values():
            try:
                child.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()

    signal.signal(signal.SIGTERM, stop)
    api_url = f"http://{settings.api_host}:{settings.api_port}"
    if _wait_for(f"{api_url}/healthz", 60):
        click.echo(f"urbangrid is running: API {api_url}/docs")
        if not no_dashboard:
            click.echo(f"dashboard http://{settings.dashboard_host}:{settings.dashboard_port}")
        click.echo("Ctrl-C stops everything.")
    try:
        while all(child.poll() is None for child in children.values()):
            time.sleep(0.5)
        failed = [name for name, child in children.items() if child.poll() is not None]
        click.echo(f"stopping: {', '.join(failed)} exited", err=True)
    except KeyboardInterrupt:
        pass
    finally:
        stop()


def _wait_for(url: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return True
        except OSError:
            time.sleep(0.3)
    return False
