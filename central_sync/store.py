"""The hub's persistence: the one place with SQL for the hub, over shared.database's discipline.

The hub runs ``synchronous=NORMAL`` (an acknowledged event the hub lost in a power cut is
simply sent again by the store, whose outbox keeps it until acknowledged).
"""

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson

from shared.database import Database, dumps

from .domain.orders import UNANSWERED
from .schema import migrations


class HubDatabase(Database["HubTx"]):
    def __init__(self, path: str | Path):
        super().__init__(path, migrations, HubTx, synchronous="NORMAL")


def _ph(values: Iterable) -> str:
    return ",".join("?" * len(list(values)))


class HubTx:
    """The hub's repository, inside a unit of work or over a reader connection."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        self.events_appended = 0

    def one(self, sql: str, params: Iterable = ()) -> sqlite3.Row | None:
        return self.conn.execute(sql, tuple(params)).fetchone()

    def all(self, sql: str, params: Iterable = ()) -> list[sqlite3.Row]:
        return self.conn.execute(sql, tuple(params)).fetchall()

    # ---------------------------------------------------------------- settings, keys
    def setting(self, key: str, default: str | None = None) -> str | None:
        row = self.one("SELECT value FROM settings WHERE key = ?", [key])
        return row["value"] if row else default

    def set_setting(self, key: str, value: str) -> None:
        self.conn.execute(
            "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def add_api_key(self, key_hash: str, name: str, role: str, at: str) -> None:
        self.conn.execute(
            "INSERT INTO api_keys (key_hash, name, role, created_at) VALUES (?, ?, ?, ?)",
            (key_hash, name, role, at),
        )

    def api_key(self, key_hash: str) -> sqlite3.Row | None:
        return self.one("SELECT * FROM api_keys WHERE key_hash = ?", [key_hash])

    # ---------------------------------------------------------------- stores
    def upsert_store(self, s: dict) -> None:
        self.conn.execute(
            """
            INSERT INTO stores (store_id, name, address, city, postal_code, lat, lon, ship_from_store,
                click_and_collect, daily_capacity, opening_hours, secret_hash, base_url, created_at)
            VALUES (:store_id, :name, :address, :city, :postal_code, :lat, :lon, :ship_from_store,
                :click_and_collect, :daily_capacity, :opening_hours, :secret_hash, :base_url, :created_at)
            ON CONFLICT(store_id) DO UPDATE SET name = excluded.name, address = excluded.address,
                city = excluded.city, postal_code = excluded.postal_code, lat = excluded.lat,
                lon = excluded.lon, ship_from_store = excluded.ship_from_store,
                click_and_collect = excluded.click_and_collect, daily_capacity = excluded.daily_capacity,
                opening_hours = excluded.opening_hours, secret_hash = excluded.secret_hash,
                base_url = excluded.base_url
            """,
            s,
        )
        self.conn.execute("INSERT OR IGNORE INTO sync_state (store_id) VALUES (?)", (s["store_id"],))

    def store(self, store_id: str) -> sqlite3.Row | None:
        return self.one("SELECT * FROM stores WHERE store_id = ?", [store_id])

    def stores(self) -> list[sqlite3.Row]:
        return self.all(
            "SELECT s.*, y.epoch, y.acked_seq, y.feed_cursor, y.last_seen_at, y.outbox_depth, "
            "y.oldest_unsent_at, y.events_total, "
            "(SELECT COALESCE(MAX(seq), 0) FROM feed f WHERE f.store_id = s.store_id) AS feed_head "
            "FROM stores s JOIN sync_state y USING (store_id) ORDER BY s.store_id"
        )

    def store_ids(self) -> list[str]:
        return [r["store_id"] for r in self.all("SELECT store_id FROM stores ORDER BY store_id")]

    def assignments_today(self, day: str) -> dict[str, int]:
        rows = self.all(
            "SELECT store_id, count(*) AS n FROM assignments WHERE day = ? GROUP BY store_id", [day]
        )
        return {r["store_id"]: r["n"] for r in rows}

    # ---------------------------------------------------------------- catalogue
    def upsert_products(self, items: list[dict], at: str) -> None:
        self.conn.executemany(
            "INSERT INTO products (sku, name, price_cents, location, updated_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT(sku) DO UPDATE SET name = excluded.name, price_cents = excluded.price_cents, "
            "location = excluded.location, updated_at = excluded.updated_at",
            [(i["sku"], i["name"], i["price_cents"], i.get("location", ""), at) for i in items],
        )
        self.conn.executemany(
            "INSERT INTO barcodes (code, sku) VALUES (?, ?) ON CONFLICT(code) DO UPDATE SET sku = excluded.sku",
            [(code, i["sku"]) for i in items for code in i.get("barcodes", [])],
        )

    def products(self, skus: Iterable[str] | None = None) -> list[dict]:
        if skus is None:
            rows = self.all("SELECT * FROM products ORDER BY sku")
        else:
            skus = list(skus)
            rows = self.all(f"SELECT * FROM products WHERE sku IN ({_ph(skus)})", skus)
        codes: dict[str, list[str]] = {}
        for r in self.all("SELECT code, sku FROM barcodes ORDER BY code"):
            codes.setdefault(r["sku"], []).append(r["code"])
        return [
            {
                "sku": r["sku"],
                "name": r["name"],
                "price_cents": r["price_cents"],
                "location": r["location"],
                "barcodes": codes.get(r["sku"], []),
            }
            for r in rows
        ]

    def known_skus(self, skus: Iterable[str]) -> set[str]:
        skus = list(skus)
        return {r["sku"] for r in self.all(f"SELECT sku FROM products WHERE sku IN ({_ph(skus)})", skus)}

    def search_products(self, q: str, limit: int = 50) -> list[sqlite3.Row]:
        like = f"%{q}%"
        return self.all(
            "SELECT * FROM products WHERE sku LIKE ? OR name LIKE ? "
            "OR sku IN (SELECT sku FROM barcodes WHERE code = ?) ORDER BY sku LIMIT ?",
            [like, like, q, limit],
        )

    def upsert_postal_codes(self, rows: list[tuple[str, float, float, str]]) -> None:
        self.conn.executemany(
            "INSERT INTO postal_codes (code, lat, lon, city) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(code) DO UPDATE SET lat = excluded.lat, lon = excluded.lon, city = excluded.city",
            rows,
        )

    def postal_code(self, code: str) -> sqlite3.Row | None:
        return self.one("SELECT * FROM postal_codes WHERE code = ?", [code])

    def set_safety_stock(self, store_id: str, sku: str, qty: int) -> None:
        self.conn.execute(
            "INSERT INTO safety_stock (store_id, sku, qty) VALUES (?, ?, ?) "
            "ON CONFLICT(store_id, sku) DO UPDATE SET qty = excluded.qty",
            (store_id, sku, qty),
        )

    def safety_stock(self) -> dict[tuple[str, str], int]:
        return {(r["store_id"], r["sku"]): r["qty"] for r in self.all("SELECT * FROM safety_stock")}

    # ---------------------------------------------------------------- sync
    def sync_state(self, store_id: str) -> sqlite3.Row:
        return self.one("SELECT * FROM sync_state WHERE store_id = ?", [store_id])

    def start_epoch(self, store_id: str, epoch: str) -> None:
        self.conn.execute(
            "UPDATE sync_state SET epoch = ?, acked_seq = 0 WHERE store_id = ?", (epoch, store_id)
        )

    def clear_levels(self, store_id: str) -> None:
        self.conn.execute("DELETE FROM stock_levels WHERE store_id = ?", (store_id,))

    def insert_events(self, store_id: str, epoch: str, events: list) -> None:
        self.conn.executemany(
            "INSERT INTO store_events (store_id, epoch, seq, kind, at, staff, payload) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(store_id, epoch, e.seq, str(e.kind), e.at, e.staff, dumps(e.payload)) for e in events],
        )

    def upsert_levels(
        self, store_id: str, epoch: str, levels: list[tuple[int, str, int, int]], at: str
    ) -> None:
        """``levels`` is ``[(seq, sku, on_hand, reserved)]``: a level replaces one with a lower seq only."""
        self.conn.executemany(
            """
            INSERT INTO stock_levels (store_id, sku, on_hand, reserved, epoch, seq, updated_at)
            VALUES (?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT(store_id, sku) DO UPDATE SET on_hand = excluded.on_hand,
                reserved = excluded.reserved, epoch = excluded.epoch, seq = excluded.seq,
                updated_at = excluded.updated_at
            WHERE excluded.epoch != stock_levels.epoch OR excluded.seq > stock_levels.seq
            """,
            [(store_id, sku, on_hand, reserved, epoch, seq, at) for seq, sku, on_hand, reserved in levels],
        )

    def record_exchange(
        self,
        store_id: str,
        acked_seq: int,
        feed_cursor: int,
        at: str,
        depth: int,
        oldest: str | None,
        applied: int,
    ) -> None:
        self.conn.execute(
            "UPDATE sync_state SET acked_seq = ?, feed_cursor = ?, last_seen_at = ?, outbox_depth = ?, "
            "oldest_unsent_at = ?, events_total = events_total + ? WHERE store_id = ?",
            (acked_seq, feed_cursor, at, depth, oldest, applied, store_id),
        )

    def append_feed(self, store_id: str, kind: str, at: str, payload: dict) -> int:
        row = self.one("SELECT COALESCE(MAX(seq), 0) + 1 AS next FROM feed WHERE store_id = ?", [store_id])
        self.conn.execute(
            "INSERT INTO feed (store_id, seq, kind, at, payload) VALUES (?, ?, ?, ?, ?)",
            (store_id, row["next"], kind, at, dumps(payload)),
        )
        self.events_appended += 1
        return row["next"]

    def feed_after(self, store_id: str, cursor: int, limit: int) -> list[dict]:
        return [
            {"seq": r["seq"], "kind": r["kind"], "at": r["at"], "payload": orjson.loads(r["payload"])}
            for r in self.all(
                "SELECT * FROM feed WHERE store_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                [store_id, cursor, limit],
            )
        ]

    def feed_head(self, store_id: str) -> int:
        return self.one("SELECT COALESCE(MAX(seq), 0) AS head FROM feed WHERE store_id = ?", [store_id])[
            "head"
        ]

    def store_events(self, store_id: str | None = None, kinds: Iterable[str] = (), limit: int = 100) -> list:
        kinds = list(kinds)
        where, params = [], []
        if store_id:
            where.append("store_id = ?")
            params.append(store_id)
        if kinds:
            where.append(f"kind IN ({_ph(kinds)})")
            params += kinds
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        return self.all(f"SELECT * FROM store_events {clause} ORDER BY id DESC LIMIT ?", [*params, limit])

    # ---------------------------------------------------------------- stock view
    def levels(self, skus: Iterable[str]) -> list[sqlite3.Row]:
        skus = list(skus)
        return self.all(
            f"SELECT l.*, y.last_seen_at FROM stock_levels l JOIN sync_state y USING (store_id) "
            f"WHERE l.sku IN ({_ph(skus)}) ORDER BY l.sku, l.store_id",
            skus,
        )

    def store_levels(self, store_id: str) -> dict[str, tuple[int, int]]:
        return {
            r["sku"]: (r["on_hand"], r["reserved"])
            for r in self.all(
                "SELECT sku, on_hand, reserved FROM stock_levels WHERE store_id = ?", [store_id]
            )
        }

    def unanswered_qty(self, skus: Iterable[str]) -> dict[tuple[str, str], int]:
        """Quantities routed to stores that their reported levels do not reserve yet."""
        skus = list(skus)
        statuses = sorted(UNANSWERED)
        rows = self.all(
            f"SELECT a.store_id, l.sku, SUM(l.qty - l.rejected) AS qty FROM assignment_lines l "
            f"JOIN assignments a USING (assignment_id) WHERE l.sku IN ({_ph(skus)}) "
            f"AND a.status IN ({_ph(statuses)}) GROUP BY a.store_id, l.sku",
            [*skus, *statuses],
        )
        return {(r["store_id"], r["sku"]): r["qty"] for r in rows}

    # ---------------------------------------------------------------- orders
    def order_by_channel(self, channel: str, channel_order_id: str) -> sqlite3.Row | None:
        return self.one(
            "SELECT * FROM orders WHERE channel = ? AND channel_order_id = ?", [channel, channel_order_id]
        )

    def insert_order(self, o: dict, lines: list[tuple[str, str, int]]) -> None:
        self.conn.execute(
            """
            INSERT INTO orders (order_id, channel, channel_order_id, kind, status, customer, lat, lon,
                pickup_store_id, requested_date, requires_id_check, ship_to, public_token, needs_routing,
                created_at, updated_at)
            VALUES (:order_id, :channel, :channel_order_id, :kind, :status, :customer, :lat, :lon,
                :pickup_store_id, :requested_date, :requires_id_check, :ship_to, :public_token, 1,
                :created_at, :created_at)
            """,
            o,
        )
        self.conn.executemany(
            "INSERT INTO order_lines (order_id, line_id, sku, qty, unallocated) VALUES (?, ?, ?, ?, ?)",
            [(o["order_id"], line_id, sku, qty, qty) for line_id, sku, qty in lines],
        )

    def order(self, order_id: str) -> sqlite3.Row | None:
        return self.one("SELECT * FROM orders WHERE order_id = ?", [order_id])

    def order_by_token(self, token: str) -> sqlite3.Row | None:
        return self.one("SELECT * FROM orders WHERE public_token = ?", [token])

    def order_lines(self, order_id: str) -> list[sqlite3.Row]:
        return self.all("SELECT * FROM order_lines WHERE order_id = ? ORDER BY rowid", [order_id])

    def orders_to_route(self, limit: int, include_backorders: bool) -> list[sqlite3.Row]:
        sql = "SELECT * FROM orders WHERE needs_routing = 1"
        if include_backorders:
            sql += (
                " OR (status NOT IN ('cancelled') AND order_id IN "
                "(SELECT order_id FROM order_lines WHERE unallocated > 0))"
            )
        return self.all(sql + " ORDER BY created_at LIMIT ?", [limit])

    def search_orders(self, q: str, limit: int = 50) -> list[sqlite3.Row]:
        like = f"%{q}%"
        return self.all(
            "SELECT * FROM orders WHERE ? = '' OR order_id LIKE ? OR channel_order_id LIKE ? "
            "OR channel LIKE ? OR customer LIKE ? ORDER BY created_at DESC LIMIT ?",
            [q, like, like, like, like, limit],
        )

    def set_order(self, order_id: str, at: str, **fields: object) -> None:
        sets = ", ".join(f"{k} = ?" for k in fields)
        self.conn.execute(
            f"UPDATE orders SET {sets}, updated_at = ? WHERE order_id = ?", [*fields.values(), at, order_id]
        )

    def add_unallocated(self, order_id: str, line_id: str, qty: int) -> None:
        self.conn.execute(
            "UPDATE order_lines SET unallocated = unallocated + ? WHERE order_id = ? AND line_id = ?",
            (qty, order_id, line_id),
        )

    def exclusions(self, order_ids: Iterable[str]) -> list[sqlite3.Row]:
        order_ids = list(order_ids)
        return self.all(f"SELECT * FROM exclusions WHERE order_id IN ({_ph(order_ids)})", order_ids)

    def exclude(self, order_id: str, line_id: str, store_id: str, reason: str) -> None:
        self.conn.execute(
            "INSERT OR IGNORE INTO exclusions (order_id, line_id, store_id, reason) VALUES (?, ?, ?, ?)",
            (order_id, line_id, store_id, reason),
        )

    def timeline(self, order_id: str, at: str, kind: str, store_id: str | None, detail: dict) -> None:
        self.conn.execute(
            "INSERT INTO order_timeline (order_id, at, kind, store_id, detail) VALUES (?, ?, ?, ?, ?)",
            (order_id, at, kind, store_id, dumps(detail)),
        )

    def order_timeline(self, order_id: str) -> list[dict]:
        return [
            {"at": r["at"], "kind": r["kind"], "store_id": r["store_id"], "detail": orjson.loads(r["detail"])}
            for r in self.all("SELECT * FROM order_timeline WHERE order_id = ? ORDER BY id", [order_id])
        ]

    def record_decision(
        self, order_id: str, at: str, allocations: list, unfilled: list, reasons: list
    ) -> None:
        self.conn.execute(
            "INSERT INTO routing_decisions (order_id, at, allocations, unfilled, reasons) VALUES (?, ?, ?, ?, ?)",
            (order_id, at, dumps(allocations), dumps(unfilled), dumps(reasons)),
        )

    def decisions(self, order_id: str) -> list[dict]:
        return [
            {
                "at": r["at"],
                "allocations": orjson.loads(r["allocations"]),
                "unfilled": orjson.loads(r["unfilled"]),
                "reasons": orjson.loads(r["reasons"]),
            }
            for r in self.all("SELECT * FROM routing_decisions WHERE order_id = ? ORDER BY id", [order_id])
        ]

    # ---------------------------------------------------------------- assignments
    def insert_assignment(self, a: dict, lines: list[tuple[str, str, int]]) -> None:
        self.conn.execute(
            """
            INSERT INTO assignments (assignment_id, order_id, store_id, kind, status, deadline,
                destination_store_id, detail, created_at, day, updated_at)
            VALUES (:assignment_id, :order_id, :store_id, :kind, :status, :deadline,
                :destination_store_id, '{}', :created_at, :day, :created_at)
            """,
            a,
        )
        self.conn.executemany(
            "INSERT INTO assignment_lines (assignment_id, line_id, sku, qty) VALUES (?, ?, ?, ?)",
            [(a["assignment_id"], line_id, sku, qty) for line_id, sku, qty in lines],
        )

    def assignment(self, assignment_id: str) -> sqlite3.Row | None:
        return self.one("SELECT * FROM assignments WHERE assignment_id = ?", [assignment_id])

    def assignment_lines(self, assignment_id: str) -> list[sqlite3.Row]:
        return self.all("SELECT * FROM assignment_lines WHERE assignment_id = ?", [assignment_id])

    def order_assignments(self, order_id: str) -> list[sqlite3.Row]:
        return self.all("SELECT * FROM assignments WHERE order_id = ? ORDER BY created_at", [order_id])

    def set_assignment(self, assignment_id: str, at: str, **fields: object) -> None:
        sets = ", ".join(f"{k} = ?" for k in fields)
        self.conn.execute(
            f"UPDATE assignments SET {sets}, updated_at = ? WHERE assignment_id = ?",
            [*fields.values(), at, assignment_id],
        )

    def add_rejected(self, assignment_id: str, line_id: str, qty: int) -> None:
        self.conn.execute(
            "UPDATE assignment_lines SET rejected = rejected + ? WHERE assignment_id = ? AND line_id = ?",
            (qty, assignment_id, line_id),
        )

    def late_assignments(self, now: str) -> dict[str, int]:
        """Per store, assignments still unanswered past their deadline."""
        statuses = sorted(UNANSWERED)
        rows = self.all(
            f"SELECT store_id, count(*) AS n FROM assignments WHERE status IN ({_ph(statuses)}) "
            f"AND deadline < ? GROUP BY store_id",
            [*statuses, now],
        )
        return {r["store_id"]: r["n"] for r in rows}

    def record_transfer_line(self, assignment_id: str, line: dict) -> None:
        self.conn.execute(
            "UPDATE assignment_lines SET received = ?, damaged = ?, missing = ?, extra = ?, discrepancy_reason = ? "
            "WHERE assignment_id = ? AND line_id = ?",
            (line["received"], line["damaged"], line["missing"], line["extra"], line.get("reason", ""),
             assignment_id, line["line_id"]),
        )

    def in_transit(self, skus: Iterable[str]) -> dict[tuple[str, str], int]:
        """Per (destination store, SKU): units shipped by another store and not yet counted in."""
        skus = list(skus)
        rows = self.all(
            f"SELECT a.destination_store_id AS store_id, l.sku, SUM(l.qty - l.rejected) AS qty "
            f"FROM assignment_lines l JOIN assignments a USING (assignment_id) "
            f"WHERE a.kind = 'transfer_out' AND a.status = 'shipped' AND l.sku IN ({_ph(skus)}) "
            f"GROUP BY a.destination_store_id, l.sku",
            skus,
        )
        return {(r["store_id"], r["sku"]): r["qty"] for r in rows}

    def transfers(self, status: str | None = None, limit: int = 200) -> list[sqlite3.Row]:
        sql = "SELECT * FROM assignments WHERE kind = 'transfer_out'"
        params: list = []
        if status:
            sql += " AND status = ?"
            params.append(status)
        return self.all(sql + " ORDER BY created_at DESC LIMIT ?", [*params, limit])

    def overdue_assignments(self, now: str) -> list[sqlite3.Row]:
        statuses = sorted(UNANSWERED)
        return self.all(
            f"SELECT * FROM assignments WHERE status IN ({_ph(statuses)}) AND deadline < ?", [*statuses, now]
        )

    def assignments_awaiting(self, source_assignment_id: str) -> list[sqlite3.Row]:
        return self.all(
            "SELECT * FROM assignments WHERE status = 'awaiting_transfer' "
            "AND json_extract(detail, '$.transfer_assignment_id') = ?",
            [source_assignment_id],
        )

    # ---------------------------------------------------------------- console users, audit trail
    def add_console_user(self, u: dict) -> None:
        self.conn.execute(
            """
            INSERT INTO console_users (username, name, password_hash, role, language, created_at)
            VALUES (:username, :name, :password_hash, :role, :language, :created_at)
            ON CONFLICT(username) DO UPDATE SET name = excluded.name, password_hash = excluded.password_hash,
                role = excluded.role, language = excluded.language, active = 1
            """,
            u,
        )

    def console_user(self, user_id: int) -> sqlite3.Row | None:
        return self.one("SELECT * FROM console_users WHERE user_id = ? AND active = 1", [user_id])

    def console_user_named(self, username: str) -> sqlite3.Row | None:
        return self.one("SELECT * FROM console_users WHERE username = ? AND active = 1", [username])

    def set_console_user(self, user_id: int, **fields: object) -> None:
        sets = ", ".join(f"{k} = ?" for k in fields)
        self.conn.execute(f"UPDATE console_users SET {sets} WHERE user_id = ?", [*fields.values(), user_id])

    def add_audit(self, at: str, actor: str, action: str, target: str, detail: dict) -> None:
        self.conn.execute(
            "INSERT INTO audit_trail (at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)",
            (at, actor, action, target, dumps(detail)),
        )

    def audit_trail(self, limit: int = 200, target: str | None = None) -> list[dict]:
        sql, params = "SELECT * FROM audit_trail", []
        if target:
            sql, params = sql + " WHERE target = ?", [target]
        return [
            {**dict(r), "detail": orjson.loads(r["detail"])}
            for r in self.all(sql + " ORDER BY id DESC LIMIT ?", [*params, limit])
        ]

    def safety_stock_rules(self) -> list[sqlite3.Row]:
        return self.all("SELECT * FROM safety_stock ORDER BY store_id, sku")

    # ---------------------------------------------------------------- demand history, rebalancing
    @contextmanager
    def snapshot(self) -> Iterator["HubTx"]:
        """Reads that see one consistent state of the database (a read transaction on a reader connection)."""
        self.conn.execute("BEGIN")
        try:
            yield self
        finally:
            self.conn.execute("COMMIT")

    def daily_till_sales(
        self, since: str, until: str, skus: Iterable[str] | None = None, store_ids: Iterable[str] | None = None
    ) -> list[sqlite3.Row]:
        """Units sold at the till per (store_id, day, sku), UTC days from ``since`` up to ``until`` excluded.

        Gross sales (returns are not netted). The hub keeps store payloads as sent, so a line that
        is not an object with a text ``sku`` and an integer ``qty`` > 0 is skipped rather than trusted.
        """
        in_stores, store_params = self._demand_filters("e.store_id", store_ids, "", None)
        extra, params = self._demand_filters("", None, "json_extract(line, '$.sku')", skus)
        return self.all(
            f"""
            WITH lines AS (
                SELECT e.store_id, date(e.at) AS day, CASE WHEN l.type = 'object' THEN l.value END AS line
                FROM store_events e, json_each(e.payload, '$.lines') l
                WHERE e.kind = 'sale.recorded' AND e.at >= ? AND e.at < ?{in_stores}
            )
            SELECT store_id, day, json_extract(line, '$.sku') AS sku, SUM(json_extract(line, '$.qty')) AS qty
            FROM lines
            WHERE line IS NOT NULL AND json_type(line, '$.sku') = 'text' AND json_type(line, '$.qty') = 'integer'
                AND json_extract(line, '$.qty') > 0 AND day >= ? AND day < ?{extra}
            GROUP BY store_id, day, sku
            """,
            [*self._day_bounds(since, until), *store_params, since, until, *params],
        )

    def daily_fulfilled(
        self, since: str, until: str, skus: Iterable[str] | None = None, store_ids: Iterable[str] | None = None
    ) -> list[sqlite3.Row]:
        """Units of orders a store shipped or handed over, per (store_id, day, sku), on the store's day of it.

        The day is that of the store's first "shipped" / "collected" event for the assignment; the
        quantity its lines' qty - rejected. Transfers between stores are not demand and are left out.
        """
        extra, params = self._demand_filters("d.store_id", store_ids, "l.sku", skus)
        return self.all(
            f"""
            WITH done AS (
                SELECT e.store_id, json_extract(e.payload, '$.assignment_id') AS assignment_id, MIN(e.at) AS at
                FROM store_events e
                WHERE e.kind = 'assignment.progressed' AND e.at >= ? AND e.at < ?
                    AND json_extract(e.payload, '$.status') IN ('shipped', 'collected')
                GROUP BY e.store_id, assignment_id
            )
            SELECT d.store_id, date(d.at) AS day, l.sku, SUM(l.qty - l.rejected) AS qty
            FROM done d
            JOIN assignments a ON a.assignment_id = d.assignment_id AND a.store_id = d.store_id
            JOIN assignment_lines l ON l.assignment_id = a.assignment_id
            WHERE a.kind != 'transfer_out' AND a.status IN ('shipped', 'collected')
                AND date(d.at) >= ? AND date(d.at) < ?{extra}
            GROUP BY d.store_id, day, l.sku
            HAVING SUM(l.qty - l.rejected) > 0
            """,
            [*self._day_bounds(since, until), since, until, *params],
        )

    def all_levels(self) -> list[sqlite3.Row]:
        """Every (store_id, sku, on_hand, reserved) of the network stock view."""
        return self.all("SELECT store_id, sku, on_hand, reserved FROM stock_levels ORDER BY store_id, sku")

    def unreserved_by_status(self, statuses: Iterable[str]) -> dict[tuple[str, str], int]:
        """Per (store, SKU): units of assignments in one of ``statuses`` (as ``unanswered_qty``, for every SKU)."""
        statuses = sorted(statuses)
        rows = self.all(
            f"SELECT a.store_id, l.sku, SUM(l.qty - l.rejected) AS qty FROM assignment_lines l "
            f"JOIN assignments a USING (assignment_id) WHERE a.status IN ({_ph(statuses)}) "
            f"GROUP BY a.store_id, l.sku",
            statuses,
        )
        return {(r["store_id"], r["sku"]): r["qty"] for r in rows}

    def inbound_transfers(self, statuses: Iterable[str]) -> dict[tuple[str, str], int]:
        """Per (destination store, SKU): units of transfers in one of ``statuses``, on their way or to be sent."""
        statuses = list(statuses)
        rows = self.all(
            f"SELECT a.destination_store_id AS store_id, l.sku, SUM(l.qty - l.rejected) AS qty "
            f"FROM assignment_lines l JOIN assignments a USING (assignment_id) "
            f"WHERE a.kind = 'transfer_out' AND a.status IN ({_ph(statuses)}) "
            f"GROUP BY a.destination_store_id, l.sku",
            statuses,
        )
        return {(r["store_id"], r["sku"]): r["qty"] for r in rows if r["qty"] > 0}

    def insert_rebalancing_run(self, run: dict, proposals: list[dict]) -> None:
        self.conn.execute(
            "INSERT INTO rebalancing_runs (run_id, created_at, actor, horizon_days, lookback_days, limits, "
            "shortfalls, summary) VALUES (:run_id, :created_at, :actor, :horizon_days, :lookback_days, :limits, "
            ":shortfalls, :summary)",
            {**run, "limits": dumps(run["limits"]), "shortfalls": dumps(run["shortfalls"]),
             "summary": dumps(run["summary"])},
        )  # fmt: skip
        self.conn.executemany(
            "INSERT INTO rebalancing_proposals (run_id, source_store_id, destination_store_id, sku, qty, "
            "proposed_qty, distance_km, reason, status, created_at, updated_at) VALUES (:run_id, "
            ":source_store_id, :destination_store_id, :sku, :qty, :qty, :distance_km, :reason, 'proposed', "
            ":created_at, :created_at)",
            [{**p, "run_id": run["run_id"], "created_at": run["created_at"]} for p in proposals],
        )

    def rebalancing_run(self, run_id: str) -> dict | None:
        row = self.one("SELECT * FROM rebalancing_runs WHERE run_id = ?", [run_id])
        if row is None:
            return None
        return {**dict(row), **{k: orjson.loads(row[k]) for k in ("limits", "shortfalls", "summary")}}

    def rebalancing_runs(self, limit: int = 20) -> list[sqlite3.Row]:
        """The latest runs, newest first, with their proposals counted by status."""
        return self.all(
            "SELECT r.run_id, r.created_at, r.actor, r.horizon_days, "
            "COUNT(p.proposal_id) AS proposals, "
            "COALESCE(SUM(p.status = 'approved'), 0) AS approved, "
            "COALESCE(SUM(p.status = 'rejected'), 0) AS rejected "
            "FROM rebalancing_runs r LEFT JOIN rebalancing_proposals p USING (run_id) "
            "GROUP BY r.run_id ORDER BY r.created_at DESC, r.run_id DESC LIMIT ?",
            [limit],
        )

    def rebalancing_proposals(self, run_id: str) -> list[sqlite3.Row]:
        return self.all(
            "SELECT * FROM rebalancing_proposals WHERE run_id = ? "
            "ORDER BY source_store_id, destination_store_id, sku, proposal_id",
            [run_id],
        )

    def rebalancing_proposal(self, proposal_id: int) -> sqlite3.Row | None:
        return self.one("SELECT * FROM rebalancing_proposals WHERE proposal_id = ?", [proposal_id])

    def set_proposal(self, proposal_id: int, at: str, **fields: object) -> None:
        sets = ", ".join(f"{k} = ?" for k in fields)
        self.conn.execute(
            f"UPDATE rebalancing_proposals SET {sets}, updated_at = ? WHERE proposal_id = ?",
            [*fields.values(), at, proposal_id],
        )

    def link_proposals_to_transfer(self, run_id: str, source: str, destination: str, order_id: str, at: str) -> int:
        """The pair's approved lines not yet in a transfer now belong to ``order_id``; answers how many."""
        return self.conn.execute(
            "UPDATE rebalancing_proposals SET transfer_order_id = ?, updated_at = ? WHERE run_id = ? "
            "AND source_store_id = ? AND destination_store_id = ? AND status = 'approved' "
            "AND transfer_order_id IS NULL",
            (order_id, at, run_id, source, destination),
        ).rowcount

    @staticmethod
    def _day_bounds(since: str, until: str) -> tuple[str, str]:
        """Text bounds on ``at`` for days [since, until): a day wider each side, so that a timestamp with
        an offset (``...+02:00``) still reaches the exact test on ``date(at)``, which counts in UTC."""
        from datetime import date, timedelta

        return (
            (date.fromisoformat(since) - timedelta(days=1)).isoformat(),
            (date.fromisoformat(until) + timedelta(days=1)).isoformat(),
        )

    @staticmethod
    def _demand_filters(
        store_column: str, store_ids: Iterable[str] | None, sku_column: str, skus: Iterable[str] | None
    ) -> tuple[str, list[str]]:
        clause, params = "", []
        if store_ids is not None:
            store_ids = list(store_ids)
            clause += f" AND {store_column} IN ({_ph(store_ids)})"
            params += store_ids
        if skus is not None:
            skus = list(skus)
            clause += f" AND {sku_column} IN ({_ph(skus)})"
            params += skus
        return clause, params

    # ---------------------------------------------------------------- replenishment (reorder points, outbox)
    def set_reorder_point(self, store_id: str, sku: str, reorder_point: int, order_qty: int, at: str) -> None:
        """Add or change a rule; its state (below or armed) is kept: the next evaluation decides."""
        self.conn.execute(
            "INSERT INTO reorder_points (store_id, sku, reorder_point, order_qty, updated_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT(store_id, sku) DO UPDATE SET reorder_point = excluded.reorder_point, "
            "order_qty = excluded.order_qty, updated_at = excluded.updated_at",
            (store_id, sku, reorder_point, order_qty, at),
        )

    def delete_reorder_point(self, store_id: str, sku: str) -> bool:
        return bool(
            self.conn.execute("DELETE FROM reorder_points WHERE store_id = ? AND sku = ?", (store_id, sku)).rowcount
        )

    def has_reorder_points(self) -> bool:
        return self.one("SELECT EXISTS (SELECT 1 FROM reorder_points) AS any_rule")["any_rule"] == 1

    # available = on hand - reserved: the store's own row, or summed over the network for store_id '*';
    # NULL while no store has reported the SKU (unknown is not zero: nothing is evaluated then)
    _RULE_AVAILABLE = (
        "SELECT r.*, CASE WHEN r.store_id = '*' THEN "
        "(SELECT SUM(l.on_hand - l.reserved) FROM stock_levels l WHERE l.sku = r.sku) "
        "ELSE (SELECT l.on_hand - l.reserved FROM stock_levels l WHERE l.store_id = r.store_id AND l.sku = r.sku) "
        "END AS available FROM reorder_points r"
    )

    def reorder_points(self) -> list[sqlite3.Row]:
        """Every rule with its state and the available stock it watches now."""
        return self.all(f"{self._RULE_AVAILABLE} ORDER BY r.sku, r.store_id")

    def reorder_points_touched(self, store_id: str, skus: Iterable[str]) -> list[sqlite3.Row]:
        """The rules a change of ``store_id``'s levels of ``skus`` may cross: its own, and the network's."""
        skus = sorted(set(skus))
        rows: list[sqlite3.Row] = []
        for start in range(0, len(skus), 500):
            chunk = skus[start : start + 500]
            rows += self.all(
                f"{self._RULE_AVAILABLE} WHERE r.sku IN ({_ph(chunk)}) AND r.store_id IN (?, '*') "
                f"ORDER BY r.sku, r.store_id",
                [*chunk, store_id],
            )
        return rows

    def reorder_point(self, store_id: str, sku: str) -> sqlite3.Row | None:
        return self.one(f"{self._RULE_AVAILABLE} WHERE r.store_id = ? AND r.sku = ?", [store_id, sku])

    def set_reorder_state(self, store_id: str, sku: str, below: bool, available: int, at: str) -> None:
        self.conn.execute(
            "UPDATE reorder_points SET below = ?, last_available = ?, evaluated_at = ? WHERE store_id = ? AND sku = ?",
            (int(below), available, at, store_id, sku),
        )

    def insert_replenishment_request(self, r: dict) -> int:
        return self.conn.execute(
            """
            INSERT INTO replenishment_requests (request_id, store_id, sku, available, reorder_point, order_up_to,
                qty, created_at, status, attempts, next_attempt_at)
            VALUES (:request_id, :store_id, :sku, :available, :reorder_point, :order_up_to,
                :qty, :created_at, 'pending', 0, :created_at)
            """,
            r,
        ).lastrowid

    def replenishment_request(self, request_id: int) -> sqlite3.Row | None:
        return self.one(
            "SELECT q.*, p.name AS product_name FROM replenishment_requests q LEFT JOIN products p USING (sku) "
            "WHERE q.id = ?",
            [request_id],
        )

    def replenishment_requests(self, status: str | None = None, limit: int = 200) -> list[sqlite3.Row]:
        """Requests newest first, with the product's name; ``status`` filters."""
        sql = "SELECT q.*, p.name AS product_name FROM replenishment_requests q LEFT JOIN products p USING (sku)"
        params: list = []
        if status:
            sql += " WHERE q.status = ?"
            params.append(status)
        return self.all(sql + " ORDER BY q.id DESC LIMIT ?", [*params, limit])

    def replenishment_counts(self) -> dict[str, int]:
        rows = self.all("SELECT status, count(*) AS n FROM replenishment_requests GROUP BY status")
        return {r["status"]: r["n"] for r in rows}

    def due_replenishment_requests(self, now: str, limit: int) -> list[sqlite3.Row]:
        return self.all(
            "SELECT q.*, p.name AS product_name FROM replenishment_requests q LEFT JOIN products p USING (sku) "
            "WHERE q.status = 'pending' AND q.next_attempt_at <= ? ORDER BY q.next_attempt_at, q.id LIMIT ?",
            [now, limit],
        )

    def set_replenishment_request(self, request_id: int, **fields: object) -> None:
        sets = ", ".join(f"{k} = ?" for k in fields)
        self.conn.execute(f"UPDATE replenishment_requests SET {sets} WHERE id = ?", [*fields.values(), request_id])

    # ---------------------------------------------------------------- analytics: the facts of a period
    # The population is the customer orders received in [since, until); transfers are not customer orders.
    def analytics_orders(self, since: str, until: str) -> list[sqlite3.Row]:
        return self.all(
            "SELECT o.order_id, o.kind, o.status, o.created_at, "
            "(SELECT COALESCE(SUM(l.qty), 0) FROM order_lines l WHERE l.order_id = o.order_id) AS units "
            "FROM orders o WHERE o.created_at >= ? AND o.created_at < ? AND o.kind != 'transfer'",
            [since, until],
        )

    def analytics_assignments(self, since: str, until: str) -> list[sqlite3.Row]:
        return self.all(
            "SELECT a.assignment_id, a.order_id, a.store_id, a.kind, a.status, a.deadline, "
            "COALESCE(SUM(l.qty), 0) AS qty, COALESCE(SUM(l.rejected), 0) AS rejected "
            "FROM orders o JOIN assignments a ON a.order_id = o.order_id "
            "LEFT JOIN assignment_lines l ON l.assignment_id = a.assignment_id "
            "WHERE o.created_at >= ? AND o.created_at < ? AND o.kind != 'transfer' "
            "GROUP BY a.assignment_id ORDER BY a.created_at",
            [since, until],
        )

    def analytics_timeline(self, since: str, until: str, kinds: Iterable[str]) -> list[sqlite3.Row]:
        kinds = list(kinds)
        return self.all(
            f"SELECT t.order_id, t.at, t.kind, t.store_id, json_extract(t.detail, '$.assignment_id') AS assignment_id, "
            f"json_extract(t.detail, '$.store_at') AS store_at, json_extract(t.detail, '$.reason') AS reason "
            f"FROM orders o JOIN order_timeline t ON t.order_id = o.order_id "
            f"WHERE o.created_at >= ? AND o.created_at < ? AND o.kind != 'transfer' AND t.kind IN ({_ph(kinds)}) "
            f"ORDER BY t.id",
            [since, until, *kinds],
        )

    def analytics_counts(self, since: str, until: str) -> list[sqlite3.Row]:
        """Stock counts stamped (by the store) between the bounds: compare as text, the caller filters exactly."""
        return self.all(
            "SELECT store_id, at, json_extract(payload, '$.variance') AS variance FROM store_events "
            "WHERE kind = 'stock.counted' AND at >= ? AND at < ?",
            [since, until],
        )
