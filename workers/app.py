"""The Celery application: explicit queues, routes and delivery guarantees.

The embedded default passes messages as files under ``var/broker`` (no server; see
``workers/embedded_broker.py``); an ``amqp://`` URL selects RabbitMQ. Messages carry case ids
only; the database row holds the truth.
On RabbitMQ every work queue dead-letters what a task rejects for good (a permanent error, or
retries exhausted) to ``urbangrid.dead`` (see ``workers/deadletter.py``).
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from kombu.entity import Exchange, Queue

from urbangrid.settings import Settings, get_settings
from workers import embedded_broker
from workers.beat import LIFETIME

QUEUES = ("intake", "geo", "routing", "sla", "media", "notify", "metrics", "periodic")

# A resident's report on its way to a department: workers of their own, so that routing never
# waits behind housekeeping. ``urbangrid run`` starts one worker on these queues and one on the
# others; a worker on housekeeping queues alone runs at a lower CPU priority (workers/cli.py).
ROUTING_QUEUES = ("intake", "routing")
HOUSEKEEPING_QUEUES = tuple(name for name in QUEUES if name not in ROUTING_QUEUES)

ROUTES = {
    "urbangrid.route_case": {"queue": "routing"},
    # The scheduler's ticks: cheap, but never in the way of a report being routed.
    "urbangrid.relay_unrouted": {"queue": "periodic"},
    "urbangrid.sla_sweep": {"queue": "periodic"},
    "urbangrid.sla_advance": {"queue": "sla"},
    "urbangrid.sla_advance_many": {"queue": "sla"},
    # Intake: batches of new reports to routing, photos on the media queue, notices to
    # residents on the notify queue.
    "urbangrid.route_cases": {"queue": "routing"},
    # Does nothing: the pipeline benchmark's baseline, run by the same workers on the same queue.
    "urbangrid.noop": {"queue": "routing"},
    "urbangrid.link_duplicate": {"queue": "intake"},
    "urbangrid.relay_duplicates": {"queue": "periodic"},
    "urbangrid.process_photo": {"queue": "media"},
    "urbangrid.relay_photos": {"queue": "media"},
    "urbangrid.send_notifications": {"queue": "notify"},
    "urbangrid.expire_idempotency_keys": {"queue": "periodic"},
    # The evaluation's rollups: a queue of their own, so a long first build delays no deadline.
    "urbangrid.refresh_metrics": {"queue": "metrics"},
}

DEAD_LETTER_EXCHANGE = "urbangrid.dlx"
DEAD_LETTER_QUEUE = "urbangrid.dead"


def work_queues(settings: Settings) -> list[Queue]:
    """The declared work queues; on RabbitMQ each dead-letters to ``urbangrid.dlx``."""
    exchange = Exchange("urbangrid", type="direct", durable=True)
    arguments = (
        None if settings.embedded_broker else {"x-dead-letter-exchange": DEAD_LETTER_EXCHANGE}
    )
    return [
        Queue(name, exchange, routing_key=name, durable=True, queue_arguments=arguments)
        for name in QUEUES
    ]


def prefetch_for(queues: list[str], settings: Settings) -> int:
    """The prefetch multiplier of a worker on ``queues``: the smallest any of them asks for."""
    return min((settings.worker_prefetch.get(name, 1) for name in queues), default=1)


def _transport_options(settings: Settings) -> dict[str, Any]:
    if settings.embedded_broker:
        return {
            **embedded_broker.folders(settings.broker_dir),
            "store_processed": False,
            "polling_interval": settings.embedded_poll_interval_s,
        }
    # A publish that cannot reach RabbitMQ must fail fast: the report is already stored and the
    # relay will publish it once the broker is back.
    return {"max_retries": 0, "confirm_publish": True}


def make_celery(settings: Settings | None = None) -> Celery:
    """A Celery app bound to the configured broker."""
    settings = settings or get_settings()
    broker = settings.effective_broker_url
    if settings.embedded_broker:
        embedded_broker.register()
        # kombu's own filesystem transport corrupts messages under concurrent use (#1551).
        broker = broker.replace("filesystem://", f"{embedded_broker.SCHEME}://", 1)
    app = Celery("urbangrid", broker=broker, set_as_current=False)
    app.conf.update(
        task_queues=work_queues(settings),
        task_default_queue="routing",
        task_default_exchange="urbangrid",
        task_default_routing_key="routing",
        task_routes=ROUTES,
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        result_backend=None,
        # A task is acknowledged after it ran, and given back if its worker dies mid-way: every
        # task is idempotent, so running twice is safe and losing one is not.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        # A task that fails for good is rejected, not acknowledged, so RabbitMQ dead-letters it
        # for inspection and replay. A task killed at the hard time limit is acknowledged: the
        # relay and the SLA sweep find its work again from the database.
        task_acks_on_failure=settings.embedded_broker,
        task_acks_on_timeout=True,
        task_soft_time_limit=120,
        task_time_limit=180,
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=settings.publish_timeout_s,
        broker_transport_options=_transport_options(settings),
        timezone=settings.city_timezone,
        enable_utc=True,
        worker_hijack_root_logger=False,
        beat_schedule={
            "relay-unrouted": {
                "task": "urbangrid.relay_unrouted",
                "schedule": settings.relay_interval_s,
                "options": {LIFETIME: settings.relay_interval_s},
            },
            "sla-sweep": {
                "task": "urbangrid.sla_sweep",
                "schedule": settings.sla_sweep_interval_s,
                "options": {LIFETIME: settings.sla_sweep_interval_s},
            },
            "relay-duplicates": {
                "task": "urbangrid.relay_duplicates",
                "schedule": settings.relay_interval_s,
                "options": {LIFETIME: settings.relay_interval_s},
            },
            "relay-photos": {
                "task": "urbangrid.relay_photos",
                "schedule": settings.relay_interval_s,
                "options": {LIFETIME: settings.relay_interval_s},
            },
            "send-notifications": {
                "task": "urbangrid.send_notifications",
                "schedule": settings.notify_interval_s,
                "options": {LIFETIME: settings.notify_interval_s},
            },
            "refresh-metrics": {
                "task": "urbangrid.refresh_metrics",
                "schedule": settings.metrics_refresh_interval_s,
                "options": {LIFETIME: settings.metrics_refresh_interval_s},
            },
            "expire-idempotency-keys": {
                "task": "urbangrid.expire_idempotency_keys",
                "schedule": 3600.0,
                "options": {LIFETIME: 3600.0},
            },
        },
    )
    if settings.embedded_broker:
        # The filesystem transport has no fanout exchanges: no remote control or worker events.
        app.conf.update(worker_enable_remote_control=False, worker_send_task_events=False)
    app.conf.urbangrid_settings = settings
    import workers.tasks

    workers.tasks.register(app)

    @app.task(name="urbangrid.noop")
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
