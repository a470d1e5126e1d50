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


def utc_text(ts_ns: int, ms: bool = False) -> str:
    """A clock time for people: `2024-08-08 23:54:15 UTC` (with `ms`, `…15.123 UTC`)."""
    s = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts_ns // 10**9))
    return f"{s}.{ts_ns // 1_000_000 % 1000:03d} UTC" if ms else f"{s} UTC"
