"""Reader for raw WebSocket captures in hftbacktest's format, merged into one ordered stream
(cryptofeed's raw recordings are read by `cryptofeed_capture` and merged the same way).

Each line is `<local_receive_ts_ns> <raw frame>`, gzip-compressed or plain, e.g.

    1723161255088169167 {"stream":"btcusdt@bookTicker","data":{"e":"bookTicker",
        "u":5123107839020,"s":"BTCUSDT","b":"61800.20","B":"2.507","a":"61800.30","A":"2.510",
        "T":1723161256313,"E":1723161256313}}

A REST depth snapshot line (`{"lastUpdateId":...}`) has no symbol: it belongs to the file's
symbol, taken from the file name (`btcusdt_20240808.gz`) or from the file's first stream frame.
Lines that cannot be decoded are counted per reason and logged, and the replay goes on.
"""

from __future__ import annotations

import heapq
import logging
import os
import re
import zlib
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

from engine.core.errors import DecodeError
from engine.venues.binance.frames import UNUSED_STREAM, BinanceDecoder, market_of_stream_payload
from engine.feeds.cryptofeed_capture import connection, is_cryptofeed, read_cryptofeed
from engine.venues.bybit.recording import EXCHANGE as BYBIT
from engine.venues.bybit.recording import is_bybit_recording, read_bybit_recording
from engine.venues.okx.recording import EXCHANGE as OKX
from engine.venues.okx.recording import is_okx_recording, read_okx_recording
from engine.venues.binance.symbols import COINM, MARKETS, SPOT, USDM, unified_symbol
from engine.model.events import MarketEvent

log = logging.getLogger("engine.feeds.capture")

_CHUNK = 1 << 20
_DIR_HINTS = {"usdm": USDM, "um": USDM, "futures": USDM, "spot": SPOT, "cm": COINM, "coinm": COINM}
_NAME_RE = re.compile(r"^([a-z0-9]+(?:_perp|_\d{6})?)_\d{8}", re.IGNORECASE)
# Logged lines per file and reason before the log goes quiet (all are still counted).
_LOG_LIMIT = 20


@dataclass
class CaptureStats:
    """What one capture file yielded and what it skipped."""

    path: str
    market: str
    symbol: str | None
    lines: int = 0
    events: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    unused: int = 0  # frames of streams the engine reads nothing from (the venue's klines)
    truncated: bool = False
    backwards: int = 0  # lines whose receive time is earlier than the line before them
    # symbol -> the venue's own checks of its book (OKX's checksum, Bybit's sequence and
    # depth): an object whose `report()` gives counts by name, kept up to date as it reads
    venue_checks: dict[str, Any] = field(default_factory=dict)

    @property
    def malformed(self) -> int:
        return sum(self.skipped.values())

    def skip(self, reason: str, lineno: int, detail: str) -> None:
        n = self.skipped.get(reason, 0) + 1
        self.skipped[reason] = n
        if n <= _LOG_LIMIT:
            log.warning("skipped line %s:%d (%s): %s", self.path, lineno, reason, detail[:200])
        elif n == _LOG_LIMIT + 1:
            log.warning("%s: more %r lines skipped; counting without logging", self.path, reason)


def iter_lines(path: str) -> Iterator[bytes]:
    """Lines of a gzip (any number of members) or plain file, read in chunks.

    A gzip stream cut short yields what decompressed and then raises `EOFError`.
    """
    with open(path, "rb") as fh:
        head = fh.read(2)
        fh.seek(0)
        gz = head == b"\x1f\x8b"
        d = zlib.decompressobj(wbits=47) if gz else None
        rest = b""
        while True:
            chunk = fh.read(_CHUNK)
            if not chunk:
                break
            if d is not None:
                data = d.decompress(chunk)
                while d.eof and d.unused_data:
                    tail = d.unused_data
                    d = zlib.decompressobj(wbits=47)
                    data += d.decompress(tail)
            else:
                data = chunk
            if not data:
                continue
            lines = (rest + data).split(b"\n")
            rest = lines.pop()
            yield from lines
        if d is not None:
            rest += d.flush()
        if rest:
            yield rest
        if d is not None and not d.eof:
            raise EOFError(f"{path}: gzip stream ends before its end marker (truncated file)")


