"""The soak's HTTP side: one keep-alive connection per actor, and the tally of every answer."""

from __future__ import annotations

import http.client
import json
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

# An answer slower than this counts as a hang (the API promises a 503 within 5 s).
SLOW_S = 5.0


@dataclass
class Answer:
    status: int  # 0: no answer (connection refused, reset or timed out)
    body: bytes
    headers: dict[str, str]
    seconds: float

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Window:
    """A fault: from ``start`` to ``end`` (monotonic), plus the grace the stack has to recover."""

    kind: str
    start: float
    end: float = float("inf")


@dataclass
class Tally:
    """Every answer of the soak, counted once, and told apart by whether a fault excuses it."""

    grace_s: float = 10.0
    lock: threading.Lock = field(default_factory=threading.Lock)
    statuses: Counter[int] = field(default_factory=Counter)
    by_route: Counter[str] = field(default_factory=Counter)
    requests: int = 0
    connection_errors: int = 0
    connection_errors_outside: int = 0
    server_errors_outside: int = 0
    slow: int = 0
    no_retry_after: int = 0
    windows: list[Window] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)

    def excused(self, started: float, seconds: float = 0.0) -> bool:
        """Whether a request from ``started`` for ``seconds`` overlaps a database or broker
        outage (or the grace after it): one sent just before the cut meets it too."""
        return any(
            started <= w.end + self.grace_s and started + seconds >= w.start
            for w in self.windows
            if w.kind in ("database", "broker")
        )

    def record(self, route: str, answer: Answer, started: float) -> None:
        with self.lock:
            self.requests += 1
            self.statuses[answer.status] += 1
            if answer.seconds > SLOW_S:
                self.slow += 1
            if answer.status == 0:
                self.connection_errors += 1
                if not self.excused(started, answer.seconds):
                    self.connection_errors_outside += 1
            elif answer.status >= 500:
                self.by_route[f"{answer.status} {route}"] += 1
                if answer.status != 503 or not self.excused(started, answer.seconds):
                    self.server_errors_outside += 1
                    if len(self.examples) < 20:
                        self.examples.append(
                            f"{answer.status} {route}: {answer.body[:200].decode(errors='replace')}"
                        )
                if answer.status == 503 and "retry-after" not in answer.headers:
                    self.no_retry_after += 1

    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)


class Client:
    """One actor's connection to the API; reconnects after any failure."""

    def __init__(self, base_url: str, tally: Tally, *, timeout_s: float = 30.0) -> None:
        parts = urlsplit(base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.tally = tally
        self.timeout_s = timeout_s
        self._conn: http.client.HTTPConnection | None = None

    def request(
        self,
        method: str,
        path: str,
        *,
        route: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        started = time.monotonic()
        answer = self._send(method, path, body, headers or {}, started)
        self.tally.record(route, answer, started)
        return answer

    def _send(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str], started: float
    ) -> Answer:
        # A kept-alive connection the server closed meanwhile fails at once: like any HTTP
        # client, try once more on a new one before calling it a connection error.
        for fresh in (self._conn is None, True):
            try:
                if self._conn is None:
                    self._conn = http.client.HTTPConnection(
                        self.host, self.port, timeout=self.timeout_s
                    )
                self._conn.request(method, path, body=body, headers=headers)
                response = self._conn.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.close()
                if fresh:
                    break
                continue
            except (OSError, http.client.HTTPException):
                self.close()
                break
            if response.getheader("connection", "").lower() == "close":
                self.close()
            return Answer(
                response.status,
                data,
                {k.lower(): v for k, v in response.getheaders()},
                time.monotonic() - started,
            )
        return Answer(0, b"", {}, time.monotonic() - started)

    def json(
        self,
        method: str,
        path: str,
        payload: Any,
        *,
        route: str,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        return self.request(
            method,
            path,
            route=route,
            body=json.dumps(payload).encode(),
            headers={"content-type": "application/json", **(headers or {})},
        )

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def multipart(
    fields: dict[str, str], files: list[tuple[str, str, bytes, str]]
) -> tuple[bytes, str]:
    """A multipart/form-data body and its content type: ``files`` as (field, name, data, type)."""
    boundary = uuid.uuid4().hex
    parts: list[bytes] = []
    for name, value in fields.items():
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
        parts.append(f"{head}{value}\r\n".encode())
    for name, filename, data, kind in files:
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="{filename}"\r\nContent-Type: {kind}\r\n\r\n'
        )
        parts.append(head.encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"
