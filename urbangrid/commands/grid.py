"""``urbangrid grid …`` and ``urbangrid bench geo``: the grid from the command line."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import sys
from pathlib import Path
from typing import TextIO

import click
import numpy as np
import numpy.typing as npt
from sqlmodel import Session

from geo.layer import LEVEL_NAMES, Grid
from urbangrid.commands.progress import step
from urbangrid.core.db import get_engine
from urbangrid.core.settings import get_settings

FloatArray = npt.NDArray[np.float64]

CRS_CHOICE = click.Choice(["wgs84", "gcj02", "bd09"])

CREATE_OFFICES = click.option(
    "--create-offices",
    is_flag=True,
    help='Create a street office for each level-2 area, named after it ("<name>办事处"), so '
    "reports no rule covers fall to the office of their street (属地管理).",
)


@click.group()
def grid() -> None:
    """The four-level grid: import, generate, validate, assign."""


def _active(session: Session) -> tuple[int | None, Grid]:
    from urbangrid.core.grids import active_version_id, load_grid

    version = active_version_id(session)
    return version, (load_grid(session, version) if version is not None else {})


@grid.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--level", required=True, type=click.IntRange(1, 4))
@click.option("--code-field", required=True, help="Property holding the area code.")
@click.option("--name-field", required=True, help="Property holding the area name.")
@click.option(
    "--crs",
    type=CRS_CHOICE,
    default="wgs84",
    show_default=True,
    help="Coordinate system of the file; converted to WGS84 on the way in.",
)
@click.option(
    "--tolerance",
    default=0.01,
    show_default=True,
    help="Share of a child's area allowed outside its parent before it is reported.",
)
@click.option("--label", default=None, help="Label of the new grid version.")
@CREATE_OFFICES
def grid_import(
    file: Path,
    level: int,
    code_field: str,
    name_field: str,
    crs: str,
    tolerance: float,
    label: str | None,
    create_offices: bool,
) -> None:
    """Import FILE (GeoJSON, shapefile, GeoPackage) as grid level N of a new grid version.

    Levels above N are kept from the active version and N's areas are linked to level N-1 by
    largest overlap; levels below N are dropped, since they nested in the areas replaced.
    """
    from geo.formats import GridImportError
    from geo.importers import read_layer
    from geo.linking import Discrepancy, fill_missing_codes, link_parents
    from urbangrid.core.grids import save_grid

    try:
        with step(f"reading {file.name}"):
            layer, report = read_layer(
                file, level=level, code_field=code_field, name_field=name_field, crs=crs
            )
    except GridImportError as exc:
        raise click.ClickException(str(exc)) from exc
    with Session(get_engine()) as session:
        _, current = _active(session)
        if level > 1 and level - 1 not in current:
            raise click.ClickException(
                f"level {level} needs level {level - 1} in the active grid: import it first"
            )
        discrepancies: list[Discrepancy] = []
        if level == 1:
            layer = fill_missing_codes(layer)
        else:
            with step("linking each area to its parent"):
                layer, discrepancies = link_parents(
                    layer, current[level - 1], tolerance_share=tolerance
                )
        new_grid: Grid = {lvl: current[lvl] for lvl in range(1, level)}
        new_grid[level] = layer
        dropped = sorted(lvl for lvl in current if lvl > level)
        offices = _offices(session, new_grid) if create_offices else 0
        with step("saving the grid version and its index"):
            version = save_grid(session, new_grid, label=label or f"L{level} from {file.name}")
            index_file = _index_file(session, version)
    for issue in report.issues:
        click.echo(f"{issue.kind}: feature {issue.feature} {issue.code or ''} {issue.detail}")
    for item in discrepancies:
        click.echo(f"{item.severity}: {item.kind}: {item.detail}")
    click.echo(
        f"imported {len(layer)} {LEVEL_NAMES[level]} areas as level {level} of grid version "
        f"{version}; {len(report.issues)} import notes, {len(discrepancies)} discrepancies"
        + (f"; dropped levels {dropped}" if dropped else "")
    )
    _say_offices_and_index(create_offices, offices, index_file)


@grid.command("generate")
@click.option("--level", required=True, type=click.IntRange(3, 4))
@click.option("--cell-size", default=100.0, show_default=True, help="Base cell size in metres.")
@click.option(
    "--community-area",
    default=250_000.0,
    show_default=True,
    help="Target community area in square metres (level 3).",
)
@click.option("--seed", default=0, show_default=True)
@CREATE_OFFICES
def grid_generate(
    level: int, cell_size: float, community_area: float, seed: int, create_offices: bool
) -> None:
    """Generate level 3 (communities) or 4 (base cells) under the active grid's level above."""
    from geo.generate import base_cells, communities
    from urbangrid.core.grids import save_grid

    with Session(get_engine()) as session:
        _, current = _active(session)
        if level - 1 not in current:
            raise click.ClickException(f"the active grid has no level {level - 1} to subdivide")
        parent = current[level - 1]
        try:
            with step(f"generating level {level}"):
                layer = (
                    communities(parent, target_area_m2=community_area, seed=seed)
                    if level == 3
                    else base_cells(parent, cell_size_m=cell_size)
                )
        except ValueError as exc:
            raise click.ClickException(str(exc)) from exc
        new_grid: Grid = {lvl: current[lvl] for lvl in range(1, level)}
        new_grid[level] = layer
        offices = _offices(session, new_grid) if create_offices else 0
        with step("saving the grid version and its index"):
            version = save_grid(session, new_grid, label=f"L{level} generated")
            index_file = _index_file(session, version)
    click.echo(f"generated {len(layer)} level-{level} areas; grid version {version} is active")
    _say_offices_and_index(create_offices, offices, index_file)


