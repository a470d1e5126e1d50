"""Reading the frames a ccxt.pro client receives with our own decoders (`FrameTap`), on the
recorded frames: Binance's raw-stream payloads (what `/ws` sends; the recording and the local
exchange use combined-stream frames) decode to the same events; frames of other kinds go on to
ccxt; a bad frame is dropped and counted; an unexpected exception reaches the feed's task.
The tap on the real ccxt.pro client: tests/live/test_live_feed.py."""

from __future__ import annotations

import asyncio

import pytest

from engine.core.clock import ReplayClock
from engine.venues.binance.frames import BinanceDecoder, stream_frame
from engine.feeds.capture import iter_lines
from engine.feeds.frame_tap import FrameTap
from engine.model import BestBidAsk, Trade
from tests.conftest import USDM_BTC
from tests.helpers import wait_until

SYM = "BTC/USDT:USDT"
STREAMS = {b"bookTicker": "ticker", b"trade": "trades", b"aggTrade": "trades"}


SPOT_BTC = USDM_BTC.parents[1] / "spot/btcusdt_20240808.gz"


def _frames(path=USDM_BTC) -> list[bytes]:
    return [line.partition(b" ")[2] for line in iter_lines(str(path))]


def _raw(frame: bytes) -> bytes:
    """The event payload alone, as a raw stream sends it."""
    return frame[frame.index(b',"data":') + 8:-1]


@pytest.mark.parametrize("market,path", [("usdm", USDM_BTC), ("spot", SPOT_BTC)])
def test_raw_stream_payloads_decode_as_their_combined_frames(market, path):
    """Spot bookTicker payloads carry no `e`: recognised by their leading `u`."""
    dec = BinanceDecoder(market)
    kinds: dict[bytes, int] = {}
    for frame in _frames(path):
        if not frame.startswith(b'{"stream":"'):
            assert stream_frame(frame) is None  # the REST snapshots
            continue
        combined, kind = stream_frame(frame)
        assert combined is frame
        wrapped, raw_kind = stream_frame(_raw(frame))
        assert raw_kind == kind
        assert dec.decode_frame(wrapped, 7) == dec.decode_frame(frame, 7)
        kinds[kind] = kinds.get(kind, 0) + 1
    assert set(kinds) == {b"depth", b"bookTicker", b"trade"} and min(kinds.values()) > 100
    for other in (b'{"result":null,"id":1}', b'{"e":"ACCOUNT_UPDATE","E":1}', b"", b"pong",
                  b'{"e":"bookTicker"}', b'{"u":1}', b'{"id":"x","status":200}'):
        assert stream_frame(other) is None, other


def _tap(symbols=(SYM,)):
    out, to_ccxt, age = [], [], {}
    tap = FrameTap(stream_frame, BinanceDecoder("usdm").decode_frame, STREAMS, set(symbols),
                   out.append, ReplayClock(), age)
    return tap, out, to_ccxt, age


def test_tapped_kinds_become_events_and_the_rest_goes_on_to_ccxt():
    tap, out, to_ccxt, age = _tap()
    frames = _frames()[:3000]
    for f in frames:  # ccxt hands over text frames as str
        tap._guarded(to_ccxt.append, _raw(f).decode() if f.startswith(b'{"stream"') else f)
    n_tapped = sum(1 for f in frames if b"@bookTicker" in f[:40] or b"@trade" in f[:40])
    assert tap.frames == len(out) == n_tapped and tap.invalid == tap.foreign == 0
    assert {type(e) for e in out} == {BestBidAsk, Trade}
    # depth diffs (ccxt keeps its book from them) and the REST snapshots went on, unchanged
    assert len(to_ccxt) == len(frames) - n_tapped
    assert all('"e":"depthUpdate"' in str(x) or "lastUpdateId" in str(x) for x in to_ccxt)
    assert set(age) == {(SYM, "ticker"), (SYM, "trades")}


def test_a_bad_frame_is_dropped_and_counted_and_a_foreign_symbol_is_left_to_ccxt():
    tap, out, to_ccxt, _ = _tap()
    nan = (b'{"e":"bookTicker","u":1,"s":"BTCUSDT","b":"NaN","B":"1","a":"2","A":"1",'
           b'"T":1,"E":1}')
    tap._guarded(to_ccxt.append, nan)
    tap._guarded(to_ccxt.append, b'{"e":"trade","E":1,"T":1,"s":"BTCUSDT","t":1,"p":"1"')
    assert tap.invalid == 2 and not out and not to_ccxt  # never emitted, never passed on
    eth = (b'{"e":"bookTicker","u":1,"s":"ETHUSDT","b":"1","B":"1","a":"2","A":"1",'
           b'"T":1,"E":1}')
    tap._guarded(to_ccxt.append, eth)  # not this feed's symbol: ccxt handles it as before
    assert tap.foreign == 1 and not out and to_ccxt == [eth]


async def test_an_unexpected_exception_reading_a_frame_fails_the_watch():
    tap, out, to_ccxt, _ = _tap()
    tap.emit = lambda ev: 1 / 0  # a bug downstream of the decoder
    watch = asyncio.ensure_future(tap.watch())
    await wait_until(lambda: tap._failed is not None, "the watch to start")
    frame = next(f for f in _frames() if b"@bookTicker" in f[:40])
    tap._guarded(to_ccxt.append, frame)  # inside ccxt's receive callback: must not raise there
    with pytest.raises(ZeroDivisionError):
        await asyncio.wait_for(watch, 5)
    with pytest.raises(ZeroDivisionError):  # and a watch started later learns it too
        await tap.watch()
    assert not to_ccxt  # a failed frame is not handed to ccxt as well


def test_uninstall_puts_the_clients_back():
    class Client:
        def handle_text_or_binary_message(self, data):
            return ("ccxt", data)

    class Exchange:
        def __init__(self):
            self.clients = {}

        def client(self, url):
            return self.clients.setdefault(url, Client())

    tap, out, _, _ = _tap()
    ex = Exchange()
    tap.install(ex)
    c = ex.client("ws://x")
    frame = next(f for f in _frames() if b"@bookTicker" in f[:40])
    assert c.handle_text_or_binary_message(frame) is None and len(out) == 1
    tap.uninstall()
    assert ex.client("ws://x") is c and "client" not in ex.__dict__
    assert c.handle_text_or_binary_message(frame) == ("ccxt", frame) and len(out) == 1
