"""Reader for cryptofeed's raw recordings of Binance: `<FEED>.ws.<N>.0` and its REST companion.

cryptofeed's raw recorder writes the WebSocket file as a connection line followed by one line
per frame, the local receive time in seconds first:

    wss://dstream.binance.com/stream?streams=bchusd_perp@depth@100ms/... <-> 1626916402.990619
    1626916403.8469708: {"stream":"bchusd_perp@bookTicker","data":{...}}

and the REST requests of the same run in `<FEED>.http.0.0`, each line the URL, then the time
and the response:

    https://dapi.binance.com/dapi/v1/depth?symbol=BCHUSD_PERP&limit=1000 -> 1626916404.54: {...}

The host names the market (spot, USD-M, COIN-M), the connection line the subscribed ids (a
stream for any other id is foreign), the depth URL the snapshot's symbol. Frames and snapshots
are merged by receive time into the same typed events as hftbacktest's captures.
"""

from __future__ import annotations

import heapq
import os
import re
from typing import Iterator
from urllib.parse import parse_qs, urlsplit

from engine.core.errors import DecodeError
from engine.venues.binance.frames import BinanceDecoder
from engine.venues.binance.symbols import COINM, SPOT, USDM, unified_symbol
from engine.model.events import MarketEvent

# cryptofeed names its Binance feeds after the market; the WebSocket host says the same thing
_HOSTS = {"stream.binance.com": SPOT, "fstream.binance.com": USDM, "dstream.binance.com": COINM}
_WS_FILE = re.compile(r"\.ws\.\d+\.0$")
_CONNECT = b"wss://"


def is_cryptofeed(path: str) -> bool:
    """Whether `path` is a cryptofeed raw WebSocket recording (its first line a connection)."""
    try:
        with open(path, "rb") as fh:
            return fh.read(len(_CONNECT)) == _CONNECT
    except OSError:
        return False


def connection(path: str) -> tuple[str, set[str]]:
    """(market kind, subscribed market ids) from the recording's connection line."""
    with open(path, "rb") as fh:
        first = fh.readline().decode("utf-8", "replace")
    url = first.partition(" <-> ")[0].strip()
    parts = urlsplit(url)
    host = parts.hostname or ""
    market = _HOSTS.get(host)
    if market is None:
        raise ValueError(f"{path}: connection to {host or url!r} is not a Binance stream host "
                         f"({', '.join(_HOSTS)})")
    streams = parse_qs(parts.query).get("streams", [""])[0]
    ids = {s.partition("@")[0].upper() for s in streams.split("/") if s}
    if not ids:
        raise ValueError(f"{path}: connection line subscribes to no stream")
    return market, ids


def rest_companion(path: str) -> str | None:
    """`<FEED>.http.0.0` beside `<FEED>.ws.<N>.0`, when it exists."""
    other = _WS_FILE.sub(".http.0.0", path)
    return other if other != path and os.path.isfile(other) else None


def seconds_to_ns(txt: bytes) -> int:
    """`1626916403.8469708` (seconds, as cryptofeed writes them) to integer nanoseconds,
    digit by digit: a float would lose the last hundred nanoseconds."""
    whole, _, frac = txt.strip().partition(b".")
    if not whole.isdigit() or (frac and not frac.isdigit()):
        raise ValueError(f"not a time in seconds: {txt[:40]!r}")
    return int(whole) * 1_000_000_000 + int((frac[:9] or b"0").ljust(9, b"0"))


def frame_lines(path: str) -> Iterator[bytes]:
    """The WebSocket file's frame lines as `<ns> <frame>` (the capture reader's shape); a
    connection line (the first, or a reconnect) becomes an empty line, which is skipped."""
    from engine.feeds.capture import iter_lines

    for line in iter_lines(path):
        if line.startswith(_CONNECT):
            yield b""
            continue
        ts_txt, sep, payload = line.partition(b": ")
        if not sep:
            yield line  # left to the reader, which counts it as a bad line
            continue
        try:
            yield b"%d %s" % (seconds_to_ns(ts_txt), payload)
        except ValueError:
            yield line


def depth_lines(path: str) -> Iterator[tuple[int, str, bytes, bytes]]:
    """(line number, market id, time text, response) of each depth request in the REST file."""
    from engine.feeds.capture import iter_lines

    for lineno, line in enumerate(iter_lines(path), 1):
        url, sep, rest = line.partition(b" -> ")
        if not sep:
            continue
        parts = urlsplit(url.decode("utf-8", "replace"))
        if not parts.path.endswith("/depth"):
            continue  # other REST calls of the run (exchangeInfo, ...) carry no market data
        ts_txt, _, payload = rest.partition(b": ")
        yield lineno, (parse_qs(parts.query).get("symbol") or [""])[0].upper(), ts_txt, payload


def snapshot_events(path: str, dec: BinanceDecoder, stats) -> Iterator[MarketEvent]:
    """Depth snapshots of the REST companion, each named by its URL's `symbol`."""
    for lineno, market_id, ts_txt, payload in depth_lines(path):
        try:
            ts = seconds_to_ns(ts_txt)
            if dec.allowed_ids is not None and market_id not in dec.allowed_ids:
                raise DecodeError("foreign_stream", f"snapshot of {market_id!r}, not subscribed")
            ev = dec.decode_snapshot(payload, ts, symbol=unified_symbol(market_id, dec.market))
        except ValueError as exc:
            stats.skip("bad_timestamp", lineno, f"{path}: {exc}")
            continue
        except DecodeError as exc:
            stats.skip(exc.reason, lineno, f"{path}: {exc.detail}")
            continue
        stats.events += 1
        yield ev


def read_cryptofeed(path: str, market: str | None, stats) -> Iterator[MarketEvent]:
    """Events of one cryptofeed recording (and its REST snapshots), ordered by receive time."""
    from engine.feeds.capture import decode_lines

    found, ids = connection(path)
    if market is not None and market != found:
        raise ValueError(f"{path}: recorded from a {found} stream host, not {market}")
    stats.market, stats.symbol = found, None
    dec = BinanceDecoder(found, allowed_ids=ids)
    frames = decode_lines(path, frame_lines(path), dec, stats)
    rest = rest_companion(path)
    if rest is None:
        return frames
    return heapq.merge(frames, snapshot_events(rest, dec, stats), key=lambda ev: ev.ts_recv)
