"""The workers' Celery application: the shared app of ``urbangrid.core.messages`` (queues,
routes, delivery guarantees, beat schedule) with every task declared on it."""

from __future__ import annotations

from celery import Celery

from urbangrid.core.messages import celery_app
from urbangrid.core.settings import Settings


def make_celery(settings: Settings | None = None) -> Celery:
    """A Celery app bound to the configured broker, every task declared."""
    app = celery_app(settings)
    import workers.batches
    import workers.duplicates
    import workers.housekeeping
    import workers.media
    import workers.metrics
    import workers.notify
    import workers.tasks

    for module in (
        workers.tasks,
        workers.batches,
        workers.duplicates,
        workers.media,
        workers.notify,
        workers.housekeeping,
        workers.metrics,
    ):
        module.register(app)
    return app
