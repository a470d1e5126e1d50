"""cryptofeed's raw recordings read as captures: every book synced from the REST snapshot beside
the stream and checked against the venue's own bookTicker (the exchange is the oracle)."""

from __future__ import annotations

import json
import subprocess
import sys

import orjson
import pytest

from engine.feeds.capture import CaptureStats, merge_captures, sniff
from engine.feeds.cryptofeed_capture import seconds_to_ns
from engine.model import BookSnapshot
from engine.node.replay_session import ReplaySession
from tests.conftest import ROOT, shared


def _run(path):
    stats: list[CaptureStats] = []
    s = ReplaySession(verify=True)
    events = list(merge_captures([str(path)], stats=stats))
    for ev in events:
        s.on_event(ev)
    s.finish()
    return s, s.summary(stats), stats[0], events


def _snapshot_levels(path, market_id):
    for line in path.read_bytes().splitlines():
        if f"symbol={market_id}&".encode() in line:
            snap = orjson.loads(line.partition(b": ")[2])
            return {float(p) for p, _ in snap["bids"] + snap["asks"]}
    raise AssertionError(market_id)


def test_coinm_recording_syncs_ten_books_perps_and_quarterlies():
    path = shared("cryptofeed", "sample_data", "BINANCE_DELIVERY.ws.1.0")
    session, summary, st, events = _run(path)
    assert (st.market, st.symbol, st.lines, st.unused, st.skipped) == ("coinm", None, 4372, 33, {})
    assert sorted(summary) == [
        "BCH/USD:BCH", "BCH/USD:BCH-210924", "BTC/USD:BTC-211231", "EOS/USD:EOS", "ETC/USD:ETC",
        "ETH/USD:ETH-210924", "LINK/USD:LINK", "LINK/USD:LINK-211231", "TRX/USD:TRX",
        "XRP/USD:XRP"]
    # receive order kept across the stream and the REST file: snapshots land among the frames
    assert [e.ts_recv for e in events] == sorted(e.ts_recv for e in events)
    assert sum(isinstance(e, BookSnapshot) for e in events) == 10
    for sym, s in summary.items():
        assert s["book_valid"] and s["gaps"] == 0 and s["resyncs"] == 0, sym
        assert s["by_kind"]["snapshot"] == 1 and s["bbo_not_comparable"] == 0, sym
    agreed = {sym: (s["bbo_agreed"], s["bbo_compared"]) for sym, s in summary.items()}
    assert sum(a for a, _ in agreed.values()) == 1793
    assert sum(c for _, c in agreed.values()) == 1798
    # Two REST snapshots lack a level that the stream's diffs before them and the bookTicker
    # both hold (BCHUSD_PERP's 427.91 ask, TRXUSD_PERP's 0.05347 ask size): the venue's
    # snapshot, not the sync, disagrees, until a later diff rewrites that level.
    http = path.with_name("BINANCE_DELIVERY.http.0.0")
    for sym, market_id in (("BCH/USD:BCH", "BCHUSD_PERP"), ("TRX/USD:TRX", "TRXUSD_PERP")):
        v = session.verifiers[sym]
        assert v.compared - v.agreed == len(v.mismatches) > 0
        levels = _snapshot_levels(http, market_id)
        for _, top, _, ref in v.mismatches:
            assert top[0] == ref[0] and top[1] == ref[1]  # bids agree
            assert ref[2] not in levels or top[3] != ref[3]  # the snapshot's ask is the odd one
    others = {sym: a for sym, a in agreed.items() if sym not in ("BCH/USD:BCH", "TRX/USD:TRX")}
    assert all(a == c and c > 100 for a, c in others.values()), others


@pytest.mark.parametrize("name, market, symbols, compared", [
    ("BINANCE_FUTURES.ws.1.0", "usdm", 4, 746),
    ("BINANCE.ws.1.0", "spot", 4, 159),
])
def test_usdm_and_spot_recordings_agree_with_every_book_ticker(name, market, symbols, compared):
    path = shared("cryptofeed", "sample_data", name)
    _, summary, st, _ = _run(path)
    assert st.market == market and st.skipped == {} and len(summary) == symbols
    assert sum(s["bbo_compared"] for s in summary.values()) == compared
    assert all(s["bbo_agreed"] == s["bbo_compared"] and s["book_valid"] for s in summary.values())


def test_receive_times_keep_every_digit():
    assert seconds_to_ns(b"1626916403.8469708") == 1_626_916_403_846_970_800
    assert seconds_to_ns(b"1626916404") == 1_626_916_404_000_000_000
    with pytest.raises(ValueError):
        seconds_to_ns(b"12x.5")


def test_bad_lines_are_counted_and_the_rest_replays(tmp_path):
    src = shared("cryptofeed", "sample_data", "BINANCE_DELIVERY.ws.1.0")
    lines = src.read_bytes().splitlines()
    lines[100] = lines[100][:60]  # cut mid-frame
    lines[200] = b"not-a-time: {}"
    lines.insert(300, b"wss://dstream.binance.com/stream?streams=x <-> 1626916410.0")  # reconnect
    ws = tmp_path / "BINANCE_DELIVERY.ws.1.0"
    ws.write_bytes(b"\n".join(lines) + b"\n")
    (tmp_path / "BINANCE_DELIVERY.http.0.0").write_bytes(
        src.with_name("BINANCE_DELIVERY.http.0.0").read_bytes())
    _, summary, st, _ = _run(ws)
    assert st.skipped == {"malformed_json": 1, "bad_timestamp": 1}
    assert summary.pop("?")["malformed"] == 2  # a file of many symbols: bad lines have none
    assert len(summary) == 10 and all(s["book_valid"] for s in summary.values())


def test_market_named_by_the_stream_host(tmp_path):
    path = shared("cryptofeed", "sample_data", "BINANCE_DELIVERY.ws.1.0")
    assert sniff(str(path)) == ("coinm", None)
    with pytest.raises(ValueError, match="coinm stream host, not usdm"):
        list(merge_captures([str(path)], market="usdm"))
    odd = tmp_path / "X.ws.1.0"
    odd.write_text("wss://example.com/ws <-> 1.0\n")
    with pytest.raises(ValueError, match="not a Binance stream host"):
        sniff(str(odd))


def test_replay_cli_reads_the_coinm_recording():
    path = shared("cryptofeed", "sample_data", "BINANCE_DELIVERY.ws.1.0")
    p = subprocess.run([sys.executable, "-m", "engine", "replay", str(path), "--verify", "--json"],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert len(out["symbols"]) == 10 and out["messages"] == 4348
    assert out["files"][0]["market"] == "coinm" and out["files"][0]["unused"] == 33
