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
import tempfile
import time
from dataclasses import asdict, dataclass
from typing import Any

from urbangrid.commands.bench_http import exchange, raw_request
from urbangrid.commands.bench_intake import (
    Phase,
    _measure,
    _merge,
    _open_loop,
    _seed,
    bench_api,
    scratch_database,
    scratch_vhost,
)


@dataclass(frozen=True)
class Load:
    """What one run sends: residents' reports and the sign-in flood, in quiet and flooded rounds."""

    seconds: float  # each round's length
    rate: float  # residents' reports per second
    clients: int  # connections for the reports
    flooders: int  # connections signing in
    flood_rate: float  # sign-ins per second
    rounds: int = 2  # quiet and flooded rounds each


def run_flood_bench(server_url: str, broker_url: str, load: Load) -> dict[str, Any]:
    """Alternate quiet and flooded rounds of ``load.seconds`` each; return the figures."""
    with (
        scratch_database(server_url) as url,
        scratch_vhost(broker_url) as broker,
        tempfile.TemporaryDirectory() as var,
    ):
        points = _seed(url)
        with bench_api(url, broker, var) as (pid, port):
            phases, flood = asyncio.run(_rounds(pid, port, points, load))
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
    pid: int, port: int, points: list[tuple[float, float]], load: Load
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
    rate, seconds, clients = load.rate, load.seconds, load.clients
    tally: dict[str, int] = {}
    await _open_loop(port, reports[-500:], rate, 3, clients)  # warm up the pool and queries
    await _flood(port, load.flooders, load.flood_rate, 2, {})
    quiet, flooded = [], []
    offset = 0
    for _ in range(load.rounds):
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
        await asyncio.gather(measured, _flood(port, load.flooders, load.flood_rate, seconds, tally))
        flooded.append(measured.result())
    return [_merge("reports_quiet", quiet), _merge("reports_under_flood", flooded)], tally
