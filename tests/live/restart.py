"""kill -9 of a live run right after one of its orders was booked at a local venue (its answer
never sent), then a restart on the same journal in this process: the shared part of the venues'
restart tests."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from engine.journal.store import Journal
from engine.node.config import load_config
from engine.node.runner import Runner
from tests.conftest import ROOT
from tests.helpers import wait_until


async def kill_after_booking_then_resume(ex, cfg_path: str, journal: str, env: dict,
                                         monkeypatch, kill_at_order: int = 2):
    """Attempt 1: `engine run --mode live` in a subprocess, SIGKILLed once `ex` has booked
    `kill_at_order` orders (before answering the last). Attempt 2: a `Runner` here on the same
    journal, until its rebalance is over and a reconciliation followed. Returns (runner,
    report, the client id left unanswered)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "engine", "run", "--config", cfg_path, "--mode", "live",
        "--journal", journal, "--duration", "60", cwd=str(ROOT), env={**os.environ, **env},
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)

    def kill(cid: str) -> None:
        if len(ex.orders) >= kill_at_order and proc.returncode is None:
            proc.send_signal(signal.SIGKILL)  # booked at the venue, never answered

    ex.before_reply = kill
    assert await asyncio.wait_for(proc.wait(), 60) == -signal.SIGKILL
    ex.before_reply = None
    unanswered = list(ex.orders)[-1]
    r, report = await resume_live(cfg_path, journal, env, monkeypatch)
    return r, report, unanswered


async def resume_live(cfg_path: str, journal: str, env: dict, monkeypatch):
    """A live `Runner` here on `journal` (a restart), until its rebalance is over and a
    reconciliation followed: (runner, report)."""
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    r = Runner(load_config(cfg_path), cfg_path, open(cfg_path).read(), [], journal, mode="live")

    async def stop_when_done():
        s = r.session
        await wait_until(lambda: s.pipeline.intents and not s.execution.busy
                         and not s.broker.in_flight, "the rebalance to finish")
        seen = r.reconciliations
        await wait_until(lambda: r.reconciliations > seen and not s.broker.in_flight,
                         "a reconciliation after it")
        r.request_stop("done")

    stopper = asyncio.create_task(stop_when_done())
    try:
        report = await asyncio.wait_for(r.run(), 60)
    finally:
        stopper.cancel()
    return r, report


async def journal_rows(journal: str):
    """(submissions (client id, attempt), orders {client id: status}, fill trade ids)."""
    j = await Journal.open(journal)
    try:
        subs = await j.fetchall("SELECT client_order_id, attempt FROM submissions")
        orders = dict(await j.fetchall("SELECT client_order_id, status FROM orders"))
        fills = await j.fetchall("SELECT trade_id FROM fills")
    finally:
        await j.close()
    return subs, orders, fills
