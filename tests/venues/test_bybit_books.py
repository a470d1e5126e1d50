"""Bybit v5 order book on the recorded capture (nautilus_trader's XRPUSDT orderbook.500): every
delta chained by `u` and `seq`, and the venue's own depth held: exactly 500 levels a side,
uncrossed, after every message. The capture holds one snapshot, so no later snapshot can be
compared with the book; breaks of the chain are tested on the recorded frames altered."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile

import msgspec
import pytest

from engine.venues.bybit.books import (APPLIED, BOOK_FRAME, GAP, SYNCED, WAITING, BybitBookSync,
                                       depth_of)
from tests.conftest import ROOT, shared

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


def _replay(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine", "replay", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_replay_verify_reports_the_venues_sequence_and_depth_checks():
    path = shared("nautilus_trader", "tests", "test_data", "bybit", "xrpusdt-ob500.data.zip")
    out = _replay(str(path), "--verify", "--json")
    assert out.returncode == 0, out.stderr[-400:]
    rep = json.loads(out.stdout.strip().splitlines()[-1])
    xrp = rep["symbols"]["XRP/USDT:USDT"]
    assert (xrp["exchange"], xrp["messages"], xrp["gaps"], xrp["book_valid"], xrp["levels"]) == \
        ("bybit", 50, 0, True, 1000)
    assert (xrp["sequence_checked"], xrp["sequence_breaks"], xrp["depth_checked"],
            xrp["depth_faults"]) == (49, 0, 50, 0)


def test_a_lost_recorded_delta_breaks_the_sequence_and_the_engines_book(tmp_path, frames):
    path = shared("nautilus_trader", "tests", "test_data", "bybit", "xrpusdt-ob500.data.zip")
    with zipfile.ZipFile(path) as z:
        lines = z.read(z.namelist()[0]).splitlines()
    del lines[10]
    (tmp_path / "cut.data").write_bytes(b"\n".join(lines) + b"\n")
    out = _replay(str(tmp_path / "cut.data"), "--verify", "--json")
    rep = json.loads(out.stdout.strip().splitlines()[-1])
    xrp = rep["symbols"]["XRP/USDT:USDT"]
    assert (xrp["sequence_breaks"], xrp["gaps"], xrp["book_valid"]) == (1, 1, False)


def test_a_shallow_book_recording_is_refused_in_one_line(tmp_path, frames):
    path = shared("nautilus_trader", "tests", "test_data", "bybit", "xrpusdt-ob500.data.zip")
    with zipfile.ZipFile(path) as z:
        first = z.read(z.namelist()[0]).splitlines()[0]
    (tmp_path / "ob50.data").write_bytes(first.replace(b"orderbook.500.", b"orderbook.50.") + b"\n")
    out = _replay(str(tmp_path / "ob50.data"))
    assert out.returncode == 2 and "only depth-500 recordings" in out.stderr
    assert "Traceback" not in out.stderr
