"""Recordings of Bybit v5's public order book stream as the engine's book events, each message
checked by the venue's own rules first (`BybitBookEvents`: `u` one more per message, `seq` increasing,
the venue's depth held).

The format is one raw WebSocket message per line, plain, gzip or the one member of a zip
(nautilus_trader's `xrpusdt-ob500.data.zip`):

    {"topic":"orderbook.500.XRPUSDT","type":"snapshot","ts":1733011200691,"data":{...},"cts":...}

Such a recording has no local receive time: the message's own `ts` (the venue's send time)
stands in for it. The category comes from the id: `...USDT`/`...USDC` are linear perpetuals
(XRP/USDT:USDT), `...USD` inverse (XRP/USD:XRP); Bybit's spot books share those ids but go no
deeper than 200 levels, so only a depth of 500 (derivatives alone) is read without doubt, and a
shallower recording is refused until a category can be given.
"""

from __future__ import annotations

import gzip
import zipfile
from typing import Iterator

import msgspec

from engine.model.events import MarketEvent
from engine.venues.bybit.books import BOOK_FRAME, depth_of
from engine.venues.bybit.events import EXCHANGE, REFUSED, BybitBookEvents
_HEAD = b'{"topic":"orderbook.'
_MS = 1_000_000
DERIVATIVES_ONLY_DEPTH = 500


def _lines(path: str) -> list[bytes]:
    """The recording's lines: the one member of a zip, else the project's own reader (plain or
    gzip)."""
    from engine.feeds.capture import iter_lines

    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            names = [n for n in z.namelist() if not n.endswith("/")]
            if len(names) != 1:
                raise ValueError(f"{path}: a zip of {len(names)} files; expected one recording")
            return z.read(names[0]).splitlines()
    return list(iter_lines(path))


def is_bybit_recording(path: str) -> bool:
    """Whether `path` holds Bybit order book messages (by its first line)."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as z:
                with z.open(z.namelist()[0]) as fh:
                    return fh.read(len(_HEAD)) == _HEAD
        with open(path, "rb") as fh:
            head = fh.read(2)
        opener = gzip.open if head == b"\x1f\x8b" else open
        with opener(path, "rb") as fh:
            return fh.read(len(_HEAD)) == _HEAD
    except (OSError, zipfile.BadZipFile, EOFError, IndexError):
        return False


def unified_symbol(market_id: str) -> str:
    """A derivatives market id as ccxt names it: XRPUSDT -> XRP/USDT:USDT, BTCUSD -> BTC/USD:BTC."""
    for quote in ("USDT", "USDC"):
        if market_id.endswith(quote) and len(market_id) > len(quote):
            return f"{market_id[:-len(quote)]}/{quote}:{quote}"
    if market_id.endswith("USD") and len(market_id) > 3:
        base = market_id[:-3]
        return f"{base}/USD:{base}"
    raise ValueError(f"Bybit market id {market_id!r}: not a USDT, USDC or USD contract")


def read_bybit_recording(path: str, stats) -> Iterator[MarketEvent]:
    """Book events of one recording, in file order. The file is read and its topic checked
    before iterating, so an unreadable or ambiguous recording fails at once (`ValueError`)."""
    lines = _lines(path)
    first = next((x for x in lines if x.strip()), b"")
    try:
        topic = BOOK_FRAME.decode(first).topic
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ValueError(f"{path}: first line is not a Bybit order book message ({exc})") from None
    depth = depth_of(topic)
    if depth != DERIVATIVES_ONLY_DEPTH:
        raise ValueError(f"{path}: a depth-{depth} book could be spot or derivatives (Bybit "
                         "uses the same ids); only depth-500 recordings are read for now")
    stats.market, stats.symbol = EXCHANGE, unified_symbol(topic.rsplit(".", 1)[1])
    return _events(path, lines, depth, stats)


def _events(path: str, lines: list[bytes], depth: int, stats) -> Iterator[MarketEvent]:
    book_events = BybitBookEvents(depth)
    for lineno, line in enumerate(lines, 1):
        stats.lines += 1
        if not line.strip():
            continue
        try:
            f = BOOK_FRAME.decode(line)
            symbol = unified_symbol(f.data.s)
            if depth_of(f.topic) != depth:
                raise ValueError(f"topic {f.topic} beside depth {depth}: two books in one file")
            out, ev = book_events.on_frame(f, symbol, f.ts * _MS)
        except (msgspec.DecodeError, ValueError) as exc:
            stats.skip("malformed", lineno, f"{path}: {exc}")
            continue
        stats.venue_checks[symbol] = book_events.syncs[symbol]
        if out == REFUSED:
            stats.skip("invalid_value", lineno, f"{path}: {symbol}: a level no venue sends")
        if ev is not None:
            stats.events += 1
            yield ev
