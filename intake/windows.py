"""Moving-window counts kept in the API process: the ``memory://`` store of the embedded default.

``limits`` has an in-memory store, but it expires counts by walking every key it holds, and its
asynchronous one hands each key to a thread on the way. A sign-in flood makes a new key for every
name and address it tries (six with the minute, hour and day windows), and keys live for a
day, so the walk grew with the flood until the event loop that serves residents' reports spent
most of its time on it: report p99 went from 10 ms to 40 ms under ten sign-ins a second.

Here a key holds only its newest ``amount`` hits (all a moving window needs), a lookup drops
what has aged out of that key alone, and the keys themselves are kept least recently used
first, so what has expired is found at the front, and the store never holds more than
``max_keys`` (the oldest go first: an address that stopped trying a day ago is the one
forgotten).
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field

from limits import RateLimitItem


@dataclass
class _Window:
    seconds: int
    hits: deque[float] = field(default_factory=deque)  # newest last, at most the limit's amount

    def recent(self, now: float) -> deque[float]:
        while self.hits and self.hits[0] <= now - self.seconds:
            self.hits.popleft()
        return self.hits


class LocalWindows:
    """Moving windows of this process, each limit of each key counted apart."""

    def __init__(self, max_keys: int = 200_000) -> None:
        self.max_keys = max_keys
        self._windows: OrderedDict[str, _Window] = OrderedDict()

    def admit(self, limits: list[RateLimitItem], *key: str) -> int:
        """Count one request of ``key`` unless a limit is full: 0, or the whole seconds to wait
        for the longest full window (a refused request is not counted).

        >>> from limits import parse_many
        >>> windows = LocalWindows()
        >>> [windows.admit(parse_many("2/minute"), "li.lei") for _ in range(3)]
        [0, 0, 60]
        """
        now = time.time()
        waits = []
        for item in limits:
            window = self._windows.get(item.key_for(*key))
            if window is None:
                continue
            hits = window.recent(now)
            if len(hits) >= item.amount:
                waits.append(hits[-item.amount] + item.get_expiry() - now)
        if waits:
            return max(1, int(-(-max(waits) // 1)))
        for item in limits:
            name = item.key_for(*key)
            window = self._windows.pop(name, None) or _Window(item.get_expiry())
            window.recent(now).append(now)
            while len(window.hits) > item.amount:
                window.hits.popleft()
            self._windows[name] = window  # to the back: the most recently used
        self._forget(now)
        return 0

    def clear(self, limits: list[RateLimitItem], *key: str) -> None:
        for item in limits:
            self._windows.pop(item.key_for(*key), None)

    def __len__(self) -> int:
        return len(self._windows)

    def _forget(self, now: float) -> None:
        """Drop expired keys from the front (least recently used) and any beyond ``max_keys``."""
        while self._windows:
            name, window = next(iter(self._windows.items()))
            expired = not window.hits or window.hits[-1] <= now - window.seconds
            if not expired and len(self._windows) <= self.max_keys:
                return
            del self._windows[name]
