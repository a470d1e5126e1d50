"""Drive recorded market events through the books and check them against the venue's tops.

`ReplaySession` is synchronous and I/O-free: feed it events in receive order (`on_event`) and
read the per-symbol summary at the end. The `replay` command and the tests both use it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from engine.book.manager import BookManager
from engine.book.sync import APPLIED, GAP, SYNCED
from engine.book.verify import BboVerifier
from engine.core.numeric import fmt
from engine.feeds.capture import CaptureStats
from engine.model.events import (
    BestBidAsk,
    BookDelta,
    BookSnapshot,
    BookStatus,
    MarketEvent,
)

log = logging.getLogger("engine.replay")

_KIND = {"BookDelta": "depth", "BestBidAsk": "bbo", "Trade": "trade", "BookSnapshot": "snapshot",
         "MarkPrice": "mark_price", "FundingRate": "funding", "Bar": "bar"}


@dataclass
class SymbolCounters:
    exchange: str
    symbol: str
    by_type: dict[type, int] = field(default_factory=dict)
    statuses: list[BookStatus] = field(default_factory=list)

    @property
    def by_kind(self) -> dict[str, int]:
        """Message counts by kind name (`depth`, `bbo`, `trade`, `snapshot`, ...)."""
        return {_KIND.get(t.__name__, t.__name__): n for t, n in self.by_type.items()}


class ReplaySession:
    """Books + bookTicker verification over one merged stream."""

    def __init__(self, verify: bool = True, keep_statuses: int = 1000) -> None:
        self.books = BookManager()
        self.verify = verify
        self.verifiers: dict[str, BboVerifier] = {}
        self.counters: dict[str, SymbolCounters] = {}
        self.keep_statuses = keep_statuses

    def _counter(self, ev: MarketEvent) -> SymbolCounters:
        c = self.counters.get(ev.symbol)
        if c is None:
            c = self.counters[ev.symbol] = SymbolCounters(ev.exchange, ev.symbol)
        return c

    def _verifier(self, symbol: str) -> BboVerifier:
        v = self.verifiers.get(symbol)
        if v is None:
            v = self.verifiers[symbol] = BboVerifier(symbol)
        return v

    @property
    def events(self) -> int:
        return sum(sum(c.by_type.values()) for c in self.counters.values())

    def on_event(self, ev: MarketEvent) -> BookStatus | None:
        """Apply one event; returns a `BookStatus` when a book became valid or invalid."""
        t = type(ev)
        c = self.counters.get(ev.symbol)
        if c is None:
            c = self._counter(ev)
        by_type = c.by_type
        by_type[t] = by_type.get(t, 0) + 1
        if t is BestBidAsk:
            if self.verify:
                self._verifier(ev.symbol).on_ticker(ev)
            return None
        if t is BookDelta:
            out, status = self.books.on_delta(ev)
            if out == APPLIED:
                if self.verify:
                    book = self.books.syncs[ev.symbol].book
                    self._verifier(ev.symbol).on_book(book.update_id, book.top())
            elif out == GAP and status is not None:
                log.warning("sequence gap on %s at diff U=%d u=%d pu=%s: book was at %d; "
                            "book invalidated, waiting for a snapshot", ev.symbol,
                            ev.first_update_id, ev.final_update_id, ev.prev_final_update_id,
                            status.update_id)
            if status is not None:
                self._record(status)
            return status
        if t is BookSnapshot:
            out, status = self.books.on_snapshot(ev)
            if out == SYNCED:
                sync = self.books.syncs[ev.symbol]
                if self.verify:
                    self._verifier(ev.symbol).on_book(sync.book.update_id, sync.book.top())
                if sync.resyncs:
                    log.warning("%s resynced from snapshot %d", ev.symbol, ev.update_id)
            if status is not None:
                self._record(status)
            return status
        return None

    def _record(self, status: BookStatus) -> None:
        st = self._counter(status).statuses
        if len(st) < self.keep_statuses:
            st.append(status)

    def finish(self) -> None:
        for v in self.verifiers.values():
            v.finish()

    def summary(self, captures: list[CaptureStats] | None = None) -> dict[str, dict]:
        """Per-symbol figures, shaped for the `replay --json` output."""
        malformed: dict[str, int] = {}
        checks: dict[str, dict[str, int]] = {}  # symbol -> the venue's own checks, by name
        for c in captures or []:
            key = c.symbol or "?"
            malformed[key] = malformed.get(key, 0) + c.malformed
            for sym, chk in c.venue_checks.items():
                mine = checks.setdefault(sym, {})
                for name, n in chk.report().items():
                    mine[name] = mine.get(name, 0) + n
        out: dict[str, dict] = {}
        for sym in sorted(set(self.counters) | set(malformed) - {"?"}):
            c = self.counters.get(sym)
            sync = self.books.syncs.get(sym)
            v = self.verifiers.get(sym)
            top = sync.book.top() if sync is not None and sync.valid else None
            spread = sync.book.spread() if sync is not None and sync.valid else None
            by_kind = dict(sorted(c.by_kind.items())) if c else {}
            out[sym] = {
                "exchange": c.exchange if c else "",
                "messages": sum(by_kind.values()),
                "by_kind": by_kind,
                "malformed": malformed.get(sym, 0),
                "gaps": sync.gaps if sync else 0,
                "resyncs": sync.resyncs if sync else 0,
                "stale_diffs": sync.stale if sync else 0,
                "book_valid": bool(sync and sync.valid),
                "bbo_compared": v.compared if v else 0,
                "bbo_agreed": v.agreed if v else 0,
                "bbo_not_comparable": v.no_ticker if v else 0,
                "best_bid": fmt(top[0]) if top else None,
                "best_bid_size": fmt(top[1]) if top else None,
                "best_ask": fmt(top[2]) if top else None,
                "best_ask_size": fmt(top[3]) if top else None,
                "spread": format(spread, "f") if spread is not None else None,
                "levels": len(sync.book) if sync else 0,
            }
            # the venue's own book checks where it has any: OKX's checksum
            # (checksum_checked, checksum_ok), Bybit's sequence and depth
            out[sym].update(checks.get(sym, {}))
        if malformed.get("?"):  # bad lines of a file that names no single symbol
            out["?"] = {"exchange": "", "messages": 0, "by_kind": {}, "malformed": malformed["?"],
                        "gaps": 0, "resyncs": 0, "stale_diffs": 0, "book_valid": False,
                        "bbo_compared": 0, "bbo_agreed": 0, "bbo_not_comparable": 0,
                        "best_bid": None, "best_bid_size": None, "best_ask": None,
                        "best_ask_size": None, "spread": None, "levels": 0}
        return out
