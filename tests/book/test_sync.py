"""Sequence-gap handling on real captures with messages removed, reordered or repeated."""

from __future__ import annotations

import logging

import orjson
import pytest

from engine.book.sync import (
    APPLIED,
    BUFFERED,
    GAP,
    SNAPSHOT_IGNORED,
    SNAPSHOT_TOO_OLD,
    STALE,
    SYNCED,
    BookSync,
)
from engine.core.numeric import fmt
from engine.feeds.capture import read_capture
from engine.model import BookDelta, BookSnapshot
from engine.node.replay_session import ReplaySession
from tests.conftest import USDM_BTC, read_lines, shared, write_capture

SYM = "BTC/USDT:USDT"


def _depth_indexes(lines: list[bytes]) -> list[int]:
    return [i for i, x in enumerate(lines) if b"@depth" in x]


def _snapshot_index(lines: list[bytes]) -> int:
    return next(i for i, x in enumerate(lines) if b"lastUpdateId" in x)


def _session(path, market=None) -> ReplaySession:
    s = ReplaySession(verify=True)
    for ev in read_capture(str(path), market):
        s.on_event(ev)
    s.finish()
    return s


def _snapshot_line(book, ts_recv: int) -> bytes:
    """A REST depth response as the venue would send it, from a reference book's state."""
    bids, asks = book.levels("bid"), book.levels("ask")
    body = {"lastUpdateId": book.update_id,
            "bids": [[fmt(p), fmt(q)] for p, q in bids],
            "asks": [[fmt(p), fmt(q)] for p, q in asks]}
    return str(ts_recv).encode() + b" " + orjson.dumps(body)


def _drive(path) -> tuple[BookSync, list[int]]:
    """Feed a capture's book events to a fresh futures sync; return it and every outcome."""
    sync = BookSync(SYM, "futures")
    outcomes = []
    for ev in read_capture(str(path), "usdm"):
        if isinstance(ev, BookSnapshot):
            outcomes.append(sync.on_snapshot(ev))
        elif isinstance(ev, BookDelta):
            outcomes.append(sync.on_delta(ev))
    return sync, outcomes


def _reference_book_at(lines: list[bytes], tmp_path, update_id: int):
    """Replay the untampered capture and return the book as of `update_id`."""
    path = write_capture(tmp_path / "ref_btcusdt_20240808.gz", lines)
    sync = BookSync(SYM, "futures")
    for ev in read_capture(str(path), "usdm"):
        if isinstance(ev, BookDelta):
            sync.on_delta(ev)
        elif isinstance(ev, BookSnapshot):
            sync.on_snapshot(ev)
        if sync.valid and sync.book.update_id == update_id:
            return sync.book
    raise AssertionError(f"reference book never reached {update_id}")


def test_removed_diff_is_detected_on_the_next_diff_and_book_invalidated(tmp_path, caplog):
    lines = read_lines(USDM_BTC)
    depth = [i for i in _depth_indexes(lines) if i > _snapshot_index(lines)]
    removed, victim = depth[100], depth[101]
    removed_u = orjson.loads(lines[removed].partition(b" ")[2])["data"]["u"]
    last_applied_u = orjson.loads(lines[depth[99]].partition(b" ")[2])["data"]["u"]
    victim_data = orjson.loads(lines[victim].partition(b" ")[2])["data"]
    cut = lines[:removed] + lines[removed + 1:]
    path = write_capture(tmp_path / "btcusdt_20240808.gz", cut)

    caplog.set_level(logging.WARNING)
    s = ReplaySession(verify=True)
    statuses = []
    for ev in read_capture(str(path), "usdm"):
        st = s.on_event(ev)
        if st is not None:
            statuses.append((st, ev))
    s.finish()
    sync = s.books.syncs[SYM]
    assert sync.gaps == 1 and not sync.valid
    book_before, offending = sync.last_gap
    assert offending.first_update_id == victim_data["U"]
    assert offending.prev_final_update_id == victim_data["pu"] == removed_u
    assert book_before == last_applied_u  # the book stopped at the diff before the hole
    invalid = [st for st, _ in statuses if not st.valid]
    assert len(invalid) == 1 and invalid[0].reason == "gap"
    assert invalid[0].ts_recv == offending.ts_recv
    assert any("sequence gap on BTC/USDT:USDT" in r.message for r in caplog.records)
    # Tops compared before the gap all agreed; nothing is compared while the book is invalid.
    v = s.verifiers[SYM]
    assert v.compared == v.agreed == 1 + 100  # the synced state, then 100 live diffs


