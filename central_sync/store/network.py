"""SQL of the network: settings, keys, stores, catalogue, the sync log and the stock replica, the feeds."""

import sqlite3
from collections.abc import Iterable

import orjson

from shared.database import dumps

from ..domain.orders import UNANSWERED
from .base import Queries
from .base import placeholders as _ph


class NetworkQueries(Queries):
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
        rows = self.all("SELECT store_id, count(*) AS n FROM assignments WHERE day = ? GROUP BY store_id", [day])
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
            barcodes = self.all("SELECT code, sku FROM barcodes ORDER BY code")
        else:
            skus = list(skus)
            rows = self.all(f"SELECT * FROM products WHERE sku IN ({_ph(skus)})", skus)
            barcodes = self.all(f"SELECT code, sku FROM barcodes WHERE sku IN ({_ph(skus)}) ORDER BY code", skus)
        codes: dict[str, list[str]] = {}
        for r in barcodes:
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
        self.conn.execute("UPDATE sync_state SET epoch = ?, acked_seq = 0 WHERE store_id = ?", (epoch, store_id))

    def clear_levels(self, store_id: str) -> None:
        self.conn.execute("DELETE FROM stock_levels WHERE store_id = ?", (store_id,))

    def insert_events(self, store_id: str, epoch: str, events: list) -> None:
        self.conn.executemany(
            "INSERT INTO store_events (store_id, epoch, seq, kind, at, staff, payload) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(store_id, epoch, e.seq, str(e.kind), e.at, e.staff, dumps(e.payload)) for e in events],
        )

    def upsert_levels(self, store_id: str, epoch: str, levels: list[tuple[int, str, int, int]], at: str) -> None:
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
        return self.one("SELECT COALESCE(MAX(seq), 0) AS head FROM feed WHERE store_id = ?", [store_id])["head"]

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
            for r in self.all("SELECT sku, on_hand, reserved FROM stock_levels WHERE store_id = ?", [store_id])
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
