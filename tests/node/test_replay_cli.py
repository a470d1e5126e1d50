"""`python -m engine replay FILE... --verify --json`: the command a user and a checker run."""

from __future__ import annotations

import subprocess
import sys

import orjson

from tests.conftest import ROOT, USDM_BTC, USDM_ETH, write_capture

REQUIRED = {"messages", "malformed", "gaps", "resyncs", "bbo_compared", "bbo_agreed",
            "best_bid", "best_ask"}


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def test_replay_verify_json_on_the_bundled_captures():
    p = _run("replay", str(USDM_BTC), str(USDM_ETH), "--verify", "--json")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.strip().splitlines()
    report = orjson.loads(lines[-1])
    assert "bbo agreed / compared" in p.stdout  # the readable table comes first
    assert set(report["symbols"]) == {"BTC/USDT:USDT", "ETH/USDT:USDT"}
    btc = report["symbols"]["BTC/USDT:USDT"]
    assert REQUIRED <= set(btc)
    assert btc["messages"] == 93954 and btc["malformed"] == 0 and btc["gaps"] == 0
    assert btc["bbo_compared"] == btc["bbo_agreed"] == 6546
    assert (btc["best_bid"], btc["best_ask"]) == ("61659.7", "61659.8")
    assert report["msgs_per_s"] > 0 and report["messages"] == 93954 + 74655


def test_replay_reports_skipped_lines_and_goes_on(tmp_path):
    import gzip

    with gzip.open(USDM_BTC, "rb") as fh:
        lines = fh.read().splitlines()[:5000]
    lines.insert(100, b"garbage")
    lines.insert(200, lines[150].replace(b'"b":"6', b'"b":"-6', 1)
                 if b"bookTicker" in lines[150] else b"1 {not json")
    path = write_capture(tmp_path / "btcusdt_20240808.gz", lines)
    p = _run("replay", str(path), "--market", "usdm", "--verify", "--json")
    assert p.returncode == 0, p.stderr
    report = orjson.loads(p.stdout.strip().splitlines()[-1])
    assert report["symbols"]["BTC/USDT:USDT"]["malformed"] == 2
    assert report["symbols"]["BTC/USDT:USDT"]["messages"] == 5000
    assert "skipped line" in p.stderr and "btcusdt_20240808.gz:101" in p.stderr


def test_replay_refuses_missing_files_and_unknown_formats(tmp_path):
    p = _run("replay", str(tmp_path / "nope.gz"))
    assert p.returncode == 2 and "no such capture file" in p.stderr
    odd = write_capture(tmp_path / "capture.gz", [b'1 {"hello":"world"}'])
    p = _run("replay", str(odd))
    assert p.returncode == 2 and "cannot tell spot, usdm or coinm" in p.stderr
    p = _run("replay", str(odd), "--market", "perp")
    assert p.returncode == 2 and "invalid choice" in p.stderr


def test_replay_paced_runs_through_the_event_loop(tmp_path):
    import gzip

    with gzip.open(USDM_BTC, "rb") as fh:
        lines = fh.read().splitlines()[:3000]
    path = write_capture(tmp_path / "btcusdt_20240808.gz", lines)
    p = _run("replay", str(path), "--market", "usdm", "--speed", "1000", "--json")
    assert p.returncode == 0, p.stderr
    report = orjson.loads(p.stdout.strip().splitlines()[-1])
    assert report["messages"] == 3000
