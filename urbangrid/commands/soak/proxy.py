"""A TCP forwarder in front of PostgreSQL or RabbitMQ, so a soak or a test can take it away.

Cutting closes the listening socket and every open connection: to the API and the workers the
service is gone exactly as if its machine had stopped, while everyone else sharing it (other
stacks, other test runs) carries on. Restoring listens again on the same port.
"""

from __future__ import annotations

import selectors
import socket
import threading
import time
from contextlib import suppress


class TcpProxy:
    """Forward ``listen`` (port on 127.0.0.1; 0 picks one) to ``target``."""

    def __init__(self, target: tuple[str, int], listen: int = 0) -> None:
        self.target = target
        if not listen:
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                listen = int(probe.getsockname()[1])
        self.port = listen
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._sockets: list[socket.socket] = []
        self._running = threading.Event()
        self._hung = threading.Event()

    @property
    def up(self) -> bool:
        return self._running.is_set()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(256)
        self._listener = listener
        self._running.set()
        self._thread = threading.Thread(target=self._serve, daemon=True, name="soak-proxy")
        self._thread.start()

    def hang(self) -> None:
        """Keep every connection open but pass nothing on, and answer no new one: a server
        or a link that hangs rather than refuses (the kernel still acknowledges what is sent,
        so no TCP timeout fires)."""
        self._hung.set()

    def resume(self) -> None:
        self._hung.clear()

    def stop(self) -> None:
        self._running.clear()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        for sock in self._sockets:
            with suppress(OSError):
                sock.close()
        self._sockets.clear()

    def _serve(self) -> None:
        selector = selectors.DefaultSelector()
        listener = self._listener
        assert listener is not None
        listener.setblocking(False)
        selector.register(listener, selectors.EVENT_READ, None)
        while self._running.is_set():
            if self._hung.is_set():
                time.sleep(0.05)
                continue
            try:
                events = selector.select(0.2)
            except (OSError, ValueError):
                break
            for key, _ in events:
                if key.data is None:
                    try:
                        client, _ = listener.accept()
                        upstream = socket.create_connection(self.target, timeout=5)
                    except OSError:
                        continue
                    client.setblocking(True)
                    upstream.settimeout(None)
                    self._sockets[:] = [s for s in self._sockets if s.fileno() != -1]
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
