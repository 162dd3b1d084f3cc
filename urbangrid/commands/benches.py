"""The click commands of the intake and dashboard benchmarks (``urbangrid bench intake|dashboard``):
the measuring code stays in its own module, imported only when the command runs."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import click

from urbangrid.core.settings import get_settings

F = TypeVar("F", bound=Callable[..., object])


def scratch_services(command: F) -> F:
    """``--database-url`` and ``--broker-url``: where a bench that runs the API makes its scratch
    database and vhost (see :func:`scratch_urls`)."""
    command = click.option(
        "--broker-url", default=None, help="RabbitMQ (default: the configured broker)."
    )(command)
    return click.option(
        "--database-url",
        default=None,
        help="A PostgreSQL server to make a scratch database on (default: the configured one).",
    )(command)


def scratch_urls(database_url: str | None, broker_url: str | None) -> tuple[str, str]:
    """The PostgreSQL server and the broker given, else the configured ones; refuses any
    database but PostgreSQL."""
    settings = get_settings()
    url = database_url or settings.database_url
    if not url.startswith("postgresql"):
        raise click.ClickException("give --database-url postgresql+psycopg://… (PostgreSQL)")
    return url, broker_url or settings.effective_broker_url


@click.command("dashboard")
@click.option("--cases", default=1_000_000, show_default=True, help="Synthetic cases to seed.")
@click.option("--days", default=730, show_default=True, help="Days of history they span.")
@click.option(
    "--repeat",
    default=7,
    show_default=True,
    help="Timed runs per figure, each in turn with the bare GROUP BY (medians).",
)
@click.option(
    "--admin-url",
    default=None,
    help="PostgreSQL server to create the scratch database on (default: the configured "
    "database if it is PostgreSQL, else postgres@127.0.0.1:5432).",
)
def bench_dashboard(cases: int, days: int, repeat: int, admin_url: str | None) -> None:
    """Metric queries and page loads over a million synthetic cases on PostgreSQL, beside a
    bare GROUP BY over the same table."""
    import json

    from urbangrid.commands.bench_dashboard import run_dashboard_bench

    configured = get_settings().effective_database_url
    url = admin_url or (
        configured
        if configured.startswith("postgresql")
        else "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    result = run_dashboard_bench(url, cases=cases, days=days, repeat=repeat, say=click.echo)
    click.echo(json.dumps(result))


@click.command()
@click.option("--seconds", default=10.0, show_default=True, help="Length of each phase.")
@click.option("--clients", default=32, show_default=True, help="Concurrent connections.")
@click.option("--photo-clients", default=8, show_default=True)
@scratch_services
def bench_intake(
    seconds: float,
    clients: int,
    photo_clients: int,
    database_url: str | None,
    broker_url: str | None,
) -> None:
    """Reports per second and p50/p99 latency of JSON and photo intake beside a no-op endpoint."""
    import json

    from urbangrid.commands.bench_intake import run_intake_bench

    result = run_intake_bench(
        *scratch_urls(database_url, broker_url),
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
@scratch_services
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

    from urbangrid.commands.bench_flood import Load, run_flood_bench

    load = Load(seconds, rate, clients, flooders, flood_rate, rounds)
    result = run_flood_bench(*scratch_urls(database_url, broker_url), load)
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
