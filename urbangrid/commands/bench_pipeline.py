"""``urbangrid bench pipeline``: reports from intake to DISPATCHED, beside a bare Celery task.

On a scratch PostgreSQL database and RabbitMQ vhost (or on given ones, for a run across hosts),
with the real intake API and real worker processes, for 1 and then 2 worker processes:

* **bare Celery**: the routing consumers are paused, ``N`` no-op tasks queued, the consumers
  resumed, and the time until the queue is empty taken: what the broker and the workers cost
  before any work is done (the baseline);
* **routing**: the consumers paused again, ``N`` reports posted through the API (stored and
  published), the consumers resumed, and the time until every report is routed taken;
* **sweep**: the running clocks of those cases put ten days back (a backlog of due warnings,
  overdue marks and escalations), one sweep sent to a housekeeping worker with as many
  processes, and the time until no clock is due any more taken.

Then, with 2 routing processes, reports posted at a steady ``--rate`` (open loop), each timed
from its scheduled POST to its ``dispatched_at``: once without the scheduler, once with the
scheduler and a housekeeping worker running (and a fresh backlog of due clocks for them).
Figures vary with what else runs on the machine; the ratios to the baseline measured in the
same run are what to compare. The last line printed is one JSON object.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager, nullcontext, suppress
from typing import Any
from urllib.parse import urlsplit

import numpy as np
from sqlalchemy import Engine, text

from urbangrid.commands.bench_http import exchange, free_port, raw_request, wait_up
from urbangrid.core.db import make_engine
from urbangrid.core.messages import HOUSEKEEPING_QUEUES, NOOP, ROUTING_QUEUES, SLA_SWEEP

NOOP_TASK = NOOP
SWEEP_TASK = SLA_SWEEP


# -- processes ------------------------------------------------------------------------------


@contextmanager
def _process(argv: list[str], env: dict[str, str], log: str) -> Iterator[subprocess.Popen[bytes]]:
    with open(log, "ab") as out:
        child = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield child
    finally:
        if child.poll() is None:
            child.terminate()
            try:
                child.wait(30)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(5)


def _worker(
    queues: Sequence[str],
    processes: int,
    name: str,
    env: dict[str, str],
    var: str,
    *,
    niceness: int | None = 0,
) -> Any:
    """A worker process; ``niceness`` None leaves it to the worker (housekeeping gives way)."""
    argv = [sys.executable, "-m", "urbangrid.commands.main", "worker", "-Q", ",".join(queues)]
    argv += ["-c", str(processes), "--hostname", f"{name}@%h"]
    argv += [] if niceness is None else ["--niceness", str(niceness)]
    argv += ["--loglevel", "WARNING"]
    return _process(argv, env, os.path.join(var, f"{name}.log"))


def _wait_for_workers(
    celery: Any, count: int, *children: subprocess.Popen[bytes], seconds: float = 120
) -> None:
    """Wait for ``count`` workers to answer a ping; stop at once if one of ``children`` died."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if dead := [c for c in children if c.poll() is not None]:
            raise RuntimeError(f"a benchmark worker exited with status {dead[0].returncode}")
        if len(celery.control.ping(timeout=1.0) or []) >= count:
            return
    raise RuntimeError(f"the benchmark's workers did not answer in {seconds:.0f} s")


def _api(env: dict[str, str], var: str) -> tuple[Any, str]:
    port = free_port()
    argv = [sys.executable, "-m", "uvicorn", "intake.app:create_app", "--factory"]
    argv += ["--host", "127.0.0.1", "--port", str(port), "--no-access-log"]
    argv += ["--log-level", "warning"]
    return _process(argv, env, os.path.join(var, "api.log")), f"http://127.0.0.1:{port}"


def _report_failure(kind: type[BaseException] | None, var: str) -> bool:
    if kind is not None:
        print(f"the pipeline bench failed; its processes' logs:\n{_tails(var)}", file=sys.stderr)
    return False


def _tails(var: str, lines: int = 40) -> str:
    """The last lines of every process log of the run: what a failed run leaves to read."""
    parts = []
    for name in sorted(os.listdir(var)):
        if not name.endswith(".log"):
            continue
        with open(os.path.join(var, name), "rb") as log:
            tail = log.read().decode("utf-8", "replace").splitlines()[-lines:]
        parts.append(f"--- {name} (last {len(tail)} lines) ---\n" + "\n".join(tail))
    return "\n".join(parts)


# -- the database and the broker --------------------------------------------------------------


def _count(engine: Engine, sql: str, **params: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(sql), params).scalar_one())