def test_gap_then_recorded_snapshot_resyncs_and_book_agrees_again(tmp_path):
    lines = read_lines(USDM_BTC)
    depth = [i for i in _depth_indexes(lines) if i > _snapshot_index(lines)]
    removed = depth[100]
    # The venue's snapshot arrives a little after the gap, at the state of a later diff.
    later = depth[110]
    later_u = orjson.loads(lines[later].partition(b" ")[2])["data"]["u"]
    ref = _reference_book_at(lines, tmp_path, later_u)
    inject_at = depth[113]
    ts = int(lines[inject_at].partition(b" ")[0])
    snap = _snapshot_line(ref, ts)
    cut = lines[:removed] + lines[removed + 1:inject_at] + [snap] + lines[inject_at:]
    path = write_capture(tmp_path / "btcusdt_20240808.gz", cut)

    s = _session(path, "usdm")
    sync = s.books.syncs[SYM]
    v = s.verifiers[SYM]
    assert sync.gaps == 1 and sync.resyncs == 1 and sync.valid
    statuses = s.counters[SYM].statuses
    assert [(x.valid, x.reason) for x in statuses] == [(True, "synced"), (False, "gap"),
                                                        (True, "synced")]
    # After the resync the book agrees with every bookTicker to the end of the capture.
    assert v.compared > 6000 and v.agreed == v.compared
    full = _session(USDM_BTC)
    assert s.summary()[SYM]["best_bid"] == full.summary()[SYM]["best_bid"]


def test_reordered_diffs_are_a_gap_at_the_early_one(tmp_path):
    lines = read_lines(USDM_BTC)
    depth = [i for i in _depth_indexes(lines) if i > _snapshot_index(lines)]
    a, b = depth[50], depth[51]
    swapped = list(lines)
    swapped[a], swapped[b] = lines[b], lines[a]
    early = orjson.loads(lines[b].partition(b" ")[2])["data"]
    path = write_capture(tmp_path / "btcusdt_20240808.gz", swapped)
    s = _session(path, "usdm")
    sync = s.books.syncs[SYM]
    assert sync.gaps == 1 and not sync.valid
    assert sync.last_gap[1].final_update_id == early["u"]
    assert s.verifiers[SYM].agreed == s.verifiers[SYM].compared


def test_repeated_diff_is_stale_not_a_gap(tmp_path):
    lines = read_lines(USDM_BTC)
    depth = [i for i in _depth_indexes(lines) if i > _snapshot_index(lines)]
    dup = depth[30]
    doubled = lines[: dup + 1] + [lines[dup]] + lines[dup + 1:]
    path = write_capture(tmp_path / "btcusdt_20240808.gz", doubled)
    s = _session(path, "usdm")
    sync = s.books.syncs[SYM]
    assert sync.gaps == 0 and sync.valid and sync.stale == 4 + 1
    v = s.verifiers[SYM]
    assert v.agreed == v.compared == 6546


def test_spot_removed_diff_is_a_gap_on_the_first_id_rule(tmp_path):
    src = shared("hftbacktest", "examples", "spot", "ethusdt_20240808.gz")
    lines = read_lines(src)
    depth = [i for i in _depth_indexes(lines) if i > _snapshot_index(lines)]
    victim = orjson.loads(lines[depth[201]].partition(b" ")[2])["data"]
    cut = lines[: depth[200]] + lines[depth[200] + 1:]
    path = write_capture(tmp_path / "ethusdt_20240808.gz", cut)
    s = _session(path, "spot")
    sync = s.books.syncs["ETH/USDT"]
    assert sync.gaps == 1
    assert sync.last_gap[1].first_update_id == victim["U"]
    assert victim["U"] != sync.last_gap[0] + 1


