"""Order commands and their outcomes: frozen structs, exact amounts."""

from __future__ import annotations

from decimal import Decimal

import msgspec


class OrderRequest(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One child order as it would be sent. `price` None means a market order.

    `tif`: "IOC" (take what is there up to the limit), "GTC" (rest), "GTX" (post-only: rejected
    if it would take). `client_order_id` is deterministic, so a restart never sends one twice.
    """

    client_order_id: str
    parent_id: str
    symbol: str
    side: str
    qty: Decimal
    price: Decimal | None
    tif: str = "IOC"
    reduce_only: bool = False
    ts_created: int = 0


class OrderUpdate(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """What happened to an order: `status` is accepted | rejected | canceled | expired |
    partially_filled | filled, or cancel_rejected (the cancel came too late: the order had
    already ended). Rejections carry the venue's code and message in `reason`, and where the
    engine acts on the kind of refusal, its venue-neutral name in `refusal`
    (`POST_ONLY_WOULD_TAKE`): the venue's code stays the venue's."""

    client_order_id: str
    symbol: str
    status: str
    ts: int
    filled_qty: Decimal = Decimal(0)
    reason: str = ""
    code: int = 0
    refusal: str = ""


# a post-only order refused because it would have taken liquidity (the market came to it)
POST_ONLY_WOULD_TAKE = "post_only_would_take"


class RiskStateChange(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """The risk guard moved between ACTIVE, REDUCING and HALTED."""

    ts: int
    old: str
    new: str
    reason: str


SPOT_WALLET = "spot"
FUTURES_WALLET = "futures"
COINM_WALLET = "coinm"  # the COIN-M futures wallet: coins, each the margin of its inverse perps
WALLETS = (SPOT_WALLET, FUTURES_WALLET, COINM_WALLET)


class TransferRequest(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Move `amount` of `asset` between our own wallets at the venue (the spot wallet and the
    USD-M futures wallet). `transfer_id` is deterministic, like a client order id: a restart
    recognises a transfer it already asked for."""

    transfer_id: str
    asset: str
    amount: Decimal
    from_wallet: str
    to_wallet: str
    reason: str = ""
    ts_created: int = 0
