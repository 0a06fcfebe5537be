"""The store node's persistence: the one place with SQL, its connection and its transactions.

One write connection per process, guarded by a lock, opened in WAL mode with
``synchronous=FULL`` (a till sale acknowledged to the cashier survives a power cut).
Every write goes through :meth:`StoreDatabase.transaction`, a unit of work that opens
``BEGIN IMMEDIATE``, lets the service load, decide and save, appends the outbox event
with the next seq of the epoch, and commits, or rolls everything back.
Reads use one connection per thread, which WAL lets run beside the writer.
"""

import sqlite3
from collections.abc import Iterable
from pathlib import Path

import orjson

from shared.clock import from_iso, to_iso
from shared.database import Database
from shared.database import dumps as _dumps
from shared.ids import new_epoch
from shared.wire import AssignmentKind

from .domain.assignments import Assignment, Line, Parcel, Status
from .domain.stock import Movement, StockItem
from .schema import migrations


class StoreDatabase(Database["Transaction"]):
    """A store's SQLite file: migrations at open, the write lock, per-thread readers."""

    def __init__(self, path: str | Path, store_id: str | None = None):
        super().__init__(path, migrations, Transaction, synchronous="FULL")
        meta = self.meta()
        if "store_id" not in meta:
            if not store_id:
                raise ValueError("a new store database needs a store id")
            with self.transaction() as tx:
                tx.set_meta("store_id", store_id)
                tx.set_meta("epoch", new_epoch())
                tx.set_meta("feed_cursor", "0")
        elif store_id and meta["store_id"] != store_id:
            raise ValueError(f"{self.path} belongs to store {meta['store_id']}, not {store_id}")
        self.store_id: str = self.meta()["store_id"]

    # ------------------------------------------------------------------ reads
    def meta(self) -> dict[str, str]:
        return {r["key"]: r["value"] for r in self.query("SELECT key, value FROM meta")}

    def stock_items(self, skus: Iterable[str]) -> dict[str, StockItem]:
        return self.reader().stock_items(skus)

    def assignment(self, assignment_id: str) -> Assignment | None:
        return self.reader().assignment(assignment_id)

    def assignments(self, statuses: Iterable[str] | None = None, limit: int = 500) -> list[Assignment]:
        reader = self.reader()
        statuses = list(statuses or [])
        where = f"WHERE status IN ({','.join('?' * len(statuses))})" if statuses else ""
        rows = self.query(
            f"SELECT assignment_id FROM assignments {where} ORDER BY deadline LIMIT ?",
            [*statuses, limit],
        )
        return [reader.assignment(r["assignment_id"]) for r in rows]

    _STOCK_ROWS = """
        SELECT p.sku, p.name, p.price_cents, p.location,
               COALESCE(s.on_hand, 0) AS on_hand, COALESCE(s.reserved, 0) AS reserved,
               (SELECT group_concat(code, ' ') FROM barcodes b WHERE b.sku = p.sku) AS barcodes
        FROM products p LEFT JOIN stock s ON s.sku = p.sku
    """

    def stock_rows(self, search: str = "", limit: int = 100) -> list[sqlite3.Row]:
        like = f"%{search}%"
        return self.query(
            self._STOCK_ROWS
            + """
            WHERE ? = '' OR p.sku LIKE ? OR p.name LIKE ?
               OR p.sku IN (SELECT sku FROM barcodes WHERE code = ?)
            ORDER BY p.sku LIMIT ?
            """,
            [search, like, like, search, limit],
        )

    def stock_row(self, sku: str) -> sqlite3.Row | None:
        rows = self.query(self._STOCK_ROWS + " WHERE p.sku = ?", [sku])
        return rows[0] if rows else None

    def movements(self, sku: str, limit: int = 50) -> list[sqlite3.Row]:
        return self.query("SELECT * FROM movements WHERE sku = ? ORDER BY id DESC LIMIT ?", [sku, limit])

    def resolve(self, code: str) -> str | None:
        return self.reader().resolve(code)

    def unsent_events(self, limit: int) -> list[dict]:
        epoch = self.meta()["epoch"]
        rows = self.query(
            "SELECT seq, kind, at, staff, payload, levels FROM outbox "
            "WHERE epoch = ? AND acked = 0 ORDER BY seq LIMIT ?",
            [epoch, limit],
        )
        return [_event(r) for r in rows]

    def outbox(self, after: int = 0, limit: int = 100) -> list[dict]:
        epoch = self.meta()["epoch"]
        rows = self.query(
            "SELECT seq, kind, at, staff, payload, levels, acked FROM outbox "
            "WHERE epoch = ? AND seq > ? ORDER BY seq LIMIT ?",
            [epoch, after, limit],
        )
        return [{**_event(r), "acked": bool(r["acked"])} for r in rows]

    def outbox_health(self) -> dict:
        """Depth of the outbox and age of its oldest unsent event: a stalled sync shows here."""
        epoch = self.meta()["epoch"]
        row = self.query(
            "SELECT count(*) AS depth, min(at) AS oldest, max(seq) AS head FROM outbox "
            "WHERE epoch = ? AND acked = 0",
            [epoch],
        )[0]
        head = self.query("SELECT max(seq) AS head FROM outbox WHERE epoch = ?", [epoch])[0]["head"]
        return {"depth": row["depth"], "oldest_unsent_at": row["oldest"], "head_seq": head or 0}

    def audit_trail(self, limit: int = 100, staff: str | None = None) -> list[sqlite3.Row]:
        if staff:
            return self.query("SELECT * FROM audit WHERE staff = ? ORDER BY id DESC LIMIT ?", [staff, limit])
        return self.query("SELECT * FROM audit ORDER BY id DESC LIMIT ?", [limit])

    def staff_member(self, code: str) -> sqlite3.Row | None:
        rows = self.query("SELECT * FROM staff WHERE code = ?", [code])
        return rows[0] if rows else None

    def till_receipt(self, receipt_id: str) -> sqlite3.Row | None:
        rows = self.query("SELECT * FROM till_receipts WHERE receipt_id = ?", [receipt_id])
        return rows[0] if rows else None

    # ------------------------------------------------------------------ reads of the terminal screens
    def ready_for_pickup_by_code(self, pickup_code: str) -> Assignment | None:
        """The click-and-collect assignment staged under ``pickup_code`` (case-insensitive), if any."""
        rows = self.query(
            "SELECT assignment_id FROM assignments WHERE status = ? AND upper(pickup_code) = upper(?) LIMIT 1",
            [str(Status.READY_FOR_PICKUP), pickup_code.strip()],
        )
        return self.assignment(rows[0]["assignment_id"]) if rows else None

    def products(self, skus: Iterable[str]) -> dict[str, sqlite3.Row]:
        """Name, price, location and barcodes of each SKU (pick lists, slips, baskets)."""
        skus = sorted(set(skus))
        if not skus:
            return {}
        rows = self.query(
            self._STOCK_ROWS + f" WHERE p.sku IN ({','.join('?' * len(skus))})",
            skus,
        )
        return {r["sku"]: r for r in rows}

    def kerbside_waiting(self) -> list[sqlite3.Row]:
        """Customers who said "I'm here" and whom no staff member has acknowledged yet, oldest first."""
        return self.query(
            "SELECT k.assignment_id, k.order_id, k.note, k.arrived_at, a.customer_name, a.status "
            "FROM kerbside_arrivals k LEFT JOIN assignments a ON a.assignment_id = k.assignment_id "
            "WHERE k.acknowledged_at IS NULL ORDER BY k.arrived_at"
        )


