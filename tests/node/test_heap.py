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
        first = gc.get_freeze_count()
        assert first >= before + len(keep)
        assert gone() is None
        settler.on_event(2)
        assert gc.get_freeze_count() == first  # not its event: nothing more frozen
        fresh = [_Node() for _ in range(10)]
        settler.on_event(3)  # settled again: the objects made since are frozen too
        assert gc.get_freeze_count() >= first + len(fresh)
    finally:
        settler.release()
    assert gc.get_freeze_count() == 0 and settler.frozen == 0


def test_the_settle_among_events_collects_the_young_generations_only():
    """The start-up settle runs a full pass (no event waits on it); the one among events must
    not (a full pass held the loop for 15-19 ms), yet still frees young cyclic garbage."""
    passes: list[int] = []

    def on_gc(phase, info):
        if phase == "start":
            passes.append(info["generation"])

    settler = HeapSettler(again_at=1)
    gc.callbacks.append(on_gc)
    try:
        settler.settle("start-up")
        assert passes == [2]
        passes.clear()
        gone = weakref.ref(_Node())
        settler.on_event(1)
        assert passes and max(passes) <= 1
        assert gone() is None
    finally:
        gc.callbacks.remove(on_gc)
        settler.release()


def test_no_settle_counts_the_frozen_objects(monkeypatch):
    """Counting them walks every frozen object (~12 ms over a live run's ~2M): a settle among
    events did, and held the loop that long."""
    def walk():
        raise AssertionError("gc.get_freeze_count walked the frozen heap")

    settler = HeapSettler(again_at=1)
    monkeypatch.setattr(gc, "get_freeze_count", walk)
    try:
        settler.settle("start-up")
        settler.on_event(1)
    finally:
        settler.release()
