"""Progress on a terminal for the commands that run longer than a few seconds.

A person at a terminal sees which step a long command is in, with the time it has taken so far,
and for counted work a bar with the count and the time left; output piped to a file or read by a
script is exactly what it was without them (the bars draw on stderr, and only on a terminal).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


def _console() -> Console | None:
    console = Console(stderr=True)
    return console if console.is_terminal else None


@contextmanager
def step(label: str) -> Iterator[None]:
    """A spinner with ``label`` and the time elapsed while the block runs."""
    console = _console()
    if console is None:
        yield
        return
    columns = (SpinnerColumn(), TextColumn(label), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        bar.add_task(label, total=None)
        yield


@contextmanager
def counted(label: str, total: int) -> Iterator[Callable[[int], None]]:
    """A bar to ``total``; the block calls what it is given with each amount done."""
    console = _console()
    if console is None:
        yield lambda _done: None
        return
    columns = (
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda done: bar.advance(task, done)
