"""Routes book events to one `BookSync` per symbol and reports validity changes downstream."""

from __future__ import annotations

from engine.book.sync import APPLIED, GAP, SYNCED, BookSync, SyncRule
from engine.model.events import BookDelta, BookSnapshot, BookStatus

# ccxt exchange id -> sync rule of its depth stream
RULES = {"binance": SyncRule.SPOT, "binanceusdm": SyncRule.FUTURES,
         "binancecoinm": SyncRule.FUTURES,
         # OKX's and Bybit's own sequences (and OKX's checksum) are checked by their readers
         # (engine/venues/okx, bybit), which number the events they let through consecutively:
         # the spot rule's `U == u + 1`
         "okx": SyncRule.SPOT, "bybit": SyncRule.SPOT}


class BookManager:
    """Books keyed by unified symbol (unique across Binance's spot, USD-M and COIN-M)."""

    def __init__(self, max_buffer: int = 10_000) -> None:
        self.syncs: dict[str, BookSync] = {}
        self.max_buffer = max_buffer

    def sync_for(self, exchange: str, symbol: str) -> BookSync:
        s = self.syncs.get(symbol)
        if s is None:
            rule = RULES.get(exchange)
            if rule is None:
                raise ValueError(f"no book sync rule for exchange {exchange!r}")
            s = self.syncs[symbol] = BookSync(symbol, rule, self.max_buffer)
        return s

    def on_delta(self, d: BookDelta) -> tuple[int, BookStatus | None]:
        s = self.syncs.get(d.symbol) or self.sync_for(d.exchange, d.symbol)
        was_valid = s.valid
        out = s.on_delta(d)
        if out == APPLIED:
            return out, None
        if out == GAP and was_valid:
            return out, _status(d.exchange, d.symbol, d, False, "gap", s.last_gap[0] if s.last_gap else 0)
        return out, None

    def on_snapshot(self, snap: BookSnapshot, replace: bool = False
                    ) -> tuple[int, BookStatus | None]:
        s = self.sync_for(snap.exchange, snap.symbol)
        out = s.replace(snap) if replace else s.on_snapshot(snap)
        if out == SYNCED:
            return out, _status(snap.exchange, snap.symbol, snap, True, "synced", s.book.update_id)
        return out, None


def _status(exchange: str, symbol: str, ev: BookDelta | BookSnapshot, valid: bool, reason: str,
            update_id: int) -> BookStatus:
    return BookStatus(exchange=exchange, symbol=symbol, ts_event=ev.ts_event, ts_recv=ev.ts_recv,
                      valid=valid, reason=reason, update_id=update_id)
