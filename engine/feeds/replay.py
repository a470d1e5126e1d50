"""Replay a recorded event stream into asyncio, as fast as possible or paced at real time × speed.

The replay clock is advanced to each event's recorded receive time before the event is handed
on, so everything downstream reads recorded time, never the wall clock.
"""

from __future__ import annotations

import asyncio
from typing import AsyncIterator, Iterable

from engine.core.clock import ReplayClock
from engine.model.events import (Bar, BestBidAsk, BookDelta, BookSnapshot, BookStatus,
                                 FundingRate, MarkPrice, MarketEvent, OpenInterest, Trade)

# each event's stream under the name the live feed tracks its age by (engine.feeds.live)
STREAM_OF: dict[type, str] = {BookSnapshot: "book", BookDelta: "book", BookStatus: "book",
                              BestBidAsk: "ticker", Trade: "trades", MarkPrice: "mark",
                              FundingRate: "mark", OpenInterest: "open_interest", Bar: "bars"}

# As-fast-as-possible replays yield to the loop this often so other tasks keep running.
_YIELD_EVERY = 1024


async def replay(events: Iterable[MarketEvent], clock: ReplayClock | None = None,
                 speed: float | None = None) -> AsyncIterator[MarketEvent]:
    """Yield `events` in order. `speed=None` (or 0) means no pacing; 1.0 is real time.

    Pacing sleeps on the event loop's monotonic clock until `(ts_recv - first ts_recv) / speed`
    has elapsed since the first event; a replay that falls behind does not sleep.
    """
    if speed is not None and speed < 0:
        raise ValueError(f"speed must be positive (or 0/None for no pacing), got {speed}")
    loop = asyncio.get_running_loop()
    t0_rec: int | None = None
    t0_wall = 0.0
    n = 0
    for ev in events:
        if clock is not None:
            clock.advance_to(ev.ts_recv)
        if speed:
            if t0_rec is None:
                t0_rec = ev.ts_recv
                t0_wall = loop.time()
            due = t0_wall + (ev.ts_recv - t0_rec) / 1e9 / speed
            delay = due - loop.time()
            if delay > 0.0005:
                await asyncio.sleep(delay)
            elif (n := n + 1) % _YIELD_EVERY == 0:
                await asyncio.sleep(0)
        elif (n := n + 1) % _YIELD_EVERY == 0:
            await asyncio.sleep(0)
        yield ev
