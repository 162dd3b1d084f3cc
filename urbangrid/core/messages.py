"""The messages between the API and the workers: every task's name, the queues, the routes and the
beat schedule, and the Celery app that carries them.

Both sides import this module and nothing of each other: the API publishes by name (it never
runs a task), the workers declare their tasks under the same names. Messages carry ids only; the
database row holds the truth.

The embedded default uses kombu's filesystem transport under ``var/broker`` (no server); an
``amqp://`` URL selects RabbitMQ. On RabbitMQ every work queue dead-letters what a task rejects
for good (a permanent error, or retries exhausted) to ``urbangrid.dead``
(``workers/deadletter.py``).
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from kombu.entity import Exchange, Queue

from urbangrid.core.settings import Settings, get_settings

# Routing: one new report, or the reports the API took in within a few milliseconds, as one
# message of at most MAX_BATCH ids; the relay republishes what stayed unrouted.
ROUTE_CASE = "urbangrid.route_case"
ROUTE_CASES = "urbangrid.route_cases"
MAX_BATCH = 50
RELAY_UNROUTED = "urbangrid.relay_unrouted"
# Time limits: the periodic sweep, and one case's clocks moved on.
SLA_SWEEP = "urbangrid.sla_sweep"
SLA_ADVANCE = "urbangrid.sla_advance"
# A report that joined an open case, voided as its duplicate; and the relay of those left over.
LINK_DUPLICATE = "urbangrid.link_duplicate"
RELAY_DUPLICATES = "urbangrid.relay_duplicates"
# Residents' photos: checked, turned upright, shrunk, stripped; and the relay of those pending.
PROCESS_PHOTO = "urbangrid.process_photo"
RELAY_PHOTOS = "urbangrid.relay_photos"
# Notices to residents about their reports.
SEND_NOTIFICATIONS = "urbangrid.send_notifications"
# Housekeeping: idempotency keys forgotten once their lifetime is over.
EXPIRE_IDEMPOTENCY_KEYS = "urbangrid.expire_idempotency_keys"
# The evaluation's rollups.
REFRESH_METRICS = "urbangrid.refresh_metrics"

QUEUES = ("intake", "geo", "routing", "sla", "media", "notify", "metrics")

ROUTES = {
    ROUTE_CASE: {"queue": "routing"},
    RELAY_UNROUTED: {"queue": "intake"},
    SLA_SWEEP: {"queue": "sla"},
    SLA_ADVANCE: {"queue": "sla"},
    # Intake: batches of new reports to routing, photos on the media queue, notices to
    # residents on the notify queue.
    ROUTE_CASES: {"queue": "routing"},
    LINK_DUPLICATE: {"queue": "intake"},
    RELAY_DUPLICATES: {"queue": "intake"},
    PROCESS_PHOTO: {"queue": "media"},
    RELAY_PHOTOS: {"queue": "media"},
    SEND_NOTIFICATIONS: {"queue": "notify"},
    EXPIRE_IDEMPOTENCY_KEYS: {"queue": "intake"},
    # The evaluation's rollups: a queue of their own, so a long first build delays no deadline.
    REFRESH_METRICS: {"queue": "metrics"},
}

DEAD_LETTER_EXCHANGE = "urbangrid.dlx"
DEAD_LETTER_QUEUE = "urbangrid.dead"


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    """What the scheduler sends, and how often; a message not taken within its period expires
    (the next one does the same work)."""
    every = {
        "relay-unrouted": (RELAY_UNROUTED, settings.relay_interval_s),
        "sla-sweep": (SLA_SWEEP, settings.sla_sweep_interval_s),
        "relay-duplicates": (RELAY_DUPLICATES, settings.relay_interval_s),
        "relay-photos": (RELAY_PHOTOS, settings.relay_interval_s),
        "send-notifications": (SEND_NOTIFICATIONS, settings.notify_interval_s),
        "refresh-metrics": (REFRESH_METRICS, settings.metrics_refresh_interval_s),
        "expire-idempotency-keys": (EXPIRE_IDEMPOTENCY_KEYS, 3600.0),
    }
    return {
        entry: {"task": task, "schedule": seconds, "options": {"expires": seconds}}
        for entry, (task, seconds) in every.items()
    }


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
        folder = settings.broker_dir / "queue"
        processed = settings.broker_dir / "processed"
        control = settings.broker_dir / "control"
        for path in (folder, processed, control):
            path.mkdir(parents=True, exist_ok=True)
        return {
            "data_folder_in": str(folder),
            "data_folder_out": str(folder),
            "processed_folder": str(processed),
            "control_folder": str(control),
            "store_processed": False,
            "polling_interval": settings.embedded_poll_interval_s,
        }
    # A publish that cannot reach RabbitMQ must fail fast: the report is already stored and the
    # relay will publish it once the broker is back.
    return {"max_retries": 0, "confirm_publish": True}


def celery_app(settings: Settings | None = None) -> Celery:
    """A Celery app bound to the configured broker, with no task declared: the API publishes
    with it by name; the workers declare their tasks on it (``workers.app.make_celery``)."""
    settings = settings or get_settings()
    app = Celery("urbangrid", broker=settings.effective_broker_url, set_as_current=False)
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
        beat_schedule=beat_schedule(settings),
    )
    if settings.embedded_broker:
        # The filesystem transport has no fanout exchanges: no remote control or worker events.
        app.conf.update(worker_enable_remote_control=False, worker_send_task_events=False)
    app.conf.urbangrid_settings = settings
    return app
