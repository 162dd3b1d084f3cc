"""``urbangrid worker`` and ``urbangrid scheduler``."""

from __future__ import annotations

from typing import Any

import click
from celery.signals import worker_process_init

from urbangrid.settings import get_settings
from workers.app import QUEUES, make_celery


@worker_process_init.connect
def _after_fork(**_: Any) -> None:
    # A forked child must not share its parent's database connections; then build the grid
    # index once so the first report this process routes is as fast as the rest.
    from urbangrid.db import dispose_engines
    from workers.tasks import warm_grid

    dispose_engines()
    warm_grid(get_settings())


@click.command()
@click.option("-Q", "--queues", default=",".join(QUEUES), show_default=True)
@click.option("-c", "--concurrency", default=None, type=int, help="Processes (default: settings).")
@click.option("--loglevel", default="INFO", show_default=True)
@click.option("--hostname", default=None, help="Worker node name (unique per machine).")
def worker(queues: str, concurrency: int | None, loglevel: str, hostname: str | None) -> None:
    """Run a Celery worker on the given queues."""
    settings = get_settings()
    app = make_celery(settings)
    argv = [
        "worker",
        f"--queues={queues}",
        f"--concurrency={concurrency or settings.worker_concurrency}",
        f"--loglevel={loglevel}",
        "--pool=prefork",
    ]
    if hostname:
        argv.append(f"--hostname={hostname}")
    if settings.embedded_broker:
        argv += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
    app.worker_main(argv)


@click.command()
@click.option("--loglevel", default="INFO", show_default=True)
def scheduler(loglevel: str) -> None:
    """Run the scheduler (Celery beat): the relay and, later, the SLA sweep."""
    settings = get_settings()
    app = make_celery(settings)
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    app.start(
        [
            "beat",
            f"--loglevel={loglevel}",
            f"--schedule={settings.var_dir / 'celerybeat-schedule'}",
        ]
    )
