"""``urbangrid api``, ``categories load``, ``apikey …``, ``bench intake`` and ``staff …``."""

from __future__ import annotations

from pathlib import Path

import click
import yaml

from urbangrid.settings import get_settings


@click.command()
@click.option("--host", default=None, help="Interface to bind (default from settings).")
@click.option("--port", default=None, type=int, help="Port (default from settings).")
@click.option("--workers", default=1, show_default=True, help="uvicorn worker processes.")
@click.option(
    "--healthcheck-timeout",
    default=60,
    show_default=True,
    help="Seconds a worker process may not answer uvicorn's ping before it is killed.",
)
def api(host: str | None, port: int | None, workers: int, healthcheck_timeout: int) -> None:
    """Serve the intake API (uvicorn)."""
    import uvicorn

    settings = get_settings()
    uvicorn.run(
        "intake.main:app",
        host=host or settings.api_host,
        port=port or settings.api_port,
        workers=workers,
        log_level="info",
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

    from urbangrid.db import get_engine
    from urbangrid.domain.taxonomy import load_taxonomy
    from urbangrid.seed import retire_missing_categories, upsert_taxonomy

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
    from urbangrid.db import get_engine

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
    from urbangrid.db import get_engine

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
    from urbangrid.db import get_engine

    with Session(get_engine()) as session:
        if not revoke_key(session, name):
            raise click.ClickException(f"no active key named {name!r}")
    click.echo(f"revoked {name}")


@click.command()
@click.option("--seconds", default=10.0, show_default=True, help="Length of each phase.")
@click.option("--clients", default=32, show_default=True, help="Concurrent connections.")
@click.option("--photo-clients", default=8, show_default=True)
@click.option(
    "--database-url",
    default=None,
    help="A PostgreSQL server to make a scratch database on (default: the configured one).",
)
@click.option("--broker-url", default=None, help="RabbitMQ (default: the configured broker).")
def bench_intake(
    seconds: float,
    clients: int,
    photo_clients: int,
    database_url: str | None,
    broker_url: str | None,
) -> None:
    """Reports per second and p50/p99 latency of JSON and photo intake beside a no-op endpoint."""
    import json

    from intake.bench import run_intake_bench

    settings = get_settings()
    url = database_url or settings.database_url
    if not url.startswith("postgresql"):
        raise click.ClickException("give --database-url postgresql+psycopg://… (PostgreSQL)")
    result = run_intake_bench(
        url,
        broker_url or settings.effective_broker_url,
        seconds=seconds,
        clients=clients,
        photo_clients=photo_clients,
    )
    for phase in result["phases"]:
        click.echo(
            f"{phase['name']:>22}: {phase['rate']:>8.1f} req/s  p50 {phase['p50_ms']:>7.2f} ms  "
            f"p99 {phase['p99_ms']:>7.2f} ms  cpu {phase['server_cpu_ms'] or 0:>5.2f} ms/req  "
            f"({phase['ok']} ok of {phase['requests']}, {phase['clients']} clients)",
            err=True,
        )
    click.echo(
        f"JSON intake at {result['json_vs_noop']:.1%} of the no-op's rate; p99 at half that "
        f"rate {result['half_rate_p99_ms']} ms; target (≥15%, p99 < 50 ms) "
        f"{'met' if result['meets_target'] else 'NOT met'}; "
        f"{result['reports_per_commit']} reports per commit",
        err=True,
    )
    click.echo(json.dumps(result))


@click.command("login-flood")
@click.option("--seconds", default=15.0, show_default=True, help="Length of each round.")
@click.option("--rate", default=40.0, show_default=True, help="Residents' reports per second.")
@click.option("--clients", default=16, show_default=True, help="Connections for the reports.")
@click.option("--flooders", default=16, show_default=True, help="Connections signing in.")
@click.option("--flood-rate", default=10.0, show_default=True, help="Sign-ins per second.")
@click.option("--rounds", default=2, show_default=True, help="Quiet and flooded rounds each.")
@click.option("--database-url", default=None, help="A PostgreSQL server for a scratch database.")
@click.option("--broker-url", default=None, help="RabbitMQ (default: the configured broker).")
def bench_login_flood(
    seconds: float,
    rate: float,
    clients: int,
    flooders: int,
    flood_rate: float,
    rounds: int,
    database_url: str | None,
    broker_url: str | None,
) -> None:
    """Report p50/p99 quiet and under a flood of sign-ins, and their ratio (target: ≤ 2x)."""
    import json

    from intake.bench_flood import run_flood_bench

    settings = get_settings()
    url = database_url or settings.database_url
    if not url.startswith("postgresql"):
        raise click.ClickException("give --database-url postgresql+psycopg://… (PostgreSQL)")
    result = run_flood_bench(
        url,
        broker_url or settings.effective_broker_url,
        seconds=seconds,
        rate=rate,
        clients=clients,
        flooders=flooders,
        flood_rate=flood_rate,
        rounds=rounds,
    )
    for phase in result["phases"]:
        click.echo(
            f"{phase['name']:>20}: {phase['rate']:>7.1f} req/s  p50 {phase['p50_ms']:>8.2f} ms  "
            f"p99 {phase['p99_ms']:>8.2f} ms  ({phase['ok']} ok of {phase['requests']})",
            err=True,
        )
    answered = ", ".join(f"{n} × {code}" for code, n in sorted(result["flood"].items()))
    click.echo(
        f"sign-in flood answered: {answered}; report p99 under flood "
        f"{result['p99_flood_vs_quiet']}x quiet; target (≤ 2x) "
        f"{'met' if result['meets_target'] else 'NOT met'}",
        err=True,
    )
    click.echo(json.dumps(result))


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
