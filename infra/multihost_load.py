"""Residents' reports spread over several API hosts, timed until every one is routed.

    python infra/multihost_load.py --api http://10.77.0.11:8000 --api http://10.77.0.12:8000 \\
        --reports 600 --clients 8

Posts N reports from `--clients` concurrent clients, round-robin over the API hosts, at points
inside the active grid's cells; then waits until the workers have routed all of them. Prints one
JSON object: reports accepted per second, routed per second (first POST to last routed), and
the p50/p99 from a report's creation to its routing, read from the database's own columns.
Needs URBANGRID_DATABASE_URL (PostgreSQL) to pick points and read the timings.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import threading
import time
import urllib.request
from itertools import cycle

from sqlalchemy import create_engine, text


def post(url: str, body: dict[str, object]) -> None:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        if answer.status != 201:
            raise RuntimeError(f"{url}: {answer.status}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--api", action="append", required=True)
    parser.add_argument("--reports", type=int, default=600)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--label", default="multihost", help="Also the reports' description.")
    args = parser.parse_args()
    engine = create_engine(os.environ["URBANGRID_DATABASE_URL"])
    with engine.begin() as conn:
        before = int(conn.execute(text("SELECT coalesce(max(id), 0) FROM cases")).scalar_one())
        points = conn.execute(
            text(
                "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) AS p FROM grid_area"
                " a JOIN grid_version v ON v.id = a.version_id AND v.is_active"
                " WHERE a.level = (SELECT max(level) FROM grid_area WHERE version_id = v.id)"
                " ORDER BY random() LIMIT :n) s"
            ),
            {"n": args.reports},
        ).all()
    jobs = list(zip(cycle(args.api), points, strict=False))
    lock = threading.Lock()
    errors: list[str] = []

    def client() -> None:
        while True:
            with lock:
                if not jobs:
                    return
                api, (lon, lat) = jobs.pop()
            try:
                post(
                    f"{api}/api/v1/reports",
                    {"category": "E0102", "lat": lat, "lon": lon, "description": args.label},
                )
            except Exception as exc:  # counted and shown: a lost report is a finding
                errors.append(f"{api}: {exc}")

    started = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(args.clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    posted_s = time.monotonic() - started
    accepted = len(points) - len(errors)
    while time.monotonic() - started < 1800:
        with engine.begin() as conn:
            routed = int(
                conn.execute(
                    text(
                        "SELECT count(*) FROM cases WHERE id > :b AND routed_at IS NOT NULL"
                        " AND description = :d"
                    ),
                    {"b": before, "d": args.label},
                ).scalar_one()
            )
        if routed >= accepted:
            break
        time.sleep(0.2)
    with engine.begin() as conn:
        rows = conn.execute(
            text(
                "SELECT extract(epoch FROM routed_at - created_at),"
                " extract(epoch FROM routed_at), extract(epoch FROM created_at)"
                " FROM cases WHERE id > :b AND routed_at IS NOT NULL AND description = :d"
            ),
            {"b": before, "d": args.label},
        ).all()
    engine.dispose()
    waits = sorted(float(r[0]) for r in rows)
    span = max(float(r[1]) for r in rows) - min(float(r[2]) for r in rows) if rows else 0.0
    q = statistics.quantiles(waits, n=100) if len(waits) > 1 else [0.0] * 99
    print(
        json.dumps(
            {
                "label": args.label,
                "apis": len(args.api),
                "reports": len(points),
                "errors": len(errors),
                "first_errors": errors[:3],
                "accepted_per_s": round(accepted / posted_s, 1),
                "routed": len(rows),
                "routed_per_s": round(len(rows) / span, 1) if span else None,
                "p50_created_to_routed_s": round(q[49], 3),
                "p99_created_to_routed_s": round(q[98], 3),
            }
        )
    )


if __name__ == "__main__":
    main()
