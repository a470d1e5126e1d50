"""Waiting on conditions instead of sleeping: a test waits for what it needs to have
happened, with a deadline that only a broken engine reaches, however busy the machine is."""

from __future__ import annotations

import asyncio
from typing import Callable


async def wait_until(cond: Callable[[], bool], what: str, timeout_s: float = 60.0,
                     poll_s: float = 0.02) -> None:
    """Return once `cond()` is true; fail the test naming `what` after `timeout_s`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not cond():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        await asyncio.sleep(poll_s)


def at_local_exchange(cfg, port: int, **execution):
    """`cfg` with `[live]` pointed at a local exchange on `port` (USD-M, COIN-M and spot streams,
    REST, the spot WebSocket API) and `execution` fields replaced (short TWAPs for tests)."""
    import msgspec

    base = f"http://127.0.0.1:{port}"
    live = msgspec.structs.replace(
        cfg.live, ws_linear=f"ws://127.0.0.1:{port}/ws", ws_spot=f"ws://127.0.0.1:{port}/spot/ws",
        ws_inverse=f"ws://127.0.0.1:{port}/coinm/ws",
        ws_api_spot=f"ws://127.0.0.1:{port}/spot/ws-api/v3", rest_base=base, account_base=base)
    return msgspec.structs.replace(cfg, live=live, execution=msgspec.structs.replace(
        cfg.execution, **execution))


async def run_until_rebalanced(runner, until=None, timeout_s: float = 90.0) -> dict:
    """Run `runner` (a paper or live `Runner`) until its first rebalance is over (nothing
    working, nothing in flight, and `until(runner)` where given), then stop it; its report."""
    import asyncio

    async def stop_when_done():
        s = runner.session
        await wait_until(lambda: s.pipeline.intents and not s.execution.busy
                         and not getattr(s.broker, "in_flight", 0)
                         and (until is None or until(runner)), "the rebalance to finish")
        runner.request_stop("done")

    stopper = asyncio.create_task(stop_when_done())
    try:
        return await asyncio.wait_for(runner.run(), timeout_s)
    finally:
        stopper.cancel()
