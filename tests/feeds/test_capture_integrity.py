"""Capture integrity on the recorded USD-M BTC and ETH captures: the stream name alone never
decides a book. A frame whose symbol disagrees with its stream is malformed, a stream a file
did not subscribe to (or a name that is no market id) never creates a book, and receive times
going backwards are counted. The untouched books still agree with the venue's bookTicker."""

from __future__ import annotations

from engine.feeds.capture import CaptureStats, merge_captures
from engine.node.replay_session import ReplaySession
from tests.conftest import USDM_BTC, USDM_ETH, read_lines, write_capture


def _replay(paths):
    stats: list[CaptureStats] = []
    s = ReplaySession()
    for ev in merge_captures([str(p) for p in paths], stats=stats):
        s.on_event(ev)
    s.finish()
    return s, s.summary(stats), {st.symbol: st for st in stats}


def _depth_lines(lines, stream: bytes):
    return [i for i, ln in enumerate(lines) if b'"stream":"' + stream + b'@depth' in ln]


def test_a_btc_depth_frame_labelled_eth_is_malformed_and_the_eth_book_stays_right(tmp_path):
    btc, eth = read_lines(USDM_BTC), read_lines(USDM_ETH)
    frame = btc[_depth_lines(btc, b"btcusdt")[100]]
    ts, _, payload = frame.partition(b" ")
    at = _depth_lines(eth, b"ethusdt")[200]
    eth_ts = eth[at].partition(b" ")[0]
    eth.insert(at, eth_ts + b" " + payload.replace(b"btcusdt@depth", b"ethusdt@depth", 1))
    path = write_capture(tmp_path / "ethusdt_20240808.gz", eth)
    s, summary, stats = _replay([USDM_BTC, path])
    assert stats["ETH/USDT:USDT"].skipped == {"symbol_mismatch": 1}
    e = summary["ETH/USDT:USDT"]
    assert e["gaps"] == 0 and e["book_valid"]
    assert e["bbo_compared"] > 1000 and e["bbo_agreed"] == e["bbo_compared"]


def test_foreign_and_bit_flipped_stream_names_create_no_book(tmp_path):
    btc = read_lines(USDM_BTC)
    i = _depth_lines(btc, b"btcusdt")[50]
    ts, _, payload = btc[i].partition(b" ")
    flipped = payload.replace(b"btcusdt@depth", b"b|cusdt@depth", 1)
    foreign = payload.replace(b"btcusdt@depth", b"ethusdt@depth", 1).replace(
        b'"s":"BTCUSDT"', b'"s":"ETHUSDT"', 1)  # consistent, but not this file's stream
    btc[i:i] = [ts + b" " + flipped, ts + b" " + foreign]  # extra lines: the chain is intact
    path = write_capture(tmp_path / "btcusdt_20240808.gz", btc)
    s, summary, stats = _replay([path])
    assert set(s.books.syncs) == {"BTC/USDT:USDT"}
    assert stats["BTC/USDT:USDT"].skipped == {"unknown_stream": 1, "foreign_stream": 1}
    b = summary["BTC/USDT:USDT"]
    assert b["gaps"] == 0 and b["bbo_agreed"] == b["bbo_compared"] > 1000


def test_receive_times_going_backwards_are_counted(tmp_path, caplog):
    btc = read_lines(USDM_BTC)[:2000]
    ts, _, payload = btc[1001].partition(b" ")
    earlier = int(btc[1000].partition(b" ")[0]) - 5_000_000  # 5 ms before the line above
    btc[1001] = str(earlier).encode() + b" " + payload
    path = write_capture(tmp_path / "btcusdt_20240808.gz", btc)
    _, _, stats = _replay([path])
    assert stats["BTC/USDT:USDT"].backwards == 1
    assert "receive time goes back 5.000 ms" in caplog.text
