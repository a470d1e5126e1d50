"""Binance USD-M request weights and rate limits.

The limits come from the venue's own exchangeInfo (`rateLimits`), recorded in the bundled file:

    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400},
    {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300}

The weights are Binance's documented ones for the calls the live broker makes. A new order
weighs 0 on the IP weight and 1 on both order counters; a cancel 1 on the weight only.
"""

from __future__ import annotations

from pathlib import Path

import orjson

from engine.core.ratelimit import INFO_LANE, ORDER_LANE, RateWindow, RequestCost

# ccxt method -> what one call costs at Binance USD-M
COSTS: dict[str, RequestCost] = {
    "create_order": RequestCost(weight=0, orders=1, lane=ORDER_LANE),
    "cancel_order": RequestCost(weight=1, lane=ORDER_LANE),
    "fetch_order": RequestCost(weight=1, lane=INFO_LANE),
    "fetch_my_trades": RequestCost(weight=5, lane=INFO_LANE),
    "fetch_positions": RequestCost(weight=5, lane=INFO_LANE),
    "fetch_balance": RequestCost(weight=5, lane=INFO_LANE),
    "fetch_funding_history": RequestCost(weight=30, lane=INFO_LANE),
    # the universal transfer (sapi, counted per account on its own limit: taken as one
    # weight of the spot budget here) and its history
    "transfer": RequestCost(weight=1, lane=ORDER_LANE),
    "fetch_transfers": RequestCost(weight=1, lane=INFO_LANE),
}
# Spot weights differ (order lookups 4, trades 20, account 20); spot's own limits come from
# the spot exchangeInfo: 6000 weight/min, 100 orders/10 s, 200,000 orders/day.
SPOT_COSTS: dict[str, RequestCost] = {
    **COSTS,
    "create_order": RequestCost(weight=1, orders=1, lane=ORDER_LANE),
    "fetch_order": RequestCost(weight=4, lane=INFO_LANE),
    "fetch_my_trades": RequestCost(weight=20, lane=INFO_LANE),
    "fetch_balance": RequestCost(weight=20, lane=INFO_LANE),
}

# COIN-M's documented weights where they differ: a new order weighs 1, a trade list 20, the
# account 5, a position list 1, the income history 20; its limits come from the COIN-M
# exchangeInfo (2400 weight/min, 1200 orders/min)
COINM_COSTS: dict[str, RequestCost] = {
    **COSTS,
    "create_order": RequestCost(weight=1, orders=1, lane=ORDER_LANE),
    "fetch_my_trades": RequestCost(weight=20, lane=INFO_LANE),
    "fetch_positions": RequestCost(weight=1, lane=INFO_LANE),
    "fetch_funding_history": RequestCost(weight=20, lane=INFO_LANE),
}

_INTERVAL_S = {"SECOND": 1, "MINUTE": 60, "HOUR": 3600, "DAY": 86400}
_COUNTS = {"REQUEST_WEIGHT": "weight", "ORDERS": "orders"}


def windows_from_exchange_info(info: dict) -> list[RateWindow]:
    """The budget windows of an exchangeInfo answer (RAW_REQUESTS is not a weight: skipped)."""
    out = []
    for r in info.get("rateLimits") or []:
        counts = _COUNTS.get(r.get("rateLimitType"))
        secs = _INTERVAL_S.get(r.get("interval"))
        if counts is None or secs is None:
            continue
        out.append(RateWindow(counts=counts, limit=int(r["limit"]),
                              window_ns=int(r.get("intervalNum", 1)) * secs * 1_000_000_000))
    return out


def load_windows(path: str | Path) -> list[RateWindow]:
    return windows_from_exchange_info(orjson.loads(Path(path).read_bytes()))