def _ready_messages(conn: Any, queue: str) -> int:
    return int(conn.default_channel.queue_declare(queue=queue, passive=True).message_count)


def _wait(predicate: Any, seconds: float, interval: float = 0.05) -> float:
    """Poll until ``predicate()``; the moment it held (perf_counter), or raise on timeout."""
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        if predicate():
            return time.perf_counter()
        time.sleep(interval)
    raise TimeoutError("the benchmark waited too long")


def _age_clocks(engine: Engine, first_case: int) -> int:
    """Put the running clocks of cases from ``first_case`` on ten days back: all due now."""
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE sla_clock SET started_at = started_at - interval '10 days', "
                "next_at = now() - interval '1 minute', leased_until = NULL "
                "WHERE case_id >= :first AND stopped_at IS NULL AND paused_at IS NULL"
            ),
            {"first": first_case},
        )
        due = conn.execute(
            text("SELECT count(DISTINCT case_id) FROM sla_clock WHERE next_at <= now()")
        ).scalar_one()
    return int(due)


# -- posting reports --------------------------------------------------------------------------


async def _post(
    apis: Sequence[str], payloads: Sequence[bytes], *, rate: float | None, clients: int
) -> list[tuple[float, int]]:
    """POST every payload, as fast as ``clients`` connections go or paced at ``rate`` a second.

    Returns (scheduled wall-clock time, case id) per report; paced, the time is when the report
    was due to leave, so a server falling behind shows in the latency (no coordinated omission).
    """
    queue: asyncio.Queue[tuple[int, float] | None] = asyncio.Queue()
    results: list[tuple[float, int]] = []

    async def client(n: int) -> None:
        parts = urlsplit(apis[n % len(apis)])
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while (item := await queue.get()) is not None:
                index, due = item
                raw = raw_request(
                    "POST", "/api/v1/reports", payloads[index], "application/json", f"{host}:{port}"
                )
                status, body = await exchange(reader, writer, raw)
                # The new case's id; 0 when refused.
                results.append((due, int(json.loads(body)["id"]) if status == 201 else 0))
        finally:
            writer.close()

    tasks = [asyncio.create_task(client(n)) for n in range(clients)]
    start = time.time() + 0.05
    for index in range(len(payloads)):
        due = time.time()
        if rate is not None:
            due = start + index / rate
            if (delay := due - time.time()) > 0:
                await asyncio.sleep(delay)
        queue.put_nowait((index, due))
    for _ in tasks:
        queue.put_nowait(None)
    await asyncio.gather(*tasks)
    return results


def _payloads(points: Sequence[tuple[float, float]], codes: Sequence[str]) -> list[bytes]:
    return [
        json.dumps(
            {"category": codes[i % len(codes)], "lat": lat, "lon": lon, "description": "bench"}
        ).encode()
        for i, (lon, lat) in enumerate(points)
    ]


