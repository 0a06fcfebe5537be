"""Store-to-store transfers head office asks for: a transfer-out pick order at the source store.

A transfer is kept as an order of kind ``transfer`` whose one assignment is the source's
transfer-out, so it has the same timeline, console page and sync path as any order. The
source picks, packs and ships it like an order; the destination hears of it when it ships
(stock then shows in transit) and counts it in; the hub closes it from that count.
"""

from collections.abc import Sequence
from datetime import datetime

from shared.clock import to_iso, utc_now
from shared.database import dumps
from shared.errors import InvalidInput
from shared.ids import prefixed_id

from ..domain.routing import Allocation, transfer_purpose
from ..store import HubDatabase
from .orders import refresh_order_status
from .routing import create_assignment


def request_transfer(
    db: HubDatabase,
    source_store_id: str,
    destination_store_id: str,
    lines: Sequence[tuple[str, int]],
    reason: str = "",
    origin: str = "head_office",
    reference: str | None = None,
    now: datetime | None = None,
    actor: str | None = None,
) -> str:
    """Ask ``source`` to send ``lines`` (sku, qty) to ``destination``; returns the transfer's order id.

    Idempotent by ``reference`` (for example a rebalancing proposal id).
    """
    moment = now or utc_now()
    at = to_iso(moment)
    with db.transaction() as tx:
        if reference and (existing := tx.order_by_channel(origin, reference)) is not None:
            return existing["order_id"]
        source, destination = tx.store(source_store_id), tx.store(destination_store_id)
        problems = []
        if source is None:
            problems.append(("source_store_id", f"unknown store {source_store_id!r}"))
        if destination is None:
            problems.append(("destination_store_id", f"unknown store {destination_store_id!r}"))
        if source_store_id == destination_store_id:
            problems.append(("destination_store_id", "a store cannot send a transfer to itself"))
        known = tx.known_skus(sku for sku, _ in lines)
        problems += [
            (f"lines[{i}].sku", f"unknown SKU {sku!r}") for i, (sku, _) in enumerate(lines) if sku not in known
        ]
        problems += [(f"lines[{i}].qty", "must be positive") for i, (_, qty) in enumerate(lines) if qty <= 0]
        if not lines:
            problems.append(("lines", "at least one line"))
        if problems:
            raise InvalidInput(*problems[0], *problems[1:])
        order_id = prefixed_id("TR")
        tx.insert_order(
            {
                "order_id": order_id,
                "channel": origin,
                "channel_order_id": reference or order_id,
                "kind": "transfer",
                "status": "requested",
                "customer": dumps({"name": destination["name"], "reason": reason}),
                "lat": destination["lat"],
                "lon": destination["lon"],
                "pickup_store_id": destination_store_id,
                "requested_date": None,
                "requires_id_check": 0,
                "ship_to": None,
                "public_token": prefixed_id("t"),
                "created_at": at,
            },
            [(str(n + 1), sku, qty) for n, (sku, qty) in enumerate(lines)],
        )
        for n, (_sku, qty) in enumerate(lines):
            tx.add_unallocated(order_id, str(n + 1), -qty)
        tx.set_order(order_id, at, needs_routing=0)
        order = tx.order(order_id)
        allocations = [
            Allocation(source_store_id, str(n + 1), sku, qty, transfer_purpose(destination_store_id))
            for n, (sku, qty) in enumerate(lines)
        ]
        tx.timeline(
            order_id,
            at,
            "transfer_requested",
            source_store_id,
            {"destination_store_id": destination_store_id, "reason": reason, "origin": origin},
        )
        create_assignment(
            tx, order, source_store_id, "transfer_out", allocations, moment, at, destination=destination_store_id
        )
        refresh_order_status(tx, order_id, at)
        if actor:
            tx.add_audit(at, actor, "transfer.requested", order_id, {
                "source_store_id": source_store_id, "destination_store_id": destination_store_id,
                "lines": [list(line) for line in lines], "reason": reason,
            })
    return order_id


def transfer_list(db: HubDatabase, status: str | None = None) -> list[dict]:
    """Transfers with their lines and, once received, what the destination counted."""
    r = db.reader()
    return [
        {
            "transfer_id": t["assignment_id"],
            "order_id": t["order_id"],
            "source_store_id": t["store_id"],
            "destination_store_id": t["destination_store_id"],
            "status": t["status"],
            "created_at": t["created_at"],
            "received_at": t["received_at"],
            "lines": [
                {
                    "line_id": ln["line_id"],
                    "sku": ln["sku"],
                    "qty": ln["qty"],
                    "rejected": ln["rejected"],
                    "received": ln["received"],
                    "damaged": ln["damaged"],
                    "missing": ln["missing"],
                    "extra": ln["extra"],
                    "reason": ln["discrepancy_reason"],
                }
                for ln in r.assignment_lines(t["assignment_id"])
            ],
        }
        for t in r.transfers(status)
    ]
