"""The embedded broker: kombu's filesystem transport, made safe for several processes.

On one machine with no server, the API, the scheduler and the worker pass messages as files in
``var/broker/queue``. kombu's own filesystem transport creates each message file under its final
name and then writes into it, while the worker may already have claimed it: the worker then reads
an empty or half-written file, fails with ``JSONDecodeError`` and stops for good (kombu issue
#1551). A city whose worker dies 5 times in half an hour is offline.

Here a message is written whole under a name the worker never looks at, then renamed into place
(``os.replace`` is atomic on one filesystem), so a worker sees either no file or the complete one.
The worker claims a file by renaming it into ``processed/`` on the same filesystem (kombu moves it
to the system temporary directory, which may be another filesystem, where a move is a copy and
two claims could both succeed). A file that still cannot be read (a disk error, someone's editor)
is set aside in ``corrupt/`` with a log line instead of stopping the worker; the report it named
is still in the database, and the relay publishes it again.

Why this and not kombu's SQLAlchemy transport on a SQLite file: ``urbangrid bench broker``
measured both (figures in docs/benchmarks.md); both lose and double nothing under concurrent
producers, and this one costs less CPU when idle and keeps no ever-growing message table.
"""

from __future__ import annotations

import logging
import os
import uuid
from pathlib import Path
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import TRANSPORT_ALIASES, filesystem, virtual
from kombu.utils.json import dumps, loads

log = logging.getLogger(__name__)

SCHEME = "embedded"


class Channel(filesystem.Channel):
    """Atomic publish, same-filesystem claim, and a bad file set aside instead of a crash."""

    def _put(self, queue: Any, payload: Any, **kwargs: Any) -> None:  # type: ignore[override]
        name = f"{round(monotonic() * 1000):015d}_{uuid.uuid4()}.{queue}.msg"
        folder = Path(self.data_folder_out)
        # A leading dot: kombu and :meth:`_get` only take names of the form ``<stamp>.<queue>.msg``.
        partial = folder / f".{name}.part"
        try:
            with open(partial, "wb") as out:
                out.write(dumps(payload).encode())
            os.replace(partial, folder / name)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise ChannelError(f"cannot add a message to {folder}: {exc}") from exc

    def _get(self, queue: Any, timeout: Any = None) -> Any:
        wanted = f"{queue}.msg"
        folder = Path(self.data_folder_in)
        claimed_dir = Path(self.processed_folder)
        for name in sorted(os.listdir(folder)):
            if name.startswith(".") or name.partition(".")[2] != wanted:
                continue
            claimed = claimed_dir / name
            try:
                os.rename(folder / name, claimed)  # the claim: only one process can win it
            except OSError:
                continue  # another consumer took it first
            try:
                payload = claimed.read_bytes()
                message = loads(payload.decode())
            except (OSError, ValueError) as exc:
                self._set_aside(claimed, exc)
                continue
            claimed.unlink(missing_ok=True)
            return message
        raise virtual.Empty()

    def _set_aside(self, claimed: Path, exc: Exception) -> None:
        corrupt = claimed.parent.parent / "corrupt"
        corrupt.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(claimed, corrupt / claimed.name)
        except OSError:
            claimed.unlink(missing_ok=True)
        log.error("broker message %s unreadable, set aside in %s: %s", claimed.name, corrupt, exc)


class Transport(filesystem.Transport):
    Channel = Channel
    driver_name = "urbangrid-embedded"


def register() -> None:
    """Make ``embedded://`` name this transport (idempotent; every process calls it)."""
    TRANSPORT_ALIASES[SCHEME] = f"{__name__}:Transport"


def folders(root: Path) -> dict[str, str]:
    """The transport options for a broker under ``root``, creating its folders."""
    paths = {
        "data_folder_in": root / "queue",
        "data_folder_out": root / "queue",
        "processed_folder": root / "processed",
        "control_folder": root / "control",
    }
    for path in paths.values():
        path.mkdir(parents=True, exist_ok=True)
    return {key: str(path) for key, path in paths.items()}
