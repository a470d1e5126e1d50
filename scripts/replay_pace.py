"""Pacing a local exchange's replay: frames sent at their recorded gaps × 1/speed (how a
recording is played, not a way of synchronising anything)."""

from __future__ import annotations

import asyncio


class Pace:
    """`await pace.wait(ts_ms)` before sending a frame recorded at `ts_ms`: returns once its
    gap from the first frame, divided by `speed`, has passed; at once when `speed` is None."""

    def __init__(self, speed: float | None) -> None:
        self.speed = speed
        self._loop = asyncio.get_running_loop()
        self._t0: float | None = None
        self._ts0 = 0

    async def wait(self, ts_ms: int) -> None:
        if not self.speed:
            return
        if self._t0 is None:
            self._t0, self._ts0 = self._loop.time(), ts_ms
        delay = self._t0 + (ts_ms - self._ts0) / 1000 / self.speed - self._loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
