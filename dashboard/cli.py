"""``urbangrid dashboard``: serve the Streamlit dashboard."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click

from urbangrid.core.settings import get_settings


@click.command()
@click.option("--log-level", default="info", show_default=True, help="Streamlit's log level.")
def dashboard(log_level: str) -> None:
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
                "--logger.level",
                log_level.lower(),
                "--browser.gatherUsageStats",
                "false",
                # Heads read the pages; Streamlit's deploy and developer menu are not for them.
                "--client.toolbarMode",
                "viewer",
            ],
            # Streamlit prints its address on stdout as information; its errors go to stderr.
            stdout=subprocess.DEVNULL if log_level.lower() in ("warning", "error") else None,
        )
    )
