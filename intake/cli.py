"""``urbangrid api``, ``categories load``, ``apikey …``, ``bench intake`` and ``staff …``."""

from __future__ import annotations

from pathlib import Path

import click
import yaml

from urbangrid.core.settings import get_settings


@click.command()
@click.option("--host", default=None, help="Interface to bind (default from settings).")
@click.option("--port", default=None, type=int, help="Port (default from settings).")
@click.option("--workers", default=1, show_default=True, help="uvicorn worker processes.")
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    help="uvicorn's log level; below info it leaves out the line per request.",
)
@click.option(
    "--healthcheck-timeout",
    default=60,
    show_default=True,
    help="Seconds a worker process may not answer uvicorn's ping before it is killed.",
)
def api(
    host: str | None, port: int | None, workers: int, log_level: str, healthcheck_timeout: int
) -> None:
    """Serve the intake API (uvicorn)."""
    import uvicorn

    settings = get_settings()
    uvicorn.run(
        "intake.main:app",
        host=host or settings.api_host,
        port=port or settings.api_port,
        workers=workers,
        log_level=log_level.lower(),
        # uvicorn pings each worker process and kills one that does not answer in time. Its
        # default of 5 s killed 3 of 6 children while they loaded the grid on a busy 2-core
        # machine (the answering thread waits for the GIL): only a process hung for a
        # minute is dead.
        timeout_worker_healthcheck=healthcheck_timeout,
    )


@click.group()
def categories() -> None:
    """The category taxonomy residents report against."""


@categories.command("load")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--keep-missing", is_flag=True, help="Leave categories the file omits on offer.")
def categories_load(file: Path, keep_missing: bool) -> None:
    """Load a taxonomy YAML (codes, names, major classes, time limits, verification)."""
    from sqlmodel import Session

    from urbangrid.cases.seed import retire_missing_categories, upsert_taxonomy
    from urbangrid.core.db import get_engine
    from urbangrid.domain.taxonomy import load_taxonomy

    try:
        taxonomy = load_taxonomy(file)
    except (ValueError, OSError) as exc:
        raise click.ClickException(f"{file}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise click.ClickException(f"{file}: not valid YAML: {exc}") from exc
    with Session(get_engine()) as session:
        count = upsert_taxonomy(session, taxonomy)
        retired = [] if keep_missing else retire_missing_categories(session, taxonomy)
        session.commit()
    click.echo(
        f"loaded {count} categories and {len(taxonomy.major_classes)} major classes from {file}"
    )
    if retired:
        click.echo(f"retired (no longer offered, old cases keep them): {', '.join(retired)}")


@click.group()
def apikey() -> None:
    """Keys of the Open311 clients (311 apps, FixMyStreet, hotlines)."""


@apikey.command("create")
@click.argument("name")
def apikey_create(name: str) -> None:
    """Make a key for client NAME and print it (it is stored only as a hash)."""
    from sqlmodel import Session

    from intake.apikeys import create_key
    from urbangrid.core.db import get_engine

    with Session(get_engine()) as session:
        try:
            key = create_key(session, name)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(key)


@apikey.command("list")
def apikey_list() -> None:
    """Every key: name, first characters, created, revoked."""
    from sqlmodel import Session

    from intake.apikeys import list_keys
    from urbangrid.core.db import get_engine

    with Session(get_engine()) as session:
        for key in list_keys(session):
            revoked = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "active"
            click.echo(f"{key.name}\t{key.prefix}…\t{key.created_at:%Y-%m-%d}\t{revoked}")


@apikey.command("revoke")
@click.argument("name")
def apikey_revoke(name: str) -> None:
    """Revoke the active key of client NAME."""
    from sqlmodel import Session

    from intake.apikeys import revoke_key
    from urbangrid.core.db import get_engine

    with Session(get_engine()) as session:
        if not revoke_key(session, name):
            raise click.ClickException(f"no active key named {name!r}")
    click.echo(f"revoked {name}")


@click.group()
def staff() -> None:
    """Staff accounts and their API tokens."""


@staff.command("create")
@click.argument("name")
@click.option(
    "--role",
    required=True,
    help="supervisor, operator, shift_lead, dispatcher, department, head or admin.",
)
@click.option("--scope", required=True, help="city, department:CODE or grid:PREFIX.")
@click.option("--password", is_flag=True, help="Also set a password for login (prompted).")
@click.option(
    "--days", type=float, default=None, help="Token valid this many days (default: until revoked)."
)
def staff_create(name: str, role: str, scope: str, password: bool, days: float | None) -> None:
    """Create a staff account and print its API token (shown only this once)."""
    from datetime import timedelta

    from sqlmodel import Session

    from urbangrid.cases.staff import create_staff, issue_token
    from urbangrid.core.db import get_engine

    secret = (
        click.prompt("Password", hide_input=True, confirmation_prompt=True) if password else None
    )
    with Session(get_engine()) as session:
        try:
            account = create_staff(session, name, role, scope, password=secret)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from exc
        token = issue_token(
            session, account, label="cli", ttl=timedelta(days=days) if days else None
        )
        session.commit()
        click.echo(f"created {account.name} ({account.role}, {account.scope})", err=True)
    click.echo(token)


@staff.command("token")
@click.argument("name")
@click.option(
    "--days", type=float, default=None, help="Valid this many days (default: until revoked)."
)
def staff_token(name: str, days: float | None) -> None:
    """Issue another API token for NAME and print it."""
    from datetime import timedelta

    from sqlmodel import Session, select

    from urbangrid.cases.staff import issue_token
    from urbangrid.core.db import get_engine
    from urbangrid.core.tables import Staff

    with Session(get_engine()) as session:
        account = session.exec(select(Staff).where(Staff.name == name)).first()
        if account is None:
            raise click.ClickException(f"no staff account {name!r}")
        token = issue_token(
            session, account, label="cli", ttl=timedelta(days=days) if days else None
        )
        session.commit()
    click.echo(token)


@staff.command("revoke")
@click.argument("name")
@click.option("--deactivate", is_flag=True, help="Also disable the account (no login).")
def staff_revoke(name: str, deactivate: bool) -> None:
    """Revoke every token of NAME."""
    from sqlmodel import Session, select

    from urbangrid.cases.staff import revoke_tokens
    from urbangrid.core.db import get_engine
    from urbangrid.core.tables import Staff

    with Session(get_engine()) as session:
        account = session.exec(select(Staff).where(Staff.name == name)).first()
        if account is None:
            raise click.ClickException(f"no staff account {name!r}")
        count = revoke_tokens(session, account)
        if deactivate:
            account.active = False
            session.add(account)
        session.commit()
    click.echo(f"revoked {count} tokens of {name}" + (" and deactivated it" if deactivate else ""))


@staff.command("list")
def staff_list() -> None:
    """List staff accounts with role and scope."""
    from sqlmodel import Session, col, select

    from urbangrid.core.db import get_engine
    from urbangrid.core.tables import Staff

    with Session(get_engine()) as session:
        for account in session.exec(select(Staff).order_by(col(Staff.name))):
            state = "" if account.active else "  (inactive)"
            click.echo(f"{account.name}\t{account.role}\t{account.scope}{state}")