@grid.command("index")
def grid_index() -> None:
    """Build the active grid version's index file now, if it is missing or stale.

    Every API and worker process maps this file; run it once after an upgrade so that none of
    them waits for the build (the first one would otherwise build it, under a lock).
    """
    from urbangrid.core.grids import active_version_id

    with Session(get_engine()) as session:
        version = active_version_id(session)
        if version is None:
            raise click.ClickException("no active grid: import or seed one first")
        path = _index_file(session, version)
    click.echo(f"grid version {version}: index file {path} ({path.stat().st_size:,} bytes)")


def _offices(session: Session, new_grid: Grid) -> int:
    """The street offices of the new grid's level-2 areas (flushed; committed with the grid)."""
    from urbangrid.cases.seed import create_street_offices

    if 2 not in new_grid:
        return 0
    streets = new_grid[2]
    return create_street_offices(session, zip(streets.codes, streets.names, strict=True))


def _index_file(session: Session, version: int) -> Path:
    from urbangrid.core.grids import ensure_index_file

    path, _ = ensure_index_file(session, version, get_settings().effective_grid_index_dir)
    return path


def _say_offices_and_index(create_offices: bool, offices: int, index_file: Path) -> None:
    if create_offices:
        click.echo(f"{offices} street offices, one per level-2 area, answer for their streets")
    click.echo(f"index file: {index_file}")


@grid.command("validate")
@click.option("--tolerance", default=1.0, show_default=True, help="Tolerance in metres.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per problem.")
def grid_validate(tolerance: float, as_json: bool) -> None:
    """Check the active grid: nesting, gaps, overlaps, duplicate and malformed codes."""
    from geo.validate import validate_grid

    with Session(get_engine()) as session:
        version, current = _active(session)
    if version is None:
        raise click.ClickException("no active grid: import or seed one first")
    problems = validate_grid(current, tolerance_m=tolerance)
    for problem in problems:
        click.echo(
            json.dumps(dataclasses.asdict(problem), ensure_ascii=False, default=str)
            if as_json
            else f"{problem.kind}: level {problem.level} {','.join(problem.codes)}: "
            f"{problem.detail}"
        )
    click.echo(f"grid version {version}: {len(problems)} problems", err=True)
    if problems:
        sys.exit(1)


