"""The ``urbangrid`` command: one entry point that gathers each package's commands.

Commands are named here with the one line ``--help`` prints, and imported only when run: an
operator asking for help on a busy machine should not wait for SQLAlchemy, Celery, Shapely and
Streamlit to load. Each package keeps its own commands (``geo/cli.py``, ``intake/cli.py``, …);
adding one means one line in ``COMMANDS`` (or ``BENCHES``).
"""

from __future__ import annotations

import importlib
import logging
import sys

import click

# name -> ("module:attribute", the line `urbangrid --help` shows)
COMMANDS: dict[str, tuple[str, str]] = {
    "address": (
        "urbangrid.commands.address:address",
        "The address list reports are located by.",
    ),
    "api": ("intake.cli:api", "Serve the intake API (uvicorn)."),
    "apikey": ("intake.cli:apikey", "Keys of the Open311 clients (311 apps, FixMyStreet, …)."),
    "calendar": ("workers.cli:calendar", "The working-day calendar: official notice, overrides."),
    "categories": ("intake.cli:categories", "The category taxonomy residents report against."),
    "dashboard": ("dashboard.cli:dashboard", "Serve the dashboard (Streamlit)."),
    "demo": ("urbangrid.commands.runner:demo", "The synthetic demo city."),
    "dlq": ("workers.cli:dlq", "The dead-letter queue on RabbitMQ: tasks that kept failing."),
    "grid": (
        "urbangrid.commands.grid:grid",
        "The four-level grid: import, generate, validate, assign.",
    ),
    "import": ("urbangrid.commands.history:import_group", "Bring a city's past cases in."),
    "photos": ("workers.photo_cli:photos", "Photos' public copies: faces and plates blurred."),
    "rules": ("workers.cli:rules", "Routing rules: category x grid scope -> department."),
    "run": (
        "urbangrid.commands.runner:run",
        "Run API, worker, scheduler and dashboard on this machine.",
    ),
    "scheduler": ("workers.cli:scheduler", "Run the scheduler (Celery beat)."),
    "sla": ("workers.cli:sla", "SLA clocks: deadlines on the official calendar, the sweep."),
    "soak": (
        "urbangrid.commands.soak.cli:soak",
        "Drive a running stack for a while, with faults; count.",
    ),
    "staff": ("intake.cli:staff", "Staff accounts and their API tokens."),
    "worker": ("workers.cli:worker", "Run a Celery worker on the given queues."),
}

BENCHES: dict[str, tuple[str, str]] = {
    "broker": (
        "urbangrid.commands.bench_broker:bench_broker",
        "Embedded broker candidates under load.",
    ),
    "dashboard": (
        "urbangrid.commands.benches:bench_dashboard",
        "Dashboard queries on a million cases.",
    ),
    "geo": (
        "urbangrid.commands.grid:bench_geo",
        "Grid assignment: vectorised, loop, PostGIS.",
    ),
    "intake": ("urbangrid.commands.benches:bench_intake", "Report submits through the API."),
    "login-flood": (
        "urbangrid.commands.benches:bench_login_flood",
        "Report latency quiet and under a flood of sign-ins.",
    ),
    "photos": ("workers.photo_cli:bench_photos", "Face and plate detectors: time, recall."),
    "sla": (
        "urbangrid.commands.bench_sla:bench_sla",
        "The sweep's indexed query against a full scan.",
    ),
    "pipeline": (
        "urbangrid.commands.bench_sla:bench_pipeline",
        "Reports to DISPATCHED beside a bare Celery task; the sweep; POST to DISPATCHED.",
    ),
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported when used, listed from ``lazy`` without it."""

    def __init__(self, *args: object, lazy: dict[str, tuple[str, str]], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands or cmd_name not in self.lazy:
            return super().get_command(ctx, cmd_name)
        module, _, attribute = self.lazy[cmd_name][0].partition(":")
        command = getattr(importlib.import_module(module), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{self.lazy[cmd_name][0]} is not a click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, self.lazy[name][1]) for name in sorted(self.lazy)]
        rows += [(name, cmd.get_short_help_str()) for name, cmd in sorted(self.commands.items())]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(sorted(rows))


@click.group(cls=LazyGroup, lazy=COMMANDS)
@click.option("-v", "--verbose", is_flag=True, help="Log at INFO level.")
def main(verbose: bool) -> None:
    """urbangrid: residents' street-problem reports, located, routed and tracked."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


@click.group(cls=LazyGroup, lazy=BENCHES)
def bench() -> None:
    """Benchmarks that print figures beside a baseline measured in the same run."""


@click.group()
def db() -> None:
    """The database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration to the configured database."""
    from urbangrid.core.migrate import upgrade
    from urbangrid.core.settings import get_settings

    upgrade(get_settings().effective_database_url)
    click.echo("database is up to date")


@click.group()
def metrics() -> None:
    """The evaluation's facts and rollups."""


@metrics.command("refresh")
@click.option("--full", is_flag=True, help="Rebuild everything (after a bulk load, say).")
def metrics_refresh(full: bool) -> None:
    """Fold the cases written since the last refresh into the rollups (the scheduler does
    this every URBANGRID_METRICS_REFRESH_INTERVAL_S)."""
    from urbangrid.commands.progress import step
    from urbangrid.core.db import get_engine
    from urbangrid.core.settings import get_settings
    from urbangrid.evaluation.refresh import refresh

    settings = get_settings()
    with step("building the metrics' rollups" if full else "folding in the cases written"):
        done = refresh(get_engine(settings), tz=settings.city_timezone, full=full)
    kind = "built from" if done.full else "folded in"
    click.echo(f"metrics: {kind} {done.cases:,} cases in {done.seconds:.2f} s")


for _group in (bench, db, metrics):
    main.add_command(_group)

if __name__ == "__main__":
    main()
