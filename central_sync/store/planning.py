"""SQL of head office's planning: demand history, rebalancing runs, replenishment, analytics."""

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Self

import orjson

from shared.database import dumps

from .base import Queries
from .base import placeholders as _ph


class PlanningQueries(Queries):
    # ---------------------------------------------------------------- demand history, rebalancing
    @contextmanager
    def snapshot(self) -> Iterator[Self]:
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
