"""``urbangrid bench broker``: the embedded broker candidates under the load that broke kombu's.

Several processes publish at once (the API's publisher, the scheduler) while one consumes (the
worker), as ``urbangrid run`` does. For each candidate the benchmark counts what a city cares
about: messages the consumer could not read (each one stopped kombu's stock worker), messages
lost, messages delivered twice, throughput, and the CPU the consumer burns polling seven empty
queues. kombu's stock filesystem transport runs in the same run as the baseline.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import queue as queue_module
import resource
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path
from typing import Any

import click
from kombu.connection import Connection
from kombu.entity import Exchange, Queue

from urbangrid.core import embedded_broker

QUEUES = ("intake", "geo", "routing", "sla", "media", "notify", "metrics")


def candidates(root: Path) -> dict[str, tuple[str, dict[str, Any]]]:
    """Name → (broker URL, transport options) of every transport compared."""
    stock = root / "stock"
    ours = root / "atomic"
    return {
        "filesystem (kombu)": ("filesystem://", embedded_broker.folders(stock)),
        "filesystem, atomic (ours)": (
            f"{embedded_broker.SCHEME}://",
            embedded_broker.folders(ours),
        ),
        "sqlalchemy on SQLite": (f"sqla+sqlite:///{root / 'broker.sqlite'}", {}),
    }


def _queue(name: str) -> Queue:
    return Queue(name, Exchange("bench", type="direct"), routing_key=name)


def _produce(url: str, options: dict[str, Any], producer: int, count: int, size: int) -> None:
    embedded_broker.register()
    pad = "x" * size
    with Connection(url, transport_options=options) as conn:
        publish = conn.Producer().publish
        queue = _queue("routing")
        for n in range(count):
            body = {"producer": producer, "n": n, "pad": pad}
            publish(body, exchange=queue.exchange, routing_key="routing", declare=[queue])


def _consume(
    url: str, options: dict[str, Any], expected: int, idle_s: float, out: mp.Queue[Any]
) -> None:
    # A consumer that fails sends its traceback back: the benchmark (and the test built on it)
    # then says why, where an exit code alone said nothing.
    try:
        out.put(_drain(url, options, expected, idle_s))
    except BaseException:
        out.put({"failed": traceback.format_exc()})
        raise


def _drain(url: str, options: dict[str, Any], expected: int, idle_s: float) -> dict[str, Any]:
    embedded_broker.register()
    seen: Counter[tuple[int, int]] = Counter()
    errors: list[str] = []
    with Connection(url, transport_options=options) as conn:
        channel = conn.channel()
        for name in QUEUES:
            _queue(name)(channel).declare()
        started = time.perf_counter()
        last = started
        # Until everything arrived, or nothing came for 10 s after the producers are done.
        while sum(seen.values()) < expected and time.perf_counter() - last < 10:
            got = False
            for name in QUEUES:
                try:
                    message = channel.basic_get(name, no_ack=True)
                    body = message.decode() if message is not None else None
                except Exception as exc:  # what stopped kombu's worker for good
                    errors.append(f"{exc.__class__.__name__}: {exc}"[:120])
                    continue
                if body is not None:
                    seen[(body["producer"], body["n"])] += 1
                    got, last = True, time.perf_counter()
            if not got:
                time.sleep(0.01)
        drained = time.perf_counter() - started
        # Idle: seven empty queues polled every 0.1 s, as the worker does between reports.
        before = resource.getrusage(resource.RUSAGE_SELF)
        idle_until = time.perf_counter() + idle_s
        while time.perf_counter() < idle_until:
            for name in QUEUES:
                channel.basic_get(name, no_ack=True)
            time.sleep(0.1)
        after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        "seen": [[p, n, c] for (p, n), c in seen.items()],
        "errors": errors,
        "drained_s": drained,
        "idle_cpu_share": cpu / idle_s,
    }


def measure(
    name: str,
    url: str,
    options: dict[str, Any],
    *,
    producers: int,
    messages: int,
    size: int,
    idle_s: float,
) -> dict[str, Any]:
    """One candidate: producers and a consumer at once; what arrived, how fast, at what cost."""
    # Queues (and the SQLAlchemy transport's tables) exist before anyone publishes, as after
    # the first start of a real stack.
    with Connection(url, transport_options=options) as conn:
        channel = conn.channel()
        for queue in QUEUES:
            _queue(queue)(channel).declare()
    context = mp.get_context("spawn")
    out: mp.Queue[Any] = context.Queue()
    expected = producers * messages
    consumer = context.Process(target=_consume, args=(url, options, expected, idle_s, out))
    consumer.start()
    started = time.perf_counter()
    senders = [
        context.Process(target=_produce, args=(url, options, p, messages, size))
        for p in range(producers)
    ]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join(300)
        if sender.exitcode is None:
            sender.kill()
            raise RuntimeError("a producer did not finish within 300 s")
    published = time.perf_counter() - started
    # Wait for the consumer's figures while it lives: a consumer that died says so at once
    # instead of leaving the caller waiting.
    while True:
        try:
            result = out.get(timeout=1)
            break
        except queue_module.Empty:
            if not consumer.is_alive():
                raise RuntimeError(f"the consumer died (exit code {consumer.exitcode})") from None
    consumer.join(30)
    if "failed" in result:
        raise RuntimeError(f"the consumer failed:\n{result['failed']}")
    seen = Counter({(p, n): c for p, n, c in result["seen"]})
    delivered = sum(seen.values())
    return {
        "transport": name,
        "published": expected,
        "unreadable": len(result["errors"]),
        "lost": sum(1 for p in range(producers) for n in range(messages) if (p, n) not in seen),
        "doubled": sum(c - 1 for c in seen.values() if c > 1),
        "delivered": delivered,
        "publish_per_s": round(expected / published),
        "deliver_per_s": round(delivered / max(result["drained_s"], 1e-9)),
        "idle_cpu_pct": round(100 * result["idle_cpu_share"], 2),
        "first_error": result["errors"][0] if result["errors"] else "",
    }


@click.command("broker")
@click.option("--producers", default=4, show_default=True, help="Publishing processes.")
@click.option("--messages", default=2000, show_default=True, help="Messages per producer.")
@click.option("--size", default=200, show_default=True, help="Padding bytes per message.")
@click.option("--idle-seconds", default=5.0, show_default=True)
@click.option("--only", multiple=True, help="Measure only these transports (by name).")
def bench_broker(
    producers: int, messages: int, size: int, idle_seconds: float, only: tuple[str, ...]
) -> None:
    """Embedded broker candidates: unreadable, lost and doubled messages, speed, idle CPU."""
    with tempfile.TemporaryDirectory(prefix="urbangrid-broker-bench-") as tmp:
        for name, (url, options) in candidates(Path(tmp)).items():
            if only and name not in only:
                continue
            figures = measure(
                name,
                url,
                options,
                producers=producers,
                messages=messages,
                size=size,
                idle_s=idle_seconds,
            )
            click.echo(json.dumps(figures, ensure_ascii=False))
    click.echo(f"({producers} producers x {messages} messages, one consumer, pid {os.getpid()})")
