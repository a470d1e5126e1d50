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
