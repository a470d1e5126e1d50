"""Bybit book frames as the engine's book events, each frame checked by the venue's own rules
first (`BybitBookSync`). One writer for both paths: the recording reader and the live frame tap.

The engine's `BookManager` reads Bybit books with the spot rule (each event's first id is the
last one plus one), so the events carry update ids of their own, consecutive per symbol; a
frame the venue's rules refuse (a `u`/`seq` break) skips one id, which makes the engine's book
invalid too until the next snapshot. A delta that arrives before any snapshot (or after a
break) is waited out: it yields nothing.
"""

from __future__ import annotations

from engine.model.events import BookDelta, BookSnapshot
from engine.venues.bybit.books import APPLIED, GAP, SYNCED, WAITING, BybitBookSync, WireBookFrame

EXCHANGE = "bybit"
REFUSED = -1  # a frame with a level no venue sends (not a price and a size)
_MS = 1_000_000
_INF = float("inf")


class BybitBookEvents:
    """Frames of one depth -> events; `syncs` holds each symbol's venue checks (its report)."""

    def __init__(self, depth: int) -> None:
        self.depth = depth
        self.syncs: dict[str, BybitBookSync] = {}
        self._ids: dict[str, int] = {}

    def on_frame(self, f: WireBookFrame, symbol: str, ts_recv: int
                 ) -> tuple[int, BookSnapshot | BookDelta | None]:
        """(the sync's verdict or REFUSED, the event to hand on or None). `ts_recv`: when the
        frame came (a recording without a local clock passes the venue's `ts`). A frame with a
        level that is not a price and a size is REFUSED: that book goes invalid (its ids
        break) until the next snapshot."""
        sync = self.syncs.get(symbol)
        if sync is None:
            sync = self.syncs[symbol] = BybitBookSync(symbol, self.depth)
        try:
            bids, asks = levels(f.data.b), levels(f.data.a)
        except ValueError:  # a level no venue sends: the book is unsound until a snapshot
            sync.valid = False
            sync.book.clear()
            sync.refused += 1
            out = REFUSED
        else:
            out = sync.on_frame(f)
        if out == WAITING:
            return out, None
        n = self._ids.get(symbol, 0)
        ts_event = (f.cts or f.ts) * _MS
        if out == SYNCED:
            self._ids[symbol] = n + 1
            return out, BookSnapshot(exchange=EXCHANGE, symbol=symbol, ts_event=ts_event,
                                     ts_recv=ts_recv, update_id=n + 1, bids=bids, asks=asks)
        uid = n + 1 if out == APPLIED else n + 2  # a refused frame skips one id
        self._ids[symbol] = uid
        if out in (GAP, REFUSED):
            # the gap itself is news for the engine's book: an empty delta past the skipped id
            return out, BookDelta(exchange=EXCHANGE, symbol=symbol, ts_event=ts_event,
                                  ts_recv=ts_recv, first_update_id=uid, final_update_id=uid,
                                  bids=(), asks=())
        return out, BookDelta(exchange=EXCHANGE, symbol=symbol, ts_event=ts_event,
                              ts_recv=ts_recv, first_update_id=uid, final_update_id=uid,
                              bids=bids, asks=asks)


def levels(wire) -> tuple[tuple[float, float], ...]:
    """Bybit's [price, size] strings as floats; a price that is not positive and finite, or a
    size that is negative or infinite, raises `ValueError`."""
    out = tuple((float(p), float(q)) for p, q in wire)
    for p, q in out:
        if not (0.0 < p < _INF and 0.0 <= q < _INF):
            raise ValueError(f"level {p} x {q}")
    return out
