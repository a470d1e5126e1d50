"""OKX v5 books on the recorded capture, checked by the venue's own CRC32 checksum on every
message, and the instruments' unified symbols from the recorded REST listing.

The capture (cryptofeed's OKX.ws.1.0, May 2022) predates OKX's `seqId`/`prevSeqId`: the sequence
rule is tested on hand-written frames below."""

from __future__ import annotations

import json
import subprocess
import sys
import zlib

import msgspec
import pytest

from engine.feeds.capture import iter_lines
from engine.feeds.cryptofeed_capture import frame_lines
from engine.venues.okx.books import (APPLIED, BOOKS_FRAME, CHECKSUM_MISMATCH, GAP, SYNCED,
                                     WAITING, OkxBookSync, WireBook, checksum)
from engine.venues.okx.symbols import read_instruments, unified_symbol
from tests.conftest import ROOT, shared

pytestmark = pytest.mark.shared_data


def _books_frames():
    path = shared("cryptofeed", "sample_data", "OKX.ws.1.0")
    for line in frame_lines(str(path)):
        payload = line.partition(b" ")[2]
        if b'"channel":"books"' in payload and b'"action"' in payload:
            yield BOOKS_FRAME.decode(payload)


def test_every_recorded_books_message_agrees_with_the_venues_checksum():
    syncs: dict[str, OkxBookSync] = {}
    outcomes: dict[int, int] = {}
    for f in _books_frames():
        s = syncs.setdefault(f.arg.instId, OkxBookSync(f.arg.instId))
        for msg in f.data:
            out = s.on_frame(f.action, msg)
            outcomes[out] = outcomes.get(out, 0) + 1
    assert outcomes == {SYNCED: 3, APPLIED: 287}
    summary = {i: (s.checksum_checked, s.checksum_ok, s.applied) for i, s in syncs.items()}
    assert summary == {  # golden counts of the capture
        "BTC-USD-220527": (99, 99, 98), "UNI-USD-SWAP": (93, 93, 92),
        "BTC-USDT": (98, 98, 97)}
    for s in syncs.values():  # the books stay whole: 400 levels a side subscribed
        assert s.valid and s.book.top() is not None
        assert s.book.best_bid()[0] < s.book.best_ask()[0]


def test_a_changed_size_is_caught_by_the_checksum_and_the_book_waits_for_a_snapshot():
    frames = list(_books_frames())
    inst = frames[0].arg.instId
    mine = [f for f in frames if f.arg.instId == inst]
    s = OkxBookSync(inst)
    assert s.on_frame("snapshot", mine[0].data[0]) == SYNCED
    upd = next(f.data[0] for f in mine[1:] if f.data[0].asks)
    lv = upd.asks[0]
    bad = msgspec.structs.replace(upd, asks=[(lv[0], lv[1] + "1", lv[2], lv[3])] + upd.asks[1:])
    assert s.on_frame("update", bad) == CHECKSUM_MISMATCH and not s.valid
    assert s.on_frame("update", upd) == WAITING  # nothing applied on a book known bad
    assert s.on_frame("snapshot", mine[0].data[0]) == SYNCED and s.valid


def _msg(bids=(), asks=(), seq=None, prev=None):
    return WireBook(bids=[(p, q, "0", "1") for p, q in bids],
                    asks=[(p, q, "0", "1") for p, q in asks], ts="1", seqId=seq, prevSeqId=prev)


def test_sequence_ids_chain_and_a_break_is_a_gap():
    """Hand-written (no recorded frame carries seqId): prevSeqId must be the last seqId."""
    s = OkxBookSync("X")
    assert s.on_frame("snapshot", _msg([("10.0", "1")], [("11.0", "2")], seq=5)) == SYNCED
    assert s.on_frame("update", _msg([("10.5", "3")], seq=8, prev=5)) == APPLIED
    assert s.book.best_bid() == (10.5, 3.0)
    assert s.on_frame("update", _msg([("10.5", "0")], seq=9, prev=7)) == GAP
    assert not s.valid and s.gaps == 1 and s.book.best_bid() == (10.5, 3.0)
    assert s.on_frame("update", _msg(seq=10, prev=9)) == WAITING


