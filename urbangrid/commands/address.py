"""``urbangrid address import``: the city's address list (门牌/地址库) from the command line."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
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
@click.option("--address-column", default="address", show_default=True, help="The address.")
@click.option("--lon-column", default="lon", show_default=True, help="The longitude.")
@click.option("--lat-column", default="lat", show_default=True, help="The latitude.")
def address_import(
    file: Path, crs: str, address_column: str, lon_column: str, lat_column: str
) -> None:
    """Load a CSV of address points: columns address, lon, lat (any order, or named with the
    options), an optional address_id, and any others, which are kept. Importing again updates
    what moved."""
    from sqlalchemy.exc import IntegrityError
    from sqlmodel import Session

    from urbangrid.cases.addresses import AddressFileError, import_rows, read_file
    from urbangrid.core.db import get_engine
    from urbangrid.core.settings import get_settings

    try:
        names = {"address": address_column, "lon": lon_column, "lat": lat_column}
        rows, repeated, blank = read_file(file, crs, names)
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
