"""SQL of orders, their assignments, routing decisions and timelines, console users and the audit trail."""

import sqlite3
from collections.abc import Iterable

import orjson

from shared.database import dumps

from ..domain.orders import UNANSWERED
from .base import Queries
from .base import placeholders as _ph


class OrderQueries(Queries):
    # ---------------------------------------------------------------- orders
    def order_by_channel(self, channel: str, channel_order_id: str) -> sqlite3.Row | None:
        return self.one("SELECT * FROM orders WHERE channel = ? AND channel_order_id = ?", [channel, channel_order_id])

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

    def record_decision(self, order_id: str, at: str, allocations: list, unfilled: list, reasons: list) -> None:
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
            (
                line["received"],
                line["damaged"],
                line["missing"],
                line["extra"],
                line.get("reason", ""),
                assignment_id,
                line["line_id"],
            ),
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