def test_checksum_of_a_hand_written_book_interleaves_sides_and_keeps_the_strings():
    # OKX's rule: bid1:ask1:bid2:ask2... over the venue's strings; a longer side goes on alone
    got = checksum([("3366.1", "7"), ("3366", "6")], [("3366.8", "9")])
    want = zlib.crc32(b"3366.1:7:3366.8:9:3366:6")
    assert got == (want - (1 << 32) if want >= 1 << 31 else want)
    assert checksum([("1.0", "1")], []) != checksum([("1", "1")], [])  # strings, not values


def test_recorded_instruments_give_ccxts_unified_symbols():
    path = shared("cryptofeed", "sample_data", "OKX.0")
    insts = {i.instId: i for i in read_instruments(iter_lines(str(path)))}
    assert {k: unified_symbol(insts[k]) for k in ("BTC-USDT", "UNI-USD-SWAP", "BTC-USD-220527")} \
        == {"BTC-USDT": "BTC/USDT", "UNI-USD-SWAP": "UNI/USD:UNI",
            "BTC-USD-220527": "BTC/USD:BTC-220527"}
    linear = next(i for i in insts.values() if i.instType == "SWAP" and i.ctType == "linear")
    assert unified_symbol(linear) == f"{linear.uly.split('-')[0]}/USDT:USDT"


