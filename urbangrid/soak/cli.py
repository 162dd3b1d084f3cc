"""``urbangrid soak``: drive a running stack for a while, optionally breaking it, and count.

Start the soak first when it is to cut the database or the broker: it listens on the proxy ports
(``--database-proxy 15432=127.0.0.1:5432``) and the stack is pointed at them. A worker is killed
through the pid files ``urbangrid run`` keeps in ``var/run``. The last line of output is one
JSON object: requests, 5xx (and those no outage excuses), connection errors, crashes seen in the
logs, reports lost, doubled and still unrouted.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import click
from sqlalchemy import Engine, text

from urbangrid.soak.actors import City, Ledger, Open311Client, Resident, StaffBot
from urbangrid.soak.proxy import TcpProxy
from urbangrid.soak.traffic import Tally, Window

FAULTS = ("worker", "database", "broker")
# Log lines that mean a process died, whatever the cause.
CRASH_MARKS = ("Unrecoverable error", ") exited, ")


def _proxy(spec: str | None) -> TcpProxy | None:
    """``LISTEN=HOST:PORT`` → a proxy listening on LISTEN (started)."""
    if not spec:
        return None
    listen, _, target = spec.partition("=")
    host, _, port = target.rpartition(":")
    proxy = TcpProxy((host or "127.0.0.1", int(port)), int(listen))
    proxy.start()
    return proxy


def prepare(engine: Engine, run: str) -> City:
    """Staff accounts, an Open311 key, places and categories for this run (in the database)."""
    from datetime import timedelta

    from sqlmodel import Session

    from intake.apikeys import create_key
    from urbangrid.staff import create_staff, issue_token

    with Session(engine) as session:
        tokens = {}
        departments = [str(c) for (c,) in session.execute(text("SELECT code FROM department"))]
        # A department's staff see only its cases: one account per department.
        accounts = [
            (f"department:{code}", "department", f"department:{code}") for code in departments
        ]
        accounts += [(role, role, "city") for role in ("supervisor", "shift_lead")]
        for key, role, scope in accounts:
            account = create_staff(session, f"soak-{run}-{key}", role, scope)
            tokens[key] = issue_token(session, account, label="soak", ttl=timedelta(days=2))
        session.commit()
        api_key = create_key(session, f"soak-{run}")
        categories = [
            str(code)
            for (code,) in session.execute(
                text(
                    "SELECT code FROM category "
                    "WHERE active AND auto_dispatch AND NOT needs_verification ORDER BY code"
                )
            )
        ]
        points = [
            (float(lat), float(lon))
            for lat, lon in session.execute(
                text("SELECT lat, lon FROM cases WHERE lat IS NOT NULL ORDER BY id DESC LIMIT 3000")
            )
        ]
    if not points:
        raise click.ClickException("no cases to take places from: seed the demo city first")
    return City(points, categories, api_key, tokens)


def verify(engine: Engine, ledger: Ledger) -> dict[str, int]:
    """Lost: accepted reports missing or not as answered. Doubled: a marker stored twice.
    Unrouted: stored, not a duplicate, and never routed."""
    accepted = {r.id: r for r in ledger.accepted()}
    pattern = f"soak {ledger.run} r%"
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT id, description, state, routed_at, duplicate_of FROM cases "
                "WHERE description LIKE :p"
            ),
            {"p": pattern},
        ).all()
        pending_photos = conn.execute(
            text(
                "SELECT count(*) FROM photo p JOIN cases c ON c.id = p.case_id "
                "WHERE c.description LIKE :p AND p.state = 'pending'"
            ),
            {"p": pattern},
        ).scalar_one()
    by_id = {int(r[0]): r for r in rows}
    lost = sum(
        1
        for case_id, report in accepted.items()
        if case_id not in by_id or by_id[case_id][1] != report.marker
    )
    seen: dict[str, int] = {}
    for row in rows:
        seen[row[1]] = seen.get(row[1], 0) + 1
    unrouted = sum(1 for r in rows if r[2] == "REPORTED" and r[3] is None and r[4] is None)
    return {
        "reports_stored": len(rows),
        "reports_lost": lost,
        "reports_doubled": sum(n - 1 for n in seen.values() if n > 1),
        "reports_unrouted": unrouted,
        "photos_unprocessed": int(pending_photos),
    }


@contextmanager
def _watch_logs(paths: tuple[Path, ...]) -> Iterator[dict[Path, int]]:
    yield {path: path.stat().st_size if path.exists() else 0 for path in paths}


def scan_logs(offsets: dict[Path, int]) -> dict[str, Any]:
    crashes: list[str] = []
    tracebacks = 0
    for path, offset in offsets.items():
        if not path.exists():
            continue
        with path.open("rb") as log:
            log.seek(offset)
            for raw in log:
                line = raw.decode(errors="replace").rstrip()
                if any(mark in line for mark in CRASH_MARKS):
                    crashes.append(line[:200])
                if line.startswith("Traceback"):
                    tracebacks += 1
    return {"exits": crashes, "tracebacks": tracebacks}


def _kill_worker(pid_dir: Path) -> str:
    pid_file = pid_dir / "worker.pid"
    try:
        pid = int(pid_file.read_text().strip())
        os.killpg(pid, signal.SIGKILL)
    except (OSError, ValueError) as exc:
        return f"could not kill the worker: {exc}"
    return f"worker group {pid} SIGKILLed"


@click.command()
@click.option(
    "--api", "api_url", default=None, help="The API (default: this machine's, from settings)."
)
@click.option("--duration", default="10m", show_default=True, help="e.g. 90s, 40m, 2h.")
@click.option("--residents", default=4, show_default=True)
@click.option("--open311-clients", default=2, show_default=True)
@click.option("--staff-bots", default=1, show_default=True)
@click.option("--pace", default=1.0, show_default=True, help="Seconds between one actor's steps.")
@click.option(
    "--fault", "faults", multiple=True, type=click.Choice(FAULTS), help="Faults to inject, in turn."
)
@click.option("--fault-every", default="10m", show_default=True)
@click.option("--fault-length", default="40s", show_default=True, help="How long an outage lasts.")
@click.option(
    "--database-proxy", default=None, help="LISTEN=HOST:PORT: the stack's database goes through it."
)
@click.option(
    "--broker-proxy", default=None, help="LISTEN=HOST:PORT: the stack's broker goes through it."
)
@click.option(
    "--pid-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="urbangrid run's pid files (default var/run).",
)
@click.option(
    "--log",
    "logs",
    multiple=True,
    type=click.Path(path_type=Path),
    help="The stack's log, scanned for crashes.",
)
@click.option(
    "--settle", default="60s", show_default=True, help="How long to wait for routing after the end."
)
@click.option("--first-fault", default=None, help="When the first fault comes (default: every).")
@click.option("--wait", "wait_for", default="5m", show_default=True, help="Wait this for the API.")
def soak(
    api_url: str | None,
    duration: str,
    residents: int,
    open311_clients: int,
    staff_bots: int,
    pace: float,
    faults: tuple[str, ...],
    fault_every: str,
    fault_length: str,
    database_proxy: str | None,
    broker_proxy: str | None,
    pid_dir: Path | None,
    logs: tuple[Path, ...],
    settle: str,
    first_fault: str | None,
    wait_for: str,
) -> None:
    """Drive a running stack with residents, Open311 clients and staff; print one JSON line."""
    from urbangrid.db import make_engine
    from urbangrid.settings import get_settings

    settings = get_settings()
    api_url = api_url or f"http://{settings.api_host}:{settings.api_port}"
    pid_dir = pid_dir or settings.var_dir / "run"
    seconds, every, length, settle_s = (
        _seconds(v) for v in (duration, fault_every, fault_length, settle)
    )
    first = _seconds(first_fault) if first_fault else every
    if "database" in faults and not database_proxy:
        raise click.BadParameter(
            "cutting the database needs --database-proxy", param_hint="--fault"
        )
    if "broker" in faults and not broker_proxy:
        raise click.BadParameter("cutting the broker needs --broker-proxy", param_hint="--fault")
    proxies = {"database": _proxy(database_proxy), "broker": _proxy(broker_proxy)}
    # The stack may be starting behind the proxies just opened.
    if not _answers(f"{api_url}/healthz", _seconds(wait_for)):
        raise click.ClickException(f"{api_url} does not answer")
    # The soak's own checks go to the database directly, never through its proxy.
    engine = make_engine(settings.effective_database_url)
    run = secrets.token_hex(3)
    city = prepare(engine, run)
    tally, ledger, stop = Tally(), Ledger(run), threading.Event()
    actors = [
        *(
            Resident(f"resident-{n}", api_url, tally, ledger, city, stop, pace_s=pace, seed=n)
            for n in range(residents)
        ),
        *(
            Open311Client(
                f"open311-{n}", api_url, tally, ledger, city, stop, pace_s=pace, seed=100 + n
            )
            for n in range(open311_clients)
        ),
        *(
            StaffBot(
                f"staff-{n}", api_url, tally, ledger, city, stop, pace_s=2 * pace, seed=200 + n
            )
            for n in range(staff_bots)
        ),
    ]
    stopped: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, _: stopped.append(signum))
    named = ", ".join(faults) or "none"
    click.echo(f"soak {run}: {len(actors)} actors on {api_url} for {seconds:.0f} s; faults {named}")
    with _watch_logs(logs) as offsets:
        started = time.monotonic()
        for actor in actors:
            actor.start()
        next_fault = started + first
        next_line = started + 60
        turn = 0
        kills = 0
        try:
            while time.monotonic() - started < seconds and not stopped:
                now = time.monotonic()
                if faults and now >= next_fault:
                    kind = faults[turn % len(faults)]
                    turn += 1
                    window = Window(kind, now)
                    with tally.lock:
                        tally.windows.append(window)
                    if kind == "worker":
                        click.echo(f"fault at {now - started:.0f} s: {_kill_worker(pid_dir)}")
                        kills += 1
                        window.end = now
                    else:
                        proxy = proxies[kind]
                        assert proxy is not None
                        proxy.stop()
                        click.echo(f"fault at {now - started:.0f} s: {kind} cut for {length:.0f} s")
                        time.sleep(length)
                        proxy.start()
                        window.end = time.monotonic()
                        click.echo(f"{kind} back at {window.end - started:.0f} s")
                    next_fault = now + every
                if now >= next_line:
                    click.echo(_progress(now - started, tally, ledger))
                    next_line += 60
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            stop.set()
            for actor in actors:
                actor.join(120)
            signal.signal(signal.SIGTERM, previous)
        ran = time.monotonic() - started
        click.echo(_progress(ran, tally, ledger))
        # Routing after the end: wait until nothing is unrouted, or the settle time is up.
        settled_at = time.monotonic()
        checks = verify(engine, ledger)
        while checks["reports_unrouted"] and time.monotonic() - settled_at < settle_s:
            time.sleep(2)
            checks = verify(engine, ledger)
        logs_seen = scan_logs(offsets)
    for proxy in proxies.values():
        if proxy is not None:
            proxy.stop()
    engine.dispose()
    exits = logs_seen["exits"]
    summary = {
        "run": run,
        "seconds": round(ran),
        "requests": tally.requests,
        "5xx": tally.server_errors(),
        "5xx_not_excused": tally.server_errors_outside,
        "503_without_retry_after": tally.no_retry_after,
        "statuses": {str(k): v for k, v in sorted(tally.statuses.items())},
        "connection_errors": tally.connection_errors,
        "connection_errors_not_excused": tally.connection_errors_outside,
        "slower_than_5s": tally.slow,
        "crashes": max(0, len(exits) - kills),
        "worker_kills": kills,
        "tracebacks_in_logs": logs_seen["tracebacks"],
        "reports_sent": len(ledger.reports),
        "reports_accepted": len(ledger.accepted()),
        "reports_given_up": sum(1 for r in ledger.reports if r.gave_up),
        "reports_refused": ledger.refused,
        **checks,
        "unrouted_after_s": round(time.monotonic() - settled_at),
        "loops_closed": ledger.loops_closed,
        "ratings": ledger.ratings,
        "xml_not_well_formed": ledger.bad_xml,
        "faults": [
            {"kind": w.kind, "at_s": round(w.start - started), "length_s": round(w.end - w.start)}
            for w in tally.windows
        ],
        "server_error_routes": dict(tally.by_route),
        "examples": tally.examples[:10] + ledger.examples[:10],
        "exits": exits[:10],
    }
    click.echo(json.dumps(summary, ensure_ascii=False))


def _answers(url: str, seconds: float) -> bool:
    import urllib.request

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with suppress(OSError), urllib.request.urlopen(url, timeout=2) as answer:
            if answer.status == 200:
                return True
        time.sleep(1)
    return False


def _progress(elapsed: float, tally: Tally, ledger: Ledger) -> str:
    with tally.lock:
        fives = sum(n for s, n in tally.statuses.items() if s >= 500)
        return (
            f"{elapsed / 60:5.1f} min  requests {tally.requests}  5xx {fives} "
            f"(not excused {tally.server_errors_outside})  no answer {tally.connection_errors}  "
            f"slow {tally.slow}  reports {len(ledger.accepted())}/{len(ledger.reports)}  "
            f"closed {ledger.loops_closed}  rated {ledger.ratings}"
        )


def _seconds(text_: str) -> float:
    """``90s``, ``40m``, ``2h`` or a number of seconds.

    >>> _seconds("40m"), _seconds("2h"), _seconds("90")
    (2400.0, 7200.0, 90.0)
    """
    units = {"s": 1, "m": 60, "h": 3600}
    text_ = text_.strip().lower()
    with suppress(ValueError):
        if text_ and text_[-1] in units:
            return float(text_[:-1]) * units[text_[-1]]
        return float(text_)
    raise click.BadParameter(f"{text_!r} is not a duration such as 90s, 40m or 2h")
