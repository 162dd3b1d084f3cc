"""``urbangrid api``: serve the intake API."""

from __future__ import annotations

import click

from urbangrid.settings import get_settings


@click.command()
@click.option("--host", default=None, help="Interface to bind (default from settings).")
@click.option("--port", default=None, type=int, help="Port (default from settings).")
@click.option("--workers", default=1, show_default=True, help="uvicorn worker processes.")
def api(host: str | None, port: int | None, workers: int) -> None:
    """Serve the intake API (uvicorn)."""
    import uvicorn

    settings = get_settings()
    uvicorn.run(
        "intake.main:app",
        host=host or settings.api_host,
        port=port or settings.api_port,
        workers=workers,
        log_level="info",
    )


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

    from urbangrid.db import get_engine
    from urbangrid.staff import create_staff, issue_token

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

    from urbangrid.db import get_engine
    from urbangrid.staff import issue_token
    from urbangrid.tables import Staff

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

    from urbangrid.db import get_engine
    from urbangrid.staff import revoke_tokens
    from urbangrid.tables import Staff

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

    from urbangrid.db import get_engine
    from urbangrid.tables import Staff

    with Session(get_engine()) as session:
        for account in session.exec(select(Staff).order_by(col(Staff.name))):
            state = "" if account.active else "  (inactive)"
            click.echo(f"{account.name}\t{account.role}\t{account.scope}{state}")
