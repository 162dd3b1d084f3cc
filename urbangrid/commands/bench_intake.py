"""``urbangrid bench intake``: reports per second and latency, beside a no-op endpoint.

One uvicorn process serves the real intake API on loopback, against a scratch PostgreSQL
database seeded with the demo city and a broker of its own, plus one extra endpoint that does
nothing. Concurrent keep-alive clients then measure, in the same run:

* the no-op endpoint (the ceiling: what FastAPI and uvicorn cost on this machine),
* JSON reports, each stored durably (committed) and published to the routing queue,
* JSON reports again at half the rate just measured, paced (open loop), for the latency a
  resident sees when the API is busy but not saturated,
* multipart reports carrying a 1 MB photo.

The figures that matter are ratios to the no-op, since absolute rates depend on the machine.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from fastapi import FastAPI

from urbangrid.commands.bench_http import exchange, free_port, raw_request, wait_up


@dataclass(frozen=True)
class Phase:
    name: str
    clients: int
    seconds: float
    requests: int
    ok: int
    rate: float  # answered requests per second
    p50_ms: float
    p99_ms: float
    target_rate: float | None = None
    # CPU the API process spent per answered request (Linux /proc): steadier than rates when
    # other work shares the machine.
    server_cpu_ms: float | None = None


def bench_app() -> FastAPI:
    """The intake API plus ``POST /bench/noop``, which reads nothing and answers at once."""
    from intake.app import create_app

    app = create_app()

    @app.post("/bench/noop", include_in_schema=False)
    async def noop() -> dict[str, bool]:
        return {"ok": True}

    return app


# -- the load generator: raw HTTP/1.1 keep-alive, so the client costs little CPU -------------


async def _closed_loop(
    port: int, payloads: list[bytes], clients: int, seconds: float
) -> tuple[list[float], int, int, float]:
    """Each client sends its next request as soon as the last is answered."""
    latencies: list[float] = []
    counts = [0, 0]
    deadline = time.perf_counter() + seconds
    cursor = iter(range(10**12))

    async def client() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.perf_counter() < deadline:
                raw = payloads[next(cursor) % len(payloads)]
                started = time.perf_counter()
                status, _ = await exchange(reader, writer, raw)
                latencies.append(time.perf_counter() - started)
                counts[0] += 1
                counts[1] += status < 300
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return latencies, counts[0], counts[1], time.perf_counter() - started


async def _open_loop(
    port: int, payloads: list[bytes], rate: float, seconds: float, clients: int
) -> tuple[list[float], int, int, float]:
    """Requests leave on a fixed schedule; latency counts from the scheduled moment, so a
    server that falls behind shows it (no coordinated omission)."""
    total = int(rate * seconds)
    queue: asyncio.Queue[tuple[int, float] | None] = asyncio.Queue()
    latencies: list[float] = []
    counts = [0, 0]

    async def client() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while (item := await queue.get()) is not None:
                index, due = item
                status, _ = await exchange(reader, writer, payloads[index % len(payloads)])
                latencies.append(time.perf_counter() - due)
                counts[0] += 1
                counts[1] += status < 300
        finally:
            writer.close()

    workers = [asyncio.create_task(client()) for _ in range(clients)]
    start = time.perf_counter() + 0.05
    for index in range(total):
        due = start + index / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait((index, due))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    return latencies, counts[0], counts[1], time.perf_counter() - start


def _cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _phase(
    name: str,
    clients: int,
    result: tuple[list[float], int, int, float],
    target: float | None,
    cpu: float | None = None,
) -> Phase:
    latencies, sent, ok, elapsed = result
    values = np.asarray(latencies) * 1000 if latencies else np.zeros(1)
    return Phase(
        name=name,
        clients=clients,
        seconds=round(elapsed, 2),
        requests=sent,
        ok=ok,
        rate=round(ok / elapsed, 1),
        p50_ms=round(float(np.percentile(values, 50)), 2),
        p99_ms=round(float(np.percentile(values, 99)), 2),
        target_rate=target,
        server_cpu_ms=round(cpu * 1000 / ok, 3) if cpu is not None and ok else None,
    )


# -- the scratch services -----------------------------------------------------------------------


@contextmanager
def scratch_database(server_url: str) -> Iterator[str]:
    """A new database on the PostgreSQL server of ``server_url``, dropped afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = create_engine(
        make_url(server_url).set(database="postgres"), isolation_level="AUTOCOMMIT"
    )
    name = f"urbangrid_bench_intake_{os.getpid()}_{secrets.token_hex(3)}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def scratch_vhost(broker_url: str) -> Iterator[str]:
    """A RabbitMQ vhost of its own when ``rabbitmqctl`` can make one, else ``broker_url``."""
    from urllib.parse import urlsplit

    ctl = shutil.which("rabbitmqctl")
    if not broker_url.startswith("amqp") or ctl is None or os.geteuid() != 0:
        yield broker_url
        return
    vhost = f"urbangrid_bench_{os.getpid()}_{secrets.token_hex(3)}"
    user = urlsplit(broker_url).username or "guest"
    subprocess.run([ctl, "-q", "add_vhost", vhost], check=True, capture_output=True)
    subprocess.run(
        [ctl, "-q", "set_permissions", "-p", vhost, user, ".*", ".*", ".*"],
        check=True,
        capture_output=True,
    )
    try:
        yield urlsplit(broker_url)._replace(path=f"/{vhost}").geturl()
    finally:
        subprocess.run([ctl, "-q", "delete_vhost", vhost], check=False, capture_output=True)


