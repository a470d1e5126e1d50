"""Safe with real money, on the real process: one run per journal, a kill that stays killed
across a stop and a restart until a person resumes it, and journals read without a lock or a
write by `report` and `status`."""

from __future__ import annotations

import os
import sqlite3

import orjson

from tests.conftest import ROOT
from tests.node.test_headless import _cli, _port, _sigterm_report, _start, _wait_for

CONFIG = str(ROOT / "configs" / "demo_perps.toml")


def _status(port: int) -> dict:
    return orjson.loads(_cli("status", "--port", str(port)).stdout)


def test_a_second_run_on_a_journal_in_use_is_refused_and_the_first_ends_clean(tmp_path):
    journal = tmp_path / "j.sqlite"
    first = _start(journal, speed="20")  # ~18 s of recorded time: ample for the second try
    try:
        port = _port(first)  # the lock is taken before the status server starts
        second = _cli("run", "--config", CONFIG, "--journal", str(journal), "--json")
        assert second.returncode == 3, second.stderr[-800:]
        assert f"journal in use by pid {first.pid} since" in second.stderr
        assert "Traceback" not in second.stderr
        assert _status(port)["mode"] == "replay"  # the first goes on, and trades
        _wait_for(lambda: _status(port)["open_parents"])
    finally:
        report = _sigterm_report(first)  # and ends clean: exit 0, its report
    assert report["children"] > 0
    assert report["journal_submissions_unique"] and report["journal_attempts"] == 1
    con = sqlite3.connect(journal)
    subs = con.execute("SELECT COUNT(*), COUNT(DISTINCT client_order_id) FROM submissions")
    n, distinct = subs.fetchone()
    assert n == distinct == report["children"]


def test_kill_then_stop_then_restart_stays_halted_until_a_person_resumes(tmp_path):
    journal = tmp_path / "j.sqlite"
    proc = _start(journal, speed="10")
    try:
        port = _port(proc)
        _wait_for(lambda: _status(port)["open_parents"])
        k = _cli("kill", "--port", str(port), "--reason", "operator: venue looks wrong")
        assert k.returncode == 0
    finally:
        sent_before = _sigterm_report(proc)["children"]

    # journal-only status: killed, with the reason, read-only (no lock needed)
    st = _cli("status", "--journal", str(journal))
    assert st.returncode == 0, st.stderr
    st = orjson.loads(st.stdout)
    assert st["killed"] and st["risk_state"] == "HALTED" and st["held_by"] is None
    assert "venue looks wrong" in st["kill_history"][-1]["reason"]

    # started again (and stopped again): halted from the first line, no order placed
    again = _start(journal, speed="10")
    try:
        first_line = orjson.loads(again.stderr.readline())
        assert first_line["level"] == "error" and "HALTED" in first_line["msg"], first_line
        assert "venue looks wrong" in first_line["msg"]
        port = _port(again)
        _wait_for(lambda: _status(port)["risk_state"] == "HALTED")
    finally:
        report = _sigterm_report(again)
    assert report["risk_state"] == "HALTED" and report["new_orders"] == 0
    assert report["halted_at_start"] and report["journal_submissions_unique"]

    res = _cli("resume", "--journal", str(journal), "--reason", "checked the venue: fine")
    assert res.returncode == 0 and "kill cleared" in res.stdout, res.stderr
    assert _cli("resume", "--journal", str(journal), "--reason", "twice").returncode == 1
    hist = orjson.loads(_cli("status", "--journal", str(journal)).stdout)["kill_history"]
    assert [h["action"] for h in hist] == ["kill", "resume"]  # a history, not overwritten

    resumed = _cli("run", "--config", CONFIG, "--journal", str(journal), "--json")
    assert resumed.returncode == 0, resumed.stderr[-1500:]
    report = orjson.loads(resumed.stdout.strip().splitlines()[-1])
    assert report["risk_state"] == "ACTIVE" and report["halted_at_start"] is None
    assert report["new_orders"] > 0 and report["children"] > sent_before
    assert report["journal_submissions_unique"]


def test_report_and_status_never_create_a_journal(tmp_path):
    typo = tmp_path / "typo.sqlite"
    for cmd in (("report", "--journal", str(typo)), ("status", "--journal", str(typo))):
        p = _cli(*cmd)
        assert p.returncode == 3 and "no such journal" in p.stderr, p.stderr
        assert "Traceback" not in p.stderr
    assert os.listdir(tmp_path) == []


def test_reading_a_closed_journal_leaves_nothing_beside_it(tmp_path):
    """`status --journal` and `report` on a stopped run, as another user would run them on a
    service's journal: no -wal or -shm of theirs is left in the service's folder."""
    journal = tmp_path / "j.sqlite"
    done = _cli("run", "--config", CONFIG, "--journal", str(journal), "--json")
    assert done.returncode == 0, done.stderr[-1500:]
    before = sorted(os.listdir(tmp_path))
    assert not any(n.endswith(("-wal", "-shm")) for n in before), before  # closed cleanly
    for cmd in (("status", "--journal", str(journal)), ("report", "--journal", str(journal))):
        p = _cli(*cmd)
        assert p.returncode == 0, p.stderr
    assert orjson.loads(_cli("status", "--journal", str(journal)).stdout)["status"] == "finished"
    assert sorted(os.listdir(tmp_path)) == before
