"""The heap settler: what lives at start-up leaves the collector's reach, and comes back at the
run's end (paper and live runs use it: tests/live; latency: scripts/bench/live_latency.py)."""

from __future__ import annotations

import gc
import weakref

from engine.node.heap import HeapSettler


class _Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the collector frees it


def test_settle_freezes_the_living_and_release_gives_them_back():
    keep = [_Node() for _ in range(1000)]
    gone = weakref.ref(_Node())  # garbage in a cycle before the settle: collected, not frozen
    settler = HeapSettler(again_at=3)
    before = gc.get_freeze_count()
    try:
        settler.settle("test")
        assert settler.frozen >= before + len(keep)
        assert gone() is None
        settler.on_event(2)
        assert gc.get_freeze_count() == settler.frozen
        fresh = [_Node() for _ in range(10)]
        settler.on_event(3)  # settled again: the objects made since are frozen too
        assert gc.get_freeze_count() >= settler.frozen >= before + len(keep) + len(fresh)
    finally:
        settler.release()
    assert gc.get_freeze_count() == 0 and settler.frozen == 0
