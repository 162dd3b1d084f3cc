"""``urbangrid import …``: a city's past cases, so it starts with its history."""

from __future__ import annotations

from pathlib import Path

import click
from sqlmodel import Session

from urbangrid.core.db import get_engine


@click.group(name="import")
def import_group() -> None:
    """Bring a city's past cases in."""


@import_group.command("open311-csv")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--mapping",
    "mapping_name",
    required=True,
    help="A mapping file (YAML), or the name of a built-in one: baltimore.",
)
def open311_csv(file: Path, mapping_name: str) -> None:
    """Import the closed cases of an Open311-style CSV export (created, due, closed, agency,
    type, location); agencies become departments and types categories."""
    from urbangrid.commands.progress import counted, step
    from urbangrid.core.grids import ActiveGrid
    from urbangrid.history.open311.cases import import_rows
    from urbangrid.history.open311.mapping import MappingError, load_mapping
    from urbangrid.history.open311.rows import read_rows

    try:
        mapping = load_mapping(mapping_name)
        with step(f"reading {file.name}"):
            rows, report = read_rows(file, mapping)
        with Session(get_engine()) as session, counted("importing cases", len(rows)) as done:
            import_rows(session, rows, mapping, report, grid=ActiveGrid(), progress=done)
    except MappingError as exc:
        raise click.ClickException(str(exc)) from exc
    for line in report.lines():
        click.echo(line)
    from urbangrid.commands.runner import rebuild_metrics

    rebuild_metrics()
