"""Transfers from other stores: listing what is on its way and receiving it by count."""

from collections.abc import Mapping
from datetime import datetime

from shared.clock import to_iso, utc_now
from shared.errors import IllegalTransition, NotFound
from shared.wire import EventKind

from ..domain import transfers
from ..domain.transfers import Counted, ExpectedLine
from ..store import StoreDatabase


def receive_transfer(
    db: StoreDatabase,
    staff: str,
    transfer_id: str,
    counted: Mapping[str, Counted],
    reason: str = "",
    now: datetime | None = None,
) -> dict:
    """Count a transfer in: sellable units go on hand; damaged, missing or extra units need a reason.

    One transaction writes the stock, the movements, the transfer's outcome and the
    ``transfer.received`` event the hub uses to close the transfer and its in-transit stock.
    """
    at = to_iso(now or utc_now())
    with db.transaction() as tx:
        transfer = tx.incoming_transfer(transfer_id)
        if transfer is None:
            raise NotFound(f"no transfer {transfer_id!r} on its way to this store")
        if transfer["status"] != "in_transit":
            raise IllegalTransition(f"transfer {transfer_id} is {transfer['status']}: it was received already")
        expected = [ExpectedLine(ln["line_id"], ln["sku"], ln["qty"]) for ln in transfer["lines"]]
        outcomes = transfers.reconcile(expected, counted)
        items = tx.stock_items({o.sku for o in outcomes})
        moves = transfers.receive(outcomes, items, reason)
        changed = [items[sku] for sku in sorted({m.sku for m in moves if m.on_hand_delta})]
        tx.save_stock(changed)
        tx.record_movements(moves, at, staff, ref=transfer_id)
        lines = [
            {
                "line_id": o.line_id,
                "sku": o.sku,
                "shipped": o.shipped,
                "received": o.received,
                "damaged": o.damaged,
                "missing": o.missing,
                "extra": o.extra,
                "reason": reason if o.discrepancy else "",
            }
            for o in outcomes
        ]
        tx.mark_transfer_received(transfer_id, at, staff, lines, reason)
        payload = {
            "transfer_id": transfer_id,
            "order_id": transfer["order_id"],
            "source_store_id": transfer["source_store_id"],
            "lines": lines,
            "reason": reason,
        }
        tx.append_event(EventKind.TRANSFER_RECEIVED, at, payload, changed, staff)
        tx.audit(
            at, staff, "transfer.receive", transfer_id, {"discrepancies": sum(1 for o in outcomes if o.discrepancy)}
        )
    return {**transfer, "status": "received", "outcome": lines, "reason": reason, "received_by": staff}
