"""The ``urbangrid`` command: one entry point that gathers each package's commands."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from urbangrid.settings import get_settings


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log at INFO level.")
def main(verbose: bool) -> None:
    """urbangrid: residents' street-problem reports, located, routed and tracked."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


@main.group()
def db() -> None:
    """The database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration to the configured database."""
    from urbangrid.migrate import upgrade

    upgrade(get_settings().effective_database_url)
    click.echo("database is up to date")


@main.group()
def metrics() -> None:
    """The evaluation's facts and rollups."""


@metrics.command("refresh")
@click.option("--full", is_flag=True, help="Rebuild everything (after a bulk load, say).")
def metrics_refresh(full: bool) -> None:
    """Fold the cases written since the last refresh into the rollups (the scheduler does
    this every URBANGRID_METRICS_REFRESH_INTERVAL_S)."""
    from urbangrid.db import get_engine
    from urbangrid.rollups import refresh

    settings = get_settings()
    done = refresh(get_engine(settings), tz=settings.city_timezone, full=full)
    kind = "built from" if done.full else "folded in"
    click.echo(f"metrics: {kind} {done.cases:,} cases in {done.seconds:.2f} s")


@main.group()
def address() -> None:
    """The city's address points (门牌/地址库), for reports located by address."""


@address.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--crs",
    type=click.Choice(["wgs84", "gcj02", "bd09"]),
    default="wgs84",
    show_default=True,
    help="Coordinate system of the file's lon/lat (gcj02 for Amap or Tencent, bd09 for Baidu).",
)
def address_import(file: Path, crs: str) -> None:
    """Load a CSV of address points: columns address, lon, lat (any order), an optional
    address_id, and any others, which are kept. Importing again updates what moved."""
    from sqlalchemy.exc import IntegrityError
    from sqlmodel import Session

    from urbangrid.addresses import AddressFileError, import_rows, read_file
    from urbangrid.db import get_engine

    try:
        rows, repeated, blank = read_file(file, crs)
    except AddressFileError as exc:
        raise click.ClickException(str(exc)) from exc
    with Session(get_engine(get_settings())) as session:
        try:
            done = import_rows(session, rows)
            session.commit()
        except IntegrityError as exc:
            raise click.ClickException(
                f"an address_id of the file is already another address's: {exc.orig}"
            ) from exc
    click.echo(
        f"addresses: {done.added:,} added, {done.updated:,} moved or changed, "
        f"{done.unchanged:,} unchanged; {repeated:,} rows repeated an earlier address "
        "(the first was kept)"
    )
    if blank:
        lines = ", ".join(str(n) for n in blank[:10]) + (" …" if len(blank) > 10 else "")
        click.echo(f"{len(blank):,} rows without an address were left out (lines {lines})")


def _register() -> None:
    from geo.cli import bench, grid
    from intake.cli import api, apikey, bench_intake, categories, staff
    from urbangrid.history.cli import import_group
    from urbangrid.runner import demo, run
    from urbangrid.soak.cli import soak
    from workers.cli import calendar, dlq, rules, scheduler, sla, worker

    main.add_command(grid)
    main.add_command(bench)
    main.add_command(demo)
    main.add_command(run)
    main.add_command(soak)
    main.add_command(api)
    main.add_command(categories)
    main.add_command(apikey)
    bench.add_command(bench_intake, "intake")
    main.add_command(worker)
    main.add_command(scheduler)
    for group in (sla, calendar, rules, dlq, staff, import_group):
        main.add_command(group)
    from workers.bench import bench_sla
    from workers.broker_bench import bench_broker

    bench.add_command(bench_sla)
    bench.add_command(bench_broker)
    try:
        from dashboard.cli import bench_dashboard, dashboard
    except ImportError:  # the dashboard's dependencies are optional on a worker machine
        return
    main.add_command(dashboard)
    bench.add_command(bench_dashboard)


_register()

if __name__ == "__main__":
    main()
