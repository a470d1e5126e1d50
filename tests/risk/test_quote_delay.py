"""The delayed-quote estimate on hand-written latencies (no recording holds a feed that falls
behind by exchange time: the bundled captures' latencies are steady)."""

from __future__ import annotations

import logging

from engine.risk.quote_delay import QuoteDelay

MS = 1_000_000


def _feed(q: QuoteDelay, n: int, latency_ms: float, t0: int, every_ms: float = 10) -> list[int]:
    out = []
    for k in range(n):
        t = t0 + int(k * every_ms * MS)
        out.append(q.observe("ETH", t - int(latency_ms * MS), t))
    return out


def test_a_feed_that_stays_behind_stays_late():
    q = QuoteDelay(late_ns=2000 * MS)
    assert set(_feed(q, 300, 100, 0)) <= {0}
    late = _feed(q, 3000, 3100, 10**12)  # 30 s of quotes all 3 s behind their normal
    assert all(d == 3000 * MS for d in late)
    assert _feed(q, 50, 100, 2 * 10**12) == [0] * 50  # caught up: on time again


def test_a_skew_that_lasts_is_taken_as_the_new_normal_after_ten_minutes(caplog):
    q = QuoteDelay(late_ns=2000 * MS)
    _feed(q, 300, 100, 0)
    with caplog.at_level(logging.WARNING, "engine.risk"):
        late = _feed(q, 700, 5100, 10**12, every_ms=1000)  # 700 s at +5 s
    assert late[0] == 5000 * MS and late[500] == 5000 * MS
    assert late[-1] == 0 and "new normal" in caplog.text


def test_a_skewed_clock_from_the_start_is_normal():
    q = QuoteDelay(late_ns=2000 * MS)
    assert set(_feed(q, 500, 3_600_000, 0)) == {0}  # an hour of skew is not a delay