def _event(row: sqlite3.Row) -> dict:
    event = {
        "seq": row["seq"],
        "kind": row["kind"],
        "at": row["at"],
        "payload": orjson.loads(row["payload"]),
        "levels": orjson.loads(row["levels"]),
    }
    if row["staff"] is not None:
        event["staff"] = row["staff"]
    return event


def _incoming(row: sqlite3.Row) -> dict:
    return {
        "transfer_id": row["transfer_id"], "order_id": row["order_id"], "source_store_id": row["source_store_id"],
        "status": row["status"], "lines": orjson.loads(row["lines"]), "parcels": orjson.loads(row["parcels"]),
        "shipped_at": row["shipped_at"], "announced_at": row["announced_at"], "received_at": row["received_at"],
        "received_by": row["received_by"], "outcome": orjson.loads(row["outcome"]) if row["outcome"] else None,
        "reason": row["reason"],
    }


class Transaction:
    """The repository seen from inside one unit of work (or a reader, for its load methods)."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        self.events_appended = 0

    def _one(self, sql: str, params: Iterable = ()) -> sqlite3.Row | None:
        return self.conn.execute(sql, tuple(params)).fetchone()

    # -------------------------------------------------------------- meta
    def meta(self, key: str) -> str | None:
        row = self._one("SELECT value FROM meta WHERE key = ?", [key])
        return row["value"] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    # -------------------------------------------------------------- catalogue
    def resolve(self, code: str) -> str | None:
        """A scanned barcode or a typed SKU to the SKU it names."""
        row = self._one("SELECT sku FROM barcodes WHERE code = ?", [code])
        if row:
            return row["sku"]
        row = self._one("SELECT sku FROM products WHERE sku = ?", [code])
        return row["sku"] if row else None

    def product(self, sku: str) -> sqlite3.Row | None:
        return self._one("SELECT * FROM products WHERE sku = ?", [sku])

    def upsert_products(self, items: Iterable[dict]) -> int:
        items = list(items)
        self.conn.executemany(
            "INSERT INTO products (sku, name, price_cents, location) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(sku) DO UPDATE SET name = excluded.name, "
            "price_cents = excluded.price_cents, location = excluded.location",
            [(i["sku"], i["name"], i["price_cents"], i.get("location", "")) for i in items],
        )
        self.conn.executemany(
            "INSERT INTO barcodes (code, sku) VALUES (?, ?) "
            "ON CONFLICT(code) DO UPDATE SET sku = excluded.sku",
            [(code, i["sku"]) for i in items for code in i.get("barcodes", [])],
        )
        return len(items)

    # -------------------------------------------------------------- stock
    def stock_items(self, skus: Iterable[str]) -> dict[str, StockItem]:
        skus = sorted(set(skus))
        found = {
            r["sku"]: StockItem(r["sku"], r["on_hand"], r["reserved"])
            for r in self.conn.execute(
                f"SELECT sku, on_hand, reserved FROM stock WHERE sku IN ({','.join('?' * len(skus))})",
                skus,
            )
        }
        return {sku: found.get(sku, StockItem(sku)) for sku in skus}

    def save_stock(self, items: Iterable[StockItem]) -> None:
        self.conn.executemany(
            "INSERT INTO stock (sku, on_hand, reserved) VALUES (?, ?, ?) "
            "ON CONFLICT(sku) DO UPDATE SET on_hand = excluded.on_hand, reserved = excluded.reserved",
            [(i.sku, i.on_hand, i.reserved) for i in items],
        )

    def all_levels(self) -> list[dict]:
        return [
            {"sku": r["sku"], "on_hand": r["on_hand"], "reserved": r["reserved"]}
            for r in self.conn.execute("SELECT sku, on_hand, reserved FROM stock ORDER BY sku")
        ]

    def record_movements(
        self, movements: Iterable[Movement], at: str, staff: str | None, ref: str = ""
    ) -> None:
        self.conn.executemany(
            "INSERT INTO movements (at, sku, kind, on_hand_delta, reserved_delta, reason, ref, staff) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (at, m.sku, str(m.kind), m.on_hand_delta, m.reserved_delta, m.reason, ref, staff)
                for m in movements
            ],
        )

    # -------------------------------------------------------------- assignments
    def assignment(self, assignment_id: str) -> Assignment | None:
        row = self._one("SELECT * FROM assignments WHERE assignment_id = ?", [assignment_id])
        if row is None:
            return None
        lines = [
            Line(r["line_id"], r["sku"], r["qty"], r["rejected"], r["picked"])
            for r in self.conn.execute(
                "SELECT * FROM assignment_lines WHERE assignment_id = ? ORDER BY position",
                (assignment_id,),
            )
        ]
        return Assignment(
            assignment_id=row["assignment_id"],
            order_id=row["order_id"],
            kind=AssignmentKind(row["kind"]),
            lines=lines,
            deadline=from_iso(row["deadline"]),
            status=Status(row["status"]),
            customer_name=row["customer_name"],
            requires_id_check=bool(row["requires_id_check"]),
            destination_store_id=row["destination_store_id"],
            ship_to=orjson.loads(row["ship_to"]) if row["ship_to"] else None,
            pickup_code=row["pickup_code"],
            ready_at=from_iso(row["ready_at"]) if row["ready_at"] else None,
            parcels=[Parcel(**p) for p in orjson.loads(row["parcels"])],
            reject_reason=row["reject_reason"],
        )

    def save_assignment(self, a: Assignment, at: str) -> None:
        self.conn.execute(
            """
            INSERT INTO assignments (assignment_id, order_id, kind, status, deadline, customer_name,
                requires_id_check, destination_store_id, ship_to, pickup_code, ready_at, parcels,
                reject_reason, received_at, updated_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT(assignment_id) DO UPDATE SET status = excluded.status,
                pickup_code = excluded.pickup_code, ready_at = excluded.ready_at,
                parcels = excluded.parcels, reject_reason = excluded.reject_reason,
                updated_at = excluded.updated_at
            """,
            (
                a.assignment_id,
                a.order_id,
                str(a.kind),
                str(a.status),
                to_iso(a.deadline),
                a.customer_name,
                int(a.requires_id_check),
                a.destination_store_id,
                _dumps(a.ship_to) if a.ship_to is not None else None,
                a.pickup_code,
                to_iso(a.ready_at) if a.ready_at else None,
                _dumps([p.__dict__ for p in a.parcels]),
                a.reject_reason,
                at,
                at,
            ),
        )
        self.conn.executemany(
            """
            INSERT INTO assignment_lines (assignment_id, line_id, position, sku, qty, rejected, picked)
            VALUES (?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT(assignment_id, line_id) DO UPDATE SET
                rejected = excluded.rejected, picked = excluded.picked
            """,
            [
                (a.assignment_id, ln.line_id, pos, ln.sku, ln.qty, ln.rejected, ln.picked)
                for pos, ln in enumerate(a.lines)
            ],
        )

    def expirable(self) -> list[str]:
        return [
            r["assignment_id"]
            for r in self.conn.execute(
                "SELECT assignment_id FROM assignments WHERE status = ?", (str(Status.READY_FOR_PICKUP),)
            )
        ]

    # -------------------------------------------------------------- till
    def till_receipt(self, receipt_id: str) -> sqlite3.Row | None:
        return self._one("SELECT * FROM till_receipts WHERE receipt_id = ?", [receipt_id])

    def insert_till_receipt(
        self, receipt_id: str, kind: str, at: str, staff: str, total_cents: int, lines: list[dict]
    ) -> None:
        self.conn.execute(
            "INSERT INTO till_receipts (receipt_id, kind, at, staff, total_cents, lines) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (receipt_id, kind, at, staff, total_cents, _dumps(lines)),
        )

    # -------------------------------------------------------------- outbox, feed, audit
    def append_event(
        self,
        kind: str,
        at: str,
        payload: dict,
        levels: Iterable[StockItem] = (),
        staff: str | None = None,
    ) -> int:
        """Write an outgoing event with the next seq of the epoch, in the caller's transaction."""
        epoch = self.meta("epoch")
        row = self._one("SELECT COALESCE(MAX(seq), 0) + 1 AS next FROM outbox WHERE epoch = ?", [epoch])
        seq = row["next"]
        self.conn.execute(
            "INSERT INTO outbox (epoch, seq, kind, at, staff, payload, levels) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                epoch,
                seq,
                kind,
                at,
                staff,
                _dumps(payload),
                _dumps([{"sku": i.sku, "on_hand": i.on_hand, "reserved": i.reserved} for i in levels]),
            ),
        )
        self.events_appended += 1
        return seq

    def acknowledge(self, epoch: str, up_to_seq: int) -> int:
        """Mark events up to ``up_to_seq`` as held by the hub; they are kept, only flagged."""
        cur = self.conn.execute(
            "UPDATE outbox SET acked = 1 WHERE epoch = ? AND seq <= ? AND acked = 0", (epoch, up_to_seq)
        )
        return cur.rowcount

    def feed_applied(self, seq: int) -> bool:
        return self._one("SELECT 1 FROM feed_log WHERE seq = ?", [seq]) is not None

    def log_feed(self, seq: int, kind: str, at: str, outcome: str) -> None:
        self.conn.execute(
            "INSERT INTO feed_log (seq, kind, applied_at, outcome) VALUES (?, ?, ?, ?)",
            (seq, kind, at, outcome),
        )
        self.set_meta("feed_cursor", str(seq))

    def audit(self, at: str, staff: str, action: str, target: str = "", detail: dict | None = None) -> None:
        self.conn.execute(
            "INSERT INTO audit (at, staff, action, target, detail) VALUES (?, ?, ?, ?, ?)",
            (at, staff, action, target, _dumps(detail or {})),
        )

    def add_staff(self, code: str, name: str, role: str, pin_hash: str, language: str) -> None:
        self.conn.execute(
            "INSERT INTO staff (code, name, role, pin_hash, language) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT(code) DO UPDATE SET name = excluded.name, role = excluded.role, "
            "pin_hash = excluded.pin_hash, language = excluded.language",
            (code, name, role, pin_hash, language),
        )

    def record_kerbside_arrival(self, assignment_id: str, order_id: str, note: str, at: str) -> None:
        self.conn.execute(
            "INSERT INTO kerbside_arrivals (assignment_id, order_id, note, arrived_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(assignment_id) DO UPDATE SET arrived_at = excluded.arrived_at, note = excluded.note, "
            "acknowledged_at = NULL, staff = NULL",  # a customer saying "I'm here" again pops up again
            (assignment_id, order_id, note, at),
        )

    def acknowledge_kerbside(self, assignment_id: str, staff: str, at: str) -> sqlite3.Row | None:
        """Mark a kerbside arrival seen by ``staff``; answers the arrival, None if unknown or already seen."""
        row = self._one(
            "SELECT * FROM kerbside_arrivals WHERE assignment_id = ? AND acknowledged_at IS NULL", [assignment_id]
        )
        if row is not None:
            self.conn.execute(
                "UPDATE kerbside_arrivals SET acknowledged_at = ?, staff = ? WHERE assignment_id = ?",
                (at, staff, assignment_id),
            )
        return row

    def set_staff_language(self, code: str, language: str) -> bool:
        cur = self.conn.execute("UPDATE staff SET language = ? WHERE code = ?", (language, code))
        return cur.rowcount > 0

    # -------------------------------------------------------------- incoming transfers
    def announce_transfer(self, p: dict, at: str) -> bool:
        """Record a transfer shipped to this store; False when it was already announced."""
        cur = self.conn.execute(
            "INSERT OR IGNORE INTO incoming_transfers (transfer_id, order_id, source_store_id, status, lines, "
            "parcels, shipped_at, announced_at) VALUES (?, ?, ?, 'in_transit', ?, ?, ?, ?)",
            (p["transfer_id"], p["order_id"], p["source_store_id"], _dumps(p["lines"]), _dumps(p.get("parcels", [])),
             p["shipped_at"], at),
        )
        return cur.rowcount == 1

    def incoming_transfer(self, transfer_id: str) -> dict | None:
        row = self._one("SELECT * FROM incoming_transfers WHERE transfer_id = ?", [transfer_id])
        return _incoming(row) if row else None

    def incoming_transfers(self, status: str | None = None, limit: int = 200) -> list[dict]:
        sql, params = "SELECT * FROM incoming_transfers", []
        if status:
            sql, params = sql + " WHERE status = ?", [status]
        rows = self.conn.execute(sql + " ORDER BY shipped_at DESC LIMIT ?", [*params, limit]).fetchall()
        return [_incoming(r) for r in rows]

    def mark_transfer_received(self, transfer_id: str, at: str, staff: str, outcome: list[dict], reason: str) -> None:
        self.conn.execute(
            "UPDATE incoming_transfers SET status = 'received', received_at = ?, received_by = ?, outcome = ?, "
            "reason = ? WHERE transfer_id = ?",
            (at, staff, _dumps(outcome), reason, transfer_id),
        )

