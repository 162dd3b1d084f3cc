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
