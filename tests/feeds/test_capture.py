"""Reading raw captures: ordering, file detection, and bad lines skipped with a count and a log."""

from __future__ import annotations

import gzip
import logging

import pytest

from engine.feeds.capture import CaptureStats, iter_lines, merge_captures, read_capture, sniff
from engine.model import BestBidAsk, BookDelta, BookSnapshot, Trade
from engine.node.replay_session import ReplaySession
from tests.conftest import USDM_BTC, USDM_ETH, read_lines, shared, write_capture


def test_bundled_capture_yields_every_recorded_message_in_file_order():
    st = CaptureStats(path=str(USDM_BTC), market="", symbol=None)
    kinds: dict[type, int] = {}
    last = 0
    for ev in read_capture(str(USDM_BTC), stats=st):
        kinds[type(ev)] = kinds.get(type(ev), 0) + 1
        last = ev.ts_recv
    assert kinds == {BookDelta: 6551, BestBidAsk: 66089, Trade: 21313, BookSnapshot: 1}
    assert st.lines == st.events == 93954 and st.malformed == 0
    assert (st.market, st.symbol) == ("usdm", "BTC/USDT:USDT")
    assert last == int(read_lines(USDM_BTC)[-1].split(b" ")[0])


def test_merge_orders_by_receive_time_across_symbols():
    stats: list[CaptureStats] = []
    prev = 0
    n = 0
    symbols = set()
    for ev in merge_captures([str(USDM_BTC), str(USDM_ETH)], stats=stats):
        assert ev.ts_recv >= prev
        prev = ev.ts_recv
        symbols.add(ev.symbol)
        n += 1
    assert n == 93954 + 74655
    assert symbols == {"BTC/USDT:USDT", "ETH/USDT:USDT"}
    assert [s.symbol for s in stats] == ["BTC/USDT:USDT", "ETH/USDT:USDT"]


def test_day_file_and_continuation_merge_into_one_spot_and_perp_stream():
    spot = shared("hftbacktest", "examples", "spot")
    files = [str(spot / "btcusdt_20240809.gz"), str(spot / "btcusdt_20240808.gz"), str(USDM_BTC)]
    evs = list(merge_captures(files))
    assert len(evs) == 58325 + 41249 + 93954
    assert all(a.ts_recv <= b.ts_recv for a, b in zip(evs, evs[1:]))
    spot_deltas = [e for e in evs if isinstance(e, BookDelta) and e.symbol == "BTC/USDT"]
    # The spot chain runs on across midnight: U == previous u + 1 at every step.
    assert all(b.first_update_id == a.final_update_id + 1
               for a, b in zip(spot_deltas, spot_deltas[1:]))


@pytest.mark.parametrize("name, folder, expected", [
    ("btcusdt_20240808.gz", "usdm", ("usdm", "BTC/USDT:USDT")),
    ("btcusdt_20240808.gz", "spot", ("spot", "BTC/USDT")),
    ("btcusd_perp_20240808.gz", "cm", ("coinm", "BTC/USD:BTC")),
])
def test_market_from_folder_and_symbol_from_file_name(tmp_path, name, folder, expected):
    d = tmp_path / folder
    d.mkdir()
    p = write_capture(d / name, [b"1 {}"])
    assert sniff(str(p)) == expected


def test_market_from_content_when_the_folder_says_nothing(tmp_path, usdm_btc_lines):
    p = write_capture(tmp_path / "capture.gz", usdm_btc_lines[:20])
    assert sniff(str(p)) == ("usdm", "BTC/USDT:USDT")
    with pytest.raises(ValueError, match="cannot tell"):
        sniff(str(write_capture(tmp_path / "x.gz", [b"1 {\"a\":1}"])))
    with pytest.raises(ValueError, match="unknown market kind"):
        sniff(str(p), "options")


def test_bad_lines_are_counted_logged_and_skipped(tmp_path, usdm_btc_lines, caplog):
    good = usdm_btc_lines[:2000]
    ticker = next(x for x in good if b"bookTicker" in x)
    bad = [
        ticker[: len(ticker) // 2],                                   # truncated line
        b"1723161255088169167 this is not json",                      # non-JSON
        b"notanumber " + ticker.partition(b" ")[2],                   # corrupt timestamp
        ticker.replace(b"bookTicker", b"forceOrder", 1),              # unknown stream
        ticker.replace(b'"b":"61', b'"b":"NaN","x":"61', 1),          # NaN price
        ticker.replace(b'"a":"6', b'"a":"-6', 1),                     # negative price
    ]
    lines = good[:1000] + bad + good[1000:]
    path = write_capture(tmp_path / "btcusdt_20240808.gz", lines)
    caplog.set_level(logging.WARNING)
    st = CaptureStats(path=str(path), market="", symbol=None)
    evs = list(read_capture(str(path), stats=st))
    assert len(evs) == 2000
    assert st.skipped == {"malformed_json": 2, "bad_timestamp": 1, "unknown_stream": 1,
                          "invalid_value": 2}
    assert st.malformed == 6
    logged = [r.message for r in caplog.records if "skipped line" in r.message]
    assert len(logged) == 6 and all(str(path) in m for m in logged)
    assert any(":1004 (unknown_stream)" in m for m in logged)


def test_truncated_gzip_yields_what_it_has_and_is_reported(tmp_path, usdm_btc_lines):
    full = write_capture(tmp_path / "full.gz", usdm_btc_lines[:5000])
    data = full.read_bytes()
    cut = tmp_path / "btcusdt_20240808.gz"
    cut.write_bytes(data[: len(data) // 2])
    st = CaptureStats(path=str(cut), market="usdm", symbol=None)
    evs = list(read_capture(str(cut), "usdm", stats=st))
    assert 1000 < len(evs) < 5000
    assert st.truncated and st.skipped.get("truncated_file") == 1


def test_multi_member_gzip_and_plain_files_read_alike(tmp_path, usdm_btc_lines):
    part = usdm_btc_lines[:300]
    multi = tmp_path / "multi.gz"
    with open(multi, "wb") as fh:
        fh.write(gzip.compress(b"\n".join(part[:100]) + b"\n"))
        fh.write(gzip.compress(b"\n".join(part[100:]) + b"\n"))
    plain = tmp_path / "plain.txt"
    plain.write_bytes(b"\n".join(part))
    assert list(iter_lines(str(multi))) == part
    assert list(iter_lines(str(plain))) == part


def test_malformed_lines_reach_the_per_symbol_summary(tmp_path, usdm_btc_lines):
    lines = usdm_btc_lines[:3000]
    lines.insert(500, b"1723161255088169167 {broken")
    path = write_capture(tmp_path / "btcusdt_20240808.gz", lines)
    stats: list[CaptureStats] = []
    s = ReplaySession()
    for ev in merge_captures([str(path)], "usdm", stats=stats):
        s.on_event(ev)
    s.finish()
    assert s.summary(stats)["BTC/USDT:USDT"]["malformed"] == 1
