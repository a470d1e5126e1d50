"""`engine check`, the preflight before a live service, as the operator runs it: the command
line in its own process against the local Binance exchange (the real ccxt client, the key
checked as Binance checks it), one line per check, the exit code. Each failure is its own
line with the other checks still ok."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import sys

import pytest

from engine.journal.lock import JournalLock, lock_path
from engine.journal.store import Journal
from engine.node.preflight import MAX_CLOCK_OFFSET_MS, clock_result, line
from tests.conftest import ROOT, USDM_BTC

sys.path.insert(0, str(ROOT / "scripts"))
from local_exchange import LocalExchange  # noqa: E402

KEY, SECRET = "local-test-key", "local-test-secret"
NAMES = ["config", "key-variables", "venue", "clock", "key-permissions", "journal"]


def _config(tmp_path, port: int, extra: str = "") -> str:
    text = (ROOT / "configs" / "demo_perps.toml").read_text()
    path = tmp_path / "live.toml"
    path.write_text(text + f'\n[live]\nws_linear = "ws://127.0.0.1:{port}/ws"\n'
                           f'rest_base = "http://127.0.0.1:{port}"\n'
                           f'account_base = "http://127.0.0.1:{port}"\n' + extra)
    return str(path)


async def _check(config: str, journal=None, env: dict | None = None):
    """`python -m engine check` in its own process: (exit code, {name: (status, detail)},
    the lines, stderr)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("BINANCE_")}
    args = ["-m", "engine", "check", "--config", config]
    if journal is not None:
        args += ["--journal", str(journal)]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *args, cwd=str(ROOT), env={**base, **(env or {})},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 90)
    lines = out.decode().splitlines()
    parsed = {}
    for ln in lines:
        m = re.fullmatch(r"(ok|FAIL|skip) +(\S+) +(.+)", ln)
        assert m, f"not a check line: {ln!r}"
        parsed[m.group(2)] = (m.group(1), m.group(3))
    assert "Traceback" not in err.decode(), err.decode()[-2000:]
    return proc.returncode, parsed, lines, err.decode()


def _keys(secret: str = SECRET) -> dict:
    return {"BINANCE_API_KEY": KEY, "BINANCE_API_SECRET": secret}


@pytest.fixture
async def venue():
    ex = LocalExchange([USDM_BTC], speed=4)
    await ex.start()
    try:
        yield ex
    finally:
        await ex.stop()


def _only_failure(parsed: dict, name: str) -> str:
    """The one failing check's detail; every other check ok."""
    assert list(parsed) == NAMES
    assert {n: s for n, (s, _) in parsed.items() if n != name} == {
        n: "ok" for n in NAMES if n != name}, parsed
    status, detail = parsed[name]
    assert status == "FAIL", parsed
    return detail


async def test_every_check_passes_on_a_good_setup(venue, tmp_path):
    journal = tmp_path / "state" / "journal.sqlite"
    journal.parent.mkdir()
    j = await Journal.open(str(journal))  # a journal from an earlier run, closed cleanly
    await j.close()
    before = sorted(os.listdir(journal.parent))
    code, parsed, lines, _ = await _check(_config(tmp_path, venue.port), journal, _keys())
    print("\n".join(lines))
    assert code == 0, lines
    assert list(parsed) == NAMES and all(s == "ok" for s, _ in parsed.values()), lines
    assert parsed["config"][1].endswith("live.toml valid (live on binance, 2 instruments)")
    assert parsed["key-variables"][1] == "BINANCE_API_KEY, BINANCE_API_SECRET set"
    assert f"reachable at http://127.0.0.1:{venue.port}" in parsed["venue"][1]
    assert re.match(r"the venue's clock is \d+ ms (ahead of|behind) this machine's",
                    parsed["clock"][1])
    assert "cannot withdraw" in parsed["key-permissions"][1]
    assert "not in use, schema v" in parsed["journal"][1]
    # read, not written: no lock, no -wal/-shm left beside the journal
    assert sorted(os.listdir(journal.parent)) == before
    assert KEY not in "\n".join(lines) and SECRET not in "\n".join(lines)


async def test_a_key_that_can_withdraw_fails_on_its_own_line(venue, tmp_path):
    venue.withdrawals_enabled = True
    journal = tmp_path / "journal.sqlite"  # a new journal: checked, not created
    code, parsed, lines, _ = await _check(_config(tmp_path, venue.port), journal, _keys())
    print("\n".join(lines))
    assert code == 1
    assert "this API key has withdrawal permission" in _only_failure(parsed, "key-permissions")
    assert "new journal" in parsed["journal"][1]
    assert not journal.exists() and not os.path.exists(lock_path(str(journal)))


async def test_a_wrong_secret_fails_with_the_venues_auth_error(venue, tmp_path):
    wrong = "not-the-local-test-secret"
    code, parsed, lines, _ = await _check(_config(tmp_path, venue.port),
                                          tmp_path / "journal.sqlite", _keys(wrong))
    print("\n".join(lines))
    assert code == 1
    detail = _only_failure(parsed, "key-permissions")
    assert detail == ("the venue refused the key: Signature for this request is not valid. "
                      "(code -1022)")
    assert venue.bad_signatures >= 1
    assert wrong not in "\n".join(lines)


