"""One sync exchange with a store: apply its events exactly once, answer with the ack and its feed.

Events are applied in seq order; one already held (a batch sent twice, or resent after a
lost answer) is acknowledged and ignored. Stock levels are absolute and keep the highest
seq, so replays cannot drift the network view. Assignment events update the hub's replica
of the assignment and of its order; a rejection flags the order for re-routing, which runs
after the exchange commits so that a routing failure can never stall a store's sync.
"""

from datetime import datetime

from shared.clock import to_iso, utc_now
from shared.wire import (
    MAX_MESSAGES_PER_EXCHANGE,
    EventKind,
    MessageKind,
    OutboxEvent,
    SyncRequest,
    SyncResponse,
)

from ..domain.orders import AWAITING_TRANSFER, CANCEL_REQUESTED, next_status
from ..store import HubDatabase, HubTx
from .orders import refresh_order_status
from .routing import abandon_transfer, send_assignment

ASSIGNMENT_EVENTS = {
    EventKind.ASSIGNMENT_RECEIVED,
    EventKind.ASSIGNMENT_ACCEPTED,
    EventKind.ASSIGNMENT_REJECTED,
    EventKind.ASSIGNMENT_PROGRESSED,
    EventKind.ASSIGNMENT_CANCELLED,
    EventKind.CANCELLATION_REFUSED,
}


def exchange(db: HubDatabase, store_id: str, request: SyncRequest, now: datetime | None = None) -> SyncResponse:
    """Ingest ``request`` from ``store_id`` in one transaction and answer it."""
    at = to_iso(now or utc_now())
    with db.transaction() as tx:
        state = tx.sync_state(store_id)
        acked = state["acked_seq"]
        if request.epoch != state["epoch"]:
            # a new store, or one restored from a backup: its seqs start again at 1 and its
            # first event of a restored epoch is a snapshot; the old cursor is never trusted
            tx.start_epoch(store_id, request.epoch)
            acked = 0
        fresh: list[OutboxEvent] = []
        for event in request.events:
            if event.seq <= acked:
                continue  # already held: acknowledged again, applied never twice
            if event.seq != acked + 1:
                break  # a gap: the store resends from acked + 1
            fresh.append(event)
            acked = event.seq
        if fresh:
            _apply(tx, store_id, request.epoch, fresh, at)
        # the backlog as it stands once this answer lands: what the store reported minus what
        # this exchange acknowledges, so a store that caught up and then went quiet shows none
        held = sum(1 for e in request.events if e.seq <= acked)
        depth = max(0, request.outbox_depth - held)
        unsent = [e.at for e in request.events if e.seq > acked]
        oldest = (unsent[0] if unsent else request.oldest_unsent_at) if depth else None
        tx.record_exchange(
            store_id,
            acked,
            request.feed_cursor,
            at,
            depth,
            oldest,
            len(fresh),
        )
        messages = tx.feed_after(store_id, request.feed_cursor, MAX_MESSAGES_PER_EXCHANGE)
        head = tx.feed_head(store_id)
    return SyncResponse(epoch=request.epoch, acked_seq=acked, messages=messages, feed_head=head)


def _apply(tx: HubTx, store_id: str, epoch: str, events: list[OutboxEvent], at: str) -> None:
    tx.insert_events(store_id, epoch, events)
    latest: dict[str, tuple[int, str, int, int]] = {}
    for event in events:
        if event.kind is EventKind.STOCK_SNAPSHOT:
            tx.upsert_levels(store_id, epoch, list(latest.values()), at)
            latest.clear()
            tx.clear_levels(store_id)
        for level in event.levels:
            latest[level.sku] = (event.seq, level.sku, level.on_hand, level.reserved)
    tx.upsert_levels(store_id, epoch, list(latest.values()), at)
    touched_orders: set[str] = set()
    for event in events:
        order_id = None
        if event.kind in ASSIGNMENT_EVENTS:
            order_id = _apply_assignment_event(tx, store_id, event, at)
        elif event.kind is EventKind.TRANSFER_RECEIVED:
            order_id = _apply_transfer_receipt(tx, store_id, event, at)
        if order_id:
            touched_orders.add(order_id)
    for order_id in sorted(touched_orders):
        refresh_order_status(tx, order_id, at)


