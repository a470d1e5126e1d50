"""Injected clocks: cores never read the wall clock themselves.

`LiveClock` reads the system clock; `ReplayClock` is advanced by the replay to each event's
recorded receive time, so a replay is deterministic and freshness rules see recorded time.
"""

from __future__ import annotations

import time


class Clock:
    def now_ns(self) -> int:  # pragma: no cover - interface
        raise NotImplementedError


class LiveClock(Clock):
    def now_ns(self) -> int:
        return time.time_ns()


class ReplayClock(Clock):
    def __init__(self, start_ns: int = 0) -> None:
        self._now = start_ns

    def now_ns(self) -> int:
        return self._now

    def advance_to(self, ts_ns: int) -> None:
        """Move forward; time never goes backwards in a replay."""
        if ts_ns > self._now:
            self._now = ts_ns
