"""The dashboard in a real browser (headless Chromium driven by Selenium) on a replay run of the
bundled demo: its numbers equal /status at the same snapshot, they change as the run goes, and
steering from the page is refused without the token and halts the run with it. A screenshot is
written to out/dashboard.png for a person to look at."""

from __future__ import annotations

import os
import sqlite3
import time
import urllib.error
import urllib.request

import orjson
import pytest

from tests.conftest import ROOT
from tests.node.test_headless import TOKEN, _cli, _port, _sigterm_report, _start

DEMO = str(ROOT / "configs" / "demo.toml")  # the spot core hedged with perps: legs on two wallets
CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"

# Everything the page shows that /status also carries, read in one script: the page draws a
# snapshot in one go, so one read sees one snapshot.
READ_PAGE = """
const t = (sel, root) => (root || document).querySelector(sel).textContent;
const rows = (id) => Array.from(document.querySelectorAll('#' + id + ' tbody tr'));
return {
  seq: Number(document.body.dataset.seq || 0), events: t('#events'), time: t('#time'),
  nav: t('#nav'), margin: t('#margin-util'), cap: t('#margin-cap'), risk: t('#risk-state'),
  fills: t('#fills'), read_only: !document.querySelector('#read-only').hidden,
  underlyings: rows('underlyings').map(r => ({asset: r.dataset.asset, weight: t('.weight', r),
    target: t('.target', r), band: t('.band-width', r), exposure: t('.exposure', r)})),
  legs: rows('legs').map(r => ({symbol: r.dataset.symbol, leg: t('.leg', r),
    account: t('.account', r), amount: t('.amount', r), exposure: t('.exposure', r)})),
  rebalances: rows('rebalances').map(r => ({parent: r.dataset.parent,
    progress: t('.progress', r), shortfall: t('.shortfall', r)})),
  streams: rows('streams').length, fill_rows: rows('fills-table').length,
};
"""


def _number(text: str) -> float:
    return float(text.replace(",", "").replace("%", "").replace("±", "").replace("bps", ""))


