"""Every task owned: an exception injected into each kind of task of a live run (the market
feed, the user-data stream, reconciliation, an order request, the journal writer, the run loop
itself) halts the run: the failure is named, trading is killed (journaled, so it stays
killed), resting orders are cancelled at the venue and the journal is flushed. The real ccxt
client and the local exchange, passive children resting on its book when the fault hits."""

from __future__ import annotations

from decimal import Decimal

import pytest

from engine.brokers.live import LiveBroker
from engine.feeds.frame_tap import FrameTap
from engine.feeds.live import LiveFeed
from engine.journal.recorder import Recorder
from engine.node.session import PaperSession
from tests.live.test_live_broker import _live_run
from tests.helpers import wait_until

PASSIVE = {"mode": "passive_then_cross", "passive_timeout_s": 5.0, "stale_child_s": 5.0}


def _armed(original, armed: dict, exc=RuntimeError("injected fault")):
    def patched(*a, **kw):
        if armed.get("on"):
            raise exc
        return original(*a, **kw)
    return patched


def _armed_async(original, armed: dict):
    async def patched(*a, **kw):
        if armed.get("on"):
            raise RuntimeError("injected fault")
        return await original(*a, **kw)
    return patched


def _bad_fill(original, armed: dict):
    def patched(self, f):
        if armed.get("on"):  # a statement SQLite refuses: the writer task dies
            self.j.write("INSERT INTO no_such_table VALUES (?)", (1,))
        return original(self, f)
    return patched


CASES = {
    "live-feed": (LiveFeed, "_book", _armed_async),
    # a frame read by the engine's decoders (inside ccxt.pro's receive callback) that raises
    "live-feed-frames": (FrameTap, "on_frame", _armed),
    "user-data": (LiveBroker, "_on_orders", _armed),
    "reconcile": (LiveBroker, "venue_positions", _armed_async),
    "order": (LiveBroker, "_report", _armed_async),
    "journal-writer": (Recorder, "fill", _bad_fill),
    "trader": (PaperSession, "process", _armed),
}


@pytest.mark.parametrize("kind", list(CASES))
async def test_an_exception_in_any_task_halts_with_nothing_left_resting(kind, tmp_path,
                                                                       monkeypatch):
    cls, name, wrap = CASES[kind]
    armed: dict = {}
    monkeypatch.setattr(cls, name, wrap(getattr(cls, name), armed))

    async def arm(ex, r):
        # children are resting at the venue (or filled there) when the fault hits
        await wait_until(lambda: len(ex.orders) >= 2, "children at the venue")
        armed["on"] = True
        await wait_until(lambda: r.failure is not None, "the failure to be seen")

    r, report, positions, ex = await _live_run(tmp_path, monkeypatch, execution=PASSIVE,
                                               during=arm)
    assert r.failure is not None and report["failure"]
    expected = {"order": "order ", "trader": "trader", "live-feed-frames": "live-feed"}.get(kind, kind)
    assert r.failure.task.startswith(expected), r.failure
    assert report["risk_state"] == "HALTED" and report["stopped"] == "failure"
    assert not ex.matcher.open_orders()  # cancelled at the venue before the exit
    assert r.session.broker.in_flight == 0
    if kind != "journal-writer":
        assert report["journal_submissions_unique"]
        import sqlite3

        con = sqlite3.connect(tmp_path / "j.sqlite")
        kills = con.execute("SELECT action, reason FROM kill_switch").fetchall()
        assert kills and kills[-1][0] == "kill" and "task failure" in kills[-1][1]
        con.close()
    if kind not in ("user-data", "journal-writer", "order"):
        venue = {p["symbol"]: Decimal(p["info"]["positionAmt"]) for p in positions}
        assert venue == {s: Decimal(q) for s, q in report["positions"].items()}