def test_snapshot_older_than_every_buffered_diff_waits_for_a_newer_one(tmp_path):
    lines = read_lines(USDM_BTC)
    snap_i = _snapshot_index(lines)
    snap_id = orjson.loads(lines[snap_i].partition(b" ")[2])["lastUpdateId"]
    depth = _depth_indexes(lines)
    # Remove the diffs that straddle the snapshot, and let the snapshot arrive three diffs
    # later: the buffer then jumps past the snapshot's id, so the snapshot cannot be used.
    straddling = {i for i in depth
                  if orjson.loads(lines[i].partition(b" ")[2])["data"]["u"] >= snap_id
                  and orjson.loads(lines[i].partition(b" ")[2])["data"]["U"] <= snap_id}
    assert straddling
    after = [i for i in depth if i > snap_i and i not in straddling][2]
    order = [i for i in range(len(lines)) if i not in straddling and i != snap_i]
    pos = order.index(after) + 1
    order = order[:pos] + [snap_i] + order[pos:]
    path = write_capture(tmp_path / "btcusdt_20240808.gz", [lines[i] for i in order])
    sync, outcomes = _drive(path)
    assert [o for o in outcomes if o not in (BUFFERED, STALE)] == [SNAPSHOT_TOO_OLD]
    assert not sync.valid and len(sync.buffer) > 6000 and len(sync.book) == 0


def test_snapshot_with_no_buffered_diff_syncs_and_first_live_diff_must_straddle(tmp_path):
    lines = read_lines(USDM_BTC)
    snap_i = _snapshot_index(lines)
    first_after = next(i for i in _depth_indexes(lines) if i > snap_i)
    # No diff before the snapshot, and the first one after it dropped: the next live diff
    # does not reach back to the snapshot's id.
    keep = [x for i, x in enumerate(lines) if not (b"@depth" in x and i <= first_after)]
    path = write_capture(tmp_path / "btcusdt_20240808.gz", keep)
    sync, outcomes = _drive(path)
    assert outcomes[:3] == [SYNCED, GAP, BUFFERED]
    assert sync.gaps == 1


def test_outcome_codes_along_the_recorded_sync(usdm_btc_lines, tmp_path):
    path = write_capture(tmp_path / "btcusdt_20240808.gz", usdm_btc_lines[:400])
    sync = BookSync(SYM, "futures")
    seen = []
    snap = None
    for ev in read_capture(str(path), "usdm"):
        if isinstance(ev, BookDelta):
            seen.append(sync.on_delta(ev))
        elif isinstance(ev, BookSnapshot):
            snap = ev
            seen.append(sync.on_snapshot(ev))
    assert seen[:6] == [BUFFERED] * 6 and seen[6] == SYNCED
    assert set(seen[7:]) == {APPLIED}
    assert sync.on_snapshot(snap) == SNAPSHOT_IGNORED
    assert STALE != GAP


def test_buffer_is_bounded_while_waiting_for_a_snapshot(usdm_btc_lines, tmp_path):
    path = write_capture(tmp_path / "btcusdt_20240808.gz",
                         [x for x in usdm_btc_lines if b"lastUpdateId" not in x])
    sync = BookSync(SYM, "futures", max_buffer=100)
    for ev in read_capture(str(path), "usdm"):
        if isinstance(ev, BookDelta):
            assert sync.on_delta(ev) == BUFFERED
    assert len(sync.buffer) == 100 and sync.buffer_dropped == 6551 - 100


def test_unknown_rule_is_rejected():
    with pytest.raises(ValueError):
        BookSync(SYM, "options")
