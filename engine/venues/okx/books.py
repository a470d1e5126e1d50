"""OKX v5 `books` frames and the book's own integrity rules, as a pure state machine.

OKX sends a snapshot, then updates; each message carries a CRC32 `checksum` of the book's top 25
levels, and (since 2023) `seqId`/`prevSeqId`: an update's `prevSeqId` is the previous message's
`seqId`. The checksum is computed over the venue's own decimal strings, so each side keeps the
strings beside the engine's float book:

    bid1 price:bid1 size:ask1 price:ask1 size:bid2 price:... (25 of each, a shorter side's
    missing levels skipped), CRC32 as a signed 32-bit integer.

A mismatch or a broken sequence invalidates the book until the next snapshot (live: subscribe
again). The recorded capture (`OKX.ws.1.0`, 2022) predates `seqId`: there the checksum alone
checks every update, and the sequence rule is tested on hand-written frames.
"""

from __future__ import annotations

import zlib

import msgspec

from engine.book.l2 import L2Book
from engine.core.numeric import MAX_VALUE

DEPTH = 25  # levels per side in the checksum
_MAX = MAX_VALUE

# outcome codes, as `engine.book.sync`'s
APPLIED = 0
SYNCED = 4
WAITING = 1  # an update before any snapshot, or after a fault: dropped until a snapshot
GAP = 3  # prevSeqId is not the last seqId
CHECKSUM_MISMATCH = 7

WireLevel = tuple[str, str, str, str]  # price, size, (deprecated) liquidated orders, orders


class WireBook(msgspec.Struct, kw_only=True):
    asks: list[WireLevel]
    bids: list[WireLevel]
    ts: str
    checksum: int | None = None
    seqId: int | None = None
    prevSeqId: int | None = None


class _Arg(msgspec.Struct):
    channel: str
    instId: str


class WireBooksFrame(msgspec.Struct, kw_only=True):
    arg: _Arg
    action: str
    data: list[WireBook]


BOOKS_FRAME = msgspec.json.Decoder(WireBooksFrame)


class WireTrade(msgspec.Struct, kw_only=True):
    instId: str
    tradeId: str
    px: str
    sz: str
    side: str
    ts: str


class WireTradesFrame(msgspec.Struct, kw_only=True):
    arg: _Arg
    data: list[WireTrade]


TRADES_FRAME = msgspec.json.Decoder(WireTradesFrame)


def checksum(bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> int:
    """OKX's checksum of the best `DEPTH` levels of each side (best first, as strings)."""
    parts: list[str] = []
    for i in range(max(len(bids), len(asks))):
        if i < len(bids):
            parts += bids[i]
        if i < len(asks):
            parts += asks[i]
    v = zlib.crc32(":".join(parts).encode())
    return v - (1 << 32) if v >= 1 << 31 else v


class OkxBookSync:
    """One instrument's book: the engine's `L2Book` (floats) plus the venue's strings for the
    checksum, the sequence, and what was checked."""

    def __init__(self, symbol: str) -> None:
        self.book = L2Book(symbol)
        self._strings: tuple[dict[float, tuple[str, str]], dict[float, tuple[str, str]]] = ({}, {})
        self.valid = False
        self.last_seq: int | None = None
        self.checksum_checked = 0
        self.checksum_ok = 0
        self.mismatches = 0
        self.gaps = 0
        self.waiting = 0  # updates dropped while no valid book
        self.applied = 0
        self.syncs = 0

    def on_frame(self, action: str, msg: WireBook) -> int:
        if action == "snapshot":
            self.book.clear()
            self._strings = ({}, {})
            self._apply(msg)
            self.valid = True
            self.syncs += 1
            out = SYNCED
        elif not self.valid:
            self.waiting += 1
            return WAITING
        else:
            if msg.prevSeqId is not None and self.last_seq is not None \
                    and msg.prevSeqId != self.last_seq:
                self.gaps += 1
                self.valid = False
                return GAP
            self._apply(msg)
            self.applied += 1
            out = APPLIED
        self.last_seq = msg.seqId
        if msg.checksum is not None:
            self.checksum_checked += 1
            if msg.checksum == self.own_checksum():
                self.checksum_ok += 1
            else:
                self.mismatches += 1
                self.valid = False
                return CHECKSUM_MISMATCH
        return out

    def _apply(self, msg: WireBook) -> None:
        """Both sides' levels, read in full before anything is written (a bad level raises
        `ValueError` with the book and its strings untouched)."""
        sides = []
        for levels in (msg.bids, msg.asks):
            changes = []
            for lv in levels:
                p, q = float(lv[0]), float(lv[1])
                if not (0.0 < p < _MAX and 0.0 <= q < _MAX):
                    raise ValueError(f"level {lv[0]!r} x {lv[1]!r}")
                changes.append((p, q, lv[0], lv[1]))
            sides.append(changes)
        for changes, strings in zip(sides, self._strings):
            for p, q, ps, qs in changes:
                if q:
                    strings[p] = (ps, qs)
                else:
                    strings.pop(p, None)
        bids, asks = ([(p, q) for p, q, _, _ in c] for c in sides)
        self.book.apply(bids, asks, msg.seqId or 0)

    def report(self) -> dict[str, int]:
        """What the venue's rules checked, for `replay --verify --json`."""
        return {"checksum_checked": self.checksum_checked, "checksum_ok": self.checksum_ok,
                "sequence_breaks": self.gaps}

    def own_checksum(self) -> int:
        """The checksum of the book as kept here (the engine's order, the venue's strings)."""
        bids, asks = self.book.depth(DEPTH)
        sb, sa = self._strings
        return checksum([sb[p] for p, _ in bids], [sa[p] for p, _ in asks])
