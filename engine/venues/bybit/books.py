"""Bybit v5 `orderbook.<depth>.<symbol>` frames and their sequence rules, as a pure state machine.

Bybit sends a snapshot, then deltas (absolute sizes, size 0 deletes). Each message carries `u`,
the book's update id, one more per message, and `seq`, the matching engine's cross sequence,
increasing. A snapshot with `u == 1` is the service restarting: it replaces the book whatever
came before. A delta whose `u` is not the last plus one, or whose `seq` does not increase, is a
gap: the book waits for the next snapshot (live: subscribe again). Bybit keeps exactly `depth`
levels per side on a deep market (a level pushed out is deleted by the delta), so a book that
holds more or fewer after a delta, or crosses, has gone wrong: counted as `depth_faults`.
"""

from __future__ import annotations

import msgspec

from engine.book.l2 import L2Book

APPLIED = 0
WAITING = 1
GAP = 3
SYNCED = 4

WireLevel = tuple[str, str]


class WireBookData(msgspec.Struct, kw_only=True):
    s: str
    b: list[WireLevel]
    a: list[WireLevel]
    u: int
    seq: int


class WireBookFrame(msgspec.Struct, kw_only=True):
    topic: str
    type: str
    ts: int
    data: WireBookData
    cts: int | None = None


BOOK_FRAME = msgspec.json.Decoder(WireBookFrame)


def depth_of(topic: str) -> int:
    """`orderbook.500.XRPUSDT` -> 500."""
    parts = topic.split(".")
    if len(parts) != 3 or parts[0] != "orderbook" or not parts[1].isdigit():
        raise ValueError(f"not a Bybit order book topic: {topic!r}")
    return int(parts[1])


class BybitBookSync:
    """One symbol's book (the engine's `L2Book`), its sequence, and what was checked."""

    def __init__(self, symbol: str, depth: int) -> None:
        self.book = L2Book(symbol)
        self.depth = depth
        self.valid = False
        self.last_u = 0
        self.last_seq = 0
        self.applied = 0
        self.syncs = 0
        self.gaps = 0
        self.waiting = 0
        self.depth_checked = 0
        self.depth_faults = 0
        self.refused = 0  # frames with a level no venue sends (the book waits for a snapshot)

    def on_frame(self, f: WireBookFrame) -> int:
        d = f.data
        if f.type == "snapshot":
            self.book.load(_levels(d.b), _levels(d.a), d.u)
            self.valid = True
            self.syncs += 1
            out = SYNCED
        elif f.type != "delta":
            raise ValueError(f"Bybit book message type {f.type!r}: expected snapshot or delta")
        elif not self.valid:
            self.waiting += 1
            return WAITING
        elif d.u != self.last_u + 1 or d.seq <= self.last_seq:
            self.gaps += 1
            self.valid = False
            self.book.clear()
            return GAP
        else:
            self.book.apply(_levels(d.b), _levels(d.a), d.u)
            self.applied += 1
            out = APPLIED
        self.last_u, self.last_seq = d.u, d.seq
        self._check_depth()
        return out

    def report(self) -> dict[str, int]:
        """What the venue's rules checked, for `replay --verify --json`."""
        return {"sequence_checked": self.applied + self.gaps, "sequence_breaks": self.gaps,
                "depth_checked": self.depth_checked, "depth_faults": self.depth_faults}

    def _check_depth(self) -> None:
        book = self.book
        self.depth_checked += 1
        top = book.top()
        if len(book.bids) != self.depth or len(book.asks) != self.depth \
                or top is None or top[0] >= top[2]:
            self.depth_faults += 1


def _levels(levels: list[WireLevel]) -> list[tuple[float, float]]:
    return [(float(p), float(q)) for p, q in levels]
