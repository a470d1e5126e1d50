"""cryptofeed's raw recordings of OKX's public WebSocket (`OKX.ws.<N>.0`, instruments in `OKX.0`
beside it) as the engine's book events, each message checked by the venue's own rules first.

    wss://ws.okx.com:8443/ws/v5/public <-> 1652459224.5300605
    1652459225.5073643: {"arg":{"channel":"books","instId":"BTC-USD-220527"},"action":"snapshot",...}

`books` messages become `BookSnapshot` / `BookDelta` events, `trades` messages `Trade` events. OKX's sequence (`seqId` and
`prevSeqId`, not consecutive) and checksum are checked here by `OkxBookSync`; the events carry
consecutive update ids of their own per instrument, so the engine's book applies them in order
by its spot rule (`U == previous u + 1`) and a message the venue's rules refuse becomes a break
in those ids: the engine's book goes invalid and waits for the next snapshot, as on any gap.
Other channels (tickers: a top of book not tied to the book's sequence, so not comparable with
it; the other depth channels) are counted as unused for now.
"""

from __future__ import annotations

import gzip
import os
from typing import Iterator

import msgspec

from engine.feeds.cryptofeed_capture import seconds_to_ns
from engine.model.events import MarketEvent, Trade
from engine.venues.okx.books import BOOKS_FRAME, TRADES_FRAME
from engine.venues.okx.events import EXCHANGE, REFUSED, OkxBookEvents, trade_events
from engine.venues.okx.symbols import read_instruments, unified_symbol

_HOSTS = (b"wss://ws.okx.com", b"wss://wsaws.okx.com")


def is_okx_recording(path: str) -> bool:
    """Whether `path` is a cryptofeed recording of OKX's WebSocket (by its connection line),
    plain or gzip."""
    try:
        with open(path, "rb") as fh:
            first = fh.read(40)
        if first.startswith(b"\x1f\x8b"):
            with gzip.open(path, "rb") as fh:
                first = fh.read(40)
    except (OSError, EOFError):
        return False
    return first.startswith(_HOSTS)


def instruments_file(path: str) -> str:
    """cryptofeed's REST file of the same run: `OKX.0` beside `OKX.ws.1.0`."""
    d, name = os.path.split(path)
    rest = os.path.join(d, name.split(".ws.", 1)[0] + ".0")
    for candidate in (rest, rest + ".gz"):
        if os.path.isfile(candidate):
            return candidate
    raise ValueError(f"{path}: no instrument listing beside it ({rest}): its instruments "
                     "name the symbols")


def read_okx_recording(path: str, stats) -> Iterator[MarketEvent]:
    """Book events of one recording, in file order. Settles the instruments before iterating,
    so a recording without its listing fails at once (`ValueError`)."""
    from engine.feeds.capture import iter_lines

    symbols = {i.instId: unified_symbol(i)
               for i in read_instruments(iter_lines(instruments_file(path)))}
    stats.market, stats.symbol = EXCHANGE, None
    return _events(path, symbols, stats)


def _events(path: str, symbols: dict[str, str], stats) -> Iterator[MarketEvent]:
    from engine.feeds.capture import iter_lines

    book_events = OkxBookEvents()
    for lineno, line in enumerate(iter_lines(path), 1):
        stats.lines += 1
        if line.startswith(b"wss://"):
            continue  # the connection line and the subscriptions sent
        ts_txt, sep, payload = line.partition(b": ")
        if not sep:
            stats.skip("bad_line", lineno, f"{path}: no time")
            continue
        if payload.startswith(b'{"arg":{"channel":"trades",'):
            try:
                ts = seconds_to_ns(ts_txt)
            except ValueError as exc:
                stats.skip("bad_timestamp", lineno, f"{path}: {exc}")
                continue
            yield from _trades(path, lineno, payload, ts, symbols, stats)
            continue
        if not payload.startswith(b'{"arg":{"channel":"books",'):
            # subscription replies, tickers, trades, other depth channels (books5,
            # books-l2-tbt, ...: separate books, never mixed into this one): not read yet
            stats.unused += 1
            continue
        try:
            ts = seconds_to_ns(ts_txt)
            frame = BOOKS_FRAME.decode(payload)
        except (ValueError, msgspec.DecodeError) as exc:  # ValidationError is a DecodeError
            stats.skip("malformed", lineno, f"{path}: {exc}")
            continue
        inst = frame.arg.instId
        symbol = symbols.get(inst)
        if symbol is None:
            stats.skip("unknown_instrument", lineno, f"{path}: {inst} is not in the listing")
            continue
        for msg in frame.data:
            out, ev = book_events.on_message(frame.action, msg, symbol, ts)
            stats.venue_checks[symbol] = book_events.syncs[symbol]
            if out == REFUSED:
                stats.skip("invalid_value", lineno, f"{path}: {inst}: a level or time no "
                           "venue sends")
            if ev is not None:
                stats.events += 1
                yield ev


def _trades(path: str, lineno: int, payload: bytes, ts: int, symbols: dict[str, str],
            stats) -> Iterator[Trade]:
    """The trades of one `trades` message; a bad one is skipped and counted, never guessed."""
    try:
        frame = TRADES_FRAME.decode(payload)
    except msgspec.DecodeError as exc:
        stats.skip("malformed", lineno, f"{path}: {exc}")
        return
    for tr in trade_events(frame, symbols.get, ts,
                           lambda kind, why: stats.skip(kind, lineno, f"{path}: {why}")):
        stats.events += 1
        yield tr
