"""Raw HTTP for the benchmarks: requests written by hand on keep-alive connections.

An HTTP client library costs more CPU per request than the API spends answering it, and the
client shares the machine with the API it measures; the benchmarks (intake, the login flood, the
pipeline) write requests as bytes and read only the status line, the length and the body.
"""

from __future__ import annotations

import asyncio
import re
import socket
import subprocess
import time
import urllib.request

_LENGTH = re.compile(rb"content-length:\s*(\d+)", re.IGNORECASE)


def raw_request(method: str, path: str, body: bytes, content_type: str, host: str) -> bytes:
    """One request as bytes, for ``host`` (``name:port``)."""
    return (
        f"{method} {path} HTTP/1.1\r\nHost: {host}\r\n"
        f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


async def exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes
) -> tuple[int, bytes]:
    """Send ``raw`` on a keep-alive connection; the answer's status and body."""
    writer.write(raw)
    head = await reader.readuntil(b"\r\n\r\n")
    found = _LENGTH.search(head)
    length = int(found.group(1)) if found else 0
    body = await reader.readexactly(length) if length else b""
    return int(head[9:12]), body


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_up(url: str, seconds: float = 300, server: subprocess.Popen[bytes] | None = None) -> None:
    """Wait for the API at ``url`` to answer; give up early when its process has died."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server is not None and server.poll() is not None:
            raise RuntimeError(f"the API at {url} exited with status {server.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the API at {url} did not answer in {seconds:.0f} s")
