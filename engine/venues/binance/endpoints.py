"""Where a ccxt.pro Binance client connects, from `LiveEndpoints` (tests: the local exchange)."""

from __future__ import annotations

_REST_HOSTS = ("https://fapi.binance.com", "https://dapi.binance.com")
_ACCOUNT_HOST = "https://api.binance.com"


def point_at(ex, endpoints) -> None:
    """Every stream URL and REST host of `ex` that `endpoints` replaces."""
    ws = ex.urls["api"]["ws"]
    for kind, url in (("linear", endpoints.ws_linear), ("spot", endpoints.ws_spot),
                      ("inverse", endpoints.ws_inverse)):
        if url:
            ws[kind] = url
    if endpoints.ws_api_spot:
        ws["ws-api"]["spot"] = endpoints.ws_api_spot
    for host, base in ((_REST_HOSTS[0], endpoints.rest_base), (_REST_HOSTS[1], endpoints.rest_base),
                       (_ACCOUNT_HOST, endpoints.account_base)):
        if base:
            for k, v in list(ex.urls["api"].items()):
                if isinstance(v, str) and v.startswith(host):
                    ex.urls["api"][k] = v.replace(host, base)
