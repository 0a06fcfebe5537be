"""The store database's tables, as numbered sqlite-utils migrations applied at start."""

from sqlite_utils import Database, Migrations

migrations = Migrations("store_node")


@migrations()
def m001_initial(db: Database) -> None:
    db.executescript(
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE products (
            sku TEXT PRIMARY KEY, name TEXT NOT NULL, price_cents INTEGER NOT NULL,
            location TEXT NOT NULL DEFAULT ''
        );
        CREATE TABLE barcodes (code TEXT PRIMARY KEY, sku TEXT NOT NULL REFERENCES products(sku));
        CREATE INDEX barcodes_sku ON barcodes(sku);
        CREATE TABLE stock (
            sku TEXT PRIMARY KEY REFERENCES products(sku),
            on_hand INTEGER NOT NULL DEFAULT 0,
            reserved INTEGER NOT NULL DEFAULT 0 CHECK (reserved >= 0)
        );
        CREATE TABLE movements (
            id INTEGER PRIMARY KEY, at TEXT NOT NULL, sku TEXT NOT NULL, kind TEXT NOT NULL,
            on_hand_delta INTEGER NOT NULL, reserved_delta INTEGER NOT NULL,
            reason TEXT NOT NULL DEFAULT '', ref TEXT NOT NULL DEFAULT '', staff TEXT
        );
        CREATE INDEX movements_sku ON movements(sku, id);
        CREATE TABLE assignments (
            assignment_id TEXT PRIMARY KEY, order_id TEXT NOT NULL, kind TEXT NOT NULL,
            status TEXT NOT NULL, deadline TEXT NOT NULL, customer_name TEXT NOT NULL DEFAULT '',
            requires_id_check INTEGER NOT NULL DEFAULT 0, destination_store_id TEXT,
            ship_to TEXT, pickup_code TEXT, ready_at TEXT, parcels TEXT NOT NULL DEFAULT '[]',
            reject_reason TEXT, received_at TEXT NOT NULL, updated_at TEXT NOT NULL
        );
        CREATE INDEX assignments_status ON assignments(status);
        CREATE TABLE assignment_lines (
            assignment_id TEXT NOT NULL REFERENCES assignments(assignment_id),
            line_id TEXT NOT NULL, position INTEGER NOT NULL, sku TEXT NOT NULL,
            qty INTEGER NOT NULL CHECK (qty > 0),
            rejected INTEGER NOT NULL DEFAULT 0, picked INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (assignment_id, line_id)
        );
        CREATE TABLE till_receipts (
            receipt_id TEXT PRIMARY KEY, kind TEXT NOT NULL, at TEXT NOT NULL, staff TEXT NOT NULL,
            total_cents INTEGER NOT NULL, lines TEXT NOT NULL
        );
        CREATE TABLE outbox (
            id INTEGER PRIMARY KEY, epoch TEXT NOT NULL, seq INTEGER NOT NULL,
            kind TEXT NOT NULL, at TEXT NOT NULL, staff TEXT,
            payload TEXT NOT NULL, levels TEXT NOT NULL, acked INTEGER NOT NULL DEFAULT 0,
            UNIQUE (epoch, seq)
        );
        CREATE INDEX outbox_unsent ON outbox(epoch, seq) WHERE acked = 0;
        CREATE TABLE audit (
            id INTEGER PRIMARY KEY, at TEXT NOT NULL, staff TEXT NOT NULL, action TEXT NOT NULL,
            target TEXT NOT NULL DEFAULT '', detail TEXT NOT NULL DEFAULT '{}'
        );
        CREATE TABLE staff (
            code TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL, pin_hash TEXT NOT NULL,
            language TEXT NOT NULL DEFAULT 'fr'
        );
        CREATE TABLE kerbside_arrivals (
            assignment_id TEXT PRIMARY KEY, order_id TEXT NOT NULL, note TEXT NOT NULL DEFAULT '',
            arrived_at TEXT NOT NULL, acknowledged_at TEXT, staff TEXT
        );
        CREATE TABLE feed_log (
            seq INTEGER PRIMARY KEY, kind TEXT NOT NULL, applied_at TEXT NOT NULL, outcome TEXT NOT NULL
        );
        """
    )


@migrations()
def m002_incoming_transfers(db: Database) -> None:
    db.executescript(
        """
        CREATE TABLE incoming_transfers (
            transfer_id TEXT PRIMARY KEY, order_id TEXT NOT NULL, source_store_id TEXT NOT NULL,
            status TEXT NOT NULL, lines TEXT NOT NULL, parcels TEXT NOT NULL DEFAULT '[]',
            shipped_at TEXT NOT NULL, announced_at TEXT NOT NULL,
            received_at TEXT, received_by TEXT, outcome TEXT, reason TEXT
        );
        CREATE INDEX incoming_transfers_status ON incoming_transfers(status);
        """
    )
