"""Worker, scheduler and broker-outage helpers for the end-to-end tests: real processes."""

from __future__ import annotations

import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def service_env(values: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("URBANGRID_")}
    env.update(values)
    env["PYTHONPATH"] = str(ROOT)
    return env


@contextmanager
def urbangrid_process(
    args: list[str], env: Mapping[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``urbangrid <args>`` until the block ends; its output goes to ``log``."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "urbangrid.commands.main", *args],
            env=service_env(env),
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=True,
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(20)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(5)


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


class TcpProxy:
    """A TCP forwarder in front of the real RabbitMQ, so a test can take the broker away.

    Stopping the proxy closes its listening socket and every open connection: to the API and
    the workers, RabbitMQ is gone exactly as if its node had stopped, while other test runs on
    the same RabbitMQ carry on.
    """

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._sockets: list[socket.socket] = []
        self._running = threading.Event()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        self._running.set()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._running.clear()
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        for sock in self._sockets:
            with suppress(OSError):
                sock.close()
        self._sockets.clear()
        if self._thread is not None:
            self._thread.join(5)

    def _serve(self) -> None:
        selector = selectors.DefaultSelector()
        assert self._listener is not None
        self._listener.setblocking(False)
        selector.register(self._listener, selectors.EVENT_READ, None)
        while self._running.is_set():
            try:
                events = selector.select(0.2)
            except (OSError, ValueError):
                break
            for key, _ in events:
                if key.data is None:
                    try:
                        client, _ = self._listener.accept()  # type: ignore[union-attr]
                        upstream = socket.create_connection(self.target)
                    except OSError:
                        continue
                    self._sockets += [client, upstream]
                    selector.register(client, selectors.EVENT_READ, upstream)
                    selector.register(upstream, selectors.EVENT_READ, client)
                else:
                    source: socket.socket = key.fileobj  # type: ignore[assignment]
                    try:
                        data = source.recv(65536)
                        if data:
                            key.data.sendall(data)
                            continue
                    except OSError:
                        pass
                    for sock in (source, key.data):
                        with suppress(KeyError, ValueError):
                            selector.unregister(sock)
                        sock.close()
        selector.close()
