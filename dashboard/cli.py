"""``urbangrid dashboard``: serve the Streamlit dashboard."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click

from urbangrid.settings import get_settings


@click.command()
def dashboard() -> None:
    """Serve the dashboard (Streamlit, with its sign-in routes) on the configured host and port."""
    settings = get_settings()
    app = Path(__file__).with_name("server.py")
    raise SystemExit(
        subprocess.call(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                str(app),
                "--server.address",
                settings.dashboard_host,
                "--server.port",
                str(settings.dashboard_port),
                "--server.headless",
                "true",
                "--browser.gatherUsageStats",
                "false",
                # Heads read the pages; Streamlit's deploy and developer menu are not for them.
                "--client.toolbarMode",
                "viewer",
            ]
        )
    )


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

    from dashboard.bench import run_dashboard_bench

    configured = get_settings().effective_database_url
    url = admin_url or (
        configured
        if configured.startswith("postgresql")
        else "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    result = run_dashboard_bench(url, cases=cases, days=days, repeat=repeat, say=click.echo)
    click.echo(json.dumps(result))
