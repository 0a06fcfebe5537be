"""The hub database's tables, as numbered sqlite-utils migrations applied at start.

Plain SQL that a server database (PostgreSQL) also reads, so that moving the hub off
SQLite touches this layer only: integer keys where rows are many, text ids where they cross the wire.
"""

from sqlite_utils import Database, Migrations

migrations = Migrations("central_sync")


@migrations()
def m001_initial(db: Database) -> None:
    db.executescript(
        """
        CREATE TABLE stores (
            store_id TEXT PRIMARY KEY, name TEXT NOT NULL, address TEXT NOT NULL DEFAULT '',
            city TEXT NOT NULL DEFAULT '', postal_code TEXT NOT NULL DEFAULT '',
            lat REAL NOT NULL, lon REAL NOT NULL,
            ship_from_store INTEGER NOT NULL DEFAULT 1, click_and_collect INTEGER NOT NULL DEFAULT 1,
            daily_capacity INTEGER NOT NULL DEFAULT 200, opening_hours TEXT NOT NULL DEFAULT '',
            secret_hash TEXT NOT NULL, base_url TEXT NOT NULL DEFAULT '', created_at TEXT NOT NULL
        );
        CREATE TABLE sync_state (
            store_id TEXT PRIMARY KEY REFERENCES stores(store_id), epoch TEXT,
            acked_seq INTEGER NOT NULL DEFAULT 0, feed_cursor INTEGER NOT NULL DEFAULT 0,
            last_seen_at TEXT, outbox_depth INTEGER NOT NULL DEFAULT 0, oldest_unsent_at TEXT,
            events_total INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE products (
            sku TEXT PRIMARY KEY, name TEXT NOT NULL, price_cents INTEGER NOT NULL,
            location TEXT NOT NULL DEFAULT '', updated_at TEXT NOT NULL
        );
        CREATE TABLE barcodes (code TEXT PRIMARY KEY, sku TEXT NOT NULL REFERENCES products(sku));
        CREATE INDEX barcodes_sku ON barcodes(sku);
        CREATE TABLE postal_codes (code TEXT PRIMARY KEY, lat REAL NOT NULL, lon REAL NOT NULL, city TEXT);
        CREATE TABLE safety_stock (
            store_id TEXT NOT NULL DEFAULT '*', sku TEXT NOT NULL DEFAULT '*', qty INTEGER NOT NULL,
            PRIMARY KEY (store_id, sku)
        );
        CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE api_keys (
            key_hash TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL, created_at TEXT NOT NULL
        );
        -- the network stock view: one row per store and SKU, stamped by the store's (epoch, seq)
        CREATE TABLE stock_levels (
            store_id TEXT NOT NULL, sku TEXT NOT NULL, on_hand INTEGER NOT NULL, reserved INTEGER NOT NULL,
            epoch TEXT NOT NULL, seq INTEGER NOT NULL, updated_at TEXT NOT NULL,
            PRIMARY KEY (store_id, sku)
        ) WITHOUT ROWID;
        CREATE INDEX stock_levels_sku ON stock_levels(sku);
        -- every event a store sent, held once under (store, epoch, seq)
        CREATE TABLE store_events (
            id INTEGER PRIMARY KEY, store_id TEXT NOT NULL, epoch TEXT NOT NULL, seq INTEGER NOT NULL,
            kind TEXT NOT NULL, at TEXT NOT NULL, staff TEXT, payload TEXT NOT NULL,
            UNIQUE (store_id, epoch, seq)
        );
        CREATE INDEX store_events_kind ON store_events(kind, at);
        -- per-store feed of hub messages
        CREATE TABLE feed (
            store_id TEXT NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL, at TEXT NOT NULL,
            payload TEXT NOT NULL, PRIMARY KEY (store_id, seq)
        ) WITHOUT ROWID;
        CREATE TABLE orders (
            order_id TEXT PRIMARY KEY, channel TEXT NOT NULL, channel_order_id TEXT NOT NULL,
            kind TEXT NOT NULL, status TEXT NOT NULL, customer TEXT NOT NULL,
            lat REAL NOT NULL, lon REAL NOT NULL, pickup_store_id TEXT, requested_date TEXT,
            requires_id_check INTEGER NOT NULL DEFAULT 0, ship_to TEXT,
            public_token TEXT NOT NULL UNIQUE, needs_routing INTEGER NOT NULL DEFAULT 1,
            created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
            UNIQUE (channel, channel_order_id)
        );
        CREATE INDEX orders_needs_routing ON orders(needs_routing) WHERE needs_routing = 1;
        CREATE TABLE order_lines (
            order_id TEXT NOT NULL REFERENCES orders(order_id), line_id TEXT NOT NULL,
            sku TEXT NOT NULL, qty INTEGER NOT NULL CHECK (qty > 0),
            unallocated INTEGER NOT NULL CHECK (unallocated >= 0),
            PRIMARY KEY (order_id, line_id)
        );
        -- (store, line) pairs never to route to again: that store rejected the line
        CREATE TABLE exclusions (
            order_id TEXT NOT NULL, line_id TEXT NOT NULL, store_id TEXT NOT NULL, reason TEXT NOT NULL,
            PRIMARY KEY (order_id, line_id, store_id)
        );
        CREATE TABLE assignments (
            assignment_id TEXT PRIMARY KEY, order_id TEXT NOT NULL REFERENCES orders(order_id),
            store_id TEXT NOT NULL, kind TEXT NOT NULL, status TEXT NOT NULL,
            deadline TEXT NOT NULL, destination_store_id TEXT, pickup_code TEXT,
            detail TEXT NOT NULL DEFAULT '{}', feed_seq INTEGER,
            created_at TEXT NOT NULL, day TEXT NOT NULL, updated_at TEXT NOT NULL
        );
        CREATE INDEX assignments_order ON assignments(order_id);
        CREATE INDEX assignments_store_day ON assignments(store_id, day);
        CREATE INDEX assignments_open ON assignments(status, deadline);
        CREATE TABLE assignment_lines (
            assignment_id TEXT NOT NULL REFERENCES assignments(assignment_id), line_id TEXT NOT NULL,
            sku TEXT NOT NULL, qty INTEGER NOT NULL, rejected INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (assignment_id, line_id)
        );
        CREATE INDEX assignment_lines_sku ON assignment_lines(sku);
        CREATE TABLE routing_decisions (
            id INTEGER PRIMARY KEY, order_id TEXT NOT NULL, at TEXT NOT NULL,
            allocations TEXT NOT NULL, unfilled TEXT NOT NULL, reasons TEXT NOT NULL
        );
        CREATE INDEX routing_decisions_order ON routing_decisions(order_id);
        CREATE TABLE order_timeline (
            id INTEGER PRIMARY KEY, order_id TEXT NOT NULL, at TEXT NOT NULL, kind TEXT NOT NULL,
            store_id TEXT, detail TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX order_timeline_order ON order_timeline(order_id, id);
        """
    )


