"""Async replay: unpaced order, replay clock, and pacing by recorded receive time."""

from __future__ import annotations

import asyncio

import pytest

from engine.core.clock import ReplayClock
from engine.feeds.capture import read_capture
from engine.feeds.replay import replay
from tests.conftest import USDM_BTC


def _first(n: int):
    out = []
    for ev in read_capture(str(USDM_BTC)):
        out.append(ev)
        if len(out) == n:
            break
    return out


async def test_unpaced_replay_keeps_order_and_advances_the_clock():
    evs = _first(5000)
    clock = ReplayClock()
    got = []
    async for ev in replay(evs, clock):
        assert clock.now_ns() == ev.ts_recv
        got.append(ev)
    assert got == evs


async def test_unpaced_replay_lets_other_tasks_run():
    evs = _first(5000)
    ticks = 0

    loop = asyncio.get_running_loop()
    handle = None

    def tick() -> None:  # runs only when the replay hands control back to the loop
        nonlocal ticks, handle
        ticks += 1
        handle = loop.call_soon(tick)

    handle = loop.call_soon(tick)
    async for _ in replay(evs):
        pass
    handle.cancel()
    assert ticks >= 4


async def test_paced_replay_takes_at_least_the_recorded_span_over_speed():
    evs = [e for e in _first(20000)]
    evs = [e for e in evs if e.ts_recv - evs[0].ts_recv <= 2_000_000_000]
    span = (evs[-1].ts_recv - evs[0].ts_recv) / 1e9
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    n = 0
    async for _ in replay(evs, speed=10.0):
        n += 1
    assert n == len(evs)
    assert loop.time() - t0 >= span / 10.0 * 0.95


async def test_negative_speed_is_rejected():
    with pytest.raises(ValueError):
        async for _ in replay(_first(1), speed=-1):
            pass
