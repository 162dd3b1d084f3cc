"""What one API and one worker cost on the configured grid: memory, time to ready, first route.

    URBANGRID_DATABASE_URL=… URBANGRID_BROKER_URL=… python infra/grid_processes.py [--reports N]

Starts one API process (uvicorn, one worker) and, with N reports waiting on the broker, one
Celery worker (concurrency 2), as a deployment would; prints one JSON object: seconds until the
API answers /healthz, its RSS after taking the reports, seconds from the worker's start to the
first report routed and to the last, and the worker's RSS (parent and each child) and PSS (the
pages it alone pays for; the mapped grid index is shared with every process on the machine).
The reports' points are uniform over the active grid's service area.

Run it once with this code and once with an older checkout on PYTHONPATH for the baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import IO

from sqlalchemy import create_engine, text


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def pss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far: the cost of a step, whatever the load."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_s(pid: int) -> float:
    total = 0.0
    for p in [pid, *children(pid)]:
        try:
            total += cpu_s(p)
        except OSError:
            continue
    return total


def children(pid: int) -> list[int]:
    found = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(p) for p in found]


def wait_http(url: str, timeout: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return time.monotonic() - started
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(url)


def post(url: str, body: dict[str, object]) -> int:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return int(json.loads(answer.read())["id"])


def points_inside(database_url: str, n: int) -> list[tuple[float, float]]:
    """Random points in the active grid's cells (PostGIS picks the cells and the points)."""
    engine = create_engine(database_url)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) AS p FROM grid_area"
                " a JOIN grid_version v ON v.id = a.version_id AND v.is_active"
                " WHERE a.level = (SELECT max(level) FROM grid_area WHERE version_id = v.id)"
                " ORDER BY random() LIMIT :n) s"
            ),
            {"n": n},
        ).all()
    engine.dispose()
    return [(float(x), float(y)) for x, y in rows]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reports", type=int, default=200)
    parser.add_argument("--port", type=int, default=8611)
    parser.add_argument("--label", default="")
    parser.add_argument("--logs", type=Path, default=None, help="Folder for the processes' logs.")
    args = parser.parse_args()
    database_url = os.environ["URBANGRID_DATABASE_URL"]
    sql_url = database_url.replace("postgresql+psycopg", "postgresql+psycopg", 1)
    engine = create_engine(sql_url)
    with engine.begin() as conn:
        before = int(conn.execute(text("SELECT coalesce(max(id), 0) FROM cases")).scalar_one())
    points = points_inside(sql_url, args.reports)
    env = dict(os.environ)
    cli = [sys.executable, "-m", "urbangrid.cli"]
    result: dict[str, object] = {"label": args.label, "reports": args.reports}

    def log(name: str) -> int | IO[bytes]:
        return (args.logs / f"{name}.log").open("wb") if args.logs else subprocess.DEVNULL

    api = subprocess.Popen(
        [*cli, "api", "--port", str(args.port)],
        env=env,
        stdout=log("api"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    worker: subprocess.Popen[bytes] | None = None
    try:
        base = f"http://127.0.0.1:{args.port}"
        result["api_ready_s"] = round(wait_http(f"{base}/healthz", 900), 2)
        result["api_ready_cpu_s"] = round(cpu_s(api.pid), 2)
        # The first report places the point: the API maps (or builds) the grid index then.
        started = time.monotonic()
        for lon, lat in points:
            post(
                f"{base}/api/v1/reports",
                {
                    "category": "E0102",
                    "lat": lat,
                    "lon": lon,
                    "description": f"bench {args.label}",
                },
            )
        result["api_post_all_s"] = round(time.monotonic() - started, 2)
        result["api_cpu_s"] = round(cpu_s(api.pid), 2)
        result["api_rss_mb"] = round(rss_kb(api.pid) / 1024)
        result["api_pss_mb"] = round(pss_kb(api.pid) / 1024)

        started = time.monotonic()
        worker = subprocess.Popen(
            [*cli, "worker", "-c", "2", "--loglevel", "WARNING"],
            env=env,
            stdout=log("worker"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        first = last = None
        while time.monotonic() - started < 900:
            with engine.begin() as conn:
                routed = int(
                    conn.execute(
                        text(
                            "SELECT count(*) FROM cases WHERE id > :b"
                            " AND routed_at IS NOT NULL AND description = :d"
                        ),
                        {"b": before, "d": f"bench {args.label}"},
                    ).scalar_one()
                )
            now = time.monotonic() - started
            if routed and first is None:
                first = now
                result["worker_first_routed_cpu_s"] = round(tree_cpu_s(worker.pid), 2)
            if routed >= args.reports:
                last = now
                break
            time.sleep(0.05)
        result["worker_first_routed_s"] = round(first, 2) if first is not None else None
        result["worker_all_routed_s"] = round(last, 2) if last is not None else None
        procs = [worker.pid, *children(worker.pid)]
        result["worker_rss_mb"] = [round(rss_kb(p) / 1024) for p in procs]
        result["worker_pss_mb"] = [round(pss_kb(p) / 1024) for p in procs]
    finally:
        for proc in (worker, api):
            if proc is not None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in (worker, api):
            if proc is not None:
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
        engine.dispose()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