def _apply_assignment_event(tx: HubTx, store_id: str, event: OutboxEvent, at: str) -> str | None:
    p = event.payload
    assignment = tx.assignment(str(p.get("assignment_id", "")))
    if assignment is None or assignment["store_id"] != store_id:
        return None  # not ours to change: a store only writes its own facts
    order_id = assignment["order_id"]
    current = assignment["status"]
    detail = {"staff": event.staff, "store_at": event.at}
    match event.kind:
        case EventKind.ASSIGNMENT_REJECTED if assignment["kind"] == "transfer_out":
            abandon_transfer(tx, assignment, p.get("lines", []), p.get("reason", "rejected"), at)
            if p.get("whole"):
                tx.set_assignment(assignment["assignment_id"], at, status=next_status(current, "rejected"))
            detail |= {"reason": p.get("reason"), "note": p.get("note", ""), "lines": p.get("lines", [])}
            kind = "transfer_rejected"
        case EventKind.ASSIGNMENT_REJECTED:
            for line in p.get("lines", []):
                tx.add_rejected(assignment["assignment_id"], line["line_id"], line["qty"])
                if current not in ("cancelled", CANCEL_REQUESTED):
                    tx.add_unallocated(order_id, line["line_id"], line["qty"])
                tx.exclude(order_id, line["line_id"], store_id, p.get("reason", "rejected"))
            if p.get("whole"):
                tx.set_assignment(assignment["assignment_id"], at, status=next_status(current, "rejected"))
            tx.set_order(order_id, at, needs_routing=1)
            detail |= {
                "reason": p.get("reason"),
                "note": p.get("note", ""),
                "lines": p.get("lines", []),
                "whole": p.get("whole"),
            }
            kind = "short_picked" if p.get("reason") == "short_pick" else "rejected"
        case EventKind.ASSIGNMENT_CANCELLED:
            tx.set_assignment(assignment["assignment_id"], at, status="cancelled")
            kind = "cancelled_at_store"
        case EventKind.CANCELLATION_REFUSED:
            tx.set_assignment(assignment["assignment_id"], at, status=p.get("status", current))
            kind = "cancellation_refused"
            detail["note"] = "the goods had already left the store: handle as a return"
        case _:
            reported = p.get("status", "assigned")
            extra = p.get("detail") or {}
            fields: dict = {"status": next_status(current, reported)}
            if extra.get("pickup_code"):
                fields["pickup_code"] = extra["pickup_code"]
            tx.set_assignment(assignment["assignment_id"], at, **fields)
            # "assigned" is already on the timeline from when the hub sent it
            kind = "received_by_store" if event.kind is EventKind.ASSIGNMENT_RECEIVED else reported
            detail |= {k: v for k, v in extra.items() if k != "pickup_code"}
            if assignment["kind"] == "transfer_out" and reported == "shipped" and current != "shipped":
                _announce_transfer(tx, assignment, extra.get("parcels", []), event.at, at)
    tx.timeline(order_id, at, kind, store_id, {"assignment_id": assignment["assignment_id"], **detail})
    return order_id


def _announce_transfer(tx: HubTx, transfer, parcels: list, shipped_at: str, at: str) -> None:
    """The source shipped: the destination learns what to expect; the stock is now in transit."""
    lines = [
        {"line_id": ln["line_id"], "sku": ln["sku"], "qty": ln["qty"] - ln["rejected"]}
        for ln in tx.assignment_lines(transfer["assignment_id"])
        if ln["qty"] > ln["rejected"]
    ]
    tx.append_feed(
        transfer["destination_store_id"],
        MessageKind.TRANSFER_INCOMING,
        at,
        {
            "transfer_id": transfer["assignment_id"],
            "order_id": transfer["order_id"],
            "source_store_id": transfer["store_id"],
            "lines": lines,
            "shipped_at": shipped_at,
            "parcels": parcels,
        },
    )


def _apply_transfer_receipt(tx: HubTx, store_id: str, event: OutboxEvent, at: str) -> str | None:
    """The destination counted the transfer in: close it, record discrepancies, free what waited on it."""
    p = event.payload
    transfer = tx.assignment(str(p.get("transfer_id", "")))
    if transfer is None or transfer["kind"] != "transfer_out" or transfer["destination_store_id"] != store_id:
        return None  # only the receiving store writes what it received
    for line in p.get("lines", []):
        tx.record_transfer_line(transfer["assignment_id"], line)
    tx.set_assignment(transfer["assignment_id"], at, status="received", received_at=event.at)
    discrepancies = [ln for ln in p.get("lines", []) if ln.get("damaged") or ln.get("missing") or ln.get("extra")]
    tx.timeline(
        transfer["order_id"],
        at,
        "transfer_received",
        store_id,
        {
            "assignment_id": transfer["assignment_id"],
            "staff": event.staff,
            "store_at": event.at,
            "discrepancies": discrepancies,
            "reason": p.get("reason", ""),
        },
    )
    for held in tx.assignments_awaiting(transfer["assignment_id"]):
        if held["status"] == AWAITING_TRANSFER:
            send_assignment(tx, held["assignment_id"], at)
    return transfer["order_id"]