def _same(shown: str, value: float, scale: float = 1.0, places: int = 2) -> bool:
    """`shown` is `value × scale` written to `places` decimals."""
    return abs(_number(shown) - value * scale) <= 0.5 * 10 ** -places + 1e-9


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not (os.access(CHROMIUM, os.X_OK) and os.access(DRIVER, os.X_OK)):
        pytest.skip("Debian's chromium and chromium-driver are not installed and apt could not "
                    "install them here (make test installs them where apt is available)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    profile = tmp_path_factory.mktemp("chromium-profile")
    # this machine's network is closed: no background connections, no first-run fetches
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-sync",
                "--disable-component-update", "--window-size=1400,1300",
                f"--user-data-dir={profile}"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    try:
        yield driver
    finally:
        driver.quit()


def _get(port: int, path: str) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
        return orjson.loads(r.read())


def _post(port: int, path: str, body: dict, token: str | None) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=orjson.dumps(body),
                                 headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, orjson.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, orjson.loads(exc.read())


def _until(what: str, check, timeout: float = 60.0):
    """Ask `check()` until it returns something true; each ask is a browser script or an HTTP
    request, which paces the loop."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
    raise AssertionError(f"not in {timeout:.0f}s: {what}")


def _page_and_status_at_one_snapshot(driver, port: int) -> tuple[dict, dict]:
    def both():
        page = driver.execute_script(READ_PAGE)
        status = _get(port, "/status")
        return (page, status) if page["seq"] == status["seq"] else None
    return _until("the page and /status on one snapshot", both)


def _assert_page_shows(page: dict, st: dict) -> None:
    assert page["events"] == str(st["events"]) and page["time"] == st["time"]
    assert page["risk"] == st["risk_state"] and page["fills"] == str(st["fills"])
    assert _same(page["nav"], st["nav"]) and _same(page["margin"], st["margin_utilisation"], 100)
    assert _same(page["cap"], st["margin_cap"], 100)
    assert [u["asset"] for u in page["underlyings"]] == [u["asset"] for u in st["underlyings"]]
    for shown, u in zip(page["underlyings"], st["underlyings"]):
        assert _same(shown["weight"], u["weight"], 100), (shown, u)
        assert _same(shown["target"], u["target"], 100) and _same(shown["band"], u["band"], 100)
        assert _same(shown["exposure"], u["exposure"])
        assert abs(u["weight"] - st["weights"][u["asset"]]) < 1e-9
    legs = [leg for u in st["underlyings"] for leg in u["legs"]]
    assert len(page["legs"]) == len(legs)
    for shown, leg in zip(page["legs"], legs):
        assert (shown["symbol"], shown["leg"], shown["account"]) == (
            leg["symbol"], leg["leg"], leg["account"])
        assert float(shown["amount"]) == leg["amount"] and _same(shown["exposure"], leg["exposure"])
    assert [r["parent"] for r in page["rebalances"]] == [r["parent_id"] for r in st["rebalances"]]
    for shown, r in zip(page["rebalances"], st["rebalances"]):
        assert shown["progress"] == f"{r['filled_qty']} / {r['target_qty']}"
        if r["shortfall_bps"] is not None:
            assert _same(shown["shortfall"], r["shortfall_bps"])
    assert page["streams"] == len(st["streams"]) and page["fill_rows"] == len(st["recent_fills"])


def test_the_page_shows_status_live_and_steers_only_with_the_token(tmp_path, browser):
    journal = tmp_path / "j.sqlite"
    proc = _start(journal, speed="4", config=DEMO)
    try:
        port = _port(proc)
        browser.get(f"http://127.0.0.1:{port}/")
        # the demo's first rebalance is working: its legs, its progress, the fills so far
        page, st = _until("a working rebalance on the page", lambda: (
            lambda pair: pair if pair[1]["rebalances"] and pair[1]["recent_fills"] else None)(
                _page_and_status_at_one_snapshot(browser, port)))
        _assert_page_shows(page, st)
        assert not page["read_only"] and st["steering"]
        assert {u["asset"] for u in st["underlyings"]} == {"BTC", "ETH"}
        assert {leg["leg"] for u in st["underlyings"] for leg in u["legs"]} == {"spot", "perp"}
        assert {s["stream"] for s in st["streams"]} >= {"book", "ticker", "trades"}

        # it goes on: later snapshots, other numbers, still equal to /status
        later, st2 = _until("the run moving on", lambda: (
            lambda pair: pair if pair[1]["events"] > st["events"]
            and pair[1]["fills"] > st["fills"] else None)(
                _page_and_status_at_one_snapshot(browser, port)))
        _assert_page_shows(later, st2)
        assert later["time"] != page["time"] and later["nav"] != page["nav"]

        # steering: a wrong token and no token are refused, the run goes on trading
        browser.find_element("id", "reason").send_keys("dashboard test: venue looks wrong")
        browser.find_element("id", "token").send_keys("not-the-token")
        browser.find_element("id", "kill").click()
        result = _until("the refusal shown", lambda: browser.find_element(
            "id", "steer-result").text)
        assert result.startswith("kill refused (401)"), result
        assert _post(port, "/kill", {"reason": "x"}, None)[0] == 401
        assert _get(port, "/status")["risk_state"] == "ACTIVE"
        assert _post(port, "/kill", {"reason": ""}, TOKEN)[0] == 400  # a reason is needed

        token = browser.find_element("id", "token")
        token.clear()
        token.send_keys(TOKEN)
        browser.find_element("id", "kill").click()
        _until("the kill acknowledged", lambda: browser.find_element(
            "id", "steer-result").text == "kill: risk state HALTED")
        halted = _until("the page showing HALTED", lambda: (
            lambda pair: pair if pair[1]["risk_state"] == "HALTED" else None)(
                _page_and_status_at_one_snapshot(browser, port)))
        _assert_page_shows(*halted)
        hist = halted[1]["risk_history"][-1]
        assert hist["new"] == "HALTED" and "dashboard test: venue looks wrong" in hist["reason"]
        assert halted[1]["killed"]
        # for a person to look at: the halted run, its kill in the risk history, its fills
        (ROOT / "out").mkdir(exist_ok=True)
        browser.save_screenshot(str(ROOT / "out" / "dashboard.png"))
    finally:
        report = _sigterm_report(proc)
    assert report["risk_state"] == "HALTED"
    con = sqlite3.connect(journal)
    kills = con.execute("SELECT action, reason FROM kill_switch").fetchall()
    assert kills == [("kill", "command: dashboard test: venue looks wrong")]


def test_without_a_token_the_page_is_read_only(tmp_path, browser):
    env = {k: v for k, v in os.environ.items() if k != "BALLAST_STATUS_TOKEN"}
    proc = _start(tmp_path / "j.sqlite", speed="4", config=DEMO, env=env)
    try:
        port = _port(proc)
        browser.get(f"http://127.0.0.1:{port}/")
        page, st = _page_and_status_at_one_snapshot(browser, port)
        assert page["read_only"] and not st["steering"]
        assert not browser.find_element("id", "kill").is_displayed()
        code, body = _post(port, "/kill", {"reason": "x"}, TOKEN)
        assert code == 403 and body["error"].startswith("read-only")
        k = _cli("kill", "--port", str(port), "--reason", "x", env=env)  # no token: not sent
        assert k.returncode == 2 and "BALLAST_STATUS_TOKEN" in k.stderr
        assert _get(port, "/status")["risk_state"] == "ACTIVE"
    finally:
        report = _sigterm_report(proc)
    assert report["risk_state"] == "ACTIVE"


def test_serving_beyond_loopback_without_a_token_is_refused_at_start(tmp_path):
    (tmp_path / "configs").mkdir()
    (tmp_path / "scripts").symlink_to(ROOT / "scripts")  # the demo's data, by its own paths
    cfg = tmp_path / "configs" / "open.toml"
    cfg.write_text(open(DEMO).read() + '\n[status]\nenabled = true\nhost = "0.0.0.0"\n')
    env = {k: v for k, v in os.environ.items() if k != "BALLAST_STATUS_TOKEN"}
    r = _cli("run", "--config", str(cfg), "--journal", str(tmp_path / "j.sqlite"), env=env)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1] == (
        "error: $.status.host '0.0.0.0' is not loopback: serving beyond this machine needs a "
        "steering token in $BALLAST_STATUS_TOKEN ($.status.token_env)")
    assert not (tmp_path / "j.sqlite").exists()  # refused before the journal is opened
