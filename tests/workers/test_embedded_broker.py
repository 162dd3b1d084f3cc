"""The embedded broker under the concurrent use that broke kombu's filesystem transport (#1551).

Several processes publish while one consumes, as the API, the scheduler and the worker of
``urbangrid run`` do. kombu's transport let the consumer claim a message file before its writer
had filled it: the worker read an empty file, raised JSONDecodeError and stopped for good.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from kombu.connection import Connection
from kombu.entity import Exchange, Queue

from workers import embedded_broker
from workers.broker_bench import measure


def _routing() -> Queue:
    # kombu keeps bindings in memory per process, across broker folders: a fresh exchange name
    # makes each test write its own binding into its own folder.
    return Queue("routing", Exchange(f"test-{uuid.uuid4().hex[:8]}"), routing_key="routing")


def test_concurrent_publishers_lose_double_and_corrupt_nothing(tmp_path: Path) -> None:
    embedded_broker.register()
    options = embedded_broker.folders(tmp_path / "broker")
    # Large messages widen the window between a file's creation and its last byte: kombu's own
    # transport fails this test with JSONDecodeError (7 of 900 messages on this machine).
    figures = measure(
        "ours",
        f"{embedded_broker.SCHEME}://",
        options,
        producers=3,
        messages=150,
        size=300_000,
        idle_s=0.5,
    )
    print(figures)
    assert figures["unreadable"] == 0, figures["first_error"]
    assert figures["lost"] == 0
    assert figures["doubled"] == 0
    assert figures["delivered"] == 450
    assert not list((tmp_path / "broker" / "queue").iterdir())  # nothing left behind
    assert not list((tmp_path / "broker" / "processed").iterdir())


def test_an_unreadable_message_is_set_aside_not_fatal(tmp_path: Path) -> None:
    embedded_broker.register()
    root = tmp_path / "broker"
    options = embedded_broker.folders(root)
    with Connection(f"{embedded_broker.SCHEME}://", transport_options=options) as conn:
        channel = conn.channel()
        queue = _routing()
        queue(channel).declare()
        # What a torn write, a full disk or an editor leaves: a message file that is not JSON.
        (root / "queue" / "000000000000001_bad.routing.msg").write_bytes(b"")
        producer = conn.Producer(channel)
        producer.publish({"case": 7}, exchange=queue.exchange, routing_key="routing")
        message = channel.basic_get("routing", no_ack=True)
    assert message is not None and message.decode() == {"case": 7}
    assert [p.name for p in (root / "corrupt").iterdir()] == ["000000000000001_bad.routing.msg"]


def test_a_message_is_never_visible_half_written(tmp_path: Path) -> None:
    embedded_broker.register()
    root = tmp_path / "broker"
    options = embedded_broker.folders(root)
    seen: list[str] = []
    real_replace = embedded_broker.os.replace

    def spy(source: str | Path, target: str | Path) -> None:
        # At the moment of the rename, no file of the final name exists yet, and the partial
        # file is complete JSON under a name consumers skip.
        seen.extend(p.name for p in (root / "queue").iterdir())
        real_replace(source, target)

    embedded_broker.os.replace = spy  # type: ignore[assignment]
    try:
        with Connection(f"{embedded_broker.SCHEME}://", transport_options=options) as conn:
            queue = _routing()
            conn.Producer().publish(
                {"n": 1}, exchange=queue.exchange, routing_key="routing", declare=[queue]
            )
    finally:
        embedded_broker.os.replace = real_replace  # type: ignore[assignment]
    assert len(seen) == 1 and seen[0].startswith(".") and seen[0].endswith(".part")
    assert [p.name.partition(".")[2] for p in (root / "queue").iterdir()] == ["routing.msg"]
