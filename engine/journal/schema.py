"""Journal schema and its migrations. `PRAGMA user_version` is the schema version and
`PRAGMA application_id` marks the file as a Ballast journal."""

from __future__ import annotations

APPLICATION_ID = 0x42414C53  # "BALS"

MIGRATIONS: list[str] = [
    # v1
    """
    CREATE TABLE runs (
        run_id TEXT PRIMARY KEY,
        started_ns INTEGER NOT NULL,
        mode TEXT NOT NULL,
        config_hash TEXT NOT NULL,
        config_text TEXT NOT NULL,
        inputs TEXT NOT NULL,
        status TEXT NOT NULL
    );
    CREATE TABLE checkpoints (
        run_id TEXT PRIMARY KEY,
        event_index INTEGER NOT NULL,
        ts_recv INTEGER NOT NULL,
        updated_ns INTEGER NOT NULL
    );
    CREATE TABLE decisions (
        intent_id TEXT PRIMARY KEY,
        run_id TEXT NOT NULL,
        rule TEXT NOT NULL,
        reason TEXT NOT NULL,
        ts_recv INTEGER NOT NULL,
        ts_decided INTEGER NOT NULL,
        nav REAL NOT NULL,
        targets TEXT NOT NULL,
        weights TEXT NOT NULL,
        target_weights TEXT NOT NULL
    );
    CREATE TABLE parents (
        parent_id TEXT PRIMARY KEY,
        run_id TEXT NOT NULL,
        intent_id TEXT NOT NULL,
        symbol TEXT NOT NULL,
        side TEXT NOT NULL,
        target_qty TEXT NOT NULL,
        arrival_mid TEXT NOT NULL,
        state TEXT NOT NULL,
        reason TEXT NOT NULL,
        filled_qty TEXT NOT NULL,
        avg_price TEXT,
        fees TEXT NOT NULL,
        shortfall_bps REAL,
        children INTEGER NOT NULL,
        updated_ns INTEGER NOT NULL
    );
    CREATE TABLE orders (
        client_order_id TEXT PRIMARY KEY,
        parent_id TEXT NOT NULL,
        run_id TEXT NOT NULL,
        symbol TEXT NOT NULL,
        side TEXT NOT NULL,
        qty TEXT NOT NULL,
        price TEXT,
        tif TEXT NOT NULL,
        reduce_only INTEGER NOT NULL,
        ts_created INTEGER NOT NULL,
        status TEXT NOT NULL,
        filled_qty TEXT NOT NULL,
        reason TEXT NOT NULL,
        code INTEGER NOT NULL,
        updated_ns INTEGER NOT NULL
    );
    CREATE TABLE submissions (
        client_order_id TEXT NOT NULL,
        run_id TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        ts INTEGER NOT NULL
    );
    CREATE TABLE attempts (
        run_id TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        started_ns INTEGER NOT NULL,
        resumed_from INTEGER NOT NULL,
        PRIMARY KEY (run_id, attempt)
    );
    CREATE TABLE fills (
        exchange TEXT NOT NULL,
        symbol TEXT NOT NULL,
        trade_id TEXT NOT NULL,
        run_id TEXT NOT NULL,
        order_id TEXT NOT NULL,
        side TEXT NOT NULL,
        qty TEXT NOT NULL,
        price TEXT NOT NULL,
        fee TEXT NOT NULL,
        fee_currency TEXT NOT NULL,
        liquidity TEXT NOT NULL,
        ts INTEGER NOT NULL,
        PRIMARY KEY (exchange, symbol, trade_id)
    );
    CREATE INDEX fills_by_order ON fills (order_id);
    CREATE TABLE portfolio_snapshots (
        run_id TEXT NOT NULL,
        ts INTEGER NOT NULL,
        nav REAL NOT NULL,
        margin_utilisation REAL NOT NULL,
        payload TEXT NOT NULL,
        PRIMARY KEY (run_id, ts)
    );
    CREATE TABLE funding (
        run_id TEXT NOT NULL,
        symbol TEXT NOT NULL,
        ts INTEGER NOT NULL,
        rate REAL NOT NULL,
        amount TEXT NOT NULL,
        sleeve TEXT NOT NULL,
        PRIMARY KEY (run_id, symbol, ts)
    );
    CREATE TABLE risk_states (
        run_id TEXT NOT NULL,
        ts INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        old TEXT NOT NULL,
        new TEXT NOT NULL,
        reason TEXT NOT NULL,
        PRIMARY KEY (run_id, seq)
    );
    """,
    # v2: the kill switch as journaled state. Every kill and every resume is a row (a history,
    # never overwritten); the last row says whether the run is killed.
    """
    CREATE TABLE kill_switch (
        run_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        ts INTEGER NOT NULL,
        action TEXT NOT NULL,
        reason TEXT NOT NULL,
        PRIMARY KEY (run_id, seq)
    );
    """,
    # v3: transfers between our spot and futures wallets. A row is written (and made durable)
    # before the request leaves; its status becomes done or failed when the venue answers.
    """
    CREATE TABLE transfers (
        transfer_id TEXT PRIMARY KEY,
        run_id TEXT NOT NULL,
        asset TEXT NOT NULL,
        amount TEXT NOT NULL,
        from_wallet TEXT NOT NULL,
        to_wallet TEXT NOT NULL,
        reason TEXT NOT NULL,
        status TEXT NOT NULL,
        detail TEXT NOT NULL,
        venue_id TEXT NOT NULL,
        created_ns INTEGER NOT NULL,
        updated_ns INTEGER NOT NULL
    );
    """,
    # v4: bars of [bars]: the warm history fetched from the venue and every bar built from
    # trades, so a restart starts its statistics from them instead of fetching them again
    """
    CREATE TABLE bars (
        run_id TEXT NOT NULL,
        symbol TEXT NOT NULL,
        timeframe TEXT NOT NULL,
        ts_open INTEGER NOT NULL,
        open REAL NOT NULL,
        high REAL NOT NULL,
        low REAL NOT NULL,
        close REAL NOT NULL,
        volume REAL NOT NULL,
        origin TEXT NOT NULL,
        PRIMARY KEY (run_id, symbol, timeframe, ts_open)
    );
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)
