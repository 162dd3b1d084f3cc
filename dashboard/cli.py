"""``urbangrid dashboard``: serve the Streamlit dashboard."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click

from urbangrid.core.settings import get_settings


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