def sniff(path: str, market: str | None = None) -> tuple[str, str | None]:
    """Market kind and unified symbol of a capture file.

    The market comes from `market` if given, else from a parent folder named like hftbacktest's
    (`usdm`, `spot`, `cm`), else from the shape of the first frames. The symbol comes from the
    file name, else from the first frame that names one.
    """
    if market is not None and market not in MARKETS:
        raise ValueError(f"unknown market kind {market!r}; expected one of {', '.join(MARKETS)}")
    if is_cryptofeed(path):  # several symbols, the market named by the stream host
        found, _ = connection(path)
        if market is not None and market != found:
            raise ValueError(f"{path}: recorded from a {found} stream host, not {market}")
        return found, None
    if market is None:
        for part in reversed(os.path.normpath(os.path.abspath(path)).split(os.sep)[:-1]):
            if part.lower() in _DIR_HINTS:
                market = _DIR_HINTS[part.lower()]
                break
    first_id: str | None = None
    if market is None or not _NAME_RE.match(os.path.basename(path)):
        try:
            for i, line in enumerate(iter_lines(path)):
                if i > 200:
                    break
                _, _, payload = line.partition(b" ")
                if market is None:
                    market = market_of_stream_payload(payload)
                if first_id is None:
                    m = re.search(rb'"s":"([A-Za-z0-9_]+)"', payload)
                    first_id = m.group(1).decode() if m else None
                if market is not None and first_id is not None:
                    break
        except (OSError, EOFError, zlib.error):
            pass
    if market is None:
        raise ValueError(f"{path}: cannot tell spot, usdm or coinm; pass the market explicitly")
    m = _NAME_RE.match(os.path.basename(path))
    market_id = m.group(1) if m else first_id
    symbol = None
    if market_id:
        try:
            symbol = unified_symbol(market_id, market)
        except DecodeError:
            symbol = None
    return market, symbol


def read_capture(path: str, market: str | None = None, stats: CaptureStats | None = None
                 ) -> Iterator[MarketEvent]:
    """Decode one capture file into model events, in file order, skipping bad lines.

    The file's market and symbol are settled here, before iteration starts, so an unreadable
    or unrecognisable file fails at once (`ValueError`, `OSError`).
    """
    if stats is None:
        stats = CaptureStats(path=path, market="", symbol=None)
    if is_okx_recording(path):
        if market is not None and market != OKX:
            raise ValueError(f"{path}: recorded from OKX, not {market}")
        return read_okx_recording(path, stats)
    if is_bybit_recording(path):
        if market is not None and market != BYBIT:
            raise ValueError(f"{path}: recorded from Bybit, not {market}")
        return read_bybit_recording(path, stats)
    if is_cryptofeed(path):
        return read_cryptofeed(path, market, stats)
    market, symbol = sniff(path, market)
    stats.market, stats.symbol = market, symbol
    # a file named for its symbol (hftbacktest's `btcusdt_20240808.gz`) holds that symbol only:
    # a frame of another stream in it is foreign (a mislabelled or corrupted line)
    named = _NAME_RE.match(os.path.basename(path))
    allowed = {named.group(1).upper()} if named and symbol is not None else None
    dec = BinanceDecoder(market, default_symbol=symbol, allowed_ids=allowed)
    return decode_lines(path, iter_lines(path), dec, stats, name_file=True)


def decode_lines(path: str, lines: Iterable[bytes], dec: BinanceDecoder, stats: CaptureStats,
                 name_file: bool = False) -> Iterator[MarketEvent]:
    """Events of `<ns> <frame>` lines, bad lines counted in `stats` and skipped. `name_file`:
    the file holds one symbol, so its first event names the snapshots that carry none."""
    decode = dec.decode_frame
    lineno = 0
    last_ts = 0
    try:
        for line in lines:
            lineno += 1
            if not line.strip():
                continue
            ts_txt, _, payload = line.partition(b" ")
            try:
                ts_recv = int(ts_txt)
                if ts_recv <= 0:
                    raise ValueError("non-positive timestamp")
            except ValueError:
                stats.skip("bad_timestamp", lineno, repr(line[:60]))
                continue
            if ts_recv < last_ts:  # kept (the line's own time), but a capture fault
                stats.backwards += 1
                if stats.backwards <= _LOG_LIMIT:
                    log.warning("%s:%d: receive time goes back %.3f ms", path, lineno,
                                (last_ts - ts_recv) / 1e6)
            last_ts = ts_recv
            try:
                ev = decode(payload, ts_recv)
            except DecodeError as exc:
                if exc.reason == UNUSED_STREAM:
                    stats.unused += 1
                else:
                    stats.skip(exc.reason, lineno, exc.detail)
                continue
            if name_file and dec.default_symbol is None:
                dec.default_symbol = stats.symbol = ev.symbol
            stats.events += 1
            yield ev
    except EOFError as exc:
        stats.truncated = True
        stats.skip("truncated_file", lineno, str(exc))
    except zlib.error as exc:  # corrupt compressed data: what came before it is kept
        stats.truncated = True
        stats.skip("corrupt_file", lineno, f"{path}: gzip data corrupt after line {lineno}: {exc}")
        log.error("%s: gzip data corrupt after line %d (%s): the rest of this file is lost; "
                  "the replay goes on with the other files", path, lineno, exc)
    finally:
        stats.lines = lineno


def _ts_recv(ev: MarketEvent) -> int:
    return ev.ts_recv


def merge_captures(paths: Iterable[str], market: str | None = None,
                   stats: list[CaptureStats] | None = None) -> Iterator[MarketEvent]:
    """One stream ordered by local receive time from several captures (symbols, markets, days).

    Ties keep file order (`heapq.merge` is stable), so a day's file and its continuation, or a
    spot and a perp file, interleave exactly as they were received.
    """
    sources = []
    for p in paths:
        st = CaptureStats(path=p, market="", symbol=None)
        if stats is not None:
            stats.append(st)
        sources.append(read_capture(p, market, st))
    if len(sources) == 1:
        return sources[0]
    return heapq.merge(*sources, key=_ts_recv)
