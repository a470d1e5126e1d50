"""Bybit v5 order book on the recorded capture (nautilus_trader's XRPUSDT orderbook.500): every
delta chained by `u` and `seq`, and the venue's own depth held: exactly 500 levels a side,
uncrossed, after every message. The capture holds one snapshot, so no later snapshot can be
compared with the book; breaks of the chain are tested on the recorded frames altered."""

from __future__ import annotations

import zipfile

import msgspec
import pytest

from engine.venues.bybit.books import (APPLIED, BOOK_FRAME, GAP, SYNCED, WAITING, BybitBookSync,
                                       depth_of)
from tests.conftest import shared

pytestmark = pytest.mark.shared_data


@pytest.fixture(scope="module")
def frames():
    path = shared("nautilus_trader", "tests", "test_data", "bybit", "xrpusdt-ob500.data.zip")
    with zipfile.ZipFile(path) as z:
        lines = z.read(z.namelist()[0]).splitlines()
    return [BOOK_FRAME.decode(x) for x in lines if x.strip()]


def test_every_recorded_delta_chains_and_the_book_keeps_the_venues_depth(frames):
    s = BybitBookSync("XRP/USDT:USDT", depth_of(frames[0].topic))
    outcomes = [s.on_frame(f) for f in frames]
    assert outcomes == [SYNCED] + [APPLIED] * 49  # golden: one snapshot, 49 deltas
    assert (s.depth, s.depth_checked, s.depth_faults, s.gaps) == (500, 50, 0, 0)
    # the whole book equals the recorded messages applied by hand, level for level
    ref: tuple[dict, dict] = ({}, {})
    for f in frames:
        for side, levels in zip(ref, (f.data.b, f.data.a)):
            for p, q in levels:
                if float(q):
                    side[float(p)] = float(q)
                else:
                    side.pop(float(p), None)
    assert s.book.bids == ref[0] and s.book.asks == ref[1]
    assert s.book.top()[0] == 1.9537 and s.book.top()[2] == 1.9538


def test_a_lost_delta_is_a_gap_and_the_book_waits_for_a_snapshot(frames):
    s = BybitBookSync("XRP/USDT:USDT", 500)
    s.on_frame(frames[0])
    s.on_frame(frames[1])
    assert s.on_frame(frames[3]) == GAP and not s.valid and len(s.book) == 0
    assert s.on_frame(frames[4]) == WAITING
    assert s.on_frame(frames[0]) == SYNCED


def test_a_sequence_that_does_not_increase_is_a_gap(frames):
    s = BybitBookSync("XRP/USDT:USDT", 500)
    s.on_frame(frames[0])
    stale = msgspec.structs.replace(frames[1], data=msgspec.structs.replace(
        frames[1].data, seq=frames[0].data.seq))
    assert s.on_frame(stale) == GAP


def test_a_topic_that_is_not_a_book_is_refused():
    with pytest.raises(ValueError, match="order book topic"):
        depth_of("publicTrade.XRPUSDT")
