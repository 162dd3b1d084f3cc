"""Keeping the processes of ``urbangrid run`` alive: restart with backoff, stop only on a signal.

One machine runs the API, the worker, the scheduler and the dashboard. Any of them can die (a bug,
the kernel's OOM killer, an operator's ``kill``); the city must not go offline with it. A child
that exits is logged with its exit code and started again after a delay that doubles with each
quick failure (1 s, 2 s, 4 s … up to 30 s) and falls back to 1 s once it has stayed up a minute,
so a crash loop does not eat the machine and a rare crash costs a second. The others never
notice: the API keeps answering while the worker restarts, and the reports it takes meanwhile
wait in the database and the broker. Only SIGTERM, SIGINT (Ctrl-C) or SIGHUP stops the stack.

Each child runs in a session of its own, so its own children (Celery's pool, uvicorn's workers)
go with it: a child that died leaves no orphans holding the port or the queue, and a stop
signal reaches each child once, from here, in order.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def backoff(failures: int, *, initial: float = 1.0, ceiling: float = 30.0) -> float:
    """Seconds to wait before restarting a child that failed ``failures`` times in a row.

    >>> [backoff(n) for n in range(7)]
    [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    """
    return float(min(ceiling, initial * 2 ** max(0, failures)))


def describe_exit(code: int) -> str:
    """``exit code 1`` or ``killed by SIGKILL``.

    >>> describe_exit(-9), describe_exit(3)
    ('killed by SIGKILL', 'exit code 3')
    """
    if code < 0:
        with suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
        return f"killed by signal {-code}"
    return f"exit code {code}"


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restarts: int = 0
    failures: int = 0  # exits in a row that came within ``stable_s`` of the start
    restart_at: float | None = None


@dataclass
class Supervisor:
    """Start ``commands``, restart what exits, stop everything on a signal."""

    commands: Mapping[str, list[str]]
    say: Callable[[str], None]
    pid_dir: Path | None = None
    env: Mapping[str, str] | None = None
    stable_s: float = 60.0
    initial_backoff_s: float = 1.0
    max_backoff_s: float = 30.0
    stop_timeout_s: float = 20.0
    children: dict[str, Child] = field(default_factory=dict)
    stopping: bool = False
    received: list[int] = field(default_factory=list)
    _previous: dict[int, object] = field(default_factory=dict)

    def start_all(self) -> None:
        """Catch the stop signals (from now on they stop the stack), then start every child."""
        for sig in STOP_SIGNALS:
            self._previous[sig] = signal.signal(sig, self._on_signal)
        for name, argv in self.commands.items():
            child = self.children[name] = Child(name, list(argv))
            self._start(child)

    def _start(self, child: Child) -> None:
        child.process = subprocess.Popen(
            child.argv, env=dict(self.env) if self.env is not None else None, start_new_session=True
        )
        child.started_at = time.monotonic()
        child.restart_at = None
        if self.pid_dir is not None:
            self.pid_dir.mkdir(parents=True, exist_ok=True)
            (self.pid_dir / f"{child.name}.pid").write_text(f"{child.process.pid}\n")

    def check(self, now: float | None = None) -> None:
        """Notice children that exited and start those whose backoff has passed."""
        now = time.monotonic() if now is None else now
        for child in self.children.values():
            process = child.process
            if process is not None and child.restart_at is None:
                code = process.poll()
                if code is None:
                    continue
                _kill_group(process.pid, signal.SIGKILL)  # its pool or workers, orphaned
                uptime = now - child.started_at
                # A child that had been up a while gets a fresh start: only a crash loop waits.
                quick = uptime < self.stable_s
                delay = backoff(
                    child.failures if quick else 0,
                    initial=self.initial_backoff_s,
                    ceiling=self.max_backoff_s,
                )
                child.failures = child.failures + 1 if quick else 0
                child.restart_at = now + delay
                self.say(
                    f"urbangrid run: {child.name} (pid {process.pid}) exited, "
                    f"{describe_exit(code)}, after {uptime:.0f} s; "
                    f"restart {child.restarts + 1} in {delay:.0f} s"
                )
            if child.restart_at is not None and now >= child.restart_at and not self.stopping:
                child.restarts += 1
                self._start(child)
                assert child.process is not None
                self.say(f"urbangrid run: {child.name} restarted (pid {child.process.pid})")

    def stop(self) -> None:
        """SIGTERM to each child, then SIGKILL to whatever of its group is left at the deadline."""
        self.stopping = True
        running = [c.process for c in self.children.values() if c.process is not None]
        if running:
            self.say(f"urbangrid run: stopping {', '.join(self.children)}")
        for process in running:
            if process.poll() is None:
                with suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout_s
        for process in running:
            with suppress(subprocess.TimeoutExpired):
                process.wait(max(0.1, deadline - time.monotonic()))
            _kill_group(process.pid, signal.SIGKILL)
            with suppress(subprocess.TimeoutExpired):
                process.wait(5)
        if self.pid_dir is not None:
            for child in self.children.values():
                (self.pid_dir / f"{child.name}.pid").unlink(missing_ok=True)
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
        self._previous.clear()

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self.received.append(signum)

    def run(self, *, poll_s: float = 0.5) -> str:
        """Supervise until a stop signal; returns the signal's name. Stops the children."""
        try:
            if not self.children:
                self.start_all()
            while not self.received:
                self.check()
                time.sleep(poll_s)
            return signal.Signals(self.received[0]).name
        finally:
            self.stop()


def _kill_group(pid: int, sig: int) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
