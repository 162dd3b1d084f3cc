"""``urbangrid run``'s supervisor: a child that dies comes back, the others are untouched, and
only a signal stops everything."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

from tests.processes import wait_until
from urbangrid.supervisor import Supervisor, backoff

SLEEPER = [sys.executable, "-c", "import time; time.sleep(600)"]


def test_backoff_doubles_to_a_ceiling() -> None:
    assert [backoff(n) for n in range(6)] == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0]
    assert backoff(0, initial=0.1) == 0.1


def _pid(pid_dir: Path, name: str) -> int:
    return int((pid_dir / f"{name}.pid").read_text())


def test_a_killed_child_is_restarted_and_the_others_keep_running(tmp_path: Path) -> None:
    lines: list[str] = []
    supervisor = Supervisor(
        {"api": SLEEPER, "worker": SLEEPER},
        say=lines.append,
        pid_dir=tmp_path,
        initial_backoff_s=0.2,
        stable_s=30,
    )
    supervisor.start_all()
    try:
        api, worker = _pid(tmp_path, "api"), _pid(tmp_path, "worker")
        for round_ in (1, 2):
            os.killpg(worker, signal.SIGKILL)
            dead = worker

            def replaced(dead: int = dead) -> bool:
                supervisor.check()
                return _pid(tmp_path, "worker") != dead

            assert wait_until(replaced, 20)
            worker = _pid(tmp_path, "worker")
            os.kill(worker, 0)  # the new one runs
            assert any(f"restart {round_} in" in line for line in lines), lines
        # A quick second failure waits longer than the first.
        assert "killed by SIGKILL" in lines[0] and "restart 1 in 0 s" in lines[0]
        assert "restart 2 in 0 s" in lines[2]
        assert supervisor.children["worker"].failures == 2
        assert _pid(tmp_path, "api") == api  # the API never noticed
        os.kill(api, 0)
    finally:
        supervisor.stop()
    assert not list(tmp_path.iterdir())  # pid files removed
    for child in supervisor.children.values():
        assert child.process is not None and child.process.poll() is not None


def test_only_a_signal_stops_the_stack(tmp_path: Path) -> None:
    supervisor = Supervisor({"api": SLEEPER}, say=lambda _: None, pid_dir=tmp_path)
    # Running, the supervisor outlives its child's start; then SIGTERM (as from systemd or
    # kill) reaches its handler, not Python's default, and it stops the child on the way out.
    timer = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGTERM))
    timer.start()
    started = time.monotonic()
    assert supervisor.run(poll_s=0.05) == "SIGTERM"
    timer.join()
    assert time.monotonic() - started >= 1.0
    child = supervisor.children["api"].process
    assert child is not None and child.poll() is not None
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