@grid.command("assign")
@click.argument("file", default="-", type=click.File("r", encoding="utf-8-sig"))
@click.option("--crs", type=CRS_CHOICE, default="wgs84", show_default=True)
def grid_assign(file: TextIO, crs: str) -> None:
    """Assign the points of a CSV (columns lon, lat) to the four levels; rows out on stdout.

    Appends l1_code..l4_code and status (``ok``, or ``outside`` the service area).
    """
    from geo.crs import to_wgs84
    from urbangrid.core.grids import ActiveGrid

    reader = csv.reader(file)
    fields = next(reader, None) or []
    missing = [c for c in ("lon", "lat") if c not in fields]
    if missing:
        raise click.ClickException(f"input CSV has no {' or '.join(missing)} column")
    # Rows shorter than the header read as empty cells, longer ones are cut, as csv.DictReader
    # does; the columns are then parsed in one go, which is what keeps a million rows fast.
    width = len(fields)
    rows = [row if len(row) == width else (row + [""] * width)[:width] for row in reader]
    at_lon, at_lat = fields.index("lon"), fields.index("lat")
    xs, ys = _numbers(rows, at_lon, at_lat)
    x, y = to_wgs84(xs, ys, crs)
    with Session(get_engine()) as session:
        try:
            _, index = ActiveGrid().current(session)
        except LookupError as exc:
            raise click.ClickException(str(exc)) from exc
    found = index.assign(x, y)
    out = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="")
    writer = csv.writer(out)
    writer.writerow([*fields, "l1_code", "l2_code", "l3_code", "l4_code", "status"])
    blank = [""] * len(rows)
    columns = [
        found.codes[level].tolist() if level in found.codes else blank for level in (1, 2, 3, 4)
    ]
    status = np.where(found.inside, "ok", "outside").tolist()
    writer.writerows(
        [*row, a, b, c, d, s] for row, a, b, c, d, s in zip(rows, *columns, status, strict=True)
    )
    out.flush()
    out.detach()


def _numbers(rows: list[list[str]], at_lon: int, at_lat: int) -> tuple[FloatArray, FloatArray]:
    """The lon and lat columns as floats; a ClickException naming the first bad line."""
    lon = [row[at_lon] for row in rows]
    lat = [row[at_lat] for row in rows]
    try:
        xs = np.array(lon, dtype=np.float64)
        ys = np.array(lat, dtype=np.float64)
    except ValueError:
        for number, (a, b) in enumerate(zip(lon, lat, strict=True), start=2):
            try:
                float(a), float(b)
            except ValueError:
                raise click.ClickException(
                    f"line {number}: lon/lat {a!r}, {b!r} are not numbers"
                ) from None
        raise
    # NaN fails both comparisons, so it is refused as out of range too.
    bad = np.flatnonzero(~((xs >= -180) & (xs <= 180) & (ys >= -90) & (ys <= 90)))
    if len(bad):
        raise click.ClickException(f"line {int(bad[0]) + 2}: lon/lat out of range")
    return xs, ys


@click.command("geo")
@click.option("--points", default=1_000_000, show_default=True)
@click.option(
    "--postgis-url",
    default=None,
    help="PostGIS to time ST_Covers against (default: the configured database "
    "if it is PostgreSQL).",
)
def bench_geo(points: int, postgis_url: str | None) -> None:
    """Assign random points over the demo city: vectorised vs per-point loop vs PostGIS."""
    from urbangrid.commands.bench_geo import run_geo_bench

    url = postgis_url
    configured = get_settings().effective_database_url
    if url is None and configured.startswith("postgresql"):
        url = configured
    if url is not None and not _postgis_reachable(url):
        url = None
    result = run_geo_bench(points, postgis_url=url)
    click.echo(json.dumps(result))


def _postgis_reachable(url: str) -> bool:
    """Whether ``url`` answers with PostGIS; the benchmark reports null rather than failing."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
        return True
    except Exception as exc:
        click.echo(f"PostGIS not reachable at {url}: {exc.__class__.__name__}", err=True)
        return False
    finally:
        engine.dispose()