@migrations()
def m002_console_users_and_audit(db: Database) -> None:
    """Head-office console users (argon2 password hashes) and the audit trail of console changes."""
    db.executescript(
        """
        CREATE TABLE console_users (
            user_id INTEGER PRIMARY KEY, username TEXT NOT NULL UNIQUE, name TEXT NOT NULL,
            password_hash TEXT NOT NULL, role TEXT NOT NULL, language TEXT NOT NULL DEFAULT 'fr',
            active INTEGER NOT NULL DEFAULT 1, created_at TEXT NOT NULL
        );
        -- who changed what, when: one row per change made through the console (or the CLI)
        CREATE TABLE audit_trail (
            id INTEGER PRIMARY KEY, at TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
            target TEXT NOT NULL DEFAULT '', detail TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX audit_trail_at ON audit_trail(at);
        """
    )


@migrations()
def m003_transfer_receipts(db: Database) -> None:
    """What the destination store counted in, per line of a transfer, and when."""
    db.executescript(
        """
        ALTER TABLE assignment_lines ADD COLUMN received INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE assignment_lines ADD COLUMN damaged INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE assignment_lines ADD COLUMN missing INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE assignment_lines ADD COLUMN extra INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE assignment_lines ADD COLUMN discrepancy_reason TEXT NOT NULL DEFAULT '';
        ALTER TABLE assignments ADD COLUMN received_at TEXT;
        CREATE INDEX assignments_destination ON assignments(destination_store_id, status)
            WHERE destination_store_id IS NOT NULL;
        """
    )


