"""``urbangrid bench login-flood``: residents' report latency, quiet and under a sign-in flood.

One uvicorn process serves the real intake API on loopback against a scratch PostgreSQL
database (as ``bench intake`` does). Residents' JSON reports arrive on a fixed schedule (open
loop, so a stalled server shows in the latency) in alternating rounds:

* quiet: reports only;
* flood: the same reports while sign-ins arrive at ``flood_rate`` a second (the flood seen in
  production was about 7), each with a wrong password, a name of its own and an address of
  its own (X-Forwarded-For from loopback, which uvicorn trusts): the worst case, where no
  per-name or per-address throttle turns an attempt away before it costs a password hash.

It prints the report p50/p99 of both and their ratio (target: flood p99 within 2x quiet), and
what the flood got: how many sign-ins were hashed (401) and how many turned away (429/503).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from typing import Any

from urbangrid.commands.bench_http import exchange, free_port, raw_request, wait_up
from urbangrid.commands.bench_intake import (
    Phase,
    _measure,
    _merge,
    _open_loop,
    _seed,
    scratch_database,
    scratch_vhost,
)


def run_flood_bench(
    server_url: str,
    broker_url: str,
    *,
    seconds: float,
    rate: float,
    clients: int,
    flooders: int,
    flood_rate: float,
    rounds: int = 2,
) -> dict[str, Any]:
    """Alternate quiet and flooded rounds of ``seconds`` each; return the figures."""
    with (
        scratch_database(server_url) as url,
        scratch_vhost(broker_url) as broker,
        tempfile.TemporaryDirectory() as var,
    ):
        points = _seed(url)
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("URBANGRID_")}
        env.update(
            URBANGRID_DATABASE_URL=url,
            URBANGRID_BROKER_URL=broker,
            URBANGRID_VAR_DIR=var,
            URBANGRID_RATE_LIMIT_PER_MINUTE="0",
        )
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "urbangrid.commands.bench_intake:bench_app",
                "--factory",
                "--host", "127.0.0.1", "--port", str(port), "--no-access-log",
                "--log-level", "warning",
            ],
            env=env,
        )  # fmt: skip
        try:
            wait_up(f"http://127.0.0.1:{port}", 60)
            phases, flood = asyncio.run(
                _rounds(
                    server.pid, port, points, seconds, rate, clients, flooders, flood_rate, rounds
                )
            )
        finally:
            server.terminate()
            server.wait(20)
    quiet, flooded = phases
    ratio = flooded.p99_ms / quiet.p99_ms if quiet.p99_ms else 0.0
    return {
        "phases": [asdict(p) for p in phases],
        "flood": flood,
        "p99_flood_vs_quiet": round(ratio, 2),
        "meets_target": ratio <= 2.0,
    }


async def _flood(
    port: int, flooders: int, per_second: float, seconds: float, tally: dict[str, int]
) -> None:
    """Wrong passwords at ``per_second``, each from a new name and a new address, over
    ``flooders`` connections (an attempt waits for a free one, as a real flood's would)."""
    queue: asyncio.Queue[int | None] = asyncio.Queue()

    async def flooder() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while (n := await queue.get()) is not None:
                body = json.dumps({"name": f"guess-{n}", "password": "hunter2"}).encode()
                raw = (
                    f"POST /api/v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                    f"X-Forwarded-For: 10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}\r\n"
                    f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
                ).encode() + body
                status, _ = await exchange(reader, writer, raw)
                tally[str(status)] = tally.get(str(status), 0) + 1
        finally:
            writer.close()

    workers = [asyncio.create_task(flooder()) for _ in range(flooders)]
    start = time.perf_counter()
    for n in range(int(per_second * seconds)):
        delay = start + n / per_second - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait(_next_attempt())
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)


_attempts = iter(range(10**9))


def _next_attempt() -> int:
    return next(_attempts)


async def _rounds(
    pid: int,
    port: int,
    points: list[tuple[float, float]],
    seconds: float,
    rate: float,
    clients: int,
    flooders: int,
    flood_rate: float,
    rounds: int,
) -> tuple[list[Phase], dict[str, int]]:
    host = f"127.0.0.1:{port}"
    reports = [
        raw_request(
            "POST",
            "/api/v1/reports",
            json.dumps({"category": "E0102", "lat": lat, "lon": lon}).encode(),
            "application/json",
            host,
        )
        for lon, lat in points[:20_000]
    ]
    tally: dict[str, int] = {}
    await _open_loop(port, reports[-500:], rate, 3, clients)  # warm up the pool and queries
    await _flood(port, flooders, flood_rate, 2, {})
    quiet, flooded = [], []
    offset = 0
    for _ in range(rounds):
        batch = reports[offset:] + reports[:offset]
        quiet.append(
            await _measure(pid, _open_loop(port, batch, rate, seconds, clients), "quiet", clients)
        )
        offset += int(rate * seconds)
        batch = reports[offset:] + reports[:offset]
        offset += int(rate * seconds)
        measured = asyncio.ensure_future(
            _measure(pid, _open_loop(port, batch, rate, seconds, clients), "flood", clients)
        )
        await asyncio.gather(measured, _flood(port, flooders, flood_rate, seconds, tally))
        flooded.append(measured.result())
    return [_merge("reports_quiet", quiet), _merge("reports_under_flood", flooded)], tally