def _routable(engine: Engine) -> list[str]:
    """Categories the router dispatches by itself (no verification, no dispatcher)."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT code FROM category WHERE active AND auto_dispatch "
                "AND NOT needs_verification ORDER BY code"
            )
        )
        return [str(r[0]) for r in rows]


# -- the phases -------------------------------------------------------------------------------


def _bare(celery: Any, broker: str, count: int) -> float:
    """No-op tasks per second, timed as ``_route`` times reports.

    The same pause, the same clock start (just before the consumers resume, every message
    already confirmed by the broker) and a poll as fine. The clock stops when the queue holds no
    ready message, which may leave up to the prefetch (4 a process) still running: a flattering
    error of a few milliseconds for the baseline, never for routing.
    """
    from kombu.connection import Connection

    celery.control.cancel_consumer("routing", reply=True, timeout=10, limit=1)
    with celery.producer_or_acquire() as producer:
        for _ in range(count):
            celery.send_task(NOOP_TASK, producer=producer, retry=False)
    # One connection for the whole poll, so each look at the queue costs a round trip, not a
    # connection set-up (tens of milliseconds on a loaded machine).
    with Connection(broker, connect_timeout=5) as conn:
        started = time.perf_counter()
        celery.control.add_consumer("routing", reply=True, timeout=10, limit=1)
        done = _wait(lambda: _ready_messages(conn, "routing") == 0, 600)
    return count / (done - started)


def _route(
    celery: Any, engine: Engine, apis: Sequence[str], payloads: Sequence[bytes], broker: str
) -> dict[str, Any]:
    celery.control.cancel_consumer("routing", reply=True, timeout=10, limit=1)
    posted = asyncio.run(_post(apis, payloads, rate=None, clients=8))
    ids = [case_id for _, case_id in posted if case_id]
    first, last = min(ids), max(ids)
    span = {"first": first, "last": last}
    # Every report stored and its message confirmed by the broker before the clock starts.
    published = (
        "SELECT count(*) FROM cases WHERE id BETWEEN :first AND :last AND published_at IS NOT NULL"
    )
    _wait(lambda: _count(engine, published, **span) >= len(ids), 120, 0.2)
    started = time.perf_counter()
    celery.control.add_consumer("routing", reply=True, timeout=10, limit=1)
    routed = (
        "SELECT count(*) FROM cases WHERE id BETWEEN :first AND :last AND routed_at IS NOT NULL"
    )
    done = _wait(lambda: _count(engine, routed, **span) >= len(ids), 900, 0.1)
    # The clock stops once every report is routed. Workers that filled their batches from the
    # database leave the messages of the reports they routed on the queue, each now a quick
    # no-op: they are drained before the next phase, so it starts on an empty queue (the sweep
    # gives way to reports waiting on it).
    from kombu.connection import Connection

    with Connection(broker, connect_timeout=5) as conn:
        _wait(lambda: _ready_messages(conn, "routing") == 0, 600)
    return {"first_case": first, "reports": len(ids), "routed_per_s": len(ids) / (done - started)}


def _sweep(celery: Any, engine: Engine, first_case: int) -> dict[str, Any]:
    due_cases = _age_clocks(engine, first_case)
    started = time.perf_counter()
    celery.send_task(SWEEP_TASK, retry=False)
    due = "SELECT count(*) FROM sla_clock WHERE next_at <= now() - interval '30 seconds'"
    done = _wait(lambda: _count(engine, due) == 0, 900, 0.1)
    marks = _count(
        engine,
        "SELECT count(*) FROM case_events WHERE case_id >= :first "
        "AND action IN ('warn', 'overdue', 'escalate')",
        first=first_case,
    )
    return {
        "cases_due": due_cases,
        "marks_recorded": marks,
        "sweep_advanced_per_s": due_cases / (done - started),
    }


def _paced(
    engine: Engine, apis: Sequence[str], payloads: Sequence[bytes], rate: float
) -> dict[str, Any]:
    posted = asyncio.run(_post(apis, payloads, rate=rate, clients=32))
    ids = [case_id for _, case_id in posted if case_id]
    first, last = min(ids), max(ids)
    span = {"first": first, "last": last}
    dispatched = (
        "SELECT count(*) FROM cases WHERE id BETWEEN :first AND :last AND dispatched_at IS NOT NULL"
    )
    # Those missing after two minutes count as never dispatched: an infinite latency.
    with suppress(TimeoutError):
        _wait(lambda: _count(engine, dispatched, **span) >= len(ids), 120, 0.5)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT id, extract(epoch FROM dispatched_at), publish_attempts FROM cases "
                "WHERE id BETWEEN :first AND :last"
            ),
            span,
        ).all()
    at = {int(r[0]): (float(r[1]) if r[1] is not None else None) for r in rows}
    attempts = [int(r[2]) for r in rows]
    latency = np.array(
        [
            (at[i] - sent) if at.get(i) is not None else np.inf  # type: ignore[operator]
            for sent, i in posted
            if i
        ]
    )
    return {
        "reports": len(ids),
        "refused": len(posted) - len(ids),
        "rate": rate,
        "p50_s": round(float(np.percentile(latency, 50)), 3),
        "p99_s": round(float(np.percentile(latency, 99)), 3),
        "max_s": round(float(latency.max()), 3),
        "undispatched": int(np.isinf(latency).sum()),
        # Messages per report, as the API and the relay recorded them: 1 is "published once".
        "published_more_than_once": sum(a > 1 for a in attempts),
        "never_published": sum(a == 0 for a in attempts),
    }


# -- the whole run ----------------------------------------------------------------------------


def run_pipeline_bench(
    database_url: str,
    broker_url: str,
    *,
    reports: int,
    rate: float,
    seconds: float,
    worker_counts: Sequence[int] = (1, 2),
    api_urls: Sequence[str] = (),
    scratch: bool = True,
) -> dict[str, Any]:
    """Run every phase (see the module's docstring) and return the figures."""
    from urbangrid.commands.bench_intake import _seed, bench_env, scratch_database, scratch_vhost
    from urbangrid.core.settings import Settings
    from workers.app import make_celery

    with ExitStack() as stack:
        url = stack.enter_context(
            scratch_database(database_url) if scratch else nullcontext(database_url)
        )
        broker = stack.enter_context(
            scratch_vhost(broker_url) if scratch else nullcontext(broker_url)
        )
        var = stack.enter_context(tempfile.TemporaryDirectory(prefix="urbangrid-bench-"))
        # Registered after the directory and before the processes: on failure the processes
        # are stopped first, then their logs' tails printed, then the directory removed.
        stack.push(lambda kind, *_: _report_failure(kind, var))
        points = _seed(url)
        engine = make_engine(url)
        stack.callback(engine.dispose)
        codes = _routable(engine)
        env = bench_env(
            url,
            broker,
            var,
            URBANGRID_DUPLICATE_RADIUS_M="0",
            # One sweep claims the whole backlog; the scheduler ticks often enough to be felt.
            URBANGRID_SLA_SWEEP_BATCH=str(4 * reports),
            URBANGRID_SLA_SWEEP_INTERVAL_S="5",
            URBANGRID_NOTIFY_INTERVAL_S="5",
            URBANGRID_METRICS_REFRESH_INTERVAL_S="10",
        )
        settings = Settings(database_url=url, broker_url=broker, var_dir=var)
        celery = make_celery(settings)
        stack.callback(celery.close)
        from workers.deadletter import declare

        declare(celery)
        apis = list(api_urls)
        own: subprocess.Popen[bytes] | None = None
        if not apis:
            server, api = _api(env, var)
            own = stack.enter_context(server)
            apis = [api]
        for api in apis:
            wait_up(api, server=own)
        offset = 0

        def take(count: int) -> list[bytes]:
            nonlocal offset
            chosen = [points[(offset + i) % len(points)] for i in range(count)]
            offset += count
            return _payloads(chosen, codes)

        runs: dict[str, Any] = {}
        for count in worker_counts:
            with _worker(ROUTING_QUEUES, count, f"bench-routing-{count}", env, var) as router:
                _wait_for_workers(celery, 1, router)
                bare = _bare(celery, broker, reports)
                routed = _route(celery, engine, apis, take(reports), broker)
            with _worker(HOUSEKEEPING_QUEUES, count, f"bench-sweep-{count}", env, var) as sweeper:
                _wait_for_workers(celery, 1, sweeper)
                swept = _sweep(celery, engine, routed["first_case"])
            runs[str(count)] = {
                "bare_celery_per_s": round(bare, 1),
                "routed_per_s": round(routed["routed_per_s"], 1),
                "sweep_advanced_per_s": round(swept["sweep_advanced_per_s"], 1),
                "routed_over_bare": round(routed["routed_per_s"] / bare, 3),
                "sweep_over_bare": round(swept["sweep_advanced_per_s"] / bare, 3),
                "reports": routed["reports"],
                "sweep_cases_due": swept["cases_due"],
                "sweep_marks_recorded": swept["marks_recorded"],
            }
        paced_reports = int(rate * seconds)
        top = max(worker_counts)
        with _worker(ROUTING_QUEUES, top, "bench-paced", env, var) as router:
            _wait_for_workers(celery, 1, router)
            quiet = _paced(engine, apis, take(paced_reports), rate)
            # Deadlines falling due together while reports keep coming: the scheduler's sweep,
            # relay, notices and metrics refresh all have work to do.
            backlog = _age_clocks(engine, 1)
            beat = [
                sys.executable,
                "-m",
                "urbangrid.commands.main",
                "scheduler",
                "--loglevel",
                "WARNING",
            ]
            with (
                _worker(
                    HOUSEKEEPING_QUEUES, 1, "bench-housekeeping", env, var, niceness=None
                ) as housekeeper,
                _process(beat, env, os.path.join(var, "scheduler.log")) as scheduler,
            ):
                _wait_for_workers(celery, 2, router, housekeeper, scheduler)
                busy = _paced(engine, apis, take(paced_reports), rate)
                busy["due_backlog_cases"] = backlog
    last = runs[str(top)]
    return {
        "machine": {"cpus": os.cpu_count(), "load_1m": round(os.getloadavg()[0], 2)},
        "runs": runs,
        "paced_without_scheduler": quiet,
        "paced_with_scheduler": busy,
        "routed_per_s": last["routed_per_s"],
        "bare_celery_per_s": last["bare_celery_per_s"],
        "sweep_advanced_per_s": last["sweep_advanced_per_s"],
        "p99_post_to_dispatched_s": busy["p99_s"],
        "p99_without_scheduler_s": quiet["p99_s"],
    }
