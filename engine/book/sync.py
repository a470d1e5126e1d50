"""Binance snapshot + diff synchronisation, as a pure state machine around an `L2Book`.

The venue's recipe (both markets): buffer diffs, take a REST snapshot with `lastUpdateId` L,
drop buffered diffs older than the snapshot, check that the first applied diff straddles L,
then check every following diff chains onto the previous one:

- futures (USD-M, COIN-M): drop `u < L`; first diff has `U <= L <= u` (or `pu == L`);
  then `pu == previous u`.
- spot: drop `u <= L`; first diff has `U <= L+1 <= u`; then `U == previous u + 1`.

Any break is a gap: the book is cleared and marked invalid, the offending diff starts a new
buffer, and the book waits for the next snapshot (live feeds fetch one when told; a replay
applies the next recorded snapshot). Every call returns one outcome code; `status_changed`
tells the owner when validity flipped so it can tell downstream.
"""

from __future__ import annotations

from collections import deque
from enum import Enum

from engine.book.l2 import L2Book
from engine.model.events import BookDelta, BookSnapshot


class SyncRule(str, Enum):
    FUTURES = "futures"
    SPOT = "spot"


# Outcome codes (ints: this is the hot path).
APPLIED = 0        # diff applied to a valid book
BUFFERED = 1       # waiting for a snapshot; diff kept for later
STALE = 2          # diff older than the book; dropped
GAP = 3            # chain broken: book invalidated, waiting for a snapshot
SYNCED = 4         # snapshot taken (and buffered diffs replayed): book valid
SNAPSHOT_TOO_OLD = 5  # snapshot ends before the first buffered diff: still waiting
SNAPSHOT_IGNORED = 6  # snapshot while already in sync
OUTCOME_NAMES = {APPLIED: "applied", BUFFERED: "buffered", STALE: "stale", GAP: "gap",
                 SYNCED: "synced", SNAPSHOT_TOO_OLD: "snapshot_too_old",
                 SNAPSHOT_IGNORED: "snapshot_ignored"}


class BookSync:
    """Owns one `L2Book` and decides what each diff or snapshot does to it."""

    __slots__ = ("book", "rule", "valid", "buffer", "max_buffer", "gaps", "syncs", "stale", "applied",
                 "buffer_dropped", "last_gap", "_futures", "_first_after_snapshot")

    def __init__(self, symbol: str, rule: SyncRule | str, max_buffer: int = 10_000) -> None:
        self.book = L2Book(symbol)
        self.rule = SyncRule(rule)
        self._futures = self.rule is SyncRule.FUTURES
        self.valid = False
        self.buffer: deque[BookDelta] = deque()
        self.max_buffer = max_buffer
        self.gaps = 0
        self.syncs = 0
        self.applied = 0
        self.stale = 0
        self.buffer_dropped = 0
        self.last_gap: tuple[int, BookDelta] | None = None  # (book id before, offending diff)
        self._first_after_snapshot = False

    @property
    def needs_snapshot(self) -> bool:
        return not self.valid

    # -- diffs ------------------------------------------------------------------------------
    def on_delta(self, d: BookDelta) -> int:
        if not self.valid:
            buf = self.buffer
            buf.append(d)
            if len(buf) > self.max_buffer:
                buf.popleft()
                self.buffer_dropped += 1
            return BUFFERED
        book = self.book
        last = book.update_id
        u = d.final_update_id
        if u < last or (u == last and not (self._futures and self._first_after_snapshot)):
            self.stale += 1
            return STALE
        if self._first_after_snapshot:
            ok = self._straddles(d, last)
        elif self._futures:
            ok = d.prev_final_update_id == last
        else:
            ok = d.first_update_id == last + 1
        if not ok:
            self._gap(d, last)
            return GAP
        self._first_after_snapshot = False
        self.applied += 1
        book.apply(d.bids, d.asks, d.final_update_id)
        book.ts_event = d.ts_event
        book.ts_recv = d.ts_recv
        return APPLIED

    def _straddles(self, d: BookDelta, snap_id: int) -> bool:
        if self._futures:
            return (d.first_update_id <= snap_id <= d.final_update_id
                    or d.prev_final_update_id == snap_id)
        return d.first_update_id <= snap_id + 1 <= d.final_update_id

    def _gap(self, d: BookDelta, last: int) -> None:
        self.gaps += 1
        self.last_gap = (last, d)
        self.valid = False
        self.book.clear()
        self.buffer.clear()
        self.buffer.append(d)

    # -- whole books ------------------------------------------------------------------------
    def replace(self, s: BookSnapshot) -> int:
        """Take a whole book as the truth (a live client library keeps the book and hands it
        over after each update): no chain to check here, the library did that."""
        self.book.load(s.bids, s.asks, s.update_id)
        self.book.ts_event, self.book.ts_recv = s.ts_event, s.ts_recv
        self.buffer.clear()
        self._first_after_snapshot = False
        if not self.valid:
            self.valid = True
            self.syncs += 1
            return SYNCED
        return APPLIED

    # -- snapshots --------------------------------------------------------------------------
    def on_snapshot(self, s: BookSnapshot) -> int:
        if self.valid:
            return SNAPSHOT_IGNORED
        snap_id = s.update_id
        book = self.book
        book.load(s.bids, s.asks, snap_id)
        book.ts_event = s.ts_event
        book.ts_recv = s.ts_recv
        futures = self._futures
        pending = self.buffer
        self.buffer = deque()
        first = True
        for i, d in enumerate(pending):
            u = d.final_update_id
            if (u < snap_id) if futures else (u <= snap_id):
                self.stale += 1
                continue
            last = book.update_id
            if first:
                ok = self._straddles(d, snap_id)
            elif futures:
                ok = d.prev_final_update_id == last
            else:
                ok = d.first_update_id == last + 1
            if not ok:
                if first:
                    # Updates between the snapshot and the buffer are missing: need a newer one.
                    book.clear()
                    self.buffer = deque(list(pending)[i:])
                    return SNAPSHOT_TOO_OLD
                self._gap(d, last)
                self.buffer.extend(list(pending)[i + 1:])
                return GAP
            first = False
            self.applied += 1
            book.apply(d.bids, d.asks, u)
            book.ts_event = d.ts_event
            book.ts_recv = d.ts_recv
        self._first_after_snapshot = first
        self.valid = True
        self.syncs += 1
        return SYNCED

    @property
    def resyncs(self) -> int:
        """Times the book became valid again after the first sync."""
        return max(0, self.syncs - 1)
