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
# The second settle happens while frames arrive. It held the loop for 15-19 ms (live_latency.py,
# 2026-12-04: every run's worst frame -> event, and now and then an intent's p99): ~12 ms
# counting the frozen objects (`gc.get_freeze_count` walks all ~2M of them; `gc.freeze` itself
# takes microseconds) and the rest a full pass over what start-up promoted. So nothing is
# counted there, and it collects the young generations only. The price: a cycle that became
# garbage after start-up and reached the old generation before this settle stays frozen until
# `release` (a few objects, once).
_YOUNG = 1


class HeapSettler:
    """Collects once and freezes what survives: `settle()` before the run's first event, and
    again by itself at event `again_at`."""

    def __init__(self, again_at: int = SETTLE_AGAIN_AT) -> None:
        self.again_at = again_at

    @property
    def frozen(self) -> int:
        """Objects out of the collector's reach (walks them all: ~6 ns each; not for a hot
        path)."""
        return gc.get_freeze_count()

    def settle(self, why: str, generation: int = 2) -> None:
        """Collect up to `generation` (2: a full pass), then freeze what survives."""
        t0 = time.perf_counter()
        gc.collect(generation)
        gc.freeze()
        log.debug("heap settled (%s, generations 0-%d collected) in %.1f ms", why, generation,
                  (time.perf_counter() - t0) * 1e3)

    def on_event(self, i: int) -> None:
        if i == self.again_at:
            self.settle(f"after {i} events", _YOUNG)

    def release(self) -> None:
        """At the run's end: everything frozen goes back to the collector (what the run leaves
        behind in cycles is garbage from now on; an embedding process keeps running)."""
        gc.unfreeze()
