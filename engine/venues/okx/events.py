"""OKX `books` messages as the engine's book events, each message checked by the venue's own
rules first (`OkxBookSync`: the `seqId` chain, the CRC32 checksum). One writer for both paths:
the recording reader and the live frame tap.

The engine's `BookManager` reads OKX books with the spot rule (each event's first id is the last
one plus one), so the events carry update ids of their own, consecutive per instrument; a
message the venue's rules refuse (a broken sequence, a checksum that disagrees, a level no
venue sends) skips one id and carries no levels, so the engine's book goes invalid too until
the next snapshot. An update that comes while the book waits for a snapshot yields nothing.
"""

from __future__ import annotations

from typing import Callable

from engine.core.numeric import MAX_VALUE
from engine.model.events import BookDelta, BookSnapshot, Trade
from engine.venues.okx.books import (APPLIED, SYNCED, WAITING, OkxBookSync, WireBook,
                                     WireTradesFrame)

EXCHANGE = "okx"
_MS = 1_000_000
REFUSED = -1  # a message whose values no venue sends (the book is unsound from here)


class OkxBookEvents:
    """Messages -> events; `syncs` holds each instrument's venue checks (its report)."""

    def __init__(self) -> None:
        self.syncs: dict[str, OkxBookSync] = {}
        self._ids: dict[str, int] = {}

    def on_message(self, action: str, msg: WireBook, symbol: str, ts_recv: int
                   ) -> tuple[int, BookSnapshot | BookDelta | None]:
        """(the sync's verdict or REFUSED, the event to hand on or None)."""
        sync = self.syncs.get(symbol)
        if sync is None:
            sync = self.syncs[symbol] = OkxBookSync(symbol)
        n = self._ids.get(symbol, 0)
        try:
            out = sync.on_frame(action, msg)
            ts_event = int(msg.ts) * _MS
        except ValueError:  # a level or time no venue sends: that book is unsound
            sync.valid = False
            sync.book.clear()
            out, ts_event = REFUSED, ts_recv
        if out == WAITING:
            return out, None
        if out == SYNCED:
            self._ids[symbol] = n + 1
            return out, BookSnapshot(exchange=EXCHANGE, symbol=symbol, ts_event=ts_event,
                                     ts_recv=ts_recv, update_id=n + 1, bids=_levels(msg.bids),
                                     asks=_levels(msg.asks))
        if out == APPLIED:
            self._ids[symbol] = n + 1
            return out, BookDelta(exchange=EXCHANGE, symbol=symbol, ts_event=ts_event,
                                  ts_recv=ts_recv, first_update_id=n + 1, final_update_id=n + 1,
                                  bids=_levels(msg.bids), asks=_levels(msg.asks))
        # refused by the venue's rules: the ids break, so the engine's book waits for a snapshot
        self._ids[symbol] = n + 2
        return out, BookDelta(exchange=EXCHANGE, symbol=symbol, ts_event=ts_event,
                              ts_recv=ts_recv, first_update_id=n + 2, final_update_id=n + 2,
                              bids=(), asks=())


def _levels(levels) -> tuple[tuple[float, float], ...]:
    return tuple((float(lv[0]), float(lv[1])) for lv in levels)


def trade_events(frame: WireTradesFrame, symbol_of: Callable[[str], str | None], ts_recv: int,
                 bad: Callable[[str, str], None]) -> list[Trade]:
    """The trades of one `trades` message. One that names an instrument not known
    (`symbol_of` None) or carries a value no venue sends is left out and told to
    `bad(kind, why)` ("unknown_instrument" or "invalid_value"), never guessed."""
    out = []
    for t in frame.data:
        symbol = symbol_of(t.instId)
        if symbol is None:
            bad("unknown_instrument", f"{t.instId} is not in the listing")
            continue
        try:
            px, sz, tid, ts_event = float(t.px), float(t.sz), int(t.tradeId), int(t.ts) * _MS
        except ValueError as exc:
            bad("invalid_value", f"{t.instId}: {exc}")
            continue
        if not (0.0 < px < MAX_VALUE and 0.0 < sz < MAX_VALUE) or t.side not in ("buy", "sell"):
            bad("invalid_value", f"{t.instId}: {t.px} x {t.sz} {t.side}")
            continue
        out.append(Trade(exchange=EXCHANGE, symbol=symbol, ts_event=ts_event, ts_recv=ts_recv,
                         trade_id=tid, price=px, size=sz, taker_side=t.side))
    return out
