"""Keeps the garbage collector's full passes short in a long-running live or paper process.

A live run holds a large, long-lived heap from its first seconds: ccxt's market tables, the
books' first snapshots, the config. CPython's full (generation 2) collection walks all of it,
finding nothing, and stops the event loop for tens of milliseconds while it does
(scripts/bench/live_latency.py measured 14-53 ms pauses, the whole of the p99 of frame ->
intent). Once start-up is over, those objects are moved to the permanent generation
(`gc.freeze`): reference counting still frees them, the collector no longer walks them, and
cyclic garbage made later is still collected as before.
"""

from __future__ import annotations

import gc
import logging
import time

log = logging.getLogger(__name__)

# Settled before the first event (markets loaded, the journal open) and again this many events
# on (books synced from their snapshots, caches warm; by then little is left to walk).
SETTLE_AGAIN_AT = 4096


class HeapSettler:
    """Collects once and freezes what survives: `settle()` before the run's first event, and
    again by itself at event `again_at`."""

    def __init__(self, again_at: int = SETTLE_AGAIN_AT) -> None:
        self.again_at = again_at
        self.frozen = 0  # objects moved out of the collector's reach so far

    def settle(self, why: str) -> None:
        t0 = time.perf_counter()
        gc.collect()
        gc.freeze()
        self.frozen = gc.get_freeze_count()
        log.debug("heap settled (%s): %d objects frozen in %.1f ms", why, self.frozen,
                  (time.perf_counter() - t0) * 1e3)

    def on_event(self, i: int) -> None:
        if i == self.again_at:
            self.settle(f"after {i} events")

    def release(self) -> None:
        """At the run's end: everything frozen goes back to the collector (what the run leaves
        behind in cycles is garbage from now on; an embedding process keeps running)."""
        gc.unfreeze()
        self.frozen = 0