def _seed(url: str) -> list[tuple[float, float]]:
    """Migrate the database and seed the demo city unless it has a grid already (a given
    database, for a run across hosts); return points inside distinct demo cells."""
    from sqlmodel import Session

    from geo.demo import demo_city
    from urbangrid.cases.seed import seed_city
    from urbangrid.core.db import make_engine
    from urbangrid.core.grids import active_version_id
    from urbangrid.core.migrate import upgrade

    upgrade(url)
    grid = demo_city()
    engine = make_engine(url)
    with Session(engine) as session:
        if active_version_id(session) is None:
            seed_city(session, grid)
    engine.dispose()
    cells = grid[max(grid)].geoms
    points = shapely.point_on_surface(cells[np.random.default_rng(3).permutation(len(cells))])
    return [(p.x, p.y) for p in points]


def bench_env(url: str, broker: str, var: str, **settings: str) -> dict[str, str]:
    """The environment of a benchmark's processes: this one's, without its own ``URBANGRID_``
    settings, on the scratch database, broker and directory, with no rate limit (the load
    comes from one address), plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("URBANGRID_")}
    env.update(
        URBANGRID_DATABASE_URL=url,
        URBANGRID_BROKER_URL=broker,
        URBANGRID_VAR_DIR=var,
        URBANGRID_RATE_LIMIT_PER_MINUTE="0",
        **settings,
    )
    return env


@contextmanager
def bench_api(url: str, broker: str, var: str, **settings: str) -> Iterator[tuple[int, int]]:
    """:func:`bench_app` served by one uvicorn process on a free loopback port, stopped when
    the block ends; (its pid, its port) once it answers."""
    port = free_port()
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
        env=bench_env(url, broker, var, **settings),
    )  # fmt: skip
    try:
        wait_up(f"http://127.0.0.1:{port}", 60)
        yield server.pid, port
    finally:
        server.terminate()
        server.wait(20)


PHOTO_BYTES = 1_000_000


def _photo(size: int = PHOTO_BYTES) -> bytes:
    """A JPEG of about ``size`` bytes (noise compresses badly, which is the point)."""
    from PIL import Image

    side = 400
    while True:
        noise = np.random.default_rng(side).integers(0, 255, (side, side, 3), dtype=np.uint8)
        out = io.BytesIO()
        Image.fromarray(noise).save(out, "JPEG", quality=92)
        if out.tell() >= size:
            return out.getvalue()
        side += 100


def _multipart(fields: dict[str, str], photo: bytes) -> tuple[bytes, str]:
    boundary = "urbangridbench" + secrets.token_hex(8)
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="photos"; filename="p.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n".encode()
        + photo
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def _published(broker_url: str) -> int | None:
    if not broker_url.startswith("amqp"):
        return None
    from kombu.connection import Connection

    with Connection(broker_url, connect_timeout=5) as conn:
        declared = conn.default_channel.queue_declare(queue="routing", passive=True)
        return int(declared.message_count)


def _stored(url: str) -> tuple[int, int, int]:
    """Cases stored, those that joined another, and the transactions that stored them."""
    from sqlalchemy import func, select, text

    from urbangrid.core.db import make_engine
    from urbangrid.core.tables import Case

    engine = make_engine(url)
    with engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(Case)).scalar_one()
        linked = conn.execute(
            select(func.count()).select_from(Case).where(Case.duplicate_of.is_not(None))  # type: ignore[union-attr]
        ).scalar_one()
        # Rows written by one transaction share its xmin: group commit's batches.
        commits = conn.execute(text("SELECT count(DISTINCT xmin::text) FROM cases")).scalar_one()
    engine.dispose()
    return int(total), int(linked), int(commits)


def run_intake_bench(
    server_url: str,
    broker_url: str,
    *,
    seconds: float,
    clients: int,
    photo_clients: int,
    rounds: int = 3,
) -> dict[str, Any]:
    """Run every phase and return the figures (see the module's docstring)."""
    with (
        scratch_database(server_url) as url,
        scratch_vhost(broker_url) as broker,
        tempfile.TemporaryDirectory() as var,
    ):
        points = _seed(url)
        pool = str(min(clients, 20))
        with bench_api(url, broker, var, URBANGRID_API_POOL_SIZE=pool) as (pid, port):
            phases = asyncio.run(
                _phases(pid, port, points, seconds, clients, photo_clients, rounds)
            )
        stored, duplicates, commits = _stored(url)
        published = _published(broker)
    noop, intake, half = phases[0], phases[1], phases[2]
    ratio = intake.rate / noop.rate if noop.rate else 0.0
    return {
        "phases": [asdict(p) for p in phases],
        "json_vs_noop": round(ratio, 3),
        "half_rate_p99_ms": half.p99_ms,
        "meets_target": ratio >= 0.15 and half.p99_ms < 50,
        "cases_stored": stored,
        "joined_as_duplicates": duplicates,
        "reports_per_commit": round(stored / commits, 2) if commits else None,
        "messages_in_routing_queue": published,
        "photo_bytes": PHOTO_BYTES,
    }


async def _measure(
    pid: int, run: Any, name: str, clients: int, target: float | None = None
) -> Phase:
    before = _cpu_seconds(pid)
    result = await run
    after = _cpu_seconds(pid)
    cpu = after - before if before is not None and after is not None else None
    return _phase(name, clients, result, target, cpu)


def _merge(name: str, parts: list[Phase]) -> Phase:
    """Rounds of one kind taken together: rates over the summed time, the worse percentile."""
    seconds = sum(p.seconds for p in parts)
    ok = sum(p.ok for p in parts)
    cpu = [p.server_cpu_ms * p.ok for p in parts if p.server_cpu_ms is not None]
    return Phase(
        name=name,
        clients=parts[0].clients,
        seconds=round(seconds, 2),
        requests=sum(p.requests for p in parts),
        ok=ok,
        rate=round(ok / seconds, 1) if seconds else 0.0,
        p50_ms=round(float(np.median([p.p50_ms for p in parts])), 2),
        p99_ms=max(p.p99_ms for p in parts),
        server_cpu_ms=round(sum(cpu) / ok, 3) if cpu and ok else None,
    )


async def _phases(
    pid: int,
    port: int,
    points: list[tuple[float, float]],
    seconds: float,
    clients: int,
    photo_clients: int,
    rounds: int,
) -> list[Phase]:
    from urbangrid.domain.taxonomy import load_taxonomy

    codes = [c.code for c in load_taxonomy().categories]
    host = f"127.0.0.1:{port}"
    noop = [raw_request("POST", "/bench/noop", b"{}", "application/json", host)]
    reports = [
        raw_request(
            "POST",
            "/api/v1/reports",
            json.dumps(
                {"category": codes[i % len(codes)], "lat": lat, "lon": lon, "description": "bench"}
            ).encode(),
            "application/json",
            host,
        )
        for i, (lon, lat) in enumerate(points[:40_000])
    ]
    photo = _photo()
    multipart = []
    for i, (lon, lat) in enumerate(points[40_000:40_200]):
        body, content_type = _multipart(
            {"category": codes[i % len(codes)], "lat": str(lat), "lon": str(lon)}, photo
        )
        multipart.append(raw_request("POST", "/api/v1/reports", body, content_type, host))

    # Warm up every path measured below (prepared statements on each pooled connection,
    # compiled queries, the duplicate path with its worker thread, the photo path), so that the
    # rounds measure the steady state rather than first-time costs.
    await _closed_loop(port, noop, clients, 2)
    await _closed_loop(port, reports[-3000:], clients, 3)
    await _closed_loop(port, reports[-3000:-2700], clients, 2)  # the same places again: duplicates
    await _closed_loop(port, multipart[-10:], photo_clients, 2)
    # Alternate short rounds, so that other work on the machine weighs on both alike.
    share = seconds / rounds
    noops, jsons = [], []
    offset = 0
    for _ in range(rounds):
        noops.append(await _measure(pid, _closed_loop(port, noop, clients, share), "noop", clients))
        batch = reports[offset:] + reports[:offset]
        json_round = await _measure(pid, _closed_loop(port, batch, clients, share), "json", clients)
        offset = (offset + json_round.requests) % len(reports)
        jsons.append(json_round)
    intake = _merge("json", jsons)
    half = round(intake.rate / 2, 1)
    paced = reports[offset:] + reports[:offset]
    return [
        _merge("noop", noops),
        intake,
        await _measure(
            pid, _open_loop(port, paced, half, seconds, clients), "json_half_rate", clients, half
        ),
        await _measure(
            pid,
            _closed_loop(port, multipart, photo_clients, seconds),
            "multipart_1mb_photo",
            photo_clients,
        ),
    ]