def _replay_json(*files: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "engine", "replay", *files, "--verify", "--json"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-500:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_replay_verify_reports_the_venues_checksums_per_symbol():
    path = shared("cryptofeed", "sample_data", "OKX.ws.1.0")
    rep = _replay_json(str(path))
    got = {s: (v["checksum_checked"], v["checksum_ok"], v["gaps"], v["book_valid"])
           for s, v in rep["symbols"].items()}
    assert got == {"BTC/USD:BTC-220527": (99, 99, 0, True), "BTC/USDT": (98, 98, 0, True),
                   "UNI/USD:UNI": (93, 93, 0, True)}
    # golden counts: 290 book messages and 74 trades; the tickers are left unused
    assert {s: v["by_kind"] for s, v in rep["symbols"].items()} == {
        "BTC/USD:BTC-220527": {"depth": 98, "snapshot": 1, "trade": 4},
        "BTC/USDT": {"depth": 97, "snapshot": 1, "trade": 69},
        "UNI/USD:UNI": {"depth": 92, "snapshot": 1, "trade": 1}}
    assert (rep["files"][0]["market"], rep["files"][0]["events"], rep["files"][0]["unused"]) \
        == ("okx", 364, 46)


def test_recorded_trades_keep_the_venues_id_price_size_and_side():
    path = shared("cryptofeed", "sample_data", "OKX.ws.1.0")
    from engine.feeds.capture import CaptureStats, read_capture
    from engine.model import Trade

    stats = CaptureStats(path=str(path), market="", symbol=None)
    trades = [e for e in read_capture(str(path), stats=stats) if type(e) is Trade]
    first = trades[0]
    # {"instId":"BTC-USD-220527","tradeId":"7849","px":"30218.8","sz":"1","side":"buy",
    #  "ts":"1652459199958"}, received at 1652459225.5070758
    assert (first.symbol, first.trade_id, first.price, first.size, first.taker_side,
            first.ts_event, first.ts_recv) == ("BTC/USD:BTC-220527", 7849, 30218.8, 1.0, "buy",
                                               1652459199958_000_000, 1652459225507075800)
    assert len(trades) == 74 and stats.skipped == {}


def test_a_gzipped_recording_and_listing_replay_the_same(tmp_path):
    import gzip

    src = shared("cryptofeed", "sample_data", "OKX.ws.1.0")
    (tmp_path / "OKX.ws.1.0.gz").write_bytes(gzip.compress(src.read_bytes()))
    (tmp_path / "OKX.0.gz").write_bytes(gzip.compress((src.parent / "OKX.0").read_bytes()))
    plain, gz = _replay_json(str(src)), _replay_json(str(tmp_path / "OKX.ws.1.0.gz"))
    assert gz["symbols"] == plain["symbols"]


def test_a_corrupted_recorded_update_fails_its_checksum_and_invalidates_that_book(tmp_path):
    """One size changed in one recorded update of BTC-USDT: its checksum disagrees, the
    engine's book of that symbol goes invalid (a gap) and stays so (no later snapshot); the
    other books are untouched."""
    src = shared("cryptofeed", "sample_data", "OKX.ws.1.0")
    lines = src.read_bytes().split(b"\n")
    i = next(k for k, x in enumerate(lines)
             if b'"instId":"BTC-USDT"},"action":"update"' in x and b'"asks":[["' in x)
    head, _, rest = lines[i].partition(b'"asks":[["')
    price, _, after = rest.partition(b'","')
    size, _, tail = after.partition(b'"')
    lines[i] = head + b'"asks":[["' + price + b'","' + size + b'9"' + tail
    (tmp_path / "OKX.ws.1.0").write_bytes(b"\n".join(lines))
    (tmp_path / "OKX.0").write_bytes((src.parent / "OKX.0").read_bytes())
    rep = _replay_json(str(tmp_path / "OKX.ws.1.0"))
    btc = rep["symbols"]["BTC/USDT"]
    assert (btc["checksum_ok"], btc["gaps"], btc["book_valid"]) == (btc["checksum_checked"] - 1,
                                                                     1, False)
    assert rep["symbols"]["UNI/USD:UNI"]["checksum_ok"] == 93
    assert rep["symbols"]["UNI/USD:UNI"]["book_valid"]


def test_a_recording_without_its_instrument_listing_is_refused_in_one_line(tmp_path):
    src = shared("cryptofeed", "sample_data", "OKX.ws.1.0")
    (tmp_path / "OKX.ws.1.0").write_bytes(src.read_bytes())
    out = subprocess.run([sys.executable, "-m", "engine", "replay", str(tmp_path / "OKX.ws.1.0")],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "no instrument listing" in out.stderr
    assert "Traceback" not in out.stderr


def test_other_depth_channels_are_not_mixed_in_and_a_bad_level_spoils_only_its_book(tmp_path):
    """A `books5` frame for an instrument already on `books` is left unused (a separate book);
    a level no venue sends (a negative size) is skipped as invalid and that book goes
    invalid, the replay going on."""
    src = shared("cryptofeed", "sample_data", "OKX.ws.1.0")
    lines = src.read_bytes().split(b"\n")
    i = next(k for k, x in enumerate(lines) if b'"instId":"UNI-USD-SWAP"},"action":"update"' in x)
    ts = lines[i].partition(b": ")[0]
    books5 = ts + (b': {"arg":{"channel":"books5","instId":"BTC-USDT"},"data":[{"asks":[["1","1",'
                   b'"0","1"]],"bids":[],"instId":"BTC-USDT","ts":"1652459236119"}]}')
    bad = lines[i].replace(b'"asks":[', b'"asks":[["5.2","-3","0","1"],', 1)
    j = next(k for k, x in enumerate(lines) if b'"channel":"trades","instId":"BTC-USDT"},"data"' in x)
    lines[j] = lines[j].replace(b'"px":"', b'"px":"-', 1)  # a trade no venue prints
    lines[i:i + 1] = [books5, bad]
    (tmp_path / "OKX.ws.1.0").write_bytes(b"\n".join(lines))
    (tmp_path / "OKX.0").write_bytes((src.parent / "OKX.0").read_bytes())
    rep = _replay_json(str(tmp_path / "OKX.ws.1.0"))
    assert rep["files"][0]["skipped"] == {"invalid_value": 2}
    assert rep["symbols"]["BTC/USDT"]["by_kind"]["trade"] == 68
    uni, btc = rep["symbols"]["UNI/USD:UNI"], rep["symbols"]["BTC/USDT"]
    assert not uni["book_valid"] and uni["gaps"] == 1
    assert btc["book_valid"] and btc["checksum_ok"] == btc["checksum_checked"] == 98
