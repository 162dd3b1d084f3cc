"""The messages between the API and the workers: every task's name, the queues, the routes and the
beat schedule, and the Celery app that carries them.

Both sides import this module and nothing of each other: the API publishes by name (it never
runs a task), the workers declare their tasks under the same names. Messages carry ids only; the
database row holds the truth.

The embedded default passes messages as files under ``var/broker`` (no server; see
``urbangrid/core/embedded_broker.py``); an ``amqp://`` URL selects RabbitMQ. On RabbitMQ every
work queue dead-letters what a task rejects for good (a permanent error, or retries exhausted)
to ``urbangrid.dead`` (``workers/deadletter.py``).
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from kombu.entity import Exchange, Queue

from urbangrid.core import embedded_broker
from urbangrid.core.settings import Settings, get_settings

# Routing: one new report, or the reports the API took in within a few milliseconds (or the
# relay found unrouted) as one message of at most RELAY_BATCH ids.
ROUTE_CASE = "urbangrid.route_case"
ROUTE_CASES = "urbangrid.route_cases"
RELAY_BATCH = 200
RELAY_UNROUTED = "urbangrid.relay_unrouted"
# Time limits: the periodic sweep, and the clocks of one case, or of a set of cases, moved on.
SLA_SWEEP = "urbangrid.sla_sweep"
SLA_ADVANCE = "urbangrid.sla_advance"
SLA_ADVANCE_MANY = "urbangrid.sla_advance_many"
# Does nothing: the pipeline benchmark's baseline, run by the same workers on the same queue.
NOOP = "urbangrid.noop"
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
# Raw uploads left by refused requests, deleted (they carry the photo's EXIF and GPS).
SWEEP_RAW_UPLOADS = "urbangrid.sweep_raw_uploads"
# The evaluation's rollups.
REFRESH_METRICS = "urbangrid.refresh_metrics"

QUEUES = ("intake", "geo", "routing", "sla", "media", "notify", "metrics", "periodic")

# A resident's report on its way to a department: workers of their own, so that routing never
# waits behind housekeeping. ``urbangrid run`` starts one worker on these queues and one on the
# others; a worker on housekeeping queues alone runs at a lower CPU priority (workers/cli.py).
ROUTING_QUEUES = ("intake", "routing")
HOUSEKEEPING_QUEUES = tuple(name for name in QUEUES if name not in ROUTING_QUEUES)

ROUTES = {
    ROUTE_CASE: {"queue": "routing"},
    # The scheduler's ticks: cheap, but never in the way of a report being routed.
    RELAY_UNROUTED: {"queue": "periodic"},
    SLA_SWEEP: {"queue": "periodic"},
    SLA_ADVANCE: {"queue": "sla"},
    SLA_ADVANCE_MANY: {"queue": "sla"},
    # Intake: batches of new reports to routing, photos on the media queue, notices to
    # residents on the notify queue.
    ROUTE_CASES: {"queue": "routing"},
    NOOP: {"queue": "routing"},
    LINK_DUPLICATE: {"queue": "intake"},
    RELAY_DUPLICATES: {"queue": "periodic"},
    PROCESS_PHOTO: {"queue": "media"},
    RELAY_PHOTOS: {"queue": "media"},
    SEND_NOTIFICATIONS: {"queue": "notify"},
    EXPIRE_IDEMPOTENCY_KEYS: {"queue": "periodic"},
    SWEEP_RAW_UPLOADS: {"queue": "media"},
    # The evaluation's rollups: a queue of their own, so a long first build delays no deadline.
    REFRESH_METRICS: {"queue": "metrics"},
}

DEAD_LETTER_EXCHANGE = "urbangrid.dlx"
DEAD_LETTER_QUEUE = "urbangrid.dead"


# Option of a beat entry giving its lifetime in seconds; the scheduler (workers/beat.py) puts it
# in the message's header, not in a broker TTL that would dead-letter every stale tick.
LIFETIME = "urbangrid_lifetime_s"

# The shortest life of a periodic task, whatever its interval. A tick lives one interval so a
# stalled worker does not come back to an hour of them; but a tick must also outlive the trip
# to a busy worker. At one-second intervals every relay reached a single housekeeping process
# that had just loaded its first task a moment after its life ran out, and the relay never ran.
MIN_LIFETIME_S = 30.0


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    """What the scheduler sends, and how often; each lives one interval (the next run does the
    same work), and never less than ``MIN_LIFETIME_S``."""
    every = {
        "relay-unrouted": (RELAY_UNROUTED, settings.relay_interval_s),
        "sla-sweep": (SLA_SWEEP, settings.sla_sweep_interval_s),
        "relay-duplicates": (RELAY_DUPLICATES, settings.relay_interval_s),
        "relay-photos": (RELAY_PHOTOS, settings.relay_interval_s),
        "send-notifications": (SEND_NOTIFICATIONS, settings.notify_interval_s),
        "refresh-metrics": (REFRESH_METRICS, settings.metrics_refresh_interval_s),
        "expire-idempotency-keys": (EXPIRE_IDEMPOTENCY_KEYS, 3600.0),
        "sweep-raw-uploads": (SWEEP_RAW_UPLOADS, 3600.0),
    }
    return {
        entry: {
            "task": task,
            "schedule": seconds,
            "options": {LIFETIME: max(seconds, MIN_LIFETIME_S)},
        }
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
        return {
            **embedded_broker.folders(settings.broker_dir),
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
        beat_schedule=beat_schedule(settings),
    )
    if settings.embedded_broker:
        # The filesystem transport has no fanout exchanges: no remote control or worker events.
        app.conf.update(worker_enable_remote_control=False, worker_send_task_events=False)
    app.conf.urbangrid_settings = settings
    return app