async def test_a_journal_in_use_fails_naming_its_holder(venue, tmp_path):
    journal = tmp_path / "journal.sqlite"
    held = JournalLock(str(journal)).acquire()  # as a running engine holds it
    try:
        code, parsed, lines, _ = await _check(_config(tmp_path, venue.port), journal, _keys())
    finally:
        held.release()
    print("\n".join(lines))
    assert code == 1
    detail = _only_failure(parsed, "journal")
    assert f"journal in use by pid {os.getpid()} since" in detail
    assert "one run per journal" in detail
    # let go: the same check passes, and takes nothing with it
    code, parsed, lines, _ = await _check(_config(tmp_path, venue.port), journal, _keys())
    assert code == 0, lines
    JournalLock(str(journal)).acquire().release()  # nothing held behind


async def test_a_missing_key_variable_is_named_and_the_key_check_skipped(venue, tmp_path):
    code, parsed, lines, _ = await _check(_config(tmp_path, venue.port),
                                          tmp_path / "journal.sqlite",
                                          {"BINANCE_API_KEY": KEY})
    print("\n".join(lines))
    assert code == 1
    assert list(parsed) == NAMES
    assert parsed["key-variables"] == ("FAIL", "BINANCE_API_SECRET (API secret) is not set")
    assert parsed["key-permissions"][0] == "skip"
    assert [parsed[n][0] for n in ("config", "venue", "clock", "journal")] == ["ok"] * 4
    # the variable the config names, whatever it is called
    code, parsed, lines, _ = await _check(
        _config(tmp_path, venue.port, 'api_secret_env = "MY_BALLAST_SECRET"\n'), None,
        {"BINANCE_API_KEY": KEY, "BINANCE_API_SECRET": SECRET, "MY_BALLAST_SECRET": ""})
    assert code == 1
    assert parsed["key-variables"] == ("FAIL", "MY_BALLAST_SECRET (API secret) is empty")
    assert parsed["journal"][0] == "skip"  # no --journal, and the config names none


async def test_a_bad_config_exits_2_with_one_line(tmp_path):
    bad = tmp_path / "live.toml"
    bad.write_text((ROOT / "configs" / "demo_perps.toml").read_text()
                   + "\n[live]\nreconcile_every_s = -1\n")
    code, parsed, lines, err = await _check(str(bad), tmp_path / "j.sqlite", _keys())
    print("\n".join(lines))
    assert code == 2
    assert len(lines) == 1 and parsed["config"][0] == "FAIL"
    assert "$.live.reconcile_every_s" in parsed["config"][1]
    code, parsed, lines, _ = await _check(str(tmp_path / "nope.toml"))
    assert code == 2 and lines == [f"FAIL  config           {tmp_path / 'nope.toml'}: cannot "
                                   "read config: No such file or directory"]


async def test_a_venue_nobody_answers_fails_and_skips_what_needs_it(tmp_path):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, parsed, lines, _ = await _check(_config(tmp_path, port), None, _keys())
    print("\n".join(lines))
    assert code == 1
    assert parsed["venue"][0] == "FAIL" and "did not answer" in parsed["venue"][1]
    assert f"127.0.0.1:{port}" in parsed["venue"][1]
    assert parsed["clock"][0] == parsed["key-permissions"][0] == "skip"


def test_the_clock_fails_beyond_the_limit_either_way():
    assert clock_result(12.4, 3.0).ok
    fast = clock_result(MAX_CLOCK_OFFSET_MS + 500, 3.0)
    slow = clock_result(-(MAX_CLOCK_OFFSET_MS + 1), 3.0)
    assert not fast.ok and not slow.ok
    assert "1500 ms ahead of this machine's" in fast.detail
    assert "1001 ms behind this machine's" in slow.detail
    assert line(slow).startswith("FAIL  clock            the venue's clock is 1001 ms behind")


async def _live_run(config: str, journal, env: dict) -> tuple[int, str]:
    """`python -m engine run --mode live` in its own process: (exit code, stderr)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("BINANCE_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "engine", "run", "--mode", "live", "--config", config,
        "--journal", str(journal), "--log-format", "text", "--log-level", "error",
        cwd=str(ROOT), env={**base, **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(proc.communicate(), 90)
    return proc.returncode, err.decode()


async def test_a_live_start_the_venue_refuses_or_ignores_ends_in_one_line(venue, tmp_path):
    """What the service sees without the preflight: a refused key is a person's job (exit 2,
    not restarted), a venue not answering is worth another start (exit 1); one line each,
    no traceback, no signed URL."""
    code, err = await _live_run(_config(tmp_path, venue.port), tmp_path / "a.sqlite",
                                _keys("wrong-secret"))
    assert code == 2 and len(err.strip().splitlines()) == 1, err[-2000:]  # nothing but it
    assert err.startswith("error: the venue refused the key: ")
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, err = await _live_run(_config(tmp_path, port), tmp_path / "b.sqlite", _keys())
    assert code == 1 and len(err.strip().splitlines()) == 1, err[-2000:]
    last = err.strip()
    assert last.startswith("error: the venue did not answer at start: ")
    assert "signature=" not in err and f"127.0.0.1:{port}" in last


async def test_a_status_server_beyond_loopback_without_a_token_fails_the_config(tmp_path):
    extra = '\n[status]\nenabled = true\nhost = "0.0.0.0"\n'
    code, parsed, lines, _ = await _check(_config(tmp_path, 9, extra), None,
                                          {**_keys(), "BALLAST_STATUS_TOKEN": ""})
    assert code == 2 and len(lines) == 1
    assert parsed["config"][0] == "FAIL" and "needs a steering token in $BALLAST_STATUS_TOKEN" \
        in parsed["config"][1]
