"""The workers' Celery application: the shared app of ``urbangrid.core.messages`` (queues,
routes, delivery guarantees, beat schedule) with every task declared on it.

On RabbitMQ every work queue dead-letters what a task rejects for good (a permanent error, or
retries exhausted) to ``urbangrid.dead`` (see ``workers/deadletter.py``).
"""

from __future__ import annotations

from celery import Celery

from urbangrid.core.messages import NOOP, celery_app
from urbangrid.core.settings import Settings


def make_celery(settings: Settings | None = None) -> Celery:
    """A Celery app bound to the configured broker, every task declared."""
    app = celery_app(settings)
    import workers.tasks

    workers.tasks.register(app)

    @app.task(name=NOOP)
    def noop() -> None:
        """Nothing: what a task costs on this broker and these workers, for comparison."""

    import workers.batches
    import workers.duplicates
    import workers.housekeeping
    import workers.media
    import workers.metrics
    import workers.notify

    for module in (
        workers.batches,
        workers.duplicates,
        workers.media,
        workers.notify,
        workers.housekeeping,
        workers.metrics,
    ):
        module.register(app)
    for name in periodic_tasks(app):
        # A periodic run that fails is acknowledged, never dead-lettered: the next run, one
        # interval later, finds the same work in the database (workers/beat.py).
        app.tasks[name].acks_on_failure = True
    return app


def periodic_tasks(app: Celery) -> set[str]:
    """The names of the tasks the scheduler sends."""
    return {str(entry["task"]) for entry in app.conf.beat_schedule.values()}