@migrations()
def m004_rebalancing(db: Database) -> None:
    """Rebalancing runs and their proposed transfers, which head office edits, approves or rejects."""
    db.executescript(
        """
        -- one run: the limits and horizon it was made with, what no transfer could cover, a summary
        CREATE TABLE rebalancing_runs (
            run_id TEXT PRIMARY KEY, created_at TEXT NOT NULL, actor TEXT NOT NULL,
            horizon_days INTEGER NOT NULL, lookback_days INTEGER NOT NULL, limits TEXT NOT NULL,
            shortfalls TEXT NOT NULL DEFAULT '[]', summary TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX rebalancing_runs_created ON rebalancing_runs(created_at);
        -- one line of a proposed transfer; approved lines of one (source, destination) become one transfer
        CREATE TABLE rebalancing_proposals (
            proposal_id INTEGER PRIMARY KEY, run_id TEXT NOT NULL REFERENCES rebalancing_runs(run_id),
            source_store_id TEXT NOT NULL, destination_store_id TEXT NOT NULL, sku TEXT NOT NULL,
            qty INTEGER NOT NULL CHECK (qty > 0), proposed_qty INTEGER NOT NULL CHECK (proposed_qty > 0),
            distance_km REAL NOT NULL, reason TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('proposed', 'edited', 'approved', 'rejected')),
            transfer_order_id TEXT, decided_by TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL
        );
        CREATE INDEX rebalancing_proposals_run ON rebalancing_proposals(run_id, source_store_id, destination_store_id);
        """
    )


@migrations()
def m005_replenishment(db: Database) -> None:
    """Reorder points (per store and SKU, or network-wide with store_id '*') and the outbox of
    replenishment requests delivered to the ERP / supplier webhook."""
    db.executescript(
        """
        -- below = 1 once a request went out for the current crossing; back at or above the point re-arms it
        CREATE TABLE reorder_points (
            store_id TEXT NOT NULL, sku TEXT NOT NULL,
            reorder_point INTEGER NOT NULL CHECK (reorder_point >= 0),
            order_qty INTEGER NOT NULL CHECK (order_qty >= 0),
            below INTEGER NOT NULL DEFAULT 0, last_available INTEGER, evaluated_at TEXT,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (store_id, sku)
        ) WITHOUT ROWID;
        CREATE INDEX reorder_points_sku ON reorder_points(sku);
        -- the outbox: one row per crossing, delivered (and retried) by the hub's jobs process
        CREATE TABLE replenishment_requests (
            id INTEGER PRIMARY KEY, request_id TEXT NOT NULL UNIQUE,
            store_id TEXT NOT NULL, sku TEXT NOT NULL,
            available INTEGER NOT NULL, reorder_point INTEGER NOT NULL, order_up_to INTEGER NOT NULL,
            qty INTEGER NOT NULL CHECK (qty > 0),
            created_at TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT NOT NULL, last_error TEXT NOT NULL DEFAULT '', delivered_at TEXT
        );
        CREATE INDEX replenishment_requests_due ON replenishment_requests(status, next_attempt_at);
        -- analytics select a period's orders by when they were received
        CREATE INDEX orders_created ON orders(created_at);
        """
    )
