"""The dead-letter queue on RabbitMQ: what kept failing, to inspect and to replay.

A task that fails for good is rejected; its queue dead-letters the message, untouched, to the
``urbangrid.dlx`` exchange, which routes everything to ``urbangrid.dead``. RabbitMQ records in
the ``x-death`` header where it came from, why and how often. Once the cause is fixed (a missing
grid, a bad category, a bug), :func:`replay` puts messages back on the queue they came from.
Tasks are idempotent, so replaying one that half-ran is safe.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from celery import Celery
from kombu.connection import Connection
from kombu.entity import Exchange, Queue

from urbangrid.core.messages import DEAD_LETTER_EXCHANGE, DEAD_LETTER_QUEUE
from urbangrid.core.settings import Settings

_EXCHANGE = Exchange(DEAD_LETTER_EXCHANGE, type="topic", durable=True)
# Dead-lettered messages keep their routing key (the work queue's name): "#" takes them all.
_QUEUE = Queue(DEAD_LETTER_QUEUE, _EXCHANGE, routing_key="#", durable=True)
# RabbitMQ's own death record is dropped on replay (brokers ignore or refuse it from clients):
# this header keeps count of the replays instead.
REPLAYS = "urbangrid-replays"


@dataclass(frozen=True)
class DeadLetter:
    task: str
    task_id: str
    args: str
    queue: str
    reason: str
    count: int
    died_at: datetime | None
    replays: int = 0

    def line(self) -> str:
        when = self.died_at.isoformat() if self.died_at else "?"
        return (
            f"{self.task_id}  {self.task}{self.args}  from {self.queue}  "
            f"{self.reason} x{self.count}  {when}  replayed {self.replays}"
        )


def require_rabbitmq(settings: Settings) -> None:
    if settings.embedded_broker:
        raise RuntimeError(
            "the embedded broker has no dead-letter queue: failed tasks are in the worker log"
        )


def declare(app: Celery) -> None:
    """Declare the dead-letter exchange and queue (idempotent; workers do it at start-up)."""
    with app.connection_for_write() as connection:
        _QUEUE(connection.default_channel).declare()


def describe(message: Any) -> DeadLetter:
    headers = dict(message.headers or {})
    deaths = headers.get("x-death") or [{}]
    death = deaths[0]
    try:
        args = json.loads(message.body)[0]
    except (ValueError, TypeError, IndexError, KeyError):
        args = "?"
    return DeadLetter(
        task=str(headers.get("task", "?")),
        task_id=str(headers.get("id", "?")),
        args=f"({', '.join(map(repr, args))})" if isinstance(args, list) else str(args),
        queue=str(death.get("queue", "?")),
        reason=str(death.get("reason", "?")),
        count=int(death.get("count", 1)),
        died_at=death.get("time"),
        replays=int(headers.get(REPLAYS, 0)),
    )


@contextmanager
def _channel(app: Celery) -> Iterator[tuple[Connection, Any]]:
    with app.connection_for_write() as connection:
        channel = connection.channel()
        try:
            _QUEUE(channel).declare()
            yield connection, channel
        finally:
            # Whatever was fetched and not acknowledged goes back to the queue.
            channel.close()


def inspect(app: Celery, *, limit: int = 100) -> tuple[list[DeadLetter], int]:
    """Up to ``limit`` dead letters (left in the queue), and how many the queue holds."""
    found: list[DeadLetter] = []
    with _channel(app) as (_, channel):
        _, total, _ = channel.queue_declare(DEAD_LETTER_QUEUE, passive=True)
        for _ in range(min(limit, total)):
            message = channel.basic_get(DEAD_LETTER_QUEUE, no_ack=False)
            if message is None:
                break
            found.append(describe(message))
    return found, int(total)


def replay(
    app: Celery,
    *,
    limit: int = 100,
    select: Callable[[DeadLetter], bool] = lambda _: True,
) -> list[DeadLetter]:
    """Publish dead letters back to the queue each came from; returns those replayed.

    The message goes back byte for byte with its headers (less RabbitMQ's death record), so the
    task runs with the same id and arguments.
    """
    replayed: list[DeadLetter] = []
    with _channel(app) as (connection, channel):
        _, total, _ = channel.queue_declare(DEAD_LETTER_QUEUE, passive=True)
        producer = connection.Producer(channel)
        for _ in range(total):
            if len(replayed) >= limit:
                break
            message = channel.basic_get(DEAD_LETTER_QUEUE, no_ack=False)
            if message is None:
                break
            letter = describe(message)
            if not select(letter):
                continue  # left unacknowledged: back in the queue when the channel closes
            headers = {k: v for k, v in (message.headers or {}).items() if not k.startswith("x-")}
            headers[REPLAYS] = letter.replays + 1
            properties = dict(message.properties or {})
            producer.publish(
                message.body,
                exchange="urbangrid",
                routing_key=letter.queue,
                headers=headers,
                content_type=message.content_type,
                content_encoding=message.content_encoding,
                delivery_mode=2,
                correlation_id=properties.get("correlation_id"),
                retry=False,
            )
            channel.basic_ack(message.delivery_tag)
            replayed.append(letter)
    return replayed
